"""The fixture sources of ``python -m training.corpora fetch``'s tests and the local HTTP
server (with Range, on 127.0.0.1) that serves them: the ``sources`` and ``server`` fixtures
(a pytest plugin of tests/conftest.py), used by test_corpora.py and test_corpora_untrusted.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from training.corpora.fetch import Digest, fetch

COMMIT = "0123456789abcdef0123456789abcdef01234567"

# ---------------------------------------------------------------------------------------------
# Fixture sources and what the preparation must make of them

POEM_ETEXT = """\
The Project Gutenberg EBook of Tiny Verses, by Nobody\r
\r
This eBook is for the use of anyone anywhere at no cost and with\r
almost no restrictions whatsoever.\r
\r
*** START OF THIS PROJECT GUTENBERG EBOOK TINY VERSES ***\r
\r
\r
\r
TINY VERSES\r
\r
by Nobody\r
\r
\r
\r
PREFACE.\r
\r
These verses were written over many years and are collected here for\r
the first time, in the order in which the author left them in a drawer\r
at the time of his death, with no changes made by the editor at all.\r
\r
\r
\r
CONTENTS\r
\r
The Lark Ascending\r
Morning Song\r
Evening Bells\r
\r
\r
\r
I. THE LARK ASCENDING\r
\r
_Up_ the lark goes, singing high,\r
  Over \u201cmeadow\u201d and the sky;\r
\r
Down it drops when day is done\u2014\r
  Home again, and sleep, and sun.\r
\r
II.\r
\r
    Morning comes with silver feet,\r
    Wakes the town and wakes the street.     10\r
\r
\r
\r
EVENING BELLS\r
\r
Bells at evening, far away,\r
Call the cattle home from hay. [1]\r
\r
NOBODY.\r
\r
\r
\r
A SHORT ONE\r
\r
Only one line here.\r
\r
\r
\r
PROSE\r
And a second line.\r
\r
\r
\r
Up the lark goes, singing high,\r
Over the meadow once again.\r
\r
*** END OF THIS PROJECT GUTENBERG EBOOK TINY VERSES ***\r
\r
***** This file should be named 99999.txt or 99999.zip *****\r
Project Gutenberg-tm License: a licence block that must not reach the corpus.\r
""".replace("PROSE", "Many words on one line read as prose, not verse. " * 4)
POEMS_OUT = """\
++++
Up the lark goes, singing high,
  Over "meadow" and the sky;

Down it drops when day is done--
  Home again, and sleep, and sun.
++++
Morning comes with silver feet,
Wakes the town and wakes the street.
++++
Bells at evening, far away,
Call the cattle home from hay.
"""

FABLE_ETEXT = """\
The Project Gutenberg EBook of Tiny Fables

*** START OF THE PROJECT GUTENBERG EBOOK TINY FABLES ***

CONTENTS
  The Fox and the Crow
  The Ant and the Dove



  The Fox and the Crow


A FOX once saw a Crow fly off with a piece of
cheese in its beak.  \u201cThat\u2019s for me,\u201d said the Fox.

 .Do not trust flatterers.



  The Ant and the Dove


ONCE UPON A TIME an Ant went to the bank of a river
to quench its thirst.

A Dove saved it.

One good turn deserves another.

*** END OF THE PROJECT GUTENBERG EBOOK TINY FABLES ***
Licence text.
"""
FABLES_OUT = """\
++++
The Fox and the Crow

A Fox once saw a Crow fly off with a piece of cheese in its beak. "That's for me," said the Fox.

Do not trust flatterers.
++++
The Ant and the Dove

Once upon a time an Ant went to the bank of a river to quench its thirst.

A Dove saved it.

