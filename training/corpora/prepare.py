"""Turn downloaded source files into corpus files in the layout the configs expect.

One preparer per corpus kind, chosen by the manifest's ``prepare`` field:

- ``copy``: prose stories, byte for byte (Lovecraft).
- ``names``: name lists -> one name per line, one file per style.
- ``fables``: Project Gutenberg e-texts (or a ready text) -> ``++++``-separated fables.
- ``poems``: Project Gutenberg e-texts -> ``++++``-separated poems.

The cleaning is the project's own (training.data: quote normalisation, poem cleaning, the
prose-like filter), applied by general rules rather than by hand per book, so a rebuilt corpus
can differ from a hand-cleaned copy; the fetch reports by how much.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from training.data import (
    DOC_SEPARATOR,
    clean_poem,
    clean_prose,
    is_prose_like,
)

PG_START = re.compile(r"^\*\*\* ?START OF (THIS|THE) PROJECT GUTENBERG.*$", re.M)
PG_END = re.compile(r"^\*\*\* ?END OF (THIS|THE) PROJECT GUTENBERG.*$", re.M)
# A heading line above a poem: a number, a roman numeral, or a line without lower case.
HEADING = re.compile(r"^\s*(?:[IVXLCDM]+\.?|\d+\.?|[^a-z]*[A-Z][^a-z]*|\[.*\])\s*$")
WRAPPED_PROSE_CHARS = 60  # hard-wrapped prose fills its lines; verse rarely does
NAME_SPLIT = re.compile(r"[\s?]+")  # "?" is an encoding artefact that joins two names


class PrepareError(ValueError):
    """A source file does not have the structure its preparer expects."""


def read_text(path: Path) -> str:
    return path.read_bytes().decode("utf-8").replace("\r\n", "\n").lstrip("\ufeff")


def gutenberg_body(text: str, source: dict[str, Any], name: str) -> str:
    """The e-text between the PG start and end lines, cut further by ``start``/``end``."""
    start, end = PG_START.search(text), PG_END.search(text)
    if start is None or end is None:
        raise PrepareError(f"{name}: no Project Gutenberg START/END lines")
    body = text[start.end() : end.start()]
    if "start" in source:
        matches = [m.start() for m in re.finditer(source["start"], body, re.M)]
        occurrence = source.get("start_occurrence", 1)
        if len(matches) < occurrence:
            raise PrepareError(f"{name}: start line {source['start']!r} not found")
        body = body[matches[occurrence - 1] :]
    if "end" in source:
        found = re.search(source["end"], body, re.M)
        if found is None:
            raise PrepareError(f"{name}: end line {source['end']!r} not found")
        body = body[: found.start()]
    return body


def blocks(body: str, gap: int) -> list[str]:
    """Text cut at runs of at least ``gap`` blank lines."""
    lines = [line.rstrip() for line in body.split("\n")]
    return [b for b in re.split(rf"\n(?:[ \t]*\n){{{gap},}}", "\n".join(lines)) if b.strip()]


# ---------------------------------------------------------------------------------------------
# Names


def prepare_names(raw: Path, source: dict[str, Any]) -> list[str]:
    """Names in source order, unique unless ``unique`` is false; with ``titles`` the odd lines
    are titles (novels), not names."""
    lines = read_text(raw).split("\n")
    if source.get("titles"):
        lines = lines[1::2]
    names = [
        name
        for line in lines
        for word in NAME_SPLIT.split(line.replace("•", "·"))
        if (name := word.strip("、"))
    ]
    return list(dict.fromkeys(names)) if source.get("unique", True) else names


# ---------------------------------------------------------------------------------------------
# Fables


def recase_opening(paragraph: str, fable: str) -> str:
    """'ONE WINTER a Farmer' -> 'One winter a Farmer': small capitals back to normal case.

    A later word keeps its capital only if the fable capitalises it elsewhere.
    """
    words = paragraph.split(" ")
    caps = 0
    while caps < len(words) and re.fullmatch(r"[A-Z][A-Z'’-]*[,;:]?|A", words[caps]):
        caps += 1
    if caps == 0 or (caps == 1 and words[0] == "A"):
        return paragraph
    rest = fable.replace(" ".join(words[:caps]), "", 1)
    for i in range(caps):
        lower = words[i].lower()
        core = re.sub(r"\W", "", lower)
        if i == 0 or (len(core) > 1 and re.search(rf"\b{core.capitalize()}\b", rest)):
            words[i] = lower.capitalize()
        else:
            words[i] = lower
    return " ".join(words)


def fable_text(block: str) -> str | None:
    """Title line, empty line, then one line per paragraph (hard wraps joined)."""
    lines = block.strip("\n").split("\n")
    title = lines[0].strip()
    paragraphs = []
    for para in re.split(r"\n\s*\n", "\n".join(lines[1:])):
        joined = " ".join(re.sub(r"^\s*\.", "", line).strip() for line in para.split("\n"))
        joined = clean_prose(joined)
        if joined:
            paragraphs.append(joined)
    if not title or not paragraphs:
        return None
    body = "\n\n".join(paragraphs)
    paragraphs[0] = recase_opening(paragraphs[0], body)
    return "\n\n".join([clean_prose(title), *paragraphs])


def prepare_fables(raw: Path, source: dict[str, Any]) -> str:
    """A ``++++``-separated fable file; a source without PG lines is taken as it is."""
    text = read_text(raw)
    if not PG_START.search(text):
        return text
    body = gutenberg_body(text, source, raw.name)
    fables = [f for b in blocks(body, source.get("gap", 3)) if (f := fable_text(b))]
    return "".join(f"{DOC_SEPARATOR}\n{fable}\n" for fable in fables)


# ---------------------------------------------------------------------------------------------
# Poems


def split_at_headings(block: str) -> list[str]:
    """Cut before each heading line that stands alone between blank lines."""
    lines = block.split("\n")
    parts: list[list[str]] = [[]]
    for i, line in enumerate(lines):
        alone = 0 < i < len(lines) - 1 and not lines[i - 1].strip() and not lines[i + 1].strip()
        if alone and HEADING.match(line) and any(s.strip() for s in parts[-1]):
            parts.append([])
        parts[-1].append(line)
    return ["\n".join(part) for part in parts]


def strip_headings(block: str) -> str:
    """Drop heading lines (numbers, capitals, [notes]) at the start and attributions at the end."""
    lines = block.strip("\n").split("\n")
    while lines and (not lines[0].strip() or HEADING.match(lines[0])):
        lines.pop(0)
    while lines and (not lines[-1].strip() or HEADING.match(lines[-1])):
        lines.pop()
    return "\n".join(lines)


def is_wrapped_prose(poem: str) -> bool:
    """Most lines filled to the wrap width: a preface or a note, not verse."""
    lines = [line for line in poem.split("\n") if line.strip()]
    long = sum(len(line) >= WRAPPED_PROSE_CHARS for line in lines)
    return long > len(lines) / 2


def is_title_list(poem: str) -> bool:
    """A contents list: most lines capitalise every longer word, as titles do."""
    lines = [line for line in poem.split("\n") if line.strip()]
    titles = sum(
        all(w[0].isupper() for w in re.findall(r"[A-Za-z][\w']{3,}", line)) for line in lines
    )
    return titles >= 0.8 * len(lines)


def poem_text(block: str) -> str:
    text = re.sub(r"\[[^\]]*\]|\(\d+\)", "", strip_headings(block))  # notes, footnotes
    text = re.sub(r"(?<!\*)\*(?!\s)([^*\n]+?)\*|_", r"\1", text)  # _italic_ and *italic*
    # tabs to spaces; line numbers printed at the right margin go
    text = "\n".join(
        re.sub(r"\s{5,}\d+$", "", line.replace("\t", "    ")) for line in text.split("\n")
    )
    lines = text.split("\n")
    indents = [len(line) - len(line.lstrip(" ")) for line in lines if line.strip()]
    cut = min(indents, default=0)
    return clean_poem("\n".join(line[cut:] for line in lines))


def prepare_poems(raw: Path, source: dict[str, Any], seen: set[str]) -> list[str]:
    """The book's poems; ``seen`` holds normalised first lines across books (duplicates)."""
    body = gutenberg_body(read_text(raw), source, raw.name)
    poems = []
    for block in [p for b in blocks(body, source.get("gap", 2)) for p in split_at_headings(b)]:
        poem = poem_text(block)
        lines = [line for line in poem.split("\n") if line.strip()]
        if len(lines) < 2 or is_prose_like(poem) or is_wrapped_prose(poem) or is_title_list(poem):
            continue
        first = re.sub(r"\W+", " ", lines[0].lower()).strip()
        if first in seen:
            continue
        seen.add(first)
        poems.append(poem)
    return poems


