"""python -m training.corpora fetch, offline: a local HTTP server (with Range) on 127.0.0.1
serves tiny fixture sources; nothing here reaches the internet."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from training.card_sources import licence_notes
from training.config import CORPORA_ROOT_ENV, ConfigError, load_config
from training.corpora.__main__ import main as corpora_main
from training.corpora.download import FetchError
from training.corpora.fetch import Digest, fetch, rebuild_note
from training.corpora.prepare import prepare_names, recase_opening

REPO = Path(__file__).resolve().parents[1]
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


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
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


@pytest.fixture
def server(sources: Fixture) -> Iterator[Server]:
    state = Server(dict(sources.files))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)


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


# ---------------------------------------------------------------------------------------------
# Tests


def test_fetch_prepares_every_kind(tmp_path: Path, sources: Fixture, server: Server) -> None:
    root = tmp_path / "corpora"
    said = run_fetch(["all"], root, sources, server.url)
    assert tree(root) == tree(sources.expected)
    # The stories rebuilt here have one more than the "shipped" copy: reported, with sizes.
    report = "\n".join(said)
    assert "stories: differs from the corpus the shipped model was trained on" in report
    assert "documents 3 vs 2 (+1, +50.0%)" in report
    assert "the shipped copy held out one story" in report
    assert "poems: identical to the corpus the shipped model was trained on" in report
    assert "warning" not in report
    # SOURCES.md beside the corpora gives the model card its source and licence notes.
    notes = licence_notes((root / "SOURCES.md").read_text("utf-8"), "poems")
    assert any("fixtures/tiny" in n for n in notes)
    assert any("verses: public domain" in n for n in notes)


def test_second_fetch_downloads_nothing(tmp_path: Path, sources: Fixture, server: Server) -> None:
    root = tmp_path / "corpora"
    run_fetch(["names", "fables"], root, sources, server.url)
    before = len(server.requests)
    said = run_fetch(["names", "fables"], root, sources, server.url)
    assert len(server.requests) == before
    assert "names: sources 2 verified" in said
    assert any("already prepared and verified, skipped" in line for line in said)
    # A prepared file edited by hand is noticed and rebuilt from the verified downloads.
    (root / "names" / "wuxia.txt").write_text("someone\n", "utf-8")
    run_fetch(["names"], root, sources, server.url)
    assert (root / "names" / "wuxia.txt").read_text("utf-8") == WUXIA_OUT
    assert len(server.requests) == before


def test_sha256_mismatch_is_refused(tmp_path: Path, sources: Fixture, server: Server) -> None:
    path = f"/fixtures/tiny/{COMMIT}/tiny/english.txt"
    server.files[path] = b"mallory\n"
    root = tmp_path / "corpora"
    with pytest.raises(FetchError) as caught:
        run_fetch(["names"], root, sources, server.url)
    message = str(caught.value)
    expected = hashlib.sha256(ENGLISH_LIST.encode()).hexdigest()
    assert "sha256 mismatch" in message and "refusing" in message
    assert server.url + path in message
    assert expected in message and hashlib.sha256(b"mallory\n").hexdigest() in message
    downloads = root / ".downloads" / "names"
    assert not (downloads / "english.names.txt").exists()
    assert not (downloads / "english.names.txt.part").exists()
    assert not (root / "names").exists()


def test_resumes_an_interrupted_download(tmp_path: Path, sources: Fixture, server: Server) -> None:
    path = f"/fixtures/tiny/{COMMIT}/tiny/verses.txt"
    server.cut_once.add(path)
    root = tmp_path / "corpora"
    with pytest.raises(FetchError, match="interrupted after") as caught:
        run_fetch(["poems"], root, sources, server.url)
    part = root / ".downloads" / "poems" / "verses.txt.part"
    have = part.stat().st_size
    size = len(POEM_ETEXT.encode())
    assert 0 < have < size
    assert f"{have:,} bytes" in str(caught.value) and "run the command again" in str(caught.value)
    said = run_fetch(["poems"], root, sources, server.url)
    assert server.requests[-1] == (path, f"bytes={have}-", 206)
    assert "poems: sources 1 resumed" in said
    assert (root / ".downloads" / "poems" / "verses.txt").read_bytes() == POEM_ETEXT.encode()
    assert not part.exists()
    assert (root / "poems" / "poems.txt").read_text("utf-8") == POEMS_OUT


def test_offline_error_names_the_url_and_where_to_put_the_file(
    tmp_path: Path, sources: Fixture, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mirror = f"http://127.0.0.1:{port}"
    root = tmp_path / "corpora"
    code = corpora_main(
        [
            *("fetch", "fables", "--dest", str(root), "--mirror", mirror, "--no-progress"),
            *("--manifest", str(sources.manifest)),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert f"{mirror}/fixtures/tiny/{COMMIT}/tiny/fables.txt" in err
    assert "offline" in err
    assert str(root / ".downloads" / "fables" / "fables.txt") in err
    assert hashlib.sha256(FABLE_ETEXT.encode()).hexdigest() in err


def test_a_file_put_there_by_hand_is_used(tmp_path: Path, sources: Fixture) -> None:
    root = tmp_path / "corpora"
    downloads = root / ".downloads" / "fables"
    downloads.mkdir(parents=True)
    (downloads / "fables.txt").write_text(FABLE_ETEXT, "utf-8")
    (downloads / "belling.txt").write_text(READY_FABLE, "utf-8")
    said = run_fetch(["fables"], root, sources, "http://127.0.0.1:9")  # never contacted
    assert "fables: sources 2 verified" in said
    assert (root / "fables" / "aesop.txt").read_text("utf-8") == FABLES_OUT


def test_config_finds_the_fetched_corpus(
    tmp_path: Path, sources: Fixture, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "clone"  # a clone with no ../shared/corpora beside it
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv(CORPORA_ROOT_ENV, raising=False)
    config_file = REPO / "training" / "configs" / "names.toml"
    with pytest.raises(ConfigError, match="corpus_path: names: corpus path does not exist"):
        load_config(config_file, {})
    run_fetch(["names"], Path("corpora"), sources, server.url)  # the fetch's default --dest
    assert Path(load_config(config_file, {}).corpus_path) == Path("corpora/names")
    # The environment variable comes before ./corpora/, the setting before both.
    other = tmp_path / "elsewhere"
    run_fetch(["names"], other, sources, server.url)
    monkeypatch.setenv(CORPORA_ROOT_ENV, str(other))
    assert Path(load_config(config_file, {}).corpus_path) == other / "names"
    setting = {"corpora_root": str(tmp_path / "expected")}
    assert Path(load_config(config_file, setting).corpus_path) == tmp_path / "expected" / "names"


def test_missing_corpus_error_lists_every_place_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CORPORA_ROOT_ENV, str(tmp_path / "env-root"))
    with pytest.raises(ConfigError) as missing:
        load_config(None, {"corpus_path": "names", "corpora_root": "my-root"})
    err = str(missing.value)
    tried = [line.strip() for line in err.splitlines() if line.startswith("  ")]
    assert tried == [
        "names",
        str(Path("my-root/names")),
        str(tmp_path / "env-root" / "names"),
        str(Path("../shared/corpora/names")),
        str(Path("corpora/names")),
    ]
    assert "python -m training.corpora fetch" in err


def test_name_and_fable_cleaning_rules(tmp_path: Path) -> None:
    raw = tmp_path / "list.txt"
    raw.write_text("Title\nA?B C、 A\n", "utf-8")
    assert prepare_names(raw, {"titles": True}) == ["A", "B", "C"]
    assert prepare_names(raw, {"unique": False}) == ["Title", "A", "B", "C", "A"]
    fable = "A WOLF met a Lamb. The Wolf ate it."
    assert recase_opening("A WOLF met a Lamb.", fable) == "A Wolf met a Lamb."
    assert recase_opening("ONE WINTER a Farmer", "ONE WINTER a Farmer") == "One winter a Farmer"


def test_shipped_manifest_is_complete() -> None:
    """Every source is pinned by commit and sha256; every corpus records both digests."""
    manifest = json.loads((REPO / "training/corpora/manifest.json").read_text("utf-8"))["corpora"]
    assert set(manifest) == {"lovecraft", "poems", "names", "fables"}
    for item in manifest.values():
        for src in item["sources"]:
            assert len(src["commit"]) == 40 and len(src["sha256"]) == 64, src
        assert len(item["rebuilt"]["sha256"]) == 64 and len(item["shipped"]["sha256"]) == 64


def test_rebuild_note_says_whether_and_how_much_the_rebuilt_corpus_differs(
    sources: Fixture,
) -> None:
    manifest = json.loads(sources.manifest.read_text("utf-8"))["corpora"]
    stories = manifest["stories"]
    name, note = rebuild_note(stories["shipped"]["sha256"], sources.manifest) or ("", "")
    assert name == "stories"
    assert "rebuilds a different corpus: documents 3 vs 2 (+1, +50.0%)" in note
    assert stories["rebuilt"]["sha256"] in note and "held out one story" in note
    name, note = rebuild_note(stories["rebuilt"]["sha256"], sources.manifest) or ("", "")
    assert (name, note) == (
        "stories",
        "`python -m training.corpora fetch stories` rebuilds this corpus exactly.",
    )
    assert rebuild_note("0" * 64, sources.manifest) is None


def test_model_card_records_corpus_provenance() -> None:
    """The shipped card gives each model's full corpus sha256 and what the fetch rebuilds."""
    card = (REPO / "exported_models" / "MODEL_CARD.md").read_text("utf-8")
    found = sorted((REPO / "exported_models").glob("*.json"))
    metadata = [path for path in found if "." not in path.stem]  # as the bot lists models
    assert len(metadata) == 4  # artefacts such as names.names_by_style.json are not metadata
    for meta_file in metadata:
        sha = json.loads(meta_file.read_text("utf-8"))["corpus"]["sha256"]
        name, note = rebuild_note(sha) or ("", "")
        assert f"sha256 `{sha}`" in card
        assert f"- Rebuilding the corpus: {note}" in card
        assert f"python -m training.corpora fetch {name}  # if ../shared/corpora is absent" in card


def test_cli_fetch_says_how_configs_find_the_corpora(
    tmp_path: Path, sources: Fixture, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "somewhere"
    argv = ["fetch", "names", "--dest", str(root), "--mirror", server.url, "--no-progress"]
    assert corpora_main([*argv, "--manifest", str(sources.manifest)]) == 0
    out = capsys.readouterr().out
    assert "names: prepared" in out
    assert f"--corpora-root {root} or {CORPORA_ROOT_ENV}={root}" in out
    assert (root / "names" / "wuxia.txt").read_text("utf-8") == WUXIA_OUT
