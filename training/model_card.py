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
import json
import math
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.engine.contract import MetadataError, ModelMetadata, load_metadata
from bot.products import serving
from training.card_names import plausibility_lines
from training.card_replies import reply_lines
from training.corpora.fetch import rebuild_note

CONFIGS = Path(__file__).parent / "configs"
CARD_FIGURES = "card"
# Beside the card figures, not among the models: the bot loads every NAME.json it finds.
BASELINES_FILE = f"{CARD_FIGURES}/baselines.json"
NOT_APPLICABLE = "–"  # a column that does not apply to the row (n/a: could not be measured)
SAMPLES_SHOWN = 2
SAMPLE_CHARS = 500
FIGURE_TITLES = {
    "letters": "Letter frequencies",
    "word_lengths": "Word lengths",
    "wordcloud": "Word clouds: samples and training text",
    "name_lengths": "Name lengths per style",
}


class CardError(RuntimeError):
    """The card cannot be written (no reports, a report without its model)."""


# ---------------------------------------------------------------------------------------------
# Formatting


def num(value: float | None, digits: int = 3) -> str:
    """A number with thousands separators, or n/a when it could not be measured."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def pct(value: float | None, digits: int = 1) -> str:
    """A share as a percentage, or n/a."""
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def duration(seconds: float) -> str:
    """Minutes, or hours from 90 minutes on."""
    minutes = seconds / 60
    return f"{minutes / 60:.1f} h" if minutes >= 90 else f"{minutes:.1f} min"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table (pipes inside cells escaped), then a blank line."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def fenced(text: str) -> list[str]:
    """Generated text in a code block that it cannot close early."""
    return ["```text", text.replace("```", "'''").rstrip(), "```", ""]


# ---------------------------------------------------------------------------------------------
# Licence notes from SOURCES.md


def find_sources(corpus_path: Path) -> Path | None:
    """SOURCES.md in the corpus folder or up to two folders above it."""
    for folder in [corpus_path, *corpus_path.parents][:4]:
        candidate = folder / "SOURCES.md"
        if candidate.is_file():
            return candidate
    return None


def corpus_folder(corpus_path: Path, sources: Path) -> str:
    """The corpus's folder name under the SOURCES.md folder (``poems`` for poems/poems.txt)."""
    try:
        relative = corpus_path.resolve().relative_to(sources.parent.resolve())
    except ValueError:
        relative = Path(corpus_path.name)
    return Path(relative.parts[0]).stem if relative.parts else corpus_path.stem


def licence_notes(sources_text: str, folder: str) -> list[str]:
    """Source and licence notes of the ``## folder/`` section of SOURCES.md.

    Bullets that start with **Source:** or **Licence:** (with their continuation lines), and
    the first paragraph of a "### Sources" or "### Licence" subsection; bullets under a
    file's subsection are labelled with the file (e.g. ``jinyong.txt: Licence: ...``).
    """
    section = re.search(
        rf"^## {re.escape(folder)}/[^\n]*\n(.*?)(?=^## |\Z)", sources_text, re.M | re.S
    )
    if section is None:
        return []
    chunks = re.split(r"^### (.*)$", section.group(1), flags=re.M)
    notes: list[str] = []
    for heading, body in [("", chunks[0]), *zip(chunks[1::2], chunks[2::2], strict=True)]:
        label = heading.split(" — ")[0].strip()
        if label in ("Sources", "Licence"):
            paragraph = body.strip().split("\n\n")[0]
            notes.append(f"{label}: " + " ".join(paragraph.split()))
            continue
        for match in re.finditer(
            r"^- (\*\*(?:Source|Licence):\*\*.*?)(?=^\S|\Z)", body, re.M | re.S
        ):
            text = " ".join(match.group(1).split())
            notes.append(f"{label}: {text}" if label else text)
    return notes


# ---------------------------------------------------------------------------------------------
# Baselines recorded from checkpoints


