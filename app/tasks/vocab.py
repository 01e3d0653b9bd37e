"""Vocabularies: token <-> index, saved inside checkpoints as plain dicts.

Character level (``level="char"``) splits text into Unicode code points; word level splits on
whitespace. Anything the vocabulary does not know maps to the ``unk`` token, and ``encode`` reports
the positions of such tokens so the UI can mark them::

    >>> v = Vocab.build("abc", specials={"unk": "<unk>"})
    >>> v.encode("ab\u00e9")
    Encoded(ids=[1, 2, 0], tokens=['a', 'b', '\u00e9'], unknown=[2])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["char", "word"]


@dataclass(frozen=True)
class Encoded:
    """Token ids as the model sees them, the tokens as typed, and which of them are unknown."""

    ids: list[int]
    tokens: list[str]
    unknown: list[int]


@dataclass(frozen=True)
class Vocab:
    """An ordered token list; ``specials`` maps roles (pad, unk, bos, eos, blank) to tokens."""

    tokens: tuple[str, ...]
    level: Level = "char"
    specials: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        index = {t: i for i, t in enumerate(self.tokens)}
        if len(index) != len(self.tokens):
            raise ValueError("vocabulary has duplicate tokens")
        missing = [t for t in self.specials.values() if t not in index]
        if missing:
            raise ValueError(f"special tokens not in the vocabulary: {missing}")
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_special_set", frozenset(self.specials.values()))

    @classmethod
    def build(
        cls,
        text_or_tokens: Iterable[str],
        level: Level = "char",
        specials: dict[str, str] | None = None,
    ) -> Vocab:
        """Specials first (in the given order), then the sorted distinct tokens."""
        specials = dict(specials or {})
        seen = set(specials.values())
        rest = sorted({t for t in text_or_tokens if t not in seen})
        return cls(tuple(list(specials.values()) + rest), level, specials)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index  # type: ignore[attr-defined]

    def id(self, token: str) -> int:
        """Index of a token (KeyError if unknown)."""
        return int(self._index[token])  # type: ignore[attr-defined]

    def special_id(self, role: str) -> int:
        """Index of a special token by role, e.g. ``special_id("eos")``."""
        return self.id(self.specials[role])

    def split(self, text: str) -> list[str]:
        """Text to tokens at this vocabulary's level."""
        return list(text) if self.level == "char" else text.split()

    def encode(self, text_or_tokens: str | Sequence[str]) -> Encoded:
        """Encode text (or pre-split tokens); unknown tokens become ``unk`` and are reported.

        A vocabulary without an ``unk`` token (a user's own) gives unknown tokens id 0; callers
        must act on ``unknown`` (the user-LSTM feeds a zero vector there).
        """
        tokens = self.split(text_or_tokens) if isinstance(text_or_tokens, str) else list(text_or_tokens)
        index: dict[str, int] = self._index  # type: ignore[attr-defined]
        unk = index.get(self.specials.get("unk", ""), 0)
        specials = self._special_set  # type: ignore[attr-defined]
        ids: list[int] = []
        unknown: list[int] = []
        for pos, tok in enumerate(tokens):
            i = index.get(tok)
            if i is None or tok in specials:
                # A special typed literally (say "<eos>") is text, not a control token.
                unknown.append(pos)
                i = unk
            ids.append(i)
        return Encoded(ids, tokens, unknown)

    def decode(self, ids: Iterable[int], strip_specials: bool = True) -> str:
        """Ids back to text; special tokens are dropped unless asked for."""
        specials = set(self.specials.values()) if strip_specials else set()
        toks = [self.tokens[i] for i in ids if self.tokens[i] not in specials]
        return "".join(toks) if self.level == "char" else " ".join(toks)

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": list(self.tokens), "level": self.level, "specials": dict(self.specials)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocab:
        return cls(tuple(d["tokens"]), d.get("level", "char"), dict(d.get("specials", {})))