# ---------------------------------------------------------------------------------------------
# Whole corpora


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8", newline="\n")


def _separated(docs: list[str]) -> str:
    return "".join(f"{DOC_SEPARATOR}\n{doc}\n" for doc in docs)


def build_copy(entry: dict[str, Any], raw_dir: Path, out: Path) -> None:
    for source in entry["sources"]:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw_dir / source["save_as"], out / source["output"])


def build_names(entry: dict[str, Any], raw_dir: Path, out: Path) -> None:
    for source in entry["sources"]:
        names = prepare_names(raw_dir / source["save_as"], source)
        _write(out / source["output"], "\n".join(names) + "\n")


def build_fables(entry: dict[str, Any], raw_dir: Path, out: Path) -> None:
    for source in entry["sources"]:
        _write(out / source["output"], prepare_fables(raw_dir / source["save_as"], source))


def build_poems(entry: dict[str, Any], raw_dir: Path, out: Path) -> None:
    """All books into ``output`` files; a source may also feed extra files (``also``)."""
    seen: set[str] = set()
    files: dict[str, list[str]] = {}
    for source in entry["sources"]:
        poems = prepare_poems(raw_dir / source["save_as"], source, seen)
        for name in [source["output"], *source.get("also", [])]:
            files.setdefault(name, []).extend(poems)
    for name, poems in files.items():
        _write(out / name, _separated(poems))


BUILDERS: dict[str, Callable[[dict[str, Any], Path, Path], None]] = {
    "copy": build_copy,
    "names": build_names,
    "fables": build_fables,
    "poems": build_poems,
}