def record_baseline(checkpoint: Path, baseline_for: str | None, card_dir: Path) -> dict[str, Any]:
    """Store a checkpoint's held-out loss (by the trainer, on its split) in baselines.json."""
    from training.checkpoint import CheckpointError, load

    try:
        data = load(checkpoint)
    except CheckpointError as exc:
        raise CardError(str(exc)) from None
    config, progress = data.config, data.progress.__dict__
    name = baseline_for or str(config["name"]).removesuffix("_baseline")
    level = "character" if config["corpus_kind"] != "words" else "word"
    entry = {
        "description": (
            f"{config['layers']}x{config['hidden_size']} LSTM, {config['seq_len']}-{level} "
            f"windows, embedding {config['embedding_size']}, same trainer"
        ),
        "checkpoint": str(checkpoint),
        "commands": [
            f"python -m training.train training/configs/{config['name']}.toml",
            f"python -m training.model_card --record-baseline {checkpoint} --baseline-for {name}",
        ],
        "validation_loss_nats": float(progress["best_validation"]),
        "wall_time_s": float(progress["wall_time_s"]),
        "steps": int(progress["step"]),
        "parameters": sum(int(t.numel()) for t in data.model.values()),
        "device": str(data.device),
        "corpus_sha256": str(data.corpus["sha256"]),
        "validation_fraction": float(config["validation_fraction"]),
        "split_seed": int(config["split_seed"]),
    }
    path = card_dir / BASELINES_FILE
    baselines = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    baselines[name] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(baselines, indent=1) + "\n", "utf-8")
    return entry


def baseline_rows(
    meta: ModelMetadata, report: dict[str, Any], recorded: dict[str, Any] | None
) -> list[list[str]]:
    """Baseline rows: the measured bigram model, and for prose the original 2x100 LSTM."""
    rows = [
        [b["name"], num(b["nats_per_token"]), num(b["bits_per_token"]), "measured by evaluate"]
        for b in report["baselines"]
    ]
    if meta.corpus.kind != "prose" and recorded is None:
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
        recorded["corpus_sha256"] == meta.corpus.sha256
        and recorded["validation_fraction"] == config.get("validation_fraction")
        and recorded["split_seed"] == config.get("split_seed")
    )
    nats = recorded["validation_loss_nats"]
    note = (
        f"trained {duration(recorded['wall_time_s'])} on {recorded['device']}; the shipped "
        f"model {duration(meta.training.wall_time_s)}; {recorded['parameters']:,} parameters; "
        "held-out loss by the trainer"
    )
    if not same_split:
        note = "different corpus or split: not comparable; " + note
    return [*rows, [recorded["description"], num(nats), num(nats / math.log(2)), note]]


# ---------------------------------------------------------------------------------------------
# Sections


def clock_note(config: dict[str, Any]) -> str:
    """Time-boxed by CPU time (``budget_clock = "cpu"``): the trainer's clock counted CPU."""
    return " of CPU time" if config.get("budget_clock") == "cpu" else ""


