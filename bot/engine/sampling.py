"""Choosing the next token from a model's logits: temperature, top-k, top-p, bans and boosts.

Every request owns a ``numpy.random.Generator`` seeded from its seed and draws exactly one
uniform number per sampled token, so its text depends only on its seed and its own logits,
never on which other requests share the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

GREEDY_BELOW = 1e-3  # temperatures under this mean "always the most likely token"


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens; ``repeat_limit`` > 0 bans a token already repeated that many times
    in a row (stops "!!!!!!" or "the the the" loops)."""

    temperature: float = 0.8
    top_k: int = 0  # 0 = no limit
    top_p: float = 1.0  # 1 = no limit
    repeat_limit: int = 0  # 0 = off

    def __post_init__(self) -> None:
        if not (np.isfinite(self.temperature) and self.temperature >= 0):
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.repeat_limit < 0:
            raise ValueError(f"repeat_limit must be >= 0, got {self.repeat_limit}")


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax of a 1-D array (handles -inf entries)."""
    shifted = x - np.max(x)
    return shifted - np.log(np.sum(np.exp(shifted)))


def banned_token(history: Sequence[int], repeat_limit: int) -> int | None:
    """The token to ban next, if the last ``repeat_limit`` tokens are all that token."""
    if repeat_limit <= 0 or len(history) < repeat_limit:
        return None
    last = history[-1]
    if all(t == last for t in history[-repeat_limit:]):
        return last
    return None


@dataclass(frozen=True)
class Nudge:
    """What a row's guards ask of its next token: ids it must not be, and a bonus added to
    some ids' logits before the temperature (a reply steered towards a sentence end)."""

    banned: Sequence[int] | np.ndarray = ()
    boost_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    boost: float = 0.0


def adjusted(
    logits: np.ndarray, banned: int | Sequence[int] | None, nudge: Nudge | None
) -> np.ndarray:
    """A float64 copy of ``logits`` with the boost added and the banned ids at -inf; the bans
    are dropped if they would leave no token at all."""
    z = logits.astype(np.float64)
    if nudge is not None and nudge.boost:
        z[nudge.boost_ids] += nudge.boost
    bans = [] if banned is None else [banned] if isinstance(banned, int | np.integer) else banned
    if nudge is not None:
        bans = [*bans, *nudge.banned]
    if bans:
        kept = z.copy()
        z[np.asarray(bans, dtype=np.int64)] = -np.inf
        if not np.isfinite(z).any():
            return kept
    return z


def filter_logits(
    logits: np.ndarray,
    params: SamplingParams,
    banned: int | Sequence[int] | None = None,
    nudge: Nudge | None = None,
) -> np.ndarray:
    """Scaled log-probabilities (float64) with masked tokens at -inf; at least one survives."""
    z = adjusted(logits, banned, nudge) / max(params.temperature, GREEDY_BELOW)
    logp = log_softmax(z)
    if 0 < params.top_k < logp.size:
        kth = np.partition(logp, -params.top_k)[-params.top_k]
        logp = np.where(logp >= kth, logp, -np.inf)
    if params.top_p < 1.0:
        order = np.argsort(-logp, kind="stable")
        probs = np.exp(logp[order])
        # keep the smallest prefix whose mass reaches top_p (the first token always stays)
        keep = np.cumsum(probs) - probs < params.top_p * probs.sum()
        mask = np.full(logp.shape, -np.inf)
        mask[order[keep]] = 0.0
        logp = logp + mask
    return log_softmax(logp)


def sample(
    logits: np.ndarray,
    params: SamplingParams,
    rng: np.random.Generator,
    banned: int | Sequence[int] | None = None,
    nudge: Nudge | None = None,
) -> int:
    """One token id from 1-D ``logits``; draws exactly one uniform from ``rng``.

    Inverse-CDF sampling over token ids in fixed order: identical logits and rng state give
    the identical token. At temperature ~0 it is the argmax (first one on ties).
    """
    u = rng.random()
    z = adjusted(logits, banned, nudge)
    if params.temperature < GREEDY_BELOW:
        return int(np.argmax(z))
    if params.top_k or params.top_p < 1.0:
        logp = filter_logits(z, params)  # z is already adjusted: bans and boost once
    else:  # the common case, without the masks' extra passes (in place: z is our copy)
        logp = z
        logp /= params.temperature
        logp -= logp.max()
    probs = np.exp(logp, out=logp)  # methods, not np.* wrappers: a few us per token
    cdf = probs.cumsum()
    index = int(cdf.searchsorted(u * cdf[-1], side="right"))
    index = min(index, probs.size - 1)
    while probs[index] == 0.0:  # u*total landed on a float boundary next to a masked token
        index -= 1
    return index


def next_tokens(
    logits: np.ndarray,
    never_sampled: np.ndarray,
    rows: Sequence[tuple[SamplingParams, np.random.Generator, Sequence[int]]],
    nudges: Sequence[Nudge | None] | None = None,
) -> list[int]:
    """One token per row of ``logits`` (masked in place): the never-sampled tokens are
    removed, then row ``i`` is sampled with ``rows[i]``'s params and generator, the
    repetition guard over its history and its nudge (``nudges[i]``, if given). The scheduler
    serves with this step and the evaluator measures with it, so what is measured is what
    is served."""
    logits[:, never_sampled] = -np.inf
    if nudges is None:
        nudges = [None] * len(rows)
    return [
        sample(row, params, rng, banned_token(history, params.repeat_limit), nudge)
        for row, (params, rng, history), nudge in zip(logits, rows, nudges, strict=True)
    ]