One good turn deserves another.
"""
READY_FABLE = "the mice once called a meeting to decide on a plan .\n"

WUXIA_LIST = "飞狐外传\n马行空 马春花?徐铮 马行空\n雪山飞狐\n田青文、 纳斯尔丁•阿凡提\n"
WUXIA_OUT = "马行空\n马春花\n徐铮\n田青文\n纳斯尔丁·阿凡提\n"
ENGLISH_LIST = "emma\nolivia\nemma"
ENGLISH_OUT = "emma\nolivia\nemma\n"

STORIES = {
    "attic.txt": "The Attic\nThe house was old and the attic older.\n",
    "cellar.txt": "The Cellar\nNobody went down there after dark.\n",
    "well.txt": "The Well\nIt was deeper than anyone could say.\n",
}


def source(path: str, data: bytes, save_as: str, output: str, **opts: Any) -> dict[str, Any]:
    return {
        "repo": "fixtures/tiny",
        "commit": COMMIT,
        "path": path,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "save_as": save_as,
        "output": output,
        **opts,
    }


@dataclass
class Fixture:
    files: dict[str, bytes]  # URL path -> body
    manifest: Path
    expected: Path  # a corpora root holding what the fetch must produce


def entry(title: str, kind: str, prepare: str, folder: str, corpus_path: str, sources: list):
    return {
        "title": title,
        "kind": kind,
        "prepare": prepare,
        "folder": folder,
        "corpus_path": corpus_path,
        "licence": f"{title}: public domain (test fixture)",
        "preparation": "as in training/corpora/prepare.py",
        "sources": sources,
    }


@pytest.fixture
def sources(tmp_path: Path) -> Fixture:
    raw: dict[str, bytes] = {
        "tiny/verses.txt": POEM_ETEXT.encode(),
        "tiny/fables.txt": FABLE_ETEXT.encode(),
        "tiny/belling.txt": READY_FABLE.encode(),
        "tiny/wuxia names.txt": WUXIA_LIST.encode(),
        "tiny/english.txt": ENGLISH_LIST.encode(),
        **{f"tiny/stories/{name}": text.encode() for name, text in STORIES.items()},
    }
    expected = tmp_path / "expected"
    outputs = {
        "poems/poems.txt": POEMS_OUT,
        "fables/aesop.txt": FABLES_OUT,
        "fables/belling.txt": READY_FABLE,
        "names/wuxia.txt": WUXIA_OUT,
        "names/english.txt": ENGLISH_OUT,
        **{f"stories/{name}": text for name, text in STORIES.items()},
    }
    for path, text in outputs.items():
        (expected / path).parent.mkdir(parents=True, exist_ok=True)
        (expected / path).write_text(text, "utf-8")
    corpora = {
        "stories": entry(
            "stories",
            "prose",
            "copy",
            "stories",
            "stories",
            [source(f"tiny/stories/{n}", raw[f"tiny/stories/{n}"], n, n) for n in sorted(STORIES)],
        ),
        "poems": entry(
            "verses",
            "poems",
            "poems",
            "poems",
            "poems/poems.txt",
            [source("tiny/verses.txt", raw["tiny/verses.txt"], "verses.txt", "poems.txt")],
        ),
        "names": entry(
            "names",
            "names",
            "names",
            "names",
            "names",
            [
                source(
                    "tiny/wuxia names.txt",
                    raw["tiny/wuxia names.txt"],
                    "wuxia.names.txt",
                    "wuxia.txt",
                    titles=True,
                ),
                source(
                    "tiny/english.txt",
                    raw["tiny/english.txt"],
                    "english.names.txt",
                    "english.txt",
                    unique=False,
                ),
            ],
        ),
        "fables": entry(
            "fables",
            "words",
            "fables",
            "fables",
            "fables",
            [
                source(
                    "tiny/fables.txt",
                    raw["tiny/fables.txt"],
                    "fables.txt",
                    "aesop.txt",
                    start="^  The Fox and the Crow$",
                    start_occurrence=2,
                ),
                source("tiny/belling.txt", raw["tiny/belling.txt"], "belling.txt", "belling.txt"),
            ],
        ),
    }
    # The "shipped" stories corpus held out well.txt; the others are what the fetch rebuilds.
    shipped_root = tmp_path / "shipped"
    for name in ("attic.txt", "cellar.txt"):
        (shipped_root / "stories").mkdir(parents=True, exist_ok=True)
        (shipped_root / "stories" / name).write_text(STORIES[name], "utf-8")
    for name, item in corpora.items():
        rebuilt = Digest.of(item, expected)
        item["rebuilt"] = vars(rebuilt)
        shipped = Digest.of(item, shipped_root) if name == "stories" else rebuilt
        item["shipped"] = {**vars(shipped), "note": "the shipped copy held out one story"}
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"corpora": corpora}, ensure_ascii=False), "utf-8")
    files = {f"/fixtures/tiny/{COMMIT}/{path}": data for path, data in raw.items()}
    return Fixture(files, manifest, expected)


# ---------------------------------------------------------------------------------------------
# A local HTTP server with Range support that can cut a response short once


@dataclass
class Server:
    files: dict[str, bytes]
    url: str = ""
    requests: list[tuple[str, str | None, int]] = field(default_factory=list)  # path, Range, code
    cut_once: set[str] = field(default_factory=set)  # paths whose next response stops halfway


def handler(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            from urllib.parse import unquote

            path = unquote(self.path)
            wanted = self.headers.get("Range")
            body = server.files.get(path)
            if body is None:
                server.requests.append((path, wanted, 404))
                self.send_error(404)
                return
            start = int(wanted.removeprefix("bytes=").rstrip("-")) if wanted else 0
            if start >= len(body):
                server.requests.append((path, wanted, 416))
                self.send_error(416)
                return
            code = 206 if wanted else 200
            server.requests.append((path, wanted, code))
            self.send_response(code)
            self.send_header("Content-Length", str(len(body) - start))
            if wanted:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            if path in server.cut_once:
                server.cut_once.discard(path)
                self.wfile.write(body[start : start + (len(body) - start) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serving(state: Server, handler: type[BaseHTTPRequestHandler]) -> Iterator[Server]:
    """``state`` served by ``handler`` on 127.0.0.1 (its ``url`` set) until the block exits."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def server(sources: Fixture) -> Iterator[Server]:
    state = Server(dict(sources.files))
    with serving(state, handler(state)):
        yield state


def run_fetch(names: list[str], root: Path, sources: Fixture, mirror: str) -> list[str]:
    said: list[str] = []
    fetch(
        names, root, manifest_path=sources.manifest, mirror=mirror, progress=False, say=said.append
    )
    return said


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".downloads" not in p.parts and p.name != "SOURCES.md"
    }
