"""Settings of the `validate` stage (params.yaml section `validate`)."""

import re

from pydantic import Field, field_validator, model_validator

from instructmove.settings_base import Section

# Names of the quality gate's checks, as used in `critical`, quarantine reasons and summary.json.
CHECK_NAMES = (
    "schema",
    "not_null",
    "unique_pair_id",
    "instruction_words",
    "instruction_chars",
    "instruction_verb",
    "not_refusal",
    "flow_window",
    "frames_decode",
    "pixel_difference",
    "instruction_repeats",
    "pairs_per_video",
    "disjoint_splits",
    "accepted_rows",
)

DEFAULT_VERBS = [
    "add", "bend", "blink", "bring", "close", "crouch", "dolly", "drop", "extend", "flip", "frown",
    "grab", "hold", "jump", "kick", "lean", "lift", "look", "lower", "make", "move", "nod", "open",
    "pan", "pick", "place", "point", "pull", "push", "put", "raise", "reach", "remove", "roll",
    "rotate", "run", "shake", "shift", "sit", "slide", "smile", "spin", "stand", "step", "stretch",
    "swing", "tilt", "track", "turn", "twist", "walk", "wave", "widen", "zoom",
]

DEFAULT_REFUSAL_PATTERNS = [
    r"(?i)\bsorry\b",
    r"(?i)\bapologi[sz]e",
    r"(?i)\bI (?:can ?not|can't|cannot|am unable|'m unable|am not able|'m not able)\b",
    r"(?i)\bunable to (?:determine|identify|see|describe|tell)\b",
    r"(?i)\bas an (?:AI|language model)\b",
    r"(?i)\bno (?:visible |noticeable |significant )?(?:change|difference)s?\b",
]

DEFAULT_NOT_NULL = [
    "pair_id", "video_id", "t_source", "t_target", "source_path", "target_path", "width", "height",
    "flow_mean", "instruction", "caption_before", "caption_after",
]


class ValidateSettings(Section):
    min_words: int = Field(3, ge=1)
    max_words: int = Field(30, ge=1)
    min_chars: int = Field(10, ge=1)
    max_chars: int = Field(200, ge=1)
    verbs: list[str] = Field(default_factory=lambda: list(DEFAULT_VERBS), min_length=1)
    refusal_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_REFUSAL_PATTERNS))
    not_null_columns: list[str] = Field(default_factory=lambda: list(DEFAULT_NOT_NULL))
    max_instruction_repeats: int = Field(3, ge=1)
    max_pairs_per_video: int = Field(8, ge=1)
    min_pixel_diff: float = Field(1.0, ge=0)
    min_accepted_pairs: int = Field(1, ge=0)
    critical: list[str] = Field(
        default_factory=lambda: ["schema", "unique_pair_id", "disjoint_splits", "accepted_rows"]
    )
    failure_sample_rows: int = Field(5, ge=1)
    decode_workers: int | None = Field(None, ge=1)
    eval_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 0
    shard_size: int = Field(1000, ge=1)

    @field_validator("verbs")
    @classmethod
    def _lowercase_verbs(cls, verbs: list[str]) -> list[str]:
        cleaned = [verb.strip().lower() for verb in verbs]
        bad = [verb for verb in cleaned if not verb.isalpha()]
        if bad:
            raise ValueError(f"verbs must be single words of letters, got {bad}")
        return cleaned

    @field_validator("refusal_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"invalid regular expression {pattern!r}: {error}") from None
        return patterns

    @field_validator("critical")
    @classmethod
    def _known_checks(cls, names: list[str]) -> list[str]:
        unknown = sorted(set(names) - set(CHECK_NAMES))
        if unknown:
            raise ValueError(f"unknown check(s) {unknown}; known checks: {', '.join(CHECK_NAMES)}")
        return names

    @model_validator(mode="after")
    def _bounds_are_ordered(self):
        if self.min_words > self.max_words:
            raise ValueError(f"min_words ({self.min_words}) must not exceed max_words ({self.max_words})")
        if self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) must not exceed max_chars ({self.max_chars})")
        return self
