"""Which sampled names /name shows: one rule, read by the names generator and the evaluator.

A candidate is dropped when it is out of the asked-for lengths, repeats a shown name or a
known one (case-folded), mixes Han characters with another script, opens as no known name
of its style does ("sshley"; :func:`opening`), scores below the style's threshold: the
model finds it an unlikely name (``bot.engine.name_score``), or, in a Han style, uses a
character too few of the style's names use (``bot.engine.name_chars``). The evaluator's
"shown" figures apply this same filter, so the model card measures what users see.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.engine.name_chars import CharUsage


def is_han(ch: str) -> bool:
    """A CJK unified ideograph (with extension A and the compatibility block)."""
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def opening(name: str) -> str:
    """A name's opening, case-folded: its first two letters, or its first Han character
    (a surname's first character; the given name after it is free)."""
    return name.casefold()[: 1 if is_han(name[:1]) else 2]


@functools.lru_cache(maxsize=16)
def openings_of(names: frozenset[str]) -> frozenset[str]:
    """The openings of the names of two or more characters (built once per list)."""
    return frozenset(opening(name) for name in names if len(name) >= 2)


def mixes_scripts(name: str) -> bool:
    """True for a name mixing Han characters with letters of another script ("o忌").

    One model serves every style; a slip between scripts is never a name in any of them.
    Separators such as the middle dot in "纳斯尔丁·阿凡提" belong to neither script.
    """
    letters = [ch for ch in name if ch.isalpha()]
    return len({is_han(ch) for ch in letters}) > 1


@dataclass(frozen=True)
class NameFilter:
    """What /name lets through.

    ``known``: case-folded names never shown as new (empty when known names are allowed or
    the list is missing); ``openings``: the openings a shown name may have (empty: openings
    are not judged); ``prefix``: the asked-for starting letters, whose opening is the user's
    choice and never judged; ``min_score``: the lowest score (mean log-likelihood per
    character, ``bot.engine.name_score``) a shown name may have (None: scores not judged);
    ``chars``: the characters a shown name may use after its first (None: not judged).
    """

    min_length: int
    max_length: int
    known: frozenset[str] = frozenset()
    openings: frozenset[str] = frozenset()
    prefix: str = ""
    min_score: float | None = None
    chars: CharUsage | None = None

    def rejects(self, name: str, seen: set[str], score: float | None = None) -> bool:
        """True if ``name`` (with its ``score``, when judged) is not shown after the
        case-folded names in ``seen``."""
        key = name.casefold()
        return (
            not self.min_length <= len(name) <= self.max_length
            or "\n" in name
            or key in seen
            or key in self.known
            or mixes_scripts(name)
            or self.implausible_opening(name)
            or self.unlikely(score)
            or self.rare_char(name) is not None
        )

    def unlikely(self, score: float | None) -> bool:
        """A score under ``min_score``; a filter with a threshold needs every score."""
        if self.min_score is None:
            return False
        if score is None:
            raise ValueError("this filter judges scores: pass each name's score")
        return score < self.min_score

    def rare_char(self, name: str) -> str | None:
        """The first character too few names of the style use, after the first and after the
        asked-for starting letters (the user's choice); None when all are used enough."""
        if self.chars is None:
            return None
        return self.chars.rare(name.casefold(), max(1, len(self.prefix)))

    def implausible_opening(self, name: str) -> bool:
        """An opening no known name of the style opens with; judged on names of two or more
        characters, and never when the asked-for starting letters already cover it."""
        first = opening(name)
        return (
            bool(self.openings)
            and len(name) >= 2
            and len(self.prefix) < len(first)
            and first not in self.openings
        )

    def shown(self, candidates: Sequence[str], scores: Sequence[float] | None = None) -> list[str]:
        """The candidates /name would show, judged in order (with their ``scores``)."""
        seen: set[str] = set()
        out = []
        judged = [None] * len(candidates) if scores is None else scores
        for name, score in zip(candidates, judged, strict=True):
            if not self.rejects(name, seen, score):
                seen.add(name.casefold())
                out.append(name)
        return out
