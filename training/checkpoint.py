"""Training checkpoints: one safetensors file, its JSON state in the header.

Tensors (model weights, optimizer moments, the carried LSTM state, RNG states) are stored
as safetensors; everything else (config, vocabulary, corpus, progress, optimizer and
scheduler settings) is JSON in the safetensors metadata under ``"state"``. Loading never
unpickles anything, and returns a typed :class:`Checkpoint`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from training.atomic import replacing

FORMAT = "lstm-bot-checkpoint/1"
SUFFIX = ".safetensors"


class CheckpointError(RuntimeError):
    """The checkpoint is missing, damaged or not one of ours; the message names the file."""


@dataclass
class Progress:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens_seen: int = 0
    wall_time_s: float = 0.0
    best_validation: float = math.inf
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Checkpoint:
    config: dict[str, Any]
    vocab: list[str]
    special_tokens: dict[str, Any]
    corpus: dict[str, Any]
    progress: Progress
    device: str
    torch_version: str
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None
    scaler: dict[str, Any] | None = None
    carried_state: tuple[torch.Tensor, torch.Tensor] | None = None
    rng_torch: torch.Tensor | None = None
    rng_cuda: list[torch.Tensor] | None = None
    init_report: dict[str, Any] = field(default_factory=dict)  # what --init-from did

    def as_dict(self) -> dict[str, Any]:
        """The plain fields the exporter reads (config, vocab, corpus, progress, ...)."""
        return {
            "config": self.config,
            "vocab": self.vocab,
            "special_tokens": self.special_tokens,
            "corpus": self.corpus,
            "progress": asdict(self.progress),
            "device": self.device,
            "torch_version": self.torch_version,
            "model": self.model,
        }


def _optimizer_split(
    state_dict: dict[str, Any], tensors: dict[str, torch.Tensor]
) -> dict[str, Any]:
    """Move the optimizer's per-parameter tensors into ``tensors``; return the JSON rest."""
    entries: dict[str, list[str]] = {}
    for index, values in state_dict["state"].items():
        entries[str(index)] = sorted(values)
        for key, value in values.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu()
    return {"param_groups": state_dict["param_groups"], "state": entries}


def _optimizer_join(meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state = {
        int(index): {key: tensors[f"optimizer.{index}.{key}"] for key in keys}
        for index, keys in meta["state"].items()
    }
    return {"param_groups": meta["param_groups"], "state": state}


def save(path: Path, checkpoint: Checkpoint) -> None:
    """Write atomically (temporary file, fsync, rename): never a half-written checkpoint, and
    the previous one stays whole if the write fails."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in checkpoint.model.items()}
    optimizer = None
    if checkpoint.optimizer is not None:
        optimizer = _optimizer_split(checkpoint.optimizer, tensors)
    if checkpoint.carried_state is not None:
        tensors["carried.h"], tensors["carried.c"] = (
            t.detach().cpu().contiguous() for t in checkpoint.carried_state
        )
    if checkpoint.rng_torch is not None:
        tensors["rng.torch"] = checkpoint.rng_torch
    for i, rng in enumerate(checkpoint.rng_cuda or []):
        tensors[f"rng.cuda.{i}"] = rng
    state = {
        "format": FORMAT,
        "config": checkpoint.config,
        "vocab": checkpoint.vocab,
        "special_tokens": checkpoint.special_tokens,
        "corpus": checkpoint.corpus,
        "progress": asdict(checkpoint.progress),
        "device": checkpoint.device,
        "torch_version": checkpoint.torch_version,
        "optimizer": optimizer,
        "scheduler": checkpoint.scheduler,
        "scaler": checkpoint.scaler,
        "rng_cuda": len(checkpoint.rng_cuda) if checkpoint.rng_cuda is not None else None,
        "init_report": checkpoint.init_report,
    }
    with replacing(path) as tmp:  # fsynced, renamed over the old one; no temporary left
        save_file(tensors, str(tmp), metadata={"state": json.dumps(state)})


def load(path: Path, device: torch.device | str = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save`; raises CheckpointError naming the file."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint not found") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from None
    try:
        state = json.loads(metadata["state"])
        if state.get("format") != FORMAT:
            raise ValueError(f"format {state.get('format')!r}, expected {FORMAT!r}")
        cuda = state["rng_cuda"]
        carried = ("carried.h", "carried.c")
        return Checkpoint(
            config=state["config"],
            vocab=list(state["vocab"]),
            special_tokens=state["special_tokens"],
            corpus=state["corpus"],
            progress=Progress(**state["progress"]),
            device=state["device"],
            torch_version=state["torch_version"],
            model={k.removeprefix("model."): v for k, v in tensors.items() if k[:6] == "model."},
            optimizer=(
                _optimizer_join(state["optimizer"], tensors) if state["optimizer"] else None
            ),
            scheduler=state["scheduler"],
            scaler=state["scaler"],
            carried_state=(
                (tensors[carried[0]], tensors[carried[1]]) if carried[0] in tensors else None
            ),
            rng_torch=tensors["rng.torch"].cpu() if "rng.torch" in tensors else None,
            rng_cuda=[tensors[f"rng.cuda.{i}"].cpu() for i in range(cuda)] if cuda else None,
            init_report=state.get("init_report", {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a training checkpoint ({exc})") from None
