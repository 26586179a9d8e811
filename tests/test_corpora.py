"""python -m training.corpora fetch, offline: a local HTTP server (with Range) on 127.0.0.1
serves tiny fixture sources (tests/corpus_server.py); nothing here reaches the internet."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import pytest

from tests.corpus_server import (
    COMMIT,
    ENGLISH_LIST,
    FABLE_ETEXT,
    FABLES_OUT,
    POEM_ETEXT,
    POEMS_OUT,
    READY_FABLE,
    WUXIA_OUT,
    Fixture,
    Server,
    run_fetch,
    tree,
)
from training.card_sources import licence_notes
from training.config import CORPORA_ROOT_ENV, ConfigError, load_config
from training.corpora.__main__ import main as corpora_main
from training.corpora.download import FetchError
from training.corpora.fetch import rebuild_note
from training.corpora.prepare import prepare_names, recase_opening

REPO = Path(__file__).resolve().parents[1]
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
