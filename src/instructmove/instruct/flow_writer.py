"""Offline instruction writer: turn a pair's motion statistics into an instruction, with no model.

Sign conventions of the pairs table (image axes, y pointing down): camera_tx and camera_ty are the
displacement of the image content from source to target, so content moving right means the camera
panned left; camera_zoom > 0 means the content grew (zoom in); camera_rotation > 0 means the content
turned clockwise on screen. subject_dx and subject_dy are the residual motion of the moving region,
whose centre (subject_cx, subject_cy) is in 0..1 of the frame.
"""

import hashlib
import json
import math
import random

from instructmove.instruct.settings import FlowWriterSettings
from instructmove.instruct.table import empty_result, number

PROMPT_VERSION = "flow-v1"
MODEL_NAME = "flow-rules"

# Each motion has several phrasings; a seeded choice per pair picks one.
CAMERA_PHRASES = {
    "pan_left": ["Pan the camera to the left", "Turn the camera to the left", "Swing the view to the left"],
    "pan_right": ["Pan the camera to the right", "Turn the camera to the right", "Swing the view to the right"],
    "tilt_up": ["Tilt the camera up", "Point the camera upward", "Raise the camera view"],
    "tilt_down": ["Tilt the camera down", "Point the camera downward", "Lower the camera view"],
    "zoom_in": ["Zoom in on the scene", "Move the camera closer to the scene", "Zoom the view in"],
    "zoom_out": ["Zoom out from the scene", "Move the camera away from the scene", "Zoom the view out"],
    "roll_clockwise": ["Rotate the view clockwise", "Roll the camera counterclockwise"],
    "roll_counterclockwise": ["Rotate the view counterclockwise", "Roll the camera clockwise"],
}
SUBJECT_PHRASES = [
    "Move the subject in the {region} {direction}",
    "Shift the subject in the {region} {direction}",
    "Make the subject in the {region} move {direction}",
]
CAPTION_BEFORE = "A frame from a video."
CAPTION_AFTER = "The same video scene after {change}."
CAMERA_CHANGES = {
    "pan_left": "the camera pans to the left", "pan_right": "the camera pans to the right",
    "tilt_up": "the camera tilts up", "tilt_down": "the camera tilts down",
    "zoom_in": "the camera zooms in", "zoom_out": "the camera zooms out",
    "roll_clockwise": "the view rotates clockwise", "roll_counterclockwise": "the view rotates counterclockwise",
}

# Directions in image axes (y down), counterclockwise on screen from "to the right", one per 45 degrees.
DIRECTIONS = ["to the right", "up and to the right", "upward", "up and to the left",
              "to the left", "down and to the left", "downward", "down and to the right"]
ROWS = ["upper", "middle", "lower"]
COLUMNS = ["left", "centre", "right"]


def phrasing_hash() -> str:
    """Return a hash of every phrase table, recorded as the prompt hash of offline rows."""
    tables = [CAMERA_PHRASES, SUBJECT_PHRASES, CAPTION_BEFORE, CAPTION_AFTER, CAMERA_CHANGES, DIRECTIONS]
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()[:16]


def region_name(cx: float, cy: float) -> str:
    """Name the ninth of the frame that contains a point given in 0..1 coordinates."""
    row = ROWS[min(2, max(0, int(cy * 3)))]
    column = COLUMNS[min(2, max(0, int(cx * 3)))]
    if row == "middle" and column == "centre":
        return "centre"
    if row == "middle":
        return column
    if column == "centre":
        return "top" if row == "upper" else "bottom"
    return f"{row} {column}"


def direction_name(dx: float, dy: float) -> str:
    """Name the direction of a motion vector in image axes, to the nearest 45 degrees."""
    angle = math.degrees(math.atan2(-dy, dx)) % 360
    return DIRECTIONS[int(((angle + 22.5) % 360) // 45)]


def camera_motion(pair: dict, settings: FlowWriterSettings) -> tuple[str, float]:
    """Return the strongest camera motion and its strength relative to its threshold."""
    tx, ty = number(pair["camera_tx"]), number(pair["camera_ty"])
    zoom, rotation = number(pair["camera_zoom"]), number(pair["camera_rotation"])

    if abs(tx) >= abs(ty):
        pan = "pan_left" if tx > 0 else "pan_right"
    else:
        pan = "tilt_up" if ty > 0 else "tilt_down"
    candidates = [
        (pan, math.hypot(tx, ty) / settings.min_pan_px),
        ("zoom_in" if zoom > 0 else "zoom_out", abs(zoom) / settings.min_zoom),
        ("roll_clockwise" if rotation > 0 else "roll_counterclockwise", abs(rotation) / settings.min_rotation_deg),
    ]
    return max(candidates, key=lambda candidate: candidate[1])


def write_instruction(pair: dict, settings: FlowWriterSettings, seed: int) -> dict:
    """Write the instruction, edit type, subject and generic captions of one pair."""
    rng = random.Random(f"{seed}:{pair['pair_id']}")
    motion, camera_strength = camera_motion(pair, settings)
    dx, dy = number(pair["subject_dx"]), number(pair["subject_dy"])
    # When the camera follows a subject, the subject barely moves in the frame while its motion
    # relative to the background is about minus the pan; the smaller of the two keeps such a
    # tracking shot described as camera motion.
    in_frame = math.hypot(dx + number(pair["camera_tx"]), dy + number(pair["camera_ty"]))
    subject_strength = min(math.hypot(dx, dy), in_frame) / settings.min_subject_px

    if camera_strength >= subject_strength:
        instruction = rng.choice(CAMERA_PHRASES[motion])
        edit_type, subject, change = "camera", "camera", CAMERA_CHANGES[motion]
    else:
        region = region_name(number(pair["subject_cx"]), number(pair["subject_cy"]))
        direction = direction_name(dx, dy)
        instruction = rng.choice(SUBJECT_PHRASES).format(region=region, direction=direction)
        edit_type, subject = "object motion", f"subject in the {region}"
        change = f"the subject in the {region} moves {direction}"

    return empty_result(
        instruction=instruction,
        edit_type=edit_type,
        subject=subject,
        caption_before=CAPTION_BEFORE,
        caption_after=CAPTION_AFTER.format(change=change),
        backend="flow",
        model=MODEL_NAME,
        prompt_version=PROMPT_VERSION,
        prompt_hash=phrasing_hash(),
        status="ok",
    )


def write_all(pairs: list[dict], settings: FlowWriterSettings, seed: int) -> dict[str, dict]:
    """Write one result per pair, keyed by pair id."""
    return {pair["pair_id"]: write_instruction(pair, settings, seed) for pair in pairs}
