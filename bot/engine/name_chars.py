"""Which characters a new name of a Han style (gulong, jinyong) may use, from the names the
model was exported with: /name's second plausibility check, beside the score.

Each character after the first (the first is the surname's, judged by its opening) must occur
in at least ``K`` names of the style, or in at least ``2K`` names of the Han styles together:
a character the style never uses needs twice the evidence from the others, since the model
carries characters over from one style to the other ("眇圻", "扎召心" as Gu Long names). ``K``
is set per style by ``python -m training.calibrate_names`` so that about 95% of the held-out
names of the style pass, counting the training names only; a style without it (none passing
enough, or English) is not judged.

Counting a character in any position, not only after a surname, is what real names ask for:
given names reuse surname characters (郭大路, 计无施), so a given-name-only count turned away
7% of the held-out wuxia names even at ``K = 1``.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.engine.name_filter import is_han

if TYPE_CHECKING:
    from bot.engine.name_score import NamePlausibility


@functools.lru_cache(maxsize=16)
def char_counts(names: frozenset[str]) -> Mapping[str, int]:
    """How many of ``names`` use each character (built once per list)."""
    return Counter(ch for name in names for ch in set(name))


@functools.lru_cache(maxsize=16)
def is_han_style(names: frozenset[str]) -> bool:
    """True when most of a style's names open with a Han character."""
    opens = [is_han(name[0]) for name in names if name]
    return bool(opens) and sum(opens) * 2 > len(opens)


@dataclass(frozen=True)
class CharUsage:
    """``style``/``pooled``: how many names of the style / of every Han style use each
    character; ``min_names``: the style's ``K``."""

    style: Mapping[str, int]
    pooled: Mapping[str, int]
    min_names: int

    def rare(self, name: str, start: int = 1) -> str | None:
        """The first character of ``name`` from ``start`` on that too few names use (None:
        every one is used enough). Characters outside the Han blocks are not judged."""
        for ch in name[start:]:
            if is_han(ch) and not (
                self.style.get(ch, 0) >= self.min_names
                or self.pooled.get(ch, 0) >= 2 * self.min_names
            ):
                return ch
        return None


def char_usage(
    by_style: Mapping[str, Iterable[str]], style: str, min_names: int | None
) -> CharUsage | None:
    """The check for ``style`` from each style's names (None: ``min_names`` unset, or the
    style has no names or is not a Han style)."""
    if not min_names or style not in by_style:
        return None
    lists = {s: frozenset(names) for s, names in by_style.items()}
    if not is_han_style(lists[style]):
        return None
    return CharUsage(char_counts(lists[style]), _pooled_counts(tuple(lists.values())), min_names)


@functools.lru_cache(maxsize=16)
def _pooled_counts(lists: tuple[frozenset[str], ...]) -> Mapping[str, int]:
    """:func:`char_counts` over the Han styles' names together (built once per set of lists,
    not per request: a frozenset keeps its hash)."""
    return char_counts(frozenset().union(*(names for names in lists if is_han_style(names))))


def served_char_usage(
    by_style: Mapping[str, frozenset[str]] | None,
    plausibility: NamePlausibility | None,
    style: str,
) -> CharUsage | None:
    """/name's check for ``style``: the metadata's ``K`` over the exported names of each
    style (None, not judged, without either)."""
    if by_style is None or plausibility is None:
        return None
    return char_usage(by_style, style, plausibility.char_min_names.get(style))
