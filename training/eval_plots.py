"""The evaluation's pictures: small quantised PNGs of letters, word and name lengths, clouds."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training import metrics
from training.eval_stats import TextReference
from training.report import NameRow, TextRow

BAR_TEMPERATURE_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> str:
    """Save at 80 dpi with a 64-colour palette: a few tens of kB per chart."""
    from PIL import Image

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    _pyplot().close(fig)
    buffer.seek(0)
    Image.open(buffer).convert("RGB").quantize(colors=64).save(path, optimize=True)
    return path.name


def plot_letters(name: str, reference: TextReference, rows: Sequence[TextRow], out: Path) -> str:
    """Letter frequencies of the training text and of the samples at each temperature."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3))
    series = [("training text", reference.letters.tolist())]
    series += [(f"T={r.temperature:g}", r.stats.letter_counts) for r in rows]
    width = 0.8 / len(series)
    x = np.arange(26)
    colours = ("#333333", *BAR_TEMPERATURE_COLOURS)
    for k, (label, counts) in enumerate(series):
        ax.bar(x + k * width, metrics.normalise(counts), width, label=label, color=colours[k % 6])
    ax.set_xticks(x + 0.4 - width / 2, list(metrics.LETTERS))
    ax.set_ylabel("share of letters")
    ax.set_title(f"{name}: letter frequencies, samples vs training text")
    ax.legend(fontsize=7, ncol=len(series))
    return _save(fig, out / f"{name}.letters.png")


def plot_word_lengths(
    name: str, reference: TextReference, rows: Sequence[TextRow], out: Path
) -> str:
    """Word-length distributions of the training text and the samples."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3))
    x = np.arange(1, metrics.MAX_WORD_LENGTH + 1)
    ax.plot(x, metrics.normalise(reference.word_lengths), "k-o", ms=3, label="training text")
    for k, r in enumerate(rows):
        colour = BAR_TEMPERATURE_COLOURS[k % 5]
        share = metrics.normalise(r.stats.word_length_counts)
        ax.plot(x, share, "--", color=colour, label=f"T={r.temperature:g}")
    ax.set_xlabel(f"word length (letters; {metrics.MAX_WORD_LENGTH} = that or longer)")
    ax.set_ylabel("share of words")
    ax.set_title(f"{name}: word lengths")
    ax.legend(fontsize=7)
    return _save(fig, out / f"{name}.word_lengths.png")


def plot_name_lengths(
    name: str,
    train_lengths: dict[str, list[int]],
    rows: Sequence[NameRow],
    out: Path,
) -> str:
    """Name-length distributions per style: training names and samples."""
    plt = _pyplot()
    styles = sorted(train_lengths)
    fig, axes = plt.subplots(1, len(styles), figsize=(3 * len(styles), 2.8), squeeze=False)
    for ax, style in zip(axes[0], styles, strict=True):
        train = np.bincount(train_lengths[style])
        ax.plot(np.arange(train.size), metrics.normalise(train), "k-o", ms=3, label="training")
        for k, r in enumerate(row for row in rows if row.style == style):
            counts = r.length_counts
            colour = BAR_TEMPERATURE_COLOURS[k % 5]
            ax.plot(
                np.arange(len(counts)),
                metrics.normalise(counts),
                "--",
                color=colour,
                label=f"T={r.temperature:g}",
            )
        ax.set_title(style)
        ax.set_xlabel("characters")
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0][0].set_ylabel("share of names")
    axes[0][0].legend(fontsize=7)
    return _save(fig, out / f"{name}.name_lengths.png")


def plot_wordclouds(
    name: str, sample_words: Sequence[str], corpus_words: Sequence[str], t: float, out: Path
) -> str | None:
    """Word clouds of the samples (left) and of the training text (right), one small PNG."""
    from PIL import Image, ImageDraw, ImageFont
    from wordcloud import STOPWORDS, WordCloud

    def cloud(words: Sequence[str]) -> Image.Image | None:
        counts: dict[str, int] = {}
        for w in words:
            if w not in STOPWORDS and len(w) > 1:
                counts[w] = counts.get(w, 0) + 1
        if not counts:
            return None
        wc = WordCloud(
            width=360, height=220, background_color="white", max_words=80, random_state=0
        )
        return wc.generate_from_frequencies(counts).to_image()

    left, right = cloud(sample_words), cloud(corpus_words)
    if left is None or right is None:
        return None
    image = Image.new("RGB", (730, 240), "white")
    image.paste(left, (0, 20))
    image.paste(right, (370, 20))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    draw.text((4, 3), f"{name}: samples at T={t:g}", fill="black", font=font)
    draw.text((374, 3), f"{name}: training text", fill="black", font=font)
    path = out / f"{name}.wordcloud.png"
    image.quantize(colors=64).save(path, optimize=True)
    return path.name


# ---------------------------------------------------------------------------------------------
# One model
