"""Where a prose or story reply ends: at the end of a sentence, within its length.

``length`` is the most a reply writes, in units: characters for a character model, words for
a word model. From three quarters of it on, the sampling loop adds a bonus to the logits of
the sentence-end tokens after a word, growing to ``MAX_BOOST`` at the length, and the reply
stops at the first sentence end. If none comes by the length, the reply ends at its last
sentence end after the half of its length; failing that, at its last whole word, and the
generator marks the cut with "…".

A sentence end is ``.``, ``!`` or ``?``, then any closing quotes or brackets, then a break:
whitespace (or the end of the text) for a character model, any other token for a word model.
The break is not part of the reply. The bot's generators and the evaluator both follow a
reply with :class:`Ending`, the scheduler's row with the same rule, so what the model card
measures is what users get.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bot.engine.tokenizer import Tokenizer

MAX_BOOST = 4.0  # nats added to the sentence-end logits at the length
ENDS = frozenset(".!?")
CLOSERS = frozenset("\"')]”’")
WORD_QUOTES = frozenset('"')  # a word model's quote closes only an open quotation


@dataclass(frozen=True)
class Marks:
    """A vocabulary's sentence marks, as token ids (built once per model)."""

    ends: frozenset[int]
    closers: frozenset[int]
    quotes: frozenset[int]  # closers only while a quotation is open (word level)
    breaks: frozenset[int] | None  # tokens that confirm an end; None: any other token
    words: frozenset[int]  # tokens that are (or end) a word
    units: frozenset[int] | None  # tokens counted against the length; None: every token
    end_ids: np.ndarray

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> Marks:
        texts = [tokenizer.token_text(i) for i in range(len(tokenizer))]
        ids = {t: i for i, t in enumerate(texts) if t}
        ends = frozenset(ids[t] for t in ENDS if t in ids)
        words = frozenset(i for i, t in enumerate(texts) if t[-1:].isalnum())
        if tokenizer.level == "word":
            quotes = frozenset(ids[t] for t in WORD_QUOTES if t in ids)
            closers = frozenset(ids[t] for t in CLOSERS - WORD_QUOTES - {"'"} if t in ids)
            return cls(ends, closers, quotes, None, words, words, _array(ends))
        closers = frozenset(ids[t] for t in CLOSERS if t in ids)
        breaks = frozenset(i for i, t in enumerate(texts) if t.isspace())
        return cls(ends, closers, frozenset(), breaks, words, None, _array(ends))


def _array(ids: frozenset[int]) -> np.ndarray:
    return np.asarray(sorted(ids), np.int64)


@dataclass(frozen=True)
class EndRule:
    """A reply of at most ``length`` units that ends at a sentence end."""

    marks: Marks
    length: int

    @property
    def steer_from(self) -> int:
        """Units from which a sentence end stops the reply and sentence ends are boosted."""
        return self.length - self.length // 4

    @property
    def hold_from(self) -> int:
        """Units from which text waits for its sentence end before it is shown."""
        return self.length // 2

    def boost(self, units: int) -> float:
        """The bonus for a sentence end after ``units`` units (0 before ``steer_from``)."""
        if units < self.steer_from:
            return 0.0
        steps = max(1, self.length - self.steer_from)  # the last token comes at length - 1
        return MAX_BOOST * min(1.0, (units - self.steer_from + 1) / steps)


class Ending:
    """Follows one reply's tokens (the stop token excluded): when it is done, which tokens may
    be shown as they come (``shown``) and which it keeps in the end (:meth:`final`)."""

    def __init__(self, rule: EndRule, prompt: Sequence[int] | np.ndarray = ()) -> None:
        self.rule = rule
        self.tokens: list[int] = []
        self.units = 0
        self.quote_open = sum(1 for t in prompt if int(t) in rule.marks.quotes) % 2 == 1
        self.pending = False  # an end mark (and closers) waits for its break
        self.last_end = 0  # tokens up to the last confirmed sentence end
        self.hold = -1  # where held text starts (-1: nothing held yet)
        self.done = False
        self.complete = False  # stopped at a sentence end

    def feed(self, token: int) -> None:
        """Take the next sampled token; afterwards ``done`` says whether the reply is over."""
        marks = self.rule.marks
        if token in marks.ends:
            self.pending = True
        elif self.pending and (
            token in marks.closers or (token in marks.quotes and self.quote_open)
        ):
            pass
        elif self.pending:
            self.pending = False
            if self._boundary(token):
                self.last_end = len(self.tokens)
                if self.units >= self.rule.steer_from:
                    self.done = self.complete = True
                    return
        if token in marks.quotes:
            self.quote_open = not self.quote_open
        if self.hold < 0 and self.units >= self.rule.hold_from and self._boundary(token):
            self.hold = len(self.tokens)
        self.tokens.append(token)
        self.units += marks.units is None or token in marks.units
        if self.units >= self.rule.length:
            self.done = True
            if self.pending:
                self.last_end = len(self.tokens)
                self.complete = True

    def _boundary(self, token: int) -> bool:
        return self.rule.marks.breaks is None or token in self.rule.marks.breaks

    def boost(self) -> float:
        """The bonus for a sentence end as the next token: after a word, from ``steer_from``."""
        if self.pending or not self.tokens or self.tokens[-1] not in self.rule.marks.words:
            return 0.0
        return self.rule.boost(self.units)

    @property
    def shown(self) -> int:
        """How many tokens may be shown now: all until text is held, then up to the last
        sentence end (text shown is never taken back)."""
        return len(self.tokens) if self.hold < 0 else max(self.hold, self.last_end)

    def final(self, *, end_of_document: bool) -> tuple[int, bool]:
        """(tokens kept, whether a "…" marks a cut) once the reply stops: all of them at a
        sentence end or the model's own end; else up to the last sentence end after the
        held point; else up to the last whole word, marked."""
        if self.complete or self.pending or end_of_document or self.hold < 0:
            return len(self.tokens), not (self.complete or self.pending or end_of_document)
        if self.last_end >= self.hold:
            return self.last_end, False
        return self._last_word(), True

    def _last_word(self) -> int:
        """The end of the last whole word after the held point."""
        marks = self.rule.marks
        cut = len(self.tokens)
        if marks.breaks is not None:  # a char model: drop the word being written
            while cut > self.hold and self.tokens[cut - 1] not in marks.breaks:
                cut -= 1
        while cut > self.hold and self.tokens[cut - 1] not in marks.words:
            cut -= 1
        return cut
