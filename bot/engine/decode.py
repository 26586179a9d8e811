"""The one sampling loop, prime -> mask -> sample, shared by the bot and the evaluator.

``generate`` samples a fixed batch of rows to their end: the evaluator draws the samples
behind the model card with it. The scheduler serves with the same pieces (``prime`` for
requests joining the batch, ``step`` for the running batch, ``drop_done`` between steps),
adding what serving needs around them: requests that join and leave between steps, and a
``RunRows`` that retries a failed batched call one row at a time. So a seed, a prompt and
sampling params give the same tokens in the card as in a reply, alone or batched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from bot.engine.ending import Ending, EndRule
from bot.engine.guard import Lexicon, WordGuard
from bot.engine.sampling import Nudge, SamplingParams, next_tokens

State = tuple[np.ndarray, np.ndarray]


class Model(Protocol):
    """What the loop needs of a model (a ``ModelBundle`` is one)."""

    @property
    def never_sampled(self) -> np.ndarray: ...

    def initial_state(self, batch: int) -> State: ...

    def run(
        self, tokens: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@dataclass(eq=False)
class Row:
    """One sequence: its prompt, how it samples, and the tokens sampled so far (a stop
    token included). It finishes at a stop token, after ``max_tokens`` tokens, or where
    its ``end_rule`` ends the reply (:mod:`bot.engine.ending`, which also steers it towards
    a sentence end). With a ``lexicon`` the word guard (:mod:`bot.engine.guard`) bans
    doubled words and a word 4-gram's third time."""

    prompt: np.ndarray
    params: SamplingParams
    rng: np.random.Generator
    max_tokens: int
    stop_ids: frozenset[int] = frozenset()
    lexicon: Lexicon | None = None
    end_rule: EndRule | None = None
    history: list[int] = field(default_factory=list)
    finished: bool = False
    guard: WordGuard | None = field(init=False, default=None)
    ending: Ending | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.lexicon is not None:
            self.guard = WordGuard(self.lexicon, self.prompt)
        if self.end_rule is not None:
            self.ending = Ending(self.end_rule, self.prompt)

    def nudge(self) -> Nudge | None:
        """What the guards ask of the next token."""
        banned = self.guard.banned() if self.guard is not None else ()
        boost = self.ending.boost() if self.ending is not None else 0.0
        if not len(banned) and not boost:
            return None
        if self.ending is None or not boost:
            return Nudge(banned)
        return Nudge(banned, self.ending.rule.marks.end_ids, boost)

    def take(self, token: int) -> None:
        """Append a sampled token; finish at a stop token, the limit or the reply's end."""
        self.history.append(token)
        if token in self.stop_ids or len(self.history) >= self.max_tokens:
            self.finished = True
            return
        if self.guard is not None:
            self.guard.feed(token)
        if self.ending is not None:
            self.ending.feed(token)
            self.finished = self.ending.done

    def done(self) -> bool:
        """Wants no more tokens (the scheduler's rows also when their request is cancelled)."""
        return self.finished


R = TypeVar("R", bound=Row)

RunRows = Callable[
    [list[R], np.ndarray, np.ndarray, np.ndarray],
    tuple[list[int], np.ndarray, np.ndarray, np.ndarray],
]
"""Runs the model for ``rows`` (tokens, h, c); returns the indices of the rows that ran and
their logits, h and c. The scheduler's leaves out (and finishes) a row that fails alone."""


def run_all(run: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]) -> RunRows:
    """A ``RunRows`` that runs every row in one call and lets an error raise."""

    def run_rows(
        rows: list[R], tokens: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
        logits, h_out, c_out = run(tokens, np.ascontiguousarray(h), np.ascontiguousarray(c))
        return list(range(len(rows))), logits, h_out, c_out

    return run_rows


def sample_rows(logits: np.ndarray, never_sampled: np.ndarray, rows: list[R]) -> list[R]:
    """Mask and sample: one token for each row (row ``i`` of ``logits``) that is not done,
    appended to its history; a row finishes at a stop token or its ``max_tokens``.
    Returns the rows that sampled. ``logits`` is masked in place."""
    live = [i for i, row in enumerate(rows) if not row.done()]
    if len(live) != len(rows):
        rows, logits = [rows[i] for i in live], logits[live]
    tokens = next_tokens(
        logits,
        never_sampled,
        [(r.params, r.rng, r.history) for r in rows],
        [r.nudge() for r in rows],
    )
    for row, token in zip(rows, tokens, strict=True):
        row.take(token)
    return rows


def prime(run_rows: RunRows, model: Model, rows: list[R]) -> tuple[np.ndarray, np.ndarray, list[R]]:
    """Run each row's prompt from the initial state in one call (rows with prompts of equal
    length share it) and sample its first token. Returns every row's state (zeros for a row
    that did not run) and the rows that sampled."""
    h, c = model.initial_state(len(rows))
    by_length: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        by_length.setdefault(len(row.prompt), []).append(i)
    sampled: list[R] = []
    for indices in by_length.values():
        group = [rows[i] for i in indices]
        h0, c0 = model.initial_state(len(group))
        ran, logits, h_out, c_out = run_rows(group, np.stack([r.prompt for r in group]), h0, c0)
        primed = [indices[i] for i in ran]
        h[:, primed], c[:, primed] = h_out, c_out
        sampled += sample_rows(logits, model.never_sampled, [rows[i] for i in primed])
    return h, c, sampled


def step(
    run_rows: RunRows, never_sampled: np.ndarray, rows: list[R], h: np.ndarray, c: np.ndarray
) -> tuple[list[R], np.ndarray, np.ndarray, list[R]]:
    """Feed each row its last token and sample the next. Returns the rows that ran with
    their new state, and the rows that sampled."""
    tokens = np.array([[r.history[-1]] for r in rows], dtype=np.int64)
    ran, logits, h, c = run_rows(rows, tokens, h, c)
    if len(ran) != len(rows):
        rows = [rows[i] for i in ran]
    return rows, h, c, sample_rows(logits, never_sampled, rows)


def drop_done(
    rows: list[R], h: np.ndarray, c: np.ndarray
) -> tuple[list[R], np.ndarray, np.ndarray]:
    """The rows that want more tokens, with their state."""
    alive = [i for i, row in enumerate(rows) if not row.done()]
    if len(alive) == len(rows):
        return rows, h, c
    return [rows[i] for i in alive], h[:, alive], c[:, alive]


def generate(model: Model, rows: Sequence[Row], on_step: Callable[[], None] | None = None) -> None:
    """Sample every row to its end: prime, then one call per step for all rows still going.
    Each row's tokens end up in its ``history``; ``on_step`` is called after each token."""
    run_rows = run_all(model.run)
    h, c, _ = prime(run_rows, model, list(rows))
    active, h, c = drop_done(list(rows), h, c)
    if on_step is not None:
        on_step()
    while active:
        active, h, c, _ = step(run_rows, model.never_sampled, active, h, c)
        active, h, c = drop_done(active, h, c)
        if on_step is not None:
            on_step()
