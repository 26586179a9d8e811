"""The corpus made ready for one training run: vocabulary, held-out stream, rows per epoch."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

from bot.engine.contract import SpecialTokens
from training.config import TrainConfig
from training.data import (
    Corpus,
    batches_per_epoch,
    batchify,
    build_vocab,
    encode_documents,
    load_training_split,
)
from training.finetune import Shipped, merge_vocabulary
from training.runtime import Runtime


@dataclass
class Dataset:
    corpus: Corpus
    vocab: list[str]
    special: SpecialTokens
    validation: np.ndarray
    train_tokens: int
    new_tokens: list[str]  # with --init-from: tokens the shipped vocabulary lacked

    def steps_per_epoch(self, config: TrainConfig) -> int:
        return batches_per_epoch(self.train_tokens, config.batch_size, config.seq_len)


def prepare_data(config: TrainConfig, shipped: Shipped | None = None) -> Dataset:
    corpus = load_training_split(vars(config))
    vocab, special = build_vocab(corpus, min_count=config.min_count)
    new_tokens: list[str] = []
    if shipped is not None:
        merged = merge_vocabulary(shipped.meta.vocab, shipped.meta.special_tokens, vocab, special)
        vocab, special, new_tokens = merged.tokens, merged.special, merged.new
    validation = encode_documents(corpus.validation, vocab, special)
    train_tokens = len(encode_documents(corpus.train, vocab, special))
    batchify(validation, config.eval_batch_size, config.seq_len, source=f"{config.corpus_path}")
    return Dataset(corpus, vocab, special, validation, train_tokens, new_tokens)


def epoch_rows(data: Dataset, config: TrainConfig, epoch: int, runtime: Runtime) -> torch.Tensor:
    """This rank's rows for one epoch; documents are reshuffled every epoch (seeded)."""
    docs = list(data.corpus.train)
    random.Random(config.seed * 1000 + epoch).shuffle(docs)
    stream = encode_documents(docs, data.vocab, data.special)
    rows = batchify(stream, config.batch_size, config.seq_len, source=config.corpus_path)
    return torch.from_numpy(rows[runtime.rank :: runtime.world_size].copy())
