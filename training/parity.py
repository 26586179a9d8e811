"""The export's parity gate: the ONNX step model must compute what the torch model computes.

Compared over random multi-step sequences at batch 1 and batch 4 with the state carried
between calls, in the logits and in both state tensors: an exporter that mixes up h and c
can predict every token right while its states are wrong.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from training.models import LSTMLanguageModel

PARITY_TOLERANCE = 1e-4  # max abs difference; fp32 graphs of the same model agree to ~1e-6
BATCHES = (1, 4)
STEPS = (7, 1, 1, 13, 1)  # calls per batch: multi-step priming, then single steps
SEED = 0  # of the random tokens: the same model always gets the same figure


def check_parity(model: LSTMLanguageModel, onnx_path: Path) -> float:
    """Max abs difference between torch and ORT (logits, h, c) over carried multi-step runs."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(SEED)
    worst = 0.0
    with torch.no_grad():
        for batch in BATCHES:
            h, c = model.initial_state(batch)
            h_np, c_np = h.numpy(), c.numpy()
            for steps in STEPS:
                tokens = torch.randint(0, model.vocab_size, (batch, steps), generator=generator)
                logits, (h, c) = model(tokens, (h, c))
                ort_logits, h_np, c_np = session.run(
                    None, {"tokens": tokens.numpy(), "h": h_np, "c": c_np}
                )
                worst = max(
                    worst,
                    float(np.abs(ort_logits - logits[:, -1].numpy()).max()),
                    float(np.abs(h_np - h.numpy()).max()),
                    float(np.abs(c_np - c.numpy()).max()),
                )
    return worst


def within_tolerance(difference: float) -> bool:
    """Whether the export may ship with this :func:`check_parity` figure (NaN never may)."""
    return difference < PARITY_TOLERANCE
