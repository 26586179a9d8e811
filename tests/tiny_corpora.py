"""Tiny synthetic corpora of every kind, and tiny models trained and exported from them.

The tests never train real models: these take seconds and exercise the whole pipeline
(data -> train -> export -> ONNX + metadata + artefacts) exactly as the shipped ones do.
"""

from __future__ import annotations

import random
from pathlib import Path

PROSE_WORDS = [
    "the",
    "old",
    "house",
    "stood",
    "dark",
    "and",
    "silent",
    "upon",
    "the",
    "hill",
    "where",
    "nameless",
    "things",
    "crept",
    "in",
    "the",
    "night",
    "and",
    "the",
    "moon",
    "was",
    "pale",
    "over",
    "the",
    "ancient",
    "stones",
    "of",
    "the",
    "town",
]
POEM_WORDS = [
    "love",
    "night",
    "star",
    "sea",
    "heart",
    "light",
    "day",
    "rose",
    "sweet",
    "song",
    "dream",
    "wind",
]
FABLE_WORDS = [
    "the",
    "fox",
    "saw",
    "a",
    "crow",
    "with",
    "cheese",
    "and",
    "said",
    "good",
    "day",
    "to",
    "her",
    "in",
    "the",
    "wood",
]
SYLLABLES = ["an", "ber", "ca", "dor", "el", "fi", "ga", "li", "mo", "na", "ra", "so", "ta"]
SURNAMES = "张王李赵周吴郑孙"
GIVEN = "无忌三丰伯通蓉靖过儿龙女"


def write_prose(root: Path, stories: int = 4, seed: int = 0) -> Path:
    rng = random.Random(seed)
    folder = root / "prose"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(stories):
        paragraphs = [
            " ".join(rng.choice(PROSE_WORDS) for _ in range(50)).capitalize() + "."
            for _ in range(6)
        ]
        (folder / f"story{i}.txt").write_text(f"STORY {i}\n\n" + "\n\n".join(paragraphs) + "\n")
    return folder


def write_poems(root: Path, poems: int = 40, seed: int = 0) -> Path:
    rng = random.Random(seed)
    blocks = []
    for _ in range(poems):
        stanzas = [
            "\n".join(" ".join(rng.choice(POEM_WORDS) for _ in range(5)) for _ in range(4))
            for _ in range(2)
        ]
        blocks.append("++++\n" + "\n\n".join(stanzas))
    root.mkdir(parents=True, exist_ok=True)
    path = root / "poems.txt"
    path.write_text("\n".join(blocks) + "\n")
    return path


def write_names(root: Path, per_style: int = 60, seed: int = 0) -> Path:
    rng = random.Random(seed)
    folder = root / "names"
    folder.mkdir(parents=True, exist_ok=True)
    english = {
        "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))) for _ in range(per_style)
    }
    jinyong = {rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, 2)) for _ in range(per_style)}
    gulong = {rng.choice(SURNAMES) + rng.choice(GIVEN) for _ in range(per_style)}
    for style, names in (("english", english), ("jinyong", jinyong), ("gulong", gulong)):
        (folder / f"{style}.txt").write_text("\n".join(sorted(names)) + "\n", "utf-8")
    return folder


def write_fables(root: Path, fables: int = 12, seed: int = 0) -> Path:
    rng = random.Random(seed)
    folder = root / "fables"
    folder.mkdir(parents=True, exist_ok=True)
    blocks = []
    for i in range(fables):
        body = " ".join(rng.choice(FABLE_WORDS) for _ in range(60))
        blocks.append(f"++++\nThe Fable {i}\n\n{body.capitalize()}, said the fox.\n\nBe wise.")
    (folder / "fables.txt").write_text("\n".join(blocks) + "\n")
    return folder


TINY_TAILS = {"fables": 0.1}  # models trained with a contiguous held-out tail (tail_fraction)
TINY_MODELS = {  # model name -> (corpus kind, corpus writer, epochs)
    "lovecraft": ("prose", write_prose, 3.0),
    "poems": ("poems", write_poems, 3.0),
    "names": ("names", write_names, 40.0),
    "fables": ("words", write_fables, 25.0),
}


def build_tiny_models(root: Path) -> Path:
    """Train and export the four product models at toy size into ``root / 'models'``."""
    from training.config import TrainConfig
    from training.export import export
    from training.train import train

    corpora = root / "corpora"
    out = root / "models"
    for name, (kind, writer, epochs) in TINY_MODELS.items():
        config = TrainConfig(
            name=name,
            corpus_kind=kind,
            corpus_path=str(writer(corpora)),
            validation_fraction=0.2,
            tail_fraction=TINY_TAILS.get(name, 0.0),
            embedding_size=16,
            hidden_size=32,
            layers=2,
            dropout=0.0,
            batch_size=4,
            seq_len=16,
            eval_batch_size=2,
            warmup_steps=5,
            epochs=epochs,
            eval_every=50,
            out_dir=str(root / "runs"),
            threads=1,
            progress=False,
        )
        export(train(config), name, out)
    return out
