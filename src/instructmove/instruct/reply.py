"""Parse and validate a model's reply: one JSON object, bare or inside a Markdown code fence."""

import json
import re

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from instructmove.instruct.table import EDIT_TYPES

FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
MAX_INSTRUCTION_CHARS = 300


class ReplyError(ValueError):
    """A reply that is not the expected JSON object; the message is sent back in the repair request."""


class Reply(BaseModel):
    """The fields the prompt requests."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    instruction: str | None = None
    edit_type: str | None = None
    subject: str | None = None
    caption_before: str | None = None
    caption_after: str | None = None
    declined: bool = False
    decline_reason: str | None = None

    @field_validator("edit_type")
    @classmethod
    def _normalise_edit_type(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.lower().replace("_", " ").replace("-", " ").strip()

    @model_validator(mode="after")
    def _complete_unless_declined(self):
        if self.declined:
            return self
        empty = [name for name in ("instruction", "edit_type", "subject", "caption_before", "caption_after")
                 if not getattr(self, name)]
        if empty:
            raise ValueError(f"missing or empty field(s): {', '.join(empty)}")
        if self.edit_type not in EDIT_TYPES:
            raise ValueError(f"edit_type {self.edit_type!r} is not one of {', '.join(EDIT_TYPES)}")
        if len(self.instruction) > MAX_INSTRUCTION_CHARS:
            raise ValueError(f"instruction has {len(self.instruction)} characters, more than {MAX_INSTRUCTION_CHARS}")
        return self


def extract_json(text: str) -> dict:
    """Find the JSON object in a reply: inside a code fence, or from the first '{' to the last '}'."""
    fenced = FENCE.search(text)
    candidate = fenced.group(1) if fenced else text
    start, end = candidate.find("{"), candidate.rfind("}")
    if start < 0 or end <= start:
        raise ReplyError("the reply contains no JSON object")

    try:
        value = json.loads(candidate[start:end + 1])
    except json.JSONDecodeError as error:
        raise ReplyError(f"the JSON object is invalid ({error.msg} at character {error.pos})") from None
    if not isinstance(value, dict):
        raise ReplyError("the reply is JSON but not an object")
    return value


def parse_reply(text: str | None) -> Reply:
    """Return the validated reply, or raise ReplyError saying what is wrong with it."""
    if not text or not text.strip():
        raise ReplyError("the reply is empty")

    value = extract_json(text)
    try:
        return Reply.model_validate(value)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'reply'}: {item['msg'].removeprefix('Value error, ')}"
            for item in error.errors()
        )
        raise ReplyError(f"the JSON object does not match the schema ({problems})") from None
