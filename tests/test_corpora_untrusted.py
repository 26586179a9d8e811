"""python -m training.corpora fetch trusts neither its manifest nor the server.

The manifest cannot make it write or delete outside ``--dest``; the server cannot make it
download more than the manifest's size, append a wrong range or a whole 200 answer to the
partial file; a file at the target is used only if its sha256 matches; corpus files and
SOURCES.md are replaced whole. The server is tests/corpus_server.py's, on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

import training.corpora.fetch as fetch_module
from tests.corpus_server import (
    COMMIT,
    ENGLISH_LIST,
    FABLE_ETEXT,
    WUXIA_OUT,
    Fixture,
    Server,
    handler,
    run_fetch,
    serving,
)
from training.corpora.download import FetchError

ENGLISH = f"/fixtures/tiny/{COMMIT}/tiny/english.txt"
FABLES = f"/fixtures/tiny/{COMMIT}/tiny/fables.txt"


Answer = Callable[[BaseHTTPRequestHandler, bytes], int]  # replies, returns the status sent


@dataclass
class OddServer(Server):
    """The fixture server, with some paths answered by a misbehaving ``Answer``."""

    odd: dict[str, Answer] = field(default_factory=dict)


@pytest.fixture
def server(sources: Fixture) -> Iterator[OddServer]:
    state = OddServer(dict(sources.files))

    class Handler(handler(state)):  # type: ignore[misc]  # a class made by a function
        def do_GET(self) -> None:
            answer = state.odd.get(self.path)
            if answer is None:
                super().do_GET()
            else:
                # recorded before answering, so the order is the order of arrival even when
                # the client's next request overtakes this thread's bookkeeping
                seen = (self.path, self.headers.get("Range"))
                index = len(state.requests)
                state.requests.append((*seen, 0))
                state.requests[index] = (*seen, answer(self, state.files[self.path]))

    with serving(state, Handler):
        yield state


def partial_english(root: Path) -> Path:
    """An interrupted download of the English names under ``root``: its first 10 bytes."""
    part = root / ".downloads" / "names" / "english.names.txt.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(ENGLISH_LIST.encode()[:10])
    return part


def edit_manifest(sources: Fixture, corpus: str, change) -> None:
    data = json.loads(sources.manifest.read_text("utf-8"))
    change(data["corpora"][corpus])
    sources.manifest.write_text(json.dumps(data), "utf-8")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e.update(folder="../victim"), "folder"),
        (lambda e: e.update(folder=".downloads"), "folder"),
        (lambda e: e.update(corpus_path="../victim"), "corpus_path"),
        (lambda e: e["sources"][0].update(save_as="../../../victim/x.txt"), "save_as"),
        (lambda e: e["sources"][0].update(output="../../victim/x.txt"), "output"),
        (lambda e: e["sources"][0].update(output="/tmp/x.txt"), "output"),
        (lambda e: e["sources"][0].update(bytes=None), "bytes"),
    ],
)
def test_a_manifest_cannot_reach_outside_dest(
    tmp_path: Path, sources: Fixture, server: OddServer, change, field: str
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine", "utf-8")
    edit_manifest(sources, "names", change)
    root = tmp_path / "dest"
    with pytest.raises(FetchError, match=rf"cannot read the corpora manifest .*{field}"):
        run_fetch(["names"], root, sources, server.url)
    assert [p.name for p in victim.iterdir()] == ["keep.txt"]
    assert server.requests == []  # refused before anything was fetched


def test_a_key_with_dots_is_refused(tmp_path: Path, sources: Fixture, server: OddServer) -> None:
    data = json.loads(sources.manifest.read_text("utf-8"))
    data["corpora"]["../../victim"] = data["corpora"].pop("names")
    sources.manifest.write_text(json.dumps(data), "utf-8")
    with pytest.raises(FetchError, match="a corpus name must be a plain name"):
        run_fetch(["all"], tmp_path / "dest", sources, server.url)


def test_a_download_stops_at_the_manifests_size(
    tmp_path: Path, sources: Fixture, server: OddServer
) -> None:
    """A server that streams far more than the file is cut off at the listed size, whether
    it announces its length or not."""
    size = len(ENGLISH_LIST.encode())
    server.files[ENGLISH] = ENGLISH_LIST.encode() + b"x" * (4 << 20)
    root = tmp_path / "dest"
    with pytest.raises(FetchError, match=f"announces {size + (4 << 20):,} bytes.*lists {size}"):
        run_fetch(["names"], root, sources, server.url)

    def endless(handler: BaseHTTPRequestHandler, body: bytes) -> int:
        handler.send_response(200)  # no Content-Length: read until the connection closes
        handler.end_headers()
        try:
            for _ in range(64):  # 4 MiB, for a file of a few hundred bytes
                handler.wfile.write(b"y" * (64 << 10))
        except OSError:  # the client hung up
            pass
        handler.close_connection = True
        return 200

    server.odd[ENGLISH] = endless
    with pytest.raises(FetchError, match=f"more than the {size} bytes the manifest lists"):
        run_fetch(["names"], root, sources, server.url)
    part = root / ".downloads" / "names" / "english.names.txt.part"
    assert not part.exists()
    assert not (root / ".downloads" / "names" / "english.names.txt").exists()


def test_a_range_answer_must_continue_the_partial_file(
    tmp_path: Path, sources: Fixture, server: OddServer
) -> None:
    root, part = tmp_path / "dest", partial_english(tmp_path / "dest")

    def wrong_range(handler: BaseHTTPRequestHandler, data: bytes) -> int:
        handler.send_response(206)  # sends from byte 5 but says so: it does not continue 10
        handler.send_header("Content-Range", f"bytes 5-{len(data) - 1}/{len(data)}")
        handler.send_header("Content-Length", str(len(data) - 5))
        handler.end_headers()
        handler.wfile.write(data[5:])
        return 206

    server.odd[ENGLISH] = wrong_range
    with pytest.raises(FetchError, match=r"Content-Range bytes 5-.* does not continue 10"):
        run_fetch(["names"], root, sources, server.url)
    assert not part.exists()  # the next fetch starts from zero
    del server.odd[ENGLISH]
    said = run_fetch(["names"], root, sources, server.url)
    assert "names: sources 1 downloaded, 1 verified" in said
    assert server.requests[-1] == (ENGLISH, None, 200)
    assert (root / "names" / "wuxia.txt").read_text("utf-8") == WUXIA_OUT


def test_a_server_ignoring_range_starts_the_file_over(
    tmp_path: Path, sources: Fixture, server: OddServer
) -> None:
    root = tmp_path / "dest"
    partial_english(root)

    def whole(handler: BaseHTTPRequestHandler, data: bytes) -> int:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
        return 200

    server.odd[ENGLISH] = whole
    said = run_fetch(["names"], root, sources, server.url)
    assert "names: sources 2 downloaded" in said
    assert (
        root / ".downloads" / "names" / "english.names.txt"
    ).read_bytes() == ENGLISH_LIST.encode()
    assert (ENGLISH, "bytes=10-", 200) in server.requests


def test_a_file_at_the_target_is_used_only_if_it_verifies(
    tmp_path: Path, sources: Fixture, server: OddServer
) -> None:
    root = tmp_path / "dest"
    downloads = root / ".downloads" / "fables"
    downloads.mkdir(parents=True)
    (downloads / "fables.txt").write_text("tampered " + FABLE_ETEXT, "utf-8")
    said = run_fetch(["fables"], root, sources, server.url)
    assert "fables: sources 2 downloaded" in said
    assert (downloads / "fables.txt").read_bytes() == FABLE_ETEXT.encode()
    assert any(path == FABLES for path, _, _ in server.requests)
    expected = hashlib.sha256(FABLE_ETEXT.encode()).hexdigest()
    assert hashlib.sha256((downloads / "fables.txt").read_bytes()).hexdigest() == expected


def test_a_failed_swap_or_sources_write_keeps_the_old_files(
    tmp_path: Path, sources: Fixture, server: OddServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Corpus folders and SOURCES.md are replaced whole: fail each rename, nothing changes."""
    root = tmp_path / "dest"
    run_fetch(["names"], root, sources, server.url)
    (root / "names" / "wuxia.txt").write_text("edited\n", "utf-8")  # forces a rebuild

    def snapshot() -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    before = snapshot()
    real = os.replace
    for fail_at in (1, 2, 3):  # old folder aside, new folder in, SOURCES.md
        calls: list[object] = []

        def replace(src: Any, dst: Any, fail_at: int = fail_at, calls: list = calls) -> None:
            calls.append(dst)
            if len(calls) == fail_at:
                raise OSError(28, "No space left on device", str(dst))
            real(src, dst)

        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(OSError, match="No space left"):
            run_fetch(["names"], root, sources, server.url)
        monkeypatch.setattr(os, "replace", real)
        if fail_at < 3:
            assert snapshot() == before, fail_at
        else:  # the corpus was rebuilt; SOURCES.md is the old one, no temporary file
            assert (root / "SOURCES.md").read_bytes() == before["SOURCES.md"]
            assert (root / "names" / "wuxia.txt").read_text("utf-8") == WUXIA_OUT
        assert sorted(p.name for p in root.iterdir()) == [".downloads", "SOURCES.md", "names"]
    assert fetch_module.DOWNLOADS == ".downloads"


def test_a_range_answer_without_content_range_is_refused(
    tmp_path: Path, sources: Fixture, server: OddServer
) -> None:
    root, part = tmp_path / "dest", partial_english(tmp_path / "dest")

    def no_range(handler: BaseHTTPRequestHandler, data: bytes) -> int:
        handler.send_response(206)
        handler.send_header("Content-Length", str(len(data) - 10))
        handler.end_headers()
        handler.wfile.write(data[10:])
        return 206

    server.odd[ENGLISH] = no_range
    with pytest.raises(FetchError, match=r"206\) answer without a valid Content-Range"):
        run_fetch(["names"], root, sources, server.url)
    assert not part.exists()
