"""The model card's data and licence notes, read from SOURCES.md beside the corpus."""

from __future__ import annotations

import re
from pathlib import Path


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
