"""Reply parsing, prompt templates, cache keys, retry delays and request pacing."""

import asyncio
import io
import json
import random
import time
from pathlib import Path
from email.utils import formatdate

import pytest

from instructmove.errors import StageError
from instructmove.instruct.cache import ResponseCache, cache_key
from instructmove.instruct.limits import RequestPacer, backoff_delay, retry_after_seconds
from instructmove.instruct.prompt import available_versions, load_prompt
from instructmove.instruct.reply import ReplyError, parse_reply
from instructmove.instruct.settings import InstructSettings

VALID = {
    "instruction": "Turn the woman's head to the left",
    "edit_type": "pose",
    "subject": "woman",
    "caption_before": "A woman looking at the camera.",
    "caption_after": "A woman looking to the left.",
    "declined": False,
    "decline_reason": None,
}


def test_reply_bare_json():
    reply = parse_reply(json.dumps(VALID))

    assert reply.instruction == VALID["instruction"]
    assert reply.edit_type == "pose"
    assert not reply.declined


def test_reply_in_code_fence():
    reply = parse_reply("Sure, here it is:\n```json\n" + json.dumps(VALID) + "\n```\nAnything else?")

    assert reply.subject == "woman"


def test_reply_edit_type_is_normalised():
    reply = parse_reply(json.dumps({**VALID, "edit_type": "Object_Motion"}))

    assert reply.edit_type == "object motion"


def test_reply_declined_needs_no_fields():
    reply = parse_reply('{"declined": true, "decline_reason": "different scenes"}')

    assert reply.declined
    assert reply.decline_reason == "different scenes"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("I cannot see any change.", "no JSON object"),
        ('{"instruction": "Raise the arm", ', "no JSON object"),
        ('{"instruction": "Raise the arm",}', "invalid"),
        ("[1, 2]", "no JSON object"),
        (json.dumps({**VALID, "caption_after": ""}), "caption_after"),
        (json.dumps({**VALID, "edit_type": "lighting"}), "lighting"),
        (json.dumps({k: v for k, v in VALID.items() if k != "subject"}), "subject"),
    ],
)
def test_reply_invalid(text, message):
    with pytest.raises(ReplyError, match=message):
        parse_reply(text)


def test_prompt_v1_loads_with_stable_hash():
    prompt = load_prompt("v1")

    assert "v1" in available_versions()
    assert "JSON" in prompt.instruction
    assert "{error}" in prompt.repair
    assert prompt.hash == load_prompt("v1").hash
    assert len(prompt.hash) == 16


def test_prompt_unknown_version():
    with pytest.raises(StageError, match="v999.*Available versions: .*v1"):
        load_prompt("v999")


def test_cache_key_covers_request_settings():
    base = InstructSettings()
    key = cache_key("a" * 64, "b" * 64, base, "p1")

    assert key == cache_key("a" * 64, "b" * 64, InstructSettings(), "p1")
    assert key != cache_key("a" * 64, "c" * 64, base, "p1")
    assert key != cache_key("a" * 64, "b" * 64, base, "p2")
    for change in ({"model": "llava"}, {"temperature": 0.7}, {"max_tokens": 200}, {"seed": 1},
                   {"max_image_side": 256}, {"json_mode": True}):
        assert key != cache_key("a" * 64, "b" * 64, InstructSettings(**change), "p1"), change
    assert key == cache_key("a" * 64, "b" * 64, InstructSettings(max_in_flight=64, base_url="http://x/v1"), "p1")


def test_cache_round_trip(tmp_path):
    cache = ResponseCache(tmp_path / "cache")
    cache.put("k1", "pair-1", {"status": "ok", "instruction": "Raise the arm"})
    cache.close()

    reopened = ResponseCache(tmp_path / "cache")
    assert reopened.get_many(["k1", "k2"]) == {"k1": {"status": "ok", "instruction": "Raise the arm"}}
    assert len(reopened) == 1
    reopened.close()


def test_retry_after_forms():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after": "1.5"}) == 1.5
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after_seconds({}) is None
    assert retry_after_seconds(None) is None

    in_ten_seconds = retry_after_seconds({"retry-after": formatdate(time.time() + 10, usegmt=True)})
    assert 8.0 <= in_ten_seconds <= 10.5


def test_retry_after_invalid_is_ignored():
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after": " "}) is None
    assert retry_after_seconds({"retry-after-ms": "x"}) is None


def test_retry_after_date_without_zone_is_utc(monkeypatch):
    # formatdate writes the zone as "-0000", which parses to a naive datetime.
    monkeypatch.setenv("TZ", "EST+05")
    time.tzset()
    try:
        in_ten_seconds = retry_after_seconds({"retry-after": formatdate(time.time() + 10)})
    finally:
        monkeypatch.undo()
        time.tzset()

    assert 8.0 <= in_ten_seconds <= 10.5


def test_backoff_grows_and_stays_bounded():
    rng = random.Random(0)
    delays = {attempt: [backoff_delay(attempt, 1.0, 8.0, rng) for _ in range(200)] for attempt in range(6)}

    assert max(delays[0]) <= 1.0
    assert max(delays[2]) <= 4.0
    assert max(delays[5]) <= 8.0
    assert max(delays[5]) > 4.0
    assert min(min(values) for values in delays.values()) >= 0.0


def test_pacer_spaces_requests():
    # Each start is checked against the schedule from the first call: on a loaded machine one late
    # wake-up shortens the observed gap to the next start, though the schedule still holds.
    async def start_times() -> list[float]:
        pacer = RequestPacer(requests_per_minute=1200)
        begin = time.monotonic()
        times = []
        for _ in range(6):
            await pacer.wait()
            times.append(time.monotonic() - begin)
        return times

    times = asyncio.run(start_times())
    for index, elapsed in enumerate(times):
        assert elapsed >= index * 0.05 - 0.002, (index, times)


def test_pacer_pause_holds_requests():
    async def delay_after_pause() -> float:
        pacer = RequestPacer(requests_per_minute=0)
        pacer.pause(0.3)
        start = time.monotonic()
        await pacer.wait()
        return time.monotonic() - start

    assert asyncio.run(delay_after_pause()) >= 0.28


def test_frame_data_url_passes_small_jpeg_through(tmp_path):
    import base64

    from PIL import Image

    from instructmove.instruct.images import frame_data_url

    small = tmp_path / "small.jpg"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(small, quality=80)
    large = tmp_path / "large.png"
    Image.new("RGB", (800, 400), (30, 200, 30)).save(large)

    small_url = frame_data_url(small, max_side=512, quality=90)
    large_url = frame_data_url(large, max_side=256, quality=90)

    assert base64.b64decode(small_url.split(",", 1)[1]) == small.read_bytes()
    with Image.open(io.BytesIO(base64.b64decode(large_url.split(",", 1)[1]))) as decoded:
        assert decoded.format == "JPEG"
        assert decoded.size == (256, 128)


def test_cache_dir_follows_dvc_root(monkeypatch, tmp_path):
    from instructmove.instruct.mllm_backend import resolve_cache_dir

    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert resolve_cache_dir(".cache/instruct") == Path(".cache/instruct")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert resolve_cache_dir(".cache/instruct") == tmp_path / ".cache/instruct"
    assert resolve_cache_dir("/srv/cache") == Path("/srv/cache")
