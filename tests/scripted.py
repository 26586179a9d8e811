"""A vocabulary and a model whose next-token logits are a table lookup on the last token:
the sampling loop's guards and endings tested on text chosen by the test."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bot.engine.ending import Marks
from bot.engine.guard import Lexicon


class Vocab:
    """What :class:`Lexicon` and :class:`Marks` read of a tokenizer."""

    def __init__(self, level: str, tokens: Sequence[str]) -> None:
        self.level = level
        self.vocab = ["<eos>", *tokens]
        self.index = {t: i for i, t in enumerate(self.vocab)}

    def __len__(self) -> int:
        return len(self.vocab)

    def token_text(self, token_id: int) -> str:
        return "" if token_id == 0 else self.vocab[token_id]

    def ids(self, tokens: Sequence[str]) -> list[int]:
        return [self.index[t] for t in tokens]

    def text(self, ids: Sequence[int], sep: str = "") -> str:
        return sep.join(self.token_text(i) for i in ids)

    def lexicon(self) -> Lexicon:
        return Lexicon.of(self)  # type: ignore[arg-type]

    def marks(self) -> Marks:
        return Marks.of(self)  # type: ignore[arg-type]


class ScriptedModel:
    """``table[last token]`` are the logits of the next token (state unused)."""

    def __init__(self, table: np.ndarray) -> None:
        self.table = table.astype(np.float32)
        self.never_sampled = np.array([0])  # <eos>: replies end by their rule or limit

    def initial_state(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((1, batch, 1), np.float32), np.zeros((1, batch, 1), np.float32)

    def run(
        self, tokens: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.table[tokens[:, -1]], h, c


def cycle_table(vocab: Vocab, cycle: Sequence[str], low: float = -8.0) -> np.ndarray:
    """Logits that follow ``cycle`` (each token's successor at 0, the rest at ``low``)."""
    table = np.full((len(vocab), len(vocab)), low)
    for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True):
        table[vocab.index[a], vocab.index[b]] = 0.0
    return table