def tail_rows(report: dict[str, Any]) -> list[list[str]]:
    """The contiguous-tail row: text further from training than random held-out documents."""
    tail = report.get("heldout_tail")
    if not tail:
        return []
    return [
        [
            "same model, contiguous tail",
            num(tail["nats_per_token"]),
            num(tail["bits_per_token"]),
            f"{tail['tokens']:,} tokens in {tail['documents']:,} document(s) from the end of "
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


def target_lines(report: dict[str, Any]) -> list[str]:
    """Plain statements of each target, missed ones first and in bold."""
    lines = []
    for t in sorted(report["targets"], key=lambda t: t["met"] is not False):
        value = t["value"]
        small = 0 < t["threshold"] < 0.01  # a share of 0.1%: shown to 0.01%
        shown = (
            "not measured"
            if value is None
            else (num(value) if "loss" in t["target"] else pct(value, 2 if small else 1))
        )
        limit = num(t["threshold"], 2) if "loss" in t["target"] else pct(t["threshold"], int(small))
        goal = f"{t['target']} {t['op']} {limit}"
        if t.get("human") is not None:
            shown += f" (held-out human text: {pct(t['human'], 2 if small else 1)})"
        if t["met"] is False:
            lines.append(f"- **Misses the target** {goal}: measured {shown}.")
        elif t["met"] is None:
            lines.append(f"- Target {goal}: not measured (T=0.8 was not evaluated).")
        else:
            lines.append(f"- Meets the target {goal}: measured {shown}.")
    return lines or ["- No numeric target was set for this model."]


def text_table(report: dict[str, Any]) -> list[str]:
    """The temperature table of prose, poems and stories, with the held-out text row."""
    kind = report["kind"]
    header = ["T", "real words", "letter TV", "word-length TV", "mean word length"]
    header += ["-ing / -ed / -tion per 10k", '"the"', "words / sentence"]
    if kind == "poems":
        header += ["copied 4-grams", "lines", "stanzas", "lines / stanza", "words / line", "ended"]
    if kind == "words":
        header += ["seam bigram seen", "bigrams seen", "grammatical"]

    def cells(label: str, r: dict[str, Any]) -> list[str]:
        s = r["suffix_per_10k"]
        row = [label, pct(r["real_word_rate"]), num(r["letter_tv"]), num(r["word_length_tv"])]
        row += [
            num(r["mean_word_length"], 2),
            " / ".join(num(s[k], 0) for k in ("ing", "ed", "tion")),
        ]
        row += [pct(r["the_share"]), num(r["mean_sentence_words"], 1)]
        if kind == "poems":
            row += [
                pct(r["copied_4gram_share"]),
                num(r["mean_lines"], 1),
                num(r["mean_stanzas"], 1),
            ]
            row += [num(r["mean_lines_per_stanza"], 1), num(r["mean_words_per_line"], 1)]
            row += [pct(r["ended_share"]) if "ended_share" in r else NOT_APPLICABLE]
        if kind == "words":
            for key in ("seam_bigram_seen", "bigram_seen_rate", "grammatical_continuations"):
                row.append(pct(r[key]) if key in r else NOT_APPLICABLE)
        return row

    rows = [cells(f"{r['temperature']:g}", r) for r in report["temperatures"]]
    rows.append(cells("held-out text", report["heldout_text"]))
    return table(header, rows)


def names_table(report: dict[str, Any]) -> list[str]:
    """The temperature table of names: one row per temperature and style."""
    header = ["T", "style", "shown (novel, repeats)", "raw novel", "raw duplicates"]
    header += ["odd openings: raw (shown)", "held-out reinvented", "empty"]
    header += ["mean length (training)"]
    header += ["length TV"]
    rows = [
        [
            f"{r['temperature']:g}",
            r["style"],
            f"{r['shown']} ({pct(r['shown_novelty'])}, {pct(r['shown_duplicates'])})"
            if "shown" in r
            else NOT_APPLICABLE,
            pct(r["novelty"]),
            pct(r["duplicates"]),
            f"{pct(r.get('implausible_openings'))} ({pct(r.get('shown_implausible_openings'))})",
            pct(r.get("heldout_reinvented")),
            pct(r["empty_share"]),
            f"{num(r['mean_length'], 2)} ({num(r['train_mean_length'], 2)})",
            num(r["length_tv"]),
        ]
        for r in report["temperatures"]
    ]
    return table(header, rows)


def examples(report: dict[str, Any]) -> list[str]:
    """A few samples at the temperature nearest 0.8."""
    shown = min(report["temperature_list"], key=lambda t: abs(t - 0.8))
    picked = report["examples"][f"{shown:g}"]
    lines = [f"At T={shown:g}, seed {report['seed']} (the first samples of the evaluation):", ""]
    if report["kind"] == "names":
        for style, names in picked.items():
            lines.append(f"- {style}: " + ", ".join(names))
        return [*lines, ""]
    for text in picked[:SAMPLES_SHOWN]:
        clipped = text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + " …"
        lines += fenced(clipped)
    return lines


def copy_figures(
    report: dict[str, Any], reports_dir: Path, card_dir: Path
) -> list[tuple[str, str]]:
    """Copy the report's PNGs into card/; returns (title, path relative to the card)."""
    (card_dir / CARD_FIGURES).mkdir(parents=True, exist_ok=True)
    out = []
    for key, file in report["figures"].items():
        if file is None or not (reports_dir / file).is_file():
            continue
        shutil.copyfile(reports_dir / file, card_dir / CARD_FIGURES / file)
        out.append((FIGURE_TITLES.get(key, key), f"{CARD_FIGURES}/{file}"))
    return out


def model_section(
    meta: ModelMetadata,
    report: dict[str, Any],
    *,
    reports_dir: Path,
    models_dir: Path,
    card_dir: Path,
    sources: Path | None,
    baseline: dict[str, Any] | None,
    card_command: str,
) -> list[str]:
    name, arch, corpus, training = meta.name, meta.architecture, meta.corpus, meta.training
    config = training.config
    held = report["heldout"]
    lines = [f"## {name}", "", f"Serves {serves(name)}.", ""]
    lines += ["### Targets", "", *target_lines(report), ""]

    lines += ["### Data and licence", ""]
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
    tail = report.get("heldout_tail")
    if tail:
        lines.append(
            f"- Contiguous tail: the last {pct(tail['fraction'], 0)} of the remaining characters "
            f"in file order ({tail['documents']:,} document(s), {tail['tokens']:,} tokens), "
            "never trained on nor used to pick the checkpoint."
        )
    if sources is None:
        lines.append("- Licence: no SOURCES.md found beside the corpus; check the data's origin.")
    else:
        folder = corpus_folder(Path(config["corpus_path"]), sources)
        notes = licence_notes(sources.read_text("utf-8"), folder)
        lines.append(f"- From `{sources.name}` (section `{folder}/`):")
        lines += [f"  - {note}" for note in notes] or ["  - no source or licence notes found"]
    lines.append("")

    lines += ["### Architecture and size", ""]
    lines += table(
        ["level", "vocabulary", "embedding", "LSTM", "dropout", "parameters", "ONNX file"],
        [
            [
                meta.level,
                f"{meta.vocab_size:,} tokens",
                str(arch.embedding_size),
                f"{arch.layers} x {arch.hidden_size}",
                num(arch.dropout, 2),
                f"{arch.parameters:,}",
                f"{report['onnx_bytes'] / 1e6:.1f} MB",
            ]
        ],
    )

    lines += ["### Training", ""]
    lines.append(
        f"- {duration(training.wall_time_s)}{clock_note(config)} on {training.device}, "
        f"{training.steps:,} steps, "
        f"{num(training.epochs, 2)} epochs, {training.tokens_seen:,} tokens seen; batch "
        f"{config.get('batch_size')} x {config.get('seq_len')} tokens (stateful truncated "
        f"BPTT), torch {training.torch_version}, finished {training.finished_at}."
    )
    lines.append("")

    lines += ["### Held-out loss and baselines", ""]
    lines += table(
        ["model", "nats / token", "bits / token", "notes"],
        [
            [
                f"{name} (shipped ONNX)",
                num(held["nats_per_token"]),
                num(held["bits_per_token"]),
                f"{held['tokens']:,} held-out tokens in {held['documents']:,} document(s); "
                f"trainer reported {num(held['training_reported_nats'])}",
            ],
            *tail_rows(report),
            *int8_rows(meta, models_dir),
            *baseline_rows(meta, report, baseline),
        ],
    )

    lines += ["### Sample quality by temperature", ""]
    if corpus.kind == "names":
        lines.append(
            f"{report['temperatures'][0]['samples']} seeded names per style and temperature "
            f"({report['sampling_note']}). Shown: the names of the batch that /name would "
            "show (finished, of a sensible length, in one script, new, distinct when case-folded, "
            "and opening as some exported name of the same style does), with the share of them "
            "that are novel and that repeat; /name shows them capitalized. Raw novel: not in "
            "any of the corpus's name lists; raw duplicates: "
            "share of the batch repeating an earlier name; odd openings: names whose first two "
            "letters (a Han name: its first character) open no training name of the style "
            '("sshley"), in the raw batch and among the names shown; held-out reinvented: '
            "share of the batch that are held-out names absent from training, a sign of fit; "
            "length TV: total variation distance to the training names' length distribution "
            "(0 = identical)."
        )
    else:
        lines.append(
            f"{report['samples']} seeded samples per temperature ({report['sampling_note']}). "
            "Real words: seen in the training split. TV: total variation distance to the "
            "training split's distribution (0 = identical). The held-out row is human text "
            "the model never saw, scored the same way."
        )
        if corpus.kind == "prose":
            lines.append(
                f"As in the bot, every sample continues a prompt: the first "
                f"{report['prompts']['words']} words of a sentence from a held-out story "
                f'(e.g. "{report["prompts"]["first"][0]}"), for up to '
                f"{report['prompts']['max_tokens']} characters; only the continuation is scored."
            )
        if corpus.kind == "words":
            lines.append(
                f"Each sample adds {report['prompts']['max_tokens']} tokens to "
                f"{report['prompts']['words']} consecutive words taken from a held-out "
                "fable. Seam bigram seen: the first new token follows the last seed word as "
                "somewhere in the training fables; grammatical: the first five bigrams from "
                "the seam all occur in training (a simple bigram check, not a parser). Real "
                "words here: tokens other than the unknown token, which stands for words too "
                "rare to be in the vocabulary and is dropped from the shown text."
            )
    lines.append("")
    lines += names_table(report) if corpus.kind == "names" else text_table(report)
    lines += plausibility_lines(report)  # names only
    lines += reply_lines(report)  # prose, poems, stories

    lines += ["### Samples", "", *examples(report)]

    lines += ["### Pictures", ""]
    figures = []
    loss = meta.artefacts.get("loss_curve")
    if loss and (models_dir / loss).is_file():
        if models_dir.resolve() != card_dir.resolve():
            (card_dir / CARD_FIGURES).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(models_dir / loss, card_dir / CARD_FIGURES / loss)
            loss = f"{CARD_FIGURES}/{loss}"
        figures.append(("Loss curve (train and held-out)", loss))
    figures += copy_figures(report, reports_dir, card_dir)
    for title, path in figures:
        lines += [f"**{title}**", "", f"![{name}: {title}]({path})", ""]

    lines += ["### Reproduce", "", "```sh"]
    if rebuilt is not None:
        lines.append(
            f"python -m training.corpora fetch {rebuilt[0]}  # if ../shared/corpora is absent"
        )
    lines.append(f"python -m training.train training/configs/{config.get('name', name)}.toml")
    run = f"runs/{config.get('name', name)}"
    lines.append(f"python -m training.export {run}/best.safetensors --name {name}")
    lines.append(report["command"])
    lines += baseline["commands"] if baseline else []
    lines += [card_command, "```", ""]
    lines.append(
        "The loss curve comes from training (runs/NAME/loss.png, copied by the export); every "
        "other figure and number from the evaluation."
    )
    lines.append("")
    return lines


def serves(model: str) -> str:
    """The command that serves ``model`` and what it does, from the product registry."""
    product = serving(model)
    if product is None:
        return f"/write model:{model}: continues text (any model)"
    return f"/{product.command}: {product.description[0].lower()}{product.description[1:]}"


def summary_rows(entries: Sequence[tuple[ModelMetadata, dict[str, Any]]]) -> list[list[str]]:
    """One row per model for the table at the top of the card."""
    rows = []
    for meta, report in entries:
        missed = [t["target"] for t in report["targets"] if t["met"] is False]
        status = (
            "misses: " + "; ".join(missed)
            if missed
            else ("all met" if report["targets"] else "no targets")
        )
        bigram = report["baselines"][0]["nats_per_token"]
        rows.append(
            [
                meta.name,
                serves(meta.name).split(":")[0],
                f"{meta.architecture.parameters:,}",
                num(report["heldout"]["nats_per_token"]),
                num(report["heldout_tail"]["nats_per_token"])
                if report.get("heldout_tail")
                else "-",
                num(bigram),
                status,
            ]
        )
    return rows


def build_card(reports_dir: Path, out: Path, models_dir: Path, sources: Path | None = None) -> str:
    """The card's markdown; copies the figures into ``out.parent / card``."""
    reports = sorted(reports_dir.glob("*.json"))
    if not reports:
        raise CardError(f"{reports_dir}: no evaluation reports (run python -m training.evaluate)")
    card_dir = out.parent
    baselines_path = card_dir / BASELINES_FILE
    baselines = json.loads(baselines_path.read_text("utf-8")) if baselines_path.is_file() else {}
    card_command = f"python -m training.model_card --reports {reports_dir} --out {out}" + (
        f" --models-dir {models_dir}" if models_dir != card_dir else ""
    )
    entries = []
    for path in reports:
        report = json.loads(path.read_text("utf-8"))
        try:
            meta = load_metadata(models_dir / f"{report['model']}.json")
        except MetadataError as exc:
            raise CardError(f"{path}: {exc}") from None
        if report.get("onnx_sha256") != meta.onnx_sha256:
            raise CardError(
                f"{path}: evaluated another {meta.name}.onnx than the one in {models_dir} "
                f"(re-run: {report['command']})"
            )
        entries.append((meta, report))

    lines = [
        "# Model card: LSTM text generators",
        "",
        "Generated from the models' metadata (`NAME.json`) and the evaluation reports; do not "
        f"edit by hand. Regenerate with `{card_command}` after `python -m training.evaluate`.",
        "",
        "Every number below was measured on the exported ONNX files, the same ones the bot "
        "serves, on held-out documents that training never saw (split by document). The "
        "bigram baseline is a Witten-Bell smoothed bigram model counted on the same training "
        "split: what a model with no memory beyond one token achieves. Samples come from the "
        "fp32 file; the bot serves the int8 copy where one is listed, which the export's "
        "quality gate held to within 0.005 nats/token of fp32 (the int8 rows).",
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
            reports_dir=reports_dir,
            models_dir=models_dir,
            card_dir=card_dir,
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
            print(f"recorded baseline {entry['description']}: {entry['validation_loss_nats']:.4f}")
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
