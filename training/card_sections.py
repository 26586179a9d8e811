"""One model's section of the card, one function per part: targets, data and licence,
architecture, training, samples, pictures, the commands that reproduce it. The held-out loss
table is ``card_loss``'s, the sample quality ``card_quality``'s."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.engine.contract import ModelMetadata
from training.card_format import CARD_FIGURES, duration, fenced, num, pct, table
from training.card_loss import RecordedBaseline
from training.card_sources import corpus_folder, licence_notes
from training.corpora.fetch import rebuild_note
from training.report import NameResults, Report, Target

SAMPLES_SHOWN = 2
SAMPLE_CHARS = 500
FIGURE_TITLES = {
    "letters": "Letter frequencies",
    "word_lengths": "Word lengths",
    "wordcloud": "Word clouds: samples and training text",
    "name_lengths": "Name lengths per style",
}


@dataclass(frozen=True)
class Folders:
    """Where the reports and models are read and the card is written."""

    reports: Path
    models: Path
    card: Path


def target_lines(targets: list[Target]) -> list[str]:
    """Plain statements of each target, missed ones first and in bold."""
    lines = []
    for t in sorted(targets, key=lambda t: t.met is not False):
        small = 0 < t.threshold < 0.01  # a share of 0.1%: shown to 0.01%
        loss = "loss" in t.target
        shown = (
            "not measured"
            if t.value is None
            else (num(t.value) if loss else pct(t.value, 2 if small else 1))
        )
        limit = num(t.threshold, 2) if loss else pct(t.threshold, int(small))
        goal = f"{t.target} {t.op} {limit}"
        if t.human is not None:
            shown += f" (held-out human text: {pct(t.human, 2 if small else 1)})"
        if t.met is False:
            lines.append(f"- **Misses the target** {goal}: measured {shown}.")
        elif t.met is None:
            lines.append(f"- Target {goal}: not measured (T=0.8 was not evaluated).")
        else:
            lines.append(f"- Meets the target {goal}: measured {shown}.")
    return lines or ["- No numeric target was set for this model."]


def targets_section(report: Report) -> list[str]:
    return ["### Targets", "", *target_lines(report.targets), ""]


def data_section(meta: ModelMetadata, report: Report, sources: Path | None) -> list[str]:
    """### Data and licence: the corpus, how to rebuild it, the split, the licence notes."""
    corpus, config = meta.corpus, meta.training.config
    lines = ["### Data and licence", ""]
    lines.append(
        f"- Corpus `{corpus.name}` ({corpus.kind}): {len(corpus.files)} file(s), "
        f"{corpus.bytes:,} bytes, sha256 `{corpus.sha256}`, from `{config['corpus_path']}`."
    )
    rebuilt = rebuild_note(corpus.sha256)  # (corpus name, what its fetch rebuilds) or None
    if rebuilt is not None:
        lines.append(f"- Rebuilding the corpus: {rebuilt[1]}")
    lines.append(
        f"- Split by document (seed {config['split_seed']}, {pct(config['validation_fraction'], 0)}"
        f" held out): {corpus.train_documents:,} training / {corpus.validation_documents:,} "
        f"held-out documents, {corpus.train_tokens:,} / {corpus.validation_tokens:,} tokens."
    )
    tail = report.heldout_tail
    if tail:
        lines.append(
            f"- Contiguous tail: the last {pct(tail.fraction, 0)} of the remaining characters "
            f"in file order ({tail.documents:,} document(s), {tail.tokens:,} tokens), "
            "never trained on nor used to pick the checkpoint."
        )
    if sources is None:
        lines.append("- Licence: no SOURCES.md found beside the corpus; check the data's origin.")
    else:
        folder = corpus_folder(Path(config["corpus_path"]), sources)
        notes = licence_notes(sources.read_text("utf-8"), folder)
        lines.append(f"- From `{sources.name}` (section `{folder}/`):")
        lines += [f"  - {note}" for note in notes] or ["  - no source or licence notes found"]
    return [*lines, ""]


