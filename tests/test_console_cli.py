"""``console`` and ``generate`` driven in subprocesses, as a user or a script would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers_engine import export_random_model

ROOT = Path(__file__).resolve().parent.parent
# The two subcommands registered exactly as bot/__main__.py does, without the other modules
# (the Discord runner etc.), so these tests depend only on the console and generate code.
CLI = (
    "import argparse, sys; from bot import console, oneshot; "
    "p = argparse.ArgumentParser(prog='python -m bot'); s = p.add_subparsers(required=True); "
    "console.register(s); oneshot.register(s); a = p.parse_args(); sys.exit(a.func(a))"
)


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        input=stdin,
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def test_generate_streams_text(tiny_models_dir: Path) -> None:
    done = cli(
        "generate",
        "lovecraft",
        "--prompt",
        "The door",
        "--seed",
        "3",
        "--length",
        "50",
        "--models-dir",
        str(tiny_models_dir),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("The door") and len(done.stdout) > 40
    assert "seed: 3" in done.stderr


def test_generate_json_is_reproducible(tiny_models_dir: Path) -> None:
    args = (
        "generate",
        "names",
        "--style",
        "jinyong",
        "--count",
        "3",
        "--seed",
        "9",
        "--json",
        "--models-dir",
        str(tiny_models_dir),
    )
    first, second = cli(*args), cli(*args)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["product"] == "name" and data["extras"]["seed"] == 9
    assert data["text"] == "\n".join(data["extras"]["names"])
    assert data["model_info"]["styles"] == ["english", "gulong", "jinyong"]
    assert json.loads(second.stdout)["text"] == data["text"]


def test_generate_story_and_poem_json(tiny_models_dir: Path) -> None:
    done = cli(
        "generate",
        "fables",
        "--prompt",
        "the fox zebra",
        "--length",
        "10",
        "--json",
        "--models-dir",
        str(tiny_models_dir),
    )
    data = json.loads(done.stdout)
    assert data["product"] == "story" and any("zebra" in n for n in data["notes"])
    done = cli("generate", "poem", "--length", "3", "--json", "--models-dir", str(tiny_models_dir))
    assert "originality" in json.loads(done.stdout)["extras"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("generate", "lovecraft", "--prompt", "x", "--temperature", "5"), 2, "Temperature"),
        (("generate", "lovecraft"), 2, "beginning"),
        (("generate", "story", "--prompt", "a", "--style", "english"), 2, "only applies to names"),
        (("generate", "names", "--style", "klingon"), 2, "Unknown style"),
        (("generate", "sonnets"), 2, "invalid choice"),
    ],
)
def test_generate_bad_input(tiny_models_dir: Path, args: tuple, code: int, message: str) -> None:
    done = cli(*args, "--models-dir", str(tiny_models_dir))
    assert done.returncode == code and message in done.stderr
    assert "Traceback" not in done.stderr


def test_generate_missing_models(tmp_path: Path) -> None:
    done = cli("generate", "poem", "--models-dir", str(tmp_path / "none"))
    assert done.returncode == 1 and "does not exist" in done.stderr
    done = cli("generate", "poem", "--models-dir", str(tmp_path))
    assert done.returncode == 1 and "poems.json" in done.stderr


def test_console_script(tiny_models_dir: Path) -> None:
    script = "\n".join(
        [
            "/lovecraft The door seed=1 length=40",
            "/poem seed=2 lines=3",
            "/name style=jinyong count=3 seed=1",
            "/story the fox zebra seed=1 length=10",
            "/models",
            "/bogus",
            "/name style=klingon count=x",
            "/name style=klingon",
            "/lovecraft",
            "help",
            "",
            "quit",
            "/poem",  # never read: quit came first
        ]
    )
    done = cli("console", "--models-dir", str(tiny_models_dir), stdin=script + "\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "The door" in out and "[seed 1 ·" in out and "[seed 2 ·" in out
    assert "note: Not in the fables vocabulary (read as unknown): 'zebra'" in out
    assert "lovecraft  char-level" in out
    assert "error: Unknown command '/bogus'" not in out and "error: Unknown command 'bogus'" in out
    assert "error: Bad value for count: 'x'" in out
    assert "error: Unknown style 'klingon'" in out
    assert "error: Give me a beginning" in out
    assert "/story SEED WORDS" in out
    assert out.count("[seed ") == 4
    assert "Traceback" not in done.stderr


def test_console_stops_at_eof(tiny_models_dir: Path) -> None:
    done = cli("console", "--models-dir", str(tiny_models_dir), stdin="/name seed=1 count=2")
    assert done.returncode == 0 and done.stdout.count("[seed 1") == 1


def test_console_ctrl_c_cancels_only_the_generation(tmp_path: Path, tiny_models_dir: Path) -> None:
    # a slow model that never ends by itself, so the generation is still running at Ctrl-C
    export_random_model(tmp_path, "lovecraft", layers=3, hidden=512, ban_eos=True)
    for f in tiny_models_dir.glob("names.*"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "console", "--models-dir", str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write("/lovecraft The door length=2000 seed=1\n")
    proc.stdin.flush()
    # "The door" is the generation's first piece: it is running from then on, for seconds
    # (2,000 tokens of a 3x512 model; ~8 s here), far longer than the signal takes to land
    assert proc.stdout.read(len("The door")) == "The door"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate("/name style=english count=2 seed=1\nquit\n", timeout=120)
    assert proc.returncode == 0, err
    assert "[cancelled]" in out
    assert out.count("[seed 1 ·") == 1  # only the names finished
