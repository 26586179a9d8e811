"""Corpus loading, cleaning, document-level splits, vocabularies and token streams.

Four corpus kinds, each cleaned its own way:

- ``prose``: a folder of .txt stories (one story per file).
- ``poems``: a file with a ``++++`` line before each poem; prose-like entries are dropped.
- ``names``: a folder of lists, one name per line; the file stem is the style.
- ``words``: ``++++``-separated fables, tokenized into words and punctuation.

Every kind is split into train/validation *by document* with a seeded shuffle, never by
cutting a text in the middle. Bad input raises CorpusError naming the file.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.engine.contract import SpecialTokens
from bot.engine.kinds import CorpusKind, Level
from bot.engine.tokenizer import split_words

CORPUS_KINDS = tuple(map(str, CorpusKind))
DOC_SEPARATOR = "++++"
UNKNOWN, BOS, EOS, NEWLINE = "<unk>", "<bos>", "<eos>", "<nl>"
# A poem has short lines; more words than this per line means a prose paragraph.
MAX_POEM_WORDS_PER_LINE = 14.0

_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "—": "--", "–": "-", "\xa0": " "})


class CorpusError(ValueError):
    """The corpus cannot be used; the message names the file and what is wrong."""


def corpus_kind(kind: str) -> CorpusKind:
    """``kind`` as a CorpusKind; CorpusError if it is none."""
    if kind not in CORPUS_KINDS:
        raise CorpusError(f"unknown corpus kind {kind!r}; expected one of {CORPUS_KINDS}")
    return CorpusKind(kind)


@dataclass
class Document:
    text: str
    source: str  # file the document came from
    style: str | None = None  # names only: the list it came from


@dataclass
class Corpus:
    name: str
    kind: CorpusKind
    files: list[Path]
    bytes: int
    sha256: str
    train: list[Document]
    validation: list[Document]
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count
    # the contiguous held-out tail (tail_fraction): never trained on, never used to pick a model
    tail: list[Document] = field(default_factory=list)

    @property
    def documents(self) -> int:
        return len(self.train) + len(self.validation) + len(self.tail)

    @property
    def styles(self) -> list[str]:
        return sorted({d.style for d in self.train + self.validation if d.style})


# ---------------------------------------------------------------------------------------------
# Reading


def _corpus_files(path: Path, pattern: str) -> list[Path]:
    if not path.exists():
        raise CorpusError(f"{path}: corpus path does not exist")
    files = sorted(path.glob(pattern)) if path.is_dir() else [path]
    if not files:
        raise CorpusError(f"{path}: no files matching {pattern!r}")
    return files


def _read(file: Path) -> str:
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{file}: not valid UTF-8 (byte {exc.start}): {exc.reason}") from None
    except OSError as exc:
        raise CorpusError(f"{file}: cannot read: {exc.strerror}") from None
    return text.replace("\r\n", "\n").lstrip("\ufeff")


def _digest(files: list[Path]) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    for file in files:
        data = file.read_bytes()
        sha.update(file.name.encode() + b"\0" + data)
        size += len(data)
    return size, sha.hexdigest()


def clean_prose(text: str) -> str:
    """Normalise quotes and whitespace; keep case, punctuation and paragraph breaks."""
    text = text.translate(_QUOTES)
    paragraphs = (re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(p for p in paragraphs if p)


def _split_separated(text: str) -> list[str]:
    parts = re.split(rf"^{re.escape(DOC_SEPARATOR)}[ \t]*$", text, flags=re.MULTILINE)
    return [p.strip("\n") for p in parts if p.strip()]


def clean_poem(text: str) -> str:
    """Keep line breaks, indentation and single blank lines between stanzas."""
    lines = [line.rstrip() for line in text.translate(_QUOTES).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


def is_prose_like(poem: str) -> bool:
    """The original poet's filter: many words but few line breaks means prose."""
    lines = [line for line in poem.split("\n") if line.strip()]
    return len(poem.split()) / max(1, len(lines)) > MAX_POEM_WORDS_PER_LINE


def _prose(files: list[Path], dropped: Counter[str]) -> list[Document]:
    """One story per file."""
    return [Document(text, file.name) for file in files if (text := clean_prose(_read(file)))]


