"""Seeded samples while training, so a long run shows its text getting better.

At each evaluation the trainer draws one sample of ``SAMPLE_TOKENS`` tokens at
``SAMPLE_TEMPERATURE`` with the same seed, prints it and appends it to
``runs/NAME/samples.txt``. A document that ends (``<eos>``) is followed by a fresh one, opened
as in training (``<bos>``, or the next style token for names), on a new line.
"""

from __future__ import annotations

from pathlib import Path

import torch

from bot.engine.contract import SpecialTokens
from bot.engine.tokenizer import detokenize_words
from training.models import LSTMLanguageModel

SAMPLE_TOKENS = 200
SAMPLE_TEMPERATURE = 0.8


@torch.no_grad()
def draw_sample(
    model: LSTMLanguageModel,
    vocab: list[str],
    special: SpecialTokens,
    *,
    seed: int,
    tokens: int = SAMPLE_TOKENS,
    temperature: float = SAMPLE_TEMPERATURE,
) -> str:
    """A seeded sample as text; never samples ``<unk>``, ``<bos>`` or style tokens."""
    index = {token: i for i, token in enumerate(vocab)}
    openings = [index[t] for t in special.styles.values()] or [index[special.bos]]
    banned = torch.tensor([index[special.unknown], index[special.bos], *openings])
    eos = index[special.eos]
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    documents: list[list[str]] = [[]]
    token = openings[0]
    state = None
    for _ in range(tokens):
        logits, state = model(torch.tensor([[token]], device=device), state)
        scaled = logits[0, -1].float().cpu() / temperature
        scaled[banned] = -torch.inf
        token = int(torch.multinomial(torch.softmax(scaled, -1), 1, generator=generator))
        if token == eos:  # start the next document as training does
            token = openings[len(documents) % len(openings)]
            documents.append([])
            state = None
            continue
        documents[-1].append(vocab[token])
    model.train(was_training)
    texts = (_join(doc, special) for doc in documents)
    return "\n".join(text for text in texts if text)


def _join(tokens: list[str], special: SpecialTokens) -> str:
    if special.newline is None:  # character level
        return "".join(tokens)
    return detokenize_words(["\n" if t == special.newline else t for t in tokens])


def record_sample(run_dir: Path, step: int, text: str) -> str:
    """Append one sample to ``run_dir/samples.txt``; returns the block written."""
    block = f"--- step {step} (T={SAMPLE_TEMPERATURE:g}) ---\n{text}\n\n"
    with (run_dir / "samples.txt").open("a", encoding="utf-8") as handle:
        handle.write(block)
    return block
