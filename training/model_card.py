"""Write exported_models/MODEL_CARD.md from the models' metadata and the evaluation reports.

    python -m training.model_card --reports reports --out exported_models/MODEL_CARD.md
    python -m training.model_card --record-baseline runs/lovecraft_baseline/best.safetensors \\
        [--baseline-for lovecraft] [--out exported_models/MODEL_CARD.md]

The card has one section per model with a report in ``--reports``: data and licence notes
(from SOURCES.md beside the corpus), architecture and size, training time and device, held-out
loss against baselines, the temperature table, samples, pictures (copied small into
``card/`` beside the card) and the commands that reproduce every figure. Missed targets are
stated plainly. ``--record-baseline`` stores a baseline checkpoint's held-out loss (computed
by the same trainer on the same split) in ``card/baselines.json`` beside the card.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.engine.contract import MetadataError, ModelMetadata, load_metadata
from bot.products import serving
from training.card_format import num, table
from training.card_loss import (
    CardError,
    RecordedBaseline,
    load_baselines,
    loss_section,
    record_baseline,
)
from training.card_quality import quality_section
from training.card_sections import (
    Folders,
    architecture_section,
    data_section,
    pictures_section,
    reproduce_section,
    samples_section,
    targets_section,
    training_section,
)
from training.card_sources import find_sources
from training.report import Report, ReportError

INTRO = (
    "Every number below was measured on the exported ONNX files, the same ones the bot "
    "serves, on held-out documents that training never saw (split by document). The "
    "bigram baseline is a Witten-Bell smoothed bigram model counted on the same training "
    "split: what a model with no memory beyond one token achieves. Samples come from the "
    "fp32 file; the bot serves the int8 copy where one is listed, which the export's "
    "quality gate held to within 0.005 nats/token of fp32 (the int8 rows)."
)


def model_section(
    meta: ModelMetadata,
    report: Report,
    *,
    folders: Folders,
    sources: Path | None,
    baseline: RecordedBaseline | None,
    card_command: str,
) -> list[str]:
    """One model's section: a heading, then each part in the card's order."""
    return [
        f"## {meta.name}",
        "",
        f"Serves {serves(meta.name)}.",
        "",
        *targets_section(report),
        *data_section(meta, report, sources),
        *architecture_section(meta, report),
        *training_section(meta),
        *loss_section(meta, report, folders.models, baseline),
        *quality_section(meta, report),
        *samples_section(report),
        *pictures_section(meta, report, folders),
        *reproduce_section(meta, report, baseline, card_command),
    ]


def serves(model: str) -> str:
    """The command that serves ``model`` and what it does, from the product registry."""
    product = serving(model)
    if product is None:
        return f"/write model:{model}: continues text (any model)"
    return f"/{product.command}: {product.description[0].lower()}{product.description[1:]}"


def summary_rows(entries: Sequence[tuple[ModelMetadata, Report]]) -> list[list[str]]:
    """One row per model for the table at the top of the card."""
    rows = []
    for meta, report in entries:
        missed = [t.target for t in report.targets if t.met is False]
        status = (
            "misses: " + "; ".join(missed)
            if missed
            else ("all met" if report.targets else "no targets")
        )
        tail = report.heldout_tail
        rows.append(
            [
                meta.name,
                serves(meta.name).split(":")[0],
                f"{meta.architecture.parameters:,}",
                num(report.heldout.nats_per_token),
                num(tail.nats_per_token) if tail else "-",
                num(report.baselines[0].nats_per_token),
                status,
            ]
        )
    return rows


def load_entries(reports_dir: Path, models_dir: Path) -> list[tuple[ModelMetadata, Report]]:
    """Each report in ``reports_dir`` with the metadata of the model it evaluated."""
    paths = sorted(reports_dir.glob("*.json"))
    if not paths:
        raise CardError(f"{reports_dir}: no evaluation reports (run python -m training.evaluate)")
    entries = []
    for path in paths:
        try:
            report = Report.load(path)
            meta = load_metadata(models_dir / f"{report.model}.json")
        except (ReportError, MetadataError) as exc:
            raise CardError(f"{path}: {exc}") from None
        if report.onnx_sha256 != meta.onnx_sha256:
            raise CardError(
                f"{path}: evaluated another {meta.name}.onnx than the one in {models_dir} "
                f"(re-run: {report.command})"
            )
        entries.append((meta, report))
    return entries


def build_card(reports_dir: Path, out: Path, models_dir: Path, sources: Path | None = None) -> str:
    """The card's markdown; copies the figures into ``out.parent / card``."""
    entries = load_entries(reports_dir, models_dir)
    folders = Folders(reports=reports_dir, models=models_dir, card=out.parent)
    baselines = load_baselines(folders.card)
    card_command = f"python -m training.model_card --reports {reports_dir} --out {out}" + (
        f" --models-dir {models_dir}" if models_dir != folders.card else ""
    )
    lines = [
        "# Model card: LSTM text generators",
        "",
        "Generated from the models' metadata (`NAME.json`) and the evaluation reports; do not "
        f"edit by hand. Regenerate with `{card_command}` after `python -m training.evaluate`.",
        "",
        INTRO,
        "",
    ]
    lines += table(
        [
            "model",
            "product",
            "parameters",
            "held-out nats/token",
            "contiguous tail",
            "bigram baseline",
            "targets",
        ],
        summary_rows(entries),
    )
    for meta, report in entries:
        corpus_path = Path(meta.training.config["corpus_path"])
        lines += model_section(
            meta,
            report,
            folders=folders,
            sources=sources or find_sources(corpus_path),
            baseline=baselines.get(meta.name),
            card_command=card_command,
        )
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.model_card", description=__doc__)
    parser.add_argument("--reports", type=Path, default=Path("reports"))
    parser.add_argument("--out", type=Path, default=Path("exported_models/MODEL_CARD.md"))
    parser.add_argument("--models-dir", type=Path, help="default: the card's folder")
    parser.add_argument("--sources", type=Path, help="SOURCES.md (default: found by the corpus)")
    parser.add_argument("--record-baseline", type=Path, metavar="CHECKPOINT")
    parser.add_argument("--baseline-for", help="model the baseline is for (default: from name)")
    args = parser.parse_args(argv)
    try:
        if args.record_baseline:
            entry = record_baseline(args.record_baseline, args.baseline_for, args.out.parent)
            print(f"recorded baseline {entry.description}: {entry.validation_loss_nats:.4f}")
            return 0
        if args.sources is not None and not args.sources.is_file():
            raise CardError(f"{args.sources}: no such file")
        card = build_card(args.reports, args.out, args.models_dir or args.out.parent, args.sources)
    except CardError as exc:
        print(f"model card failed: {exc}", file=sys.stderr)
        return 1
    args.out.write_text(card, "utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
