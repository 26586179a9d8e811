"""Held-out loss of an exported model through onnxruntime, on its training split rebuilt.

The split is rebuilt from the metadata (corpus path, kind, fraction, seed) and refused if the
corpus changed since training (sha256).
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from bot.engine.bundle import ModelBundle
from training.data import Corpus, CorpusError, batchify, load_training_split


class EvaluationError(RuntimeError):
    """A model cannot be evaluated (missing corpus, changed corpus, unloadable model)."""


def load_training_corpus(bundle: ModelBundle) -> Corpus:
    """The corpus split exactly as in training; fails if the corpus changed since."""
    config = bundle.meta.training.config
    try:
        corpus = load_training_split(config)
    except (CorpusError, KeyError) as exc:
        raise EvaluationError(
            f"{bundle.json_path}: cannot rebuild the training split: {exc}"
        ) from None
    if corpus.sha256 != bundle.meta.corpus.sha256:
        raise EvaluationError(
            f"{config['corpus_path']}: corpus sha256 differs from {bundle.json_path.name} "
            "(the corpus changed since training)"
        )
    return corpus


# ---------------------------------------------------------------------------------------------
# Held-out loss through onnxruntime


def log_softmax_rows(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def heldout_loss(bundle: ModelBundle, stream: np.ndarray, rows: int, progress: bool) -> float:
    """Mean nats/token over ``rows`` parallel pieces of the stream, state carried throughout.

    The same rows and positions as the trainer's evaluation, but one step per ORT call
    (the exported model returns the last step's logits only).
    """
    grid = batchify(stream, rows, 1, source=f"{bundle.name} validation")
    h, c = bundle.initial_state(rows)
    total = 0.0
    picks = np.arange(rows)
    for t in tqdm(
        range(grid.shape[1] - 1), desc=f"{bundle.name} held-out", disable=not progress, leave=False
    ):
        logits, h, c = bundle.run(np.ascontiguousarray(grid[:, t : t + 1]), h, c)
        total -= float(log_softmax_rows(logits)[picks, grid[:, t + 1]].sum())
    return total / (rows * (grid.shape[1] - 1))


# ---------------------------------------------------------------------------------------------
# Batched sampling