def architecture_section(meta: ModelMetadata, report: Report) -> list[str]:
    arch = meta.architecture
    lines = ["### Architecture and size", ""]
    return lines + table(
        ["level", "vocabulary", "embedding", "LSTM", "dropout", "parameters", "ONNX file"],
        [
            [
                meta.level,
                f"{meta.vocab_size:,} tokens",
                str(arch.embedding_size),
                f"{arch.layers} x {arch.hidden_size}",
                num(arch.dropout, 2),
                f"{arch.parameters:,}",
                f"{report.summary.onnx_bytes / 1e6:.1f} MB",
            ]
        ],
    )


def clock_note(config: dict[str, Any]) -> str:
    """Time-boxed by CPU time (``budget_clock = "cpu"``): the trainer's clock counted CPU."""
    return " of CPU time" if config.get("budget_clock") == "cpu" else ""


def training_section(meta: ModelMetadata) -> list[str]:
    training, config = meta.training, meta.training.config
    return [
        "### Training",
        "",
        f"- {duration(training.wall_time_s)}{clock_note(config)} on {training.device}, "
        f"{training.steps:,} steps, "
        f"{num(training.epochs, 2)} epochs, {training.tokens_seen:,} tokens seen; batch "
        f"{config.get('batch_size')} x {config.get('seq_len')} tokens (stateful truncated "
        f"BPTT), torch {training.torch_version}, finished {training.finished_at}.",
        "",
    ]


def samples_section(report: Report) -> list[str]:
    """### Samples: a few at the temperature nearest 0.8."""
    shown = min(report.temperature_list, key=lambda t: abs(t - 0.8))
    lines = ["### Samples", ""]
    lines += [f"At T={shown:g}, seed {report.seed} (the first samples of the evaluation):", ""]
    if isinstance(report.results, NameResults):
        for style, names in report.results.examples[f"{shown:g}"].items():
            lines.append(f"- {style}: " + ", ".join(names))
        return [*lines, ""]
    for text in report.results.examples[f"{shown:g}"][:SAMPLES_SHOWN]:
        clipped = text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + " …"
        lines += fenced(clipped)
    return lines


def copy_figures(report: Report, folders: Folders) -> list[tuple[str, str]]:
    """Copy the report's PNGs into card/; returns (title, path relative to the card)."""
    (folders.card / CARD_FIGURES).mkdir(parents=True, exist_ok=True)
    out = []
    for key, file in report.figures.items():
        if file is None or not (folders.reports / file).is_file():
            continue
        shutil.copyfile(folders.reports / file, folders.card / CARD_FIGURES / file)
        out.append((FIGURE_TITLES.get(key, key), f"{CARD_FIGURES}/{file}"))
    return out


def pictures_section(meta: ModelMetadata, report: Report, folders: Folders) -> list[str]:
    """### Pictures: the loss curve (copied from the models) and the report's figures."""
    lines = ["### Pictures", ""]
    figures = []
    loss = meta.artefacts.get("loss_curve")
    if loss and (folders.models / loss).is_file():
        if folders.models.resolve() != folders.card.resolve():
            (folders.card / CARD_FIGURES).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folders.models / loss, folders.card / CARD_FIGURES / loss)
            loss = f"{CARD_FIGURES}/{loss}"
        figures.append(("Loss curve (train and held-out)", loss))
    figures += copy_figures(report, folders)
    for title, path in figures:
        lines += [f"**{title}**", "", f"![{meta.name}: {title}]({path})", ""]
    return lines


def reproduce_section(
    meta: ModelMetadata, report: Report, baseline: RecordedBaseline | None, card_command: str
) -> list[str]:
    """### Reproduce: every command from the corpus to this card."""
    config = meta.training.config
    lines = ["### Reproduce", "", "```sh"]
    rebuilt = rebuild_note(meta.corpus.sha256)
    if rebuilt is not None:
        lines.append(
            f"python -m training.corpora fetch {rebuilt[0]}  # if ../shared/corpora is absent"
        )
    lines.append(f"python -m training.train training/configs/{config.get('name', meta.name)}.toml")
    run = f"runs/{config.get('name', meta.name)}"
    lines.append(f"python -m training.export {run}/best.safetensors --name {meta.name}")
    lines.append(report.command)
    lines += baseline.commands if baseline else []
    lines += [card_command, "```", ""]
    lines.append(
        "The loss curve comes from training (runs/NAME/loss.png, copied by the export); every "
        "other figure and number from the evaluation."
    )
    return [*lines, ""]
