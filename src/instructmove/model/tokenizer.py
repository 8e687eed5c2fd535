"""An offline CLIP tokenizer for the tiny presets, built from a generated vocabulary.

Every printable ASCII character is a token, and a fixed list of words common in editing
instructions gets BPE merges, so those words become single tokens and other words fall back
to characters. It is a real `CLIPTokenizer`, so it saves and loads like SD 1.5's.
"""

from transformers import CLIPTokenizer

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
MAX_LENGTH = 77

WORDS = (
    "the a an of to and in on his her its their it is up down left right forward backward "
    "turn raise lower move tilt pan zoom rotate open close lift put bring push pull shift slide "
    "look walk step lean bend extend wave nod shake smile camera head arm hand leg face eyes mouth "
    "body person man woman dog cat car bike ball tree door window towards away from slightly "
    "clockwise counterclockwise closer further in out toward"
).split()


def _apply_merges(pieces: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Merge adjacent pieces by rank, the way byte-pair encoding does."""
    while len(pieces) > 1:
        pairs = [(ranks.get((a, b), len(ranks)), i) for i, (a, b) in enumerate(zip(pieces, pieces[1:]))]
        rank, index = min(pairs)
        if rank == len(ranks):
            break
        pieces = pieces[:index] + [pieces[index] + pieces[index + 1]] + pieces[index + 2:]
    return pieces


def _add_word(word: str, ranks: dict[tuple[str, str], int]) -> None:
    """Append merges, ranked after all earlier ones, until `word` encodes as one token.

    Earlier words keep their encoding, because their own merges always outrank the new ones.
    """
    pieces = _apply_merges(list(word[:-1]) + [word[-1] + "</w>"], ranks)
    while len(pieces) > 1:
        ranks[(pieces[0], pieces[1])] = len(ranks)
        pieces = [pieces[0] + pieces[1]] + pieces[2:]


def build_tokenizer(max_length: int = MAX_LENGTH) -> CLIPTokenizer:
    """Build the character-level CLIP tokenizer with merges for common instruction words."""
    vocab = {BOS: 0, EOS: 1}
    characters = [chr(code) for code in range(33, 127)]
    for character in characters:
        vocab.setdefault(character, len(vocab))
    for character in characters:
        vocab.setdefault(character + "</w>", len(vocab))

    ranks: dict[tuple[str, str], int] = {}
    for word in WORDS:
        if len(word) > 1:
            _add_word(word, ranks)
    merges = sorted(ranks, key=ranks.get)
    for left, right in merges:
        vocab.setdefault(left + right, len(vocab))

    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)
