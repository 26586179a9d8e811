"""The model card's held-out loss table: the shipped model, its contiguous tail, its int8
copy, the measured bigram baseline and, for prose, the original 2x100 LSTM (a baseline run
recorded in ``card/baselines.json`` by ``--record-baseline``)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from bot.engine.contract import ModelMetadata
from bot.engine.kinds import CorpusKind, Level
from training.card_format import CARD_FIGURES, duration, num, table
from training.report import Report

CONFIGS = Path(__file__).parent / "configs"
# Beside the card figures, not among the models: the bot loads every NAME.json it finds.
BASELINES_FILE = f"{CARD_FIGURES}/baselines.json"


class CardError(RuntimeError):
    """The card cannot be written (no reports, a report without its model)."""


@dataclass(frozen=True, kw_only=True)
class RecordedBaseline:
    """A baseline checkpoint's held-out loss, by the trainer on its own split."""

    description: str
    checkpoint: str
    commands: list[str]
    validation_loss_nats: float
    wall_time_s: float
    steps: int
    parameters: int
    device: str
    corpus_sha256: str
    validation_fraction: float
    split_seed: int


def load_baselines(card_dir: Path) -> dict[str, RecordedBaseline]:
    """The recorded baselines by model name (none without a baselines.json)."""
    path = card_dir / BASELINES_FILE
    data = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    try:
        return {
            name: RecordedBaseline(**{f.name: entry[f.name] for f in fields(RecordedBaseline)})
            for name, entry in data.items()
        }
    except (KeyError, TypeError) as exc:
        raise CardError(f"{path}: a baseline lacks {exc}") from None


def record_baseline(checkpoint: Path, baseline_for: str | None, card_dir: Path) -> RecordedBaseline:
    """Store a checkpoint's held-out loss (by the trainer, on its split) in baselines.json."""
    from training.checkpoint import CheckpointError, load

    try:
        data = load(checkpoint)
    except CheckpointError as exc:
        raise CardError(str(exc)) from None
    config, progress = data.config, data.progress.__dict__
    name = baseline_for or str(config["name"]).removesuffix("_baseline")
    level = {Level.CHAR: "character", Level.WORD: "word"}[CorpusKind(config["corpus_kind"]).level]
    entry = RecordedBaseline(
        description=(
            f"{config['layers']}x{config['hidden_size']} LSTM, {config['seq_len']}-{level} "
            f"windows, embedding {config['embedding_size']}, same trainer"
        ),
        checkpoint=str(checkpoint),
        commands=[
            f"python -m training.train training/configs/{config['name']}.toml",
            f"python -m training.model_card --record-baseline {checkpoint} --baseline-for {name}",
        ],
        validation_loss_nats=float(progress["best_validation"]),
        wall_time_s=float(progress["wall_time_s"]),
        steps=int(progress["step"]),
        parameters=sum(int(t.numel()) for t in data.model.values()),
        device=str(data.device),
        corpus_sha256=str(data.corpus["sha256"]),
        validation_fraction=float(config["validation_fraction"]),
        split_seed=int(config["split_seed"]),
    )
    path = card_dir / BASELINES_FILE
    baselines = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    baselines[name] = asdict(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(baselines, indent=1) + "\n", "utf-8")
    return entry


def baseline_rows(
    meta: ModelMetadata, report: Report, recorded: RecordedBaseline | None
) -> list[list[str]]:
    """Baseline rows: the measured bigram model, and for prose the original 2x100 LSTM."""
    rows = [
        [b.name, num(b.nats_per_token), num(b.bits_per_token), "measured by evaluate"]
        for b in report.baselines
    ]
    if meta.corpus.kind != CorpusKind.PROSE and recorded is None:
        return rows
    label = "2x100 LSTM, 50-character windows (the original approach)"
    if recorded is None:
        config_file = CONFIGS / f"{meta.name}_baseline.toml"
        how = (
            f"not run yet: train training/configs/{config_file.name}, then --record-baseline"
            if config_file.is_file()
            else "no baseline run recorded"
        )
        return [*rows, [label, "not measured", "not measured", how]]
    config = meta.training.config
    same_split = (
        recorded.corpus_sha256 == meta.corpus.sha256
        and recorded.validation_fraction == config.get("validation_fraction")
        and recorded.split_seed == config.get("split_seed")
    )
    nats = recorded.validation_loss_nats
    note = (
        f"trained {duration(recorded.wall_time_s)} on {recorded.device}; the shipped "
        f"model {duration(meta.training.wall_time_s)}; {recorded.parameters:,} parameters; "
        "held-out loss by the trainer"
    )
    if not same_split:
        note = "different corpus or split: not comparable; " + note
    return [*rows, [recorded.description, num(nats), num(nats / math.log(2)), note]]


def tail_rows(report: Report) -> list[list[str]]:
    """The contiguous-tail row: text further from training than random held-out documents."""
    tail = report.heldout_tail
    if not tail:
        return []
    return [
        [
            "same model, contiguous tail",
            num(tail.nats_per_token),
            num(tail.bits_per_token),
            f"{tail.tokens:,} tokens in {tail.documents:,} document(s) from the end of "
            "the corpus in file order",
        ]
    ]


def int8_rows(meta: ModelMetadata, models_dir: Path) -> list[list[str]]:
    """The int8 copy's held-out loss beside fp32's, as the export's quality gate measured both."""
    q = meta.quantized.get("int8")
    if q is None:
        return []
    size = (models_dir / q.onnx_file).stat().st_size / 1e6
    return [
        [
            f"{meta.name} int8 (served by default)",
            num(q.heldout_loss_nats),
            num(q.heldout_loss_nats / math.log(2)),
            f"{q.onnx_file}, {size:.1f} MB; gate: fp32 {q.fp32_heldout_loss_nats:.5f}, int8 "
            f"{q.heldout_loss_nats:.5f} ({q.heldout_loss_nats - q.fp32_heldout_loss_nats:+.5f}; "
            f"accepted within +{q.gate_nats:g}) over {q.heldout_tokens:,} tokens",
        ]
    ]


def loss_section(
    meta: ModelMetadata, report: Report, models_dir: Path, baseline: RecordedBaseline | None
) -> list[str]:
    """### Held-out loss and baselines."""
    held = report.heldout
    lines = ["### Held-out loss and baselines", ""]
    return lines + table(
        ["model", "nats / token", "bits / token", "notes"],
        [
            [
                f"{meta.name} (shipped ONNX)",
                num(held.nats_per_token),
                num(held.bits_per_token),
                f"{held.tokens:,} held-out tokens in {held.documents:,} document(s); "
                f"trainer reported {num(held.training_reported_nats)}",
            ],
            *tail_rows(report),
            *int8_rows(meta, models_dir),
            *baseline_rows(meta, report, baseline),
        ],
    )