def _poems(files: list[Path], dropped: Counter[str]) -> list[Document]:
    """``++++``-separated poems of two lines or more; prose-like entries are dropped."""
    docs: list[Document] = []
    for file in files:
        for raw in _split_separated(_read(file)):
            poem = clean_poem(raw)
            if sum(1 for line in poem.split("\n") if line.strip()) < 2:
                dropped["too short"] += 1
            elif is_prose_like(poem):
                dropped["prose-like"] += 1
            else:
                docs.append(Document(poem, file.name))
    return docs


def _names(files: list[Path], dropped: Counter[str]) -> list[Document]:
    """One name per line, once per list; the file stem is the style."""
    docs: list[Document] = []
    for file in files:
        seen: set[str] = set()
        for line in _read(file).splitlines():
            name = line.strip()
            if not name:
                dropped["blank lines"] += 1
            elif name in seen:
                dropped["duplicates"] += 1
            else:
                seen.add(name)
                docs.append(Document(name, file.name, style=file.stem))
    return docs


def _fables(files: list[Path], dropped: Counter[str]) -> list[Document]:
    """``++++``-separated fables (or one per file), each once by its words."""
    docs: list[Document] = []
    seen_words: set[tuple[str, ...]] = set()
    for file in files:
        text = _read(file)
        parts = _split_separated(text) if DOC_SEPARATOR in text else [text]
        for raw in parts:
            fable = clean_prose(raw)
            key = tuple(split_words(fable))
            if not key:
                continue
            if key in seen_words:
                dropped["duplicate fables"] += 1
                continue
            seen_words.add(key)
            docs.append(Document(fable, file.name))
    return docs


_READERS: dict[CorpusKind, Callable[[list[Path], Counter[str]], list[Document]]] = {
    CorpusKind.PROSE: _prose,
    CorpusKind.POEMS: _poems,
    CorpusKind.NAMES: _names,
    CorpusKind.WORDS: _fables,
}


def read_documents(kind: str, files: list[Path], dropped: Counter[str]) -> list[Document]:
    """Cleaned documents in file order (before any split); counts what was dropped."""
    return _READERS[corpus_kind(kind)](files, dropped)


def split_documents(
    docs: list[Document], validation_fraction: float, seed: int
) -> tuple[list[Document], list[Document]]:
    """Seeded, document-disjoint split; names are split per style so every style is held out."""
    groups: dict[str | None, list[Document]] = {}
    for doc in docs:
        groups.setdefault(doc.style, []).append(doc)
    train: list[Document] = []
    validation: list[Document] = []
    for style in sorted(groups, key=str):
        group = list(groups[style])
        random.Random(f"{seed}:{style}").shuffle(group)
        n_val = max(1, round(len(group) * validation_fraction)) if len(group) > 1 else 0
        validation.extend(group[:n_val])
        train.extend(group[n_val:])
    return train, validation


def split_tail(docs: list[Document], tail_fraction: float) -> tuple[list[Document], list[Document]]:
    """Cut off the last ``tail_fraction`` of each style's characters, in file order.

    A random-document split can flatter a model (the issue-12 finding): held-out documents sit
    between training documents of the same collection. The tail is whole documents from the
    end of the file order, so it measures text further from anything trained on. A style
    with two or more documents keeps at least one in the head and gives at least one to the
    tail.
    """
    if tail_fraction <= 0:
        return docs, []
    groups: dict[str | None, list[Document]] = {}
    for doc in docs:
        groups.setdefault(doc.style, []).append(doc)
    head: list[Document] = []
    tail: list[Document] = []
    for group in groups.values():
        limit = sum(len(d.text) for d in group) * (1 - tail_fraction)
        cut, kept = 0, 0
        while cut < len(group) and kept + len(group[cut].text) <= limit:
            kept += len(group[cut].text)
            cut += 1
        cut = max(1, min(cut, len(group) - 1))
        head.extend(group[:cut])
        tail.extend(group[cut:])
    return head, tail


