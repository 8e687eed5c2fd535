"""Versioned prompt templates and the chat messages built from them.

A version is two files in the `prompts` folder of this package: `<version>.txt`, sent with both
frames, and `<version>-repair.txt`, sent once when a reply cannot be parsed (`{error}` is replaced
by the parse error). Edit a template only together with a new version name, because the prompt
hash is part of the cache key and is recorded on every row.
"""

import hashlib
from dataclasses import dataclass
from importlib import resources

from instructmove.errors import StageError



@dataclass(frozen=True)
class PromptTemplate:
    version: str
    instruction: str
    repair: str

    @property
    def hash(self) -> str:
        """Return a short sha256 of both templates."""
        digest = hashlib.sha256()
        digest.update(self.instruction.encode())
        digest.update(b"\0")
        digest.update(self.repair.encode())
        return digest.hexdigest()[:16]


def available_versions() -> list[str]:
    """List the prompt versions shipped with the package."""
    folder = resources.files("instructmove.instruct") / "prompts"
    names = [entry.name for entry in folder.iterdir() if entry.name.endswith(".txt")]
    return sorted(name[:-4] for name in names if not name.endswith("-repair.txt"))


def load_prompt(version: str) -> PromptTemplate:
    """Read both templates of a prompt version."""
    folder = resources.files("instructmove.instruct") / "prompts"
    instruction_file = folder / f"{version}.txt"
    repair_file = folder / f"{version}-repair.txt"
    if not instruction_file.is_file() or not repair_file.is_file():
        raise StageError(
            f"instruct.prompt_version = {version!r}: no prompt template {version}.txt and {version}-repair.txt "
            f"in the package. Available versions: {', '.join(available_versions()) or 'none'}."
        )
    return PromptTemplate(version, instruction_file.read_text().strip(), repair_file.read_text().strip())


def pair_messages(prompt: PromptTemplate, source_url: str, target_url: str) -> list[dict]:
    """Build the user message: the instruction template, then the frame before and the frame after."""
    content = [
        {"type": "text", "text": prompt.instruction},
        {"type": "image_url", "image_url": {"url": source_url}},
        {"type": "image_url", "image_url": {"url": target_url}},
    ]
    return [{"role": "user", "content": content}]


def repair_messages(messages: list[dict], prompt: PromptTemplate, reply: str, error: str) -> list[dict]:
    """Continue the conversation with the invalid reply and a request to send valid JSON."""
    return [
        *messages,
        {"role": "assistant", "content": reply},
        {"role": "user", "content": prompt.repair.replace("{error}", error)},
    ]
