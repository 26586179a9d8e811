"""Download, verify and prepare the default corpora into a corpora root.

Layout under the root (the same as ``../shared/corpora/``, so the configs' relative
``corpus_path`` works with either): ``lovecraft/``, ``poems/``, ``names/``, ``fables/``, a
generated ``SOURCES.md`` with the source and licence notes the model card quotes, and
``.downloads/`` with the verified source files (kept, so a second fetch downloads nothing).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from training.atomic import fsync_dir, fsync_file, write_atomic
from training.corpora.download import FetchError, download
from training.corpora.prepare import BUILDERS, PrepareError
from training.data import CorpusError, load_corpus

MANIFEST = Path(__file__).with_name("manifest.json")
DEFAULT_MIRROR = "https://raw.githubusercontent.com"
MIRROR_ENV = "LSTM_CORPORA_MIRROR"  # a mirror with the same <repo>/<commit>/<path> layout
DOWNLOADS = ".downloads"


@dataclass
class Digest:
    """A prepared corpus as the trainer sees it (training.data.load_corpus)."""

    sha256: str
    bytes: int
    documents: int

    @classmethod
    def of(cls, entry: dict[str, Any], root: Path) -> Digest:
        corpus = load_corpus(entry["kind"], root / entry["corpus_path"])
        return cls(corpus.sha256, corpus.bytes, corpus.documents)


def load_manifest(path: Path = MANIFEST) -> dict[str, dict[str, Any]]:
    """The manifest's corpora, every name in them checked to stay inside the corpora root."""
    try:
        corpora = json.loads(path.read_text("utf-8"))["corpora"]
        for name, entry in corpora.items():
            _check_entry(name, entry)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FetchError(f"{path}: cannot read the corpora manifest ({exc})") from None
    return corpora


def _bare(value: Any, what: str) -> str:
    """One plain name inside its folder: not hidden (``.downloads``, scratch folders), no
    separator, never ``..``; a manifest cannot make the fetch write or delete elsewhere."""
    if (
        not isinstance(value, str)
        or not value
        or value.startswith(".")
        or any(ch in value for ch in "/\\\0")
        or Path(value).name != value
    ):
        raise ValueError(f"{what} must be a plain name inside the corpora root, got {value!r}")
    return value


def _check_entry(name: str, entry: dict[str, Any]) -> None:
    _bare(name, "a corpus name")
    _bare(entry["folder"], f"{name}: folder")
    for i, part in enumerate(entry["corpus_path"].split("/")):
        _bare(part, f"{name}: corpus_path part {i + 1}")
    for source in entry["sources"]:
        for key in ("save_as", "output"):
            _bare(source[key], f"{name}: {key}")
        for extra in source.get("also", []):
            _bare(extra, f"{name}: also")
        size = source["bytes"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"{name}: {source['path']}: bytes must be a positive integer")


def source_url(source: dict[str, Any], mirror: str) -> str:
    path = urllib.parse.quote(source["path"])
    return f"{mirror.rstrip('/')}/{source['repo']}/{source['commit']}/{path}"


def _change(new: float, old: float) -> str:
    """``67 vs 64 (+3, +4.7%)``; shares under 0.1% get two decimals."""
    diff = new - old
    text = f"{new:,.0f} vs {old:,.0f} ({diff:+,.0f}"
    if old and diff:
        share = diff / old
        text += f", {share:+.1%}" if abs(share) >= 0.001 else f", {share:+.2%}"
    return text + ")"


def difference(got: Digest, shipped: dict[str, Any]) -> str:
    """Rebuilt vs shipped sizes, e.g. ``documents 67 vs 64 (+3, +4.7%), bytes ...``."""
    return (
        f"documents {_change(got.documents, shipped['documents'])}, "
        f"bytes {_change(got.bytes, shipped['bytes'])}"
    )


def compare_to_shipped(name: str, got: Digest, shipped: dict[str, Any]) -> list[str]:
    """Lines saying whether the rebuilt corpus is the one the shipped model was trained on."""
    if got.sha256 == shipped["sha256"]:
        return [f"{name}: identical to the corpus the shipped model was trained on"]
    lines = [
        f"{name}: differs from the corpus the shipped model was trained on "
        f"(sha256 {got.sha256[:12]}… vs {shipped['sha256'][:12]}…): {difference(got, shipped)}"
    ]
    if shipped.get("note"):
        lines.append(f"{name}: {shipped['note']}")
    return lines


def rebuild_note(sha256: str, manifest_path: Path = MANIFEST) -> tuple[str, str] | None:
    """For a model card: the corpus that ``sha256`` names and what its fetch rebuilds.

    Returns (corpus name, sentence), or None for a corpus the manifest does not know.
    """
    for name, entry in load_manifest(manifest_path).items():
        shipped, rebuilt = entry["shipped"], Digest(**entry["rebuilt"])
        if sha256 == rebuilt.sha256:
            return name, f"`python -m training.corpora fetch {name}` rebuilds this corpus exactly."
        if sha256 == shipped["sha256"]:
            why = f" Why: {shipped['note']}." if shipped.get("note") else ""
            return name, (
                f"`python -m training.corpora fetch {name}` rebuilds a different corpus: "
                f"{difference(rebuilt, shipped)}, sha256 `{rebuilt.sha256}`.{why} A model "
                "retrained on it is comparable to this one, not identical."
            )
    return None