def load_corpus(
    kind: str,
    path: Path | str,
    *,
    name: str | None = None,
    pattern: str = "*.txt",
    validation_fraction: float = 0.1,
    seed: int = 1234,
    tail_fraction: float = 0.0,
) -> Corpus:
    """Read, clean and split a corpus; raises CorpusError with the file on bad input."""
    checked = corpus_kind(kind)
    path = Path(path)
    files = _corpus_files(path, pattern)
    dropped: Counter[str] = Counter()
    docs = _READERS[checked](files, dropped)
    if not docs:
        raise CorpusError(f"{path}: corpus is empty after cleaning (kind {kind})")
    needed = 3 if tail_fraction > 0 else 2
    if len(docs) < needed:
        raise CorpusError(
            f"{path}: needs at least {needed} documents to hold some out, found {len(docs)}"
        )
    # the random split first, so a tail leaves the validation documents as they were; the tail
    # is then the end (file order) of what is left, taken out of training
    train, validation = split_documents(docs, validation_fraction, seed)
    held_out = {id(doc) for doc in validation}
    _, tail = split_tail([d for d in docs if id(d) not in held_out], tail_fraction)
    in_tail = {id(doc) for doc in tail}
    train = [doc for doc in train if id(doc) not in in_tail]
    size, sha = _digest(files)
    return Corpus(
        name or path.stem, checked, files, size, sha, train, validation, dict(dropped), tail
    )


def load_training_split(config: Mapping[str, Any]) -> Corpus:
    """The corpus split a training config describes: a ``TrainConfig``'s fields, or the config
    saved in a checkpoint or in a model's metadata (older ones lack the later keys)."""
    return load_corpus(
        config["corpus_kind"],
        config["corpus_path"],
        name=config.get("name"),
        pattern=config.get("corpus_pattern", "*.txt"),
        validation_fraction=config["validation_fraction"],
        seed=config["split_seed"],
        tail_fraction=config.get("tail_fraction", 0.0),
    )


# ---------------------------------------------------------------------------------------------
# Vocabulary and token streams


def build_vocab(corpus: Corpus, *, min_count: int = 1) -> tuple[list[str], SpecialTokens]:
    """Special tokens first, then characters (sorted) or words (by frequency)."""
    styles = {style: f"<{style}>" for style in corpus.styles}
    if corpus.kind.level == Level.WORD:
        special = SpecialTokens(UNKNOWN, BOS, EOS, newline=NEWLINE, styles=styles)
        counts = Counter(w for d in corpus.train for w in split_words(d.text) if w != "\n")
        words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: -counts[w])
        return [*special.all(), *words], special
    special = SpecialTokens(UNKNOWN, BOS, EOS, styles=styles)
    chars = sorted({ch for d in corpus.train for ch in d.text})
    return [*special.all(), *chars], special


def encode_documents(docs: list[Document], vocab: list[str], special: SpecialTokens) -> np.ndarray:
    """One int64 stream: for each document, its opening token, its tokens, then EOS.

    The opening token is the style token for names, BOS otherwise.
    """
    index = {token: i for i, token in enumerate(vocab)}
    unknown = index[special.unknown]
    stream: list[int] = []
    for doc in docs:
        stream.append(index[special.styles[doc.style] if doc.style else special.bos])
        if special.newline is not None:  # word level
            words = [special.newline if w == "\n" else w for w in split_words(doc.text)]
            stream.extend(index.get(w, unknown) for w in words)
        else:
            stream.extend(index.get(ch, unknown) for ch in doc.text)
        stream.append(index[special.eos])
    return np.asarray(stream, dtype=np.int64)


def batchify(stream: np.ndarray, batch_size: int, seq_len: int, *, source: str) -> np.ndarray:
    """Cut a stream into ``batch_size`` parallel rows for stateful truncated BPTT."""
    rows = len(stream) // batch_size
    if rows < seq_len + 1:
        raise CorpusError(
            f"{source}: {len(stream)} tokens are too few for batch {batch_size} x sequence "
            f"{seq_len} (need at least {batch_size * (seq_len + 1)}); use a smaller "
            "batch_size or seq_len"
        )
    return stream[: rows * batch_size].reshape(batch_size, rows)


def batches_per_epoch(tokens: int, batch_size: int, seq_len: int) -> int:
    """Truncated-BPTT steps in one pass over ``tokens`` cut by :func:`batchify`."""
    return (tokens // batch_size - 1) // seq_len
