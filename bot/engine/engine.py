"""The engine: every model of a directory, each with its own scheduler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.engine.bundle import ModelBundle, ModelLoadError
from bot.engine.errors import UnknownModel
from bot.engine.scheduler import Scheduler


class Engine:
    """Loaded models by name; a model that fails to load is listed in ``load_errors``."""

    def __init__(
        self,
        models: dict[str, ModelBundle],
        load_errors: dict[str, str] | None = None,
        *,
        unavailable: dict[str, str] | None = None,
        max_batch: int = 32,
        max_queue: int = 256,
    ) -> None:
        self.models = models
        self.load_errors = load_errors or {}  # full messages, for the operator's log
        # why each failed, with bare file names only: what users may see (/models)
        self.unavailable = unavailable or {name: "failed to load" for name in self.load_errors}
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._schedulers: dict[str, Scheduler] = {}

    @classmethod
    def load(
        cls,
        models_dir: Path,
        *,
        only: list[str] | None = None,
        threads: int = 1,
        max_batch: int = 32,
        max_queue: int = 256,
        strict: bool = False,
        spinning: bool = False,
        precision: str = "int8",
    ) -> Engine:
        """Load ``NAME.json`` + ``NAME.onnx`` pairs from ``models_dir`` (all, or ``only`` these).

        A bad model is recorded in ``load_errors`` and the others still load; with
        ``strict=True`` the first failure raises ModelLoadError. ``precision="int8"`` serves a
        model's int8 copy where its export listed one (the quality gate passed), else fp32.
        """
        models_dir = Path(models_dir)
        if not models_dir.is_dir():
            raise ModelLoadError(models_dir, "models directory does not exist")
        if only is None:
            names = sorted(p.stem for p in models_dir.glob("*.json") if "." not in p.stem)
        else:
            names = list(dict.fromkeys(only))
        models: dict[str, ModelBundle] = {}
        errors: dict[str, str] = {}
        briefs: dict[str, str] = {}
        for name in names:
            try:
                models[name] = ModelBundle.load(
                    models_dir / f"{name}.json",
                    threads=threads,
                    spinning=spinning,
                    precision=precision,
                )
            except ModelLoadError as exc:
                if strict:
                    raise
                errors[name], briefs[name] = str(exc), exc.brief
        return cls(models, errors, unavailable=briefs, max_batch=max_batch, max_queue=max_queue)

    def scheduler(self, name: str) -> Scheduler:
        """The scheduler of model ``name`` (created on first use); UnknownModel if not loaded."""
        if name not in self.models:
            why = "it failed to load" if name in self.load_errors else "it is not installed"
            raise UnknownModel(f"The {name} model is not available ({why}).")
        if name not in self._schedulers:
            self._schedulers[name] = Scheduler(
                self.models[name], max_batch=self.max_batch, max_queue=self.max_queue
            )
        return self._schedulers[name]

    def running(self) -> dict[str, Scheduler]:
        """The schedulers started so far, by model name (a copy, for the metrics)."""
        return dict(self._schedulers)

    def describe(self) -> dict[str, dict[str, Any]]:
        """Per-model figures from the metadata, for a /models command."""
        out: dict[str, dict[str, Any]] = {}
        for name, bundle in sorted(self.models.items()):
            meta = bundle.meta
            out[name] = {
                "level": meta.level,
                "precision": bundle.precision,
                "vocab_size": meta.vocab_size,
                "layers": meta.architecture.layers,
                "hidden_size": meta.architecture.hidden_size,
                "embedding_size": meta.architecture.embedding_size,
                "parameters": meta.architecture.parameters,
                "corpus": meta.corpus.name,
                "corpus_bytes": meta.corpus.bytes,
                "documents": meta.corpus.documents,
                "train_tokens": meta.corpus.train_tokens,
                "validation_loss_nats": meta.training.validation_loss_nats,
                "validation_bits_per_token": meta.training.validation_bits_per_token,
                "epochs": meta.training.epochs,
                "training_time_s": meta.training.wall_time_s,
                "device": meta.training.device,
                "trained_at": meta.training.finished_at,
                "styles": sorted(meta.special_tokens.styles),
            }
        return out

    async def aclose(self) -> None:
        for scheduler in self._schedulers.values():
            await scheduler.aclose()
        self._schedulers.clear()