def write_sources(root: Path, manifest: dict[str, dict[str, Any]]) -> None:
    """SOURCES.md in the format the model card reads (## folder/ with Source/Licence bullets)."""
    lines = [
        "# Corpora fetched by `python -m training.corpora fetch`",
        "",
        "Generated from training/corpora/manifest.json; the source files are in .downloads/.",
        "",
    ]
    for entry in manifest.values():
        repos = dict.fromkeys(f"`{s['repo']}` at `{s['commit']}`" for s in entry["sources"])
        lines += [
            f"## {entry['folder']}/ — {entry['title']}",
            "",
            f"- **Source:** {len(entry['sources'])} file(s) from {'; '.join(repos)}.",
            f"- **Licence:** {entry['licence']}",
            f"- **Preparation:** {entry['preparation']}",
            "",
        ]
    write_atomic(root / "SOURCES.md", "\n".join(lines).encode("utf-8"))


def prepare(entry: dict[str, Any], raw_dir: Path, root: Path) -> None:
    """Build into a scratch folder, then swap it in, so a failure leaves no half corpus: the
    old folder is renamed aside, the new one renamed in (the old one back if that fails),
    and only then is the old one removed."""
    out = root / entry["folder"]
    scratch = root / f".{entry['folder']}.tmp"
    aside = root / f".{entry['folder']}.old"
    for leftover in (scratch, aside):
        shutil.rmtree(leftover, ignore_errors=True)
    try:
        BUILDERS[entry["prepare"]](entry, raw_dir, scratch)
        for path in scratch.rglob("*"):
            if path.is_file():
                fsync_file(path)
    except (PrepareError, UnicodeDecodeError) as exc:
        shutil.rmtree(scratch, ignore_errors=True)
        raise FetchError(f"{entry['folder']}: cannot prepare the corpus: {exc}") from None
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    try:
        if out.exists():
            os.replace(out, aside)
        os.replace(scratch, out)
    except BaseException:
        if aside.exists():
            os.replace(aside, out)
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    fsync_dir(root)
    shutil.rmtree(aside, ignore_errors=True)


def fetch_corpus(
    name: str,
    entry: dict[str, Any],
    root: Path,
    *,
    mirror: str,
    progress: bool,
    say: Callable[[str], None],
) -> Digest:
    """Download and verify every source, prepare unless already verified, report the result."""
    raw_dir = root / DOWNLOADS / name
    counts: dict[str, int] = {}
    for source in tqdm(entry["sources"], desc=name, unit="file", disable=not progress):
        url = source_url(source, mirror)
        target = raw_dir / source["save_as"]
        done = download(url, target, source["sha256"], source["bytes"], progress=progress)
        counts[done] = counts.get(done, 0) + 1
    say(f"{name}: sources " + ", ".join(f"{n} {what}" for what, n in sorted(counts.items())))
    expected = entry["rebuilt"]
    try:
        current = Digest.of(entry, root) if (root / entry["corpus_path"]).exists() else None
    except CorpusError:
        current = None
    if (
        current is not None
        and current.sha256 == expected["sha256"]
        and counts == {"verified": len(entry["sources"])}
    ):
        say(f"{name}: {root / entry['folder']} already prepared and verified, skipped")
        got = current
    else:
        prepare(entry, raw_dir, root)
        got = Digest.of(entry, root)
        say(
            f"{name}: prepared {root / entry['corpus_path']}: {got.documents:,} documents, "
            f"{got.bytes:,} bytes, sha256 {got.sha256}"
        )
        if got.sha256 != expected["sha256"]:
            say(
                f"{name}: warning: the manifest expects sha256 {expected['sha256']} from these "
                "sources; the preparation code has changed since the manifest was written"
            )
    for line in compare_to_shipped(name, got, entry["shipped"]):
        say(line)
    return got


def fetch(
    names: list[str],
    root: Path,
    *,
    manifest_path: Path = MANIFEST,
    mirror: str | None = None,
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> dict[str, Digest]:
    manifest = load_manifest(manifest_path)
    unknown = sorted(set(names) - set(manifest) - {"all"})
    if unknown:
        raise FetchError(f"unknown corpus {', '.join(unknown)}; choose from {', '.join(manifest)}")
    chosen = list(manifest) if "all" in names else list(dict.fromkeys(names))
    mirror = mirror or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR
    root.mkdir(parents=True, exist_ok=True)
    results = {
        name: fetch_corpus(name, manifest[name], root, mirror=mirror, progress=progress, say=say)
        for name in chosen
    }
    write_sources(root, manifest)
    return results
