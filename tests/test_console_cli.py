"""``console`` and ``generate`` driven in subprocesses, as a user or a script would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.console import parse_command, parse_options
from bot.engine.engine import Engine
from bot.engine.errors import InvalidRequest
from bot.products import BUILTIN, by_command
from training.random_model import export_random_model

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
        (("generate", "lovecraft", "--prompt", "x", "--temperature", "5"), 2, "--temperature must"),
        (("generate", "names", "--prompt", "The night was dark"), 2, "--prompt is the first"),
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


@pytest.fixture(scope="module")
def own_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models no product names: a char model 'bard' and a word model 'lore'."""
    directory = tmp_path_factory.mktemp("own")
    export_random_model(directory, "bard", ban_eos=True)
    export_random_model(directory, "lore", level="word", ban_eos=True)
    return directory


def test_generate_any_model_samples_and_top_k(own_models: Path) -> None:
    """Any model by its name, several samples (seed + i), and --top-k reaching the sampler:
    with top-k 1 every seed gives the same (greedy) text, without it they differ."""
    base = ("generate", "bard", "--prompt", "To be", "--length", "60", "--seed", "5")
    done = cli(*base, "--samples", "3", "--top-k", "1", "--json", "--models-dir", str(own_models))
    assert done.returncode == 0, done.stderr
    samples = json.loads(done.stdout)
    assert [s["extras"]["seed"] for s in samples] == [5, 6, 7]
    assert {(s["product"], s["kind"], s["model"]) for s in samples} == {("bard", "prose", "bard")}
    assert samples[0]["options"]["top_k"] == 1
    assert len({s["text"] for s in samples}) == 1 and samples[0]["text"].startswith("To be")
    free = json.loads(
        cli(*base, "--samples", "3", "--json", "--models-dir", str(own_models)).stdout
    )
    assert len({s["text"] for s in free}) == 3
    plain = cli(*base, "--samples", "2", "--models-dir", str(own_models))
    assert plain.returncode == 0 and plain.stdout.count("To be") == 2 and "---" in plain.stdout
    assert "seed: 5" in plain.stderr and "seed: 6" in plain.stderr


def test_generate_word_model_and_bad_options(own_models: Path) -> None:
    done = cli("generate", "lore", "--prompt", "the fox", "--json", "--models-dir", str(own_models))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["kind"] == "story" and data["text"].startswith("The fox")
    for args, message in (
        (("--style", "english"), "--style only applies to names"),
        (("--top-p", "0"), "--top-p must be between"),
        (("--samples", "0"), "--samples must be from 1"),
    ):
        bad = cli("generate", "bard", "--prompt", "x", *args, "--models-dir", str(own_models))
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr


def test_console_write_and_operator_commands(own_models: Path, tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(
        '[[commands]]\nname = "shakespeare"\nmodel = "bard"\nkind = "prose"\n'
        'description = "Write like the Bard"\n'
    )
    script = "\n".join(
        [
            "/write bard To be seed=1 length=30",
            "/write lore the fox seed=1 length=8",
            "/shakespeare Thou art seed=1 length=30",
            "/write nosuch hello",
            "/write",
            "help",
        ]
    )
    done = cli(
        "console", "--models-dir", str(own_models), "--config", str(config), stdin=script + "\n"
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "To be" in out and "The fox" in out and "Thou art" in out
    assert out.count("[seed 1 ·") == 3
    assert "error: No model 'nosuch' is loaded; try one of: bard, lore." in out
    assert "error: Name a model" in out
    assert "/shakespeare PROMPT" in out and "Write like the Bard" in out


def test_console_rejects_a_bad_config(own_models: Path, tmp_path: Path) -> None:
    config = tmp_path / "bot.toml"
    config.write_text('[[commands]]\nname = "x"\nmodel = "bard"\nkind = "sonnet"\n')
    done = cli("console", "--models-dir", str(own_models), "--config", str(config), stdin="")
    assert done.returncode == 2 and "commands[0] (x): kind 'sonnet'" in done.stderr


@pytest.mark.parametrize("sep", ["=", ":"])
def test_console_options_take_discord_syntax_and_a_named_prompt_keeps_every_word(
    sep: str,
) -> None:
    kinds = {product.command: product.spec for product in BUILTIN}
    line = f"prompt{sep}The night was length{sep}50 cold"
    assert parse_options(kinds["lovecraft"], line) == {"prompt": "The night was cold", "length": 50}
    assert parse_options(kinds["name"], f"style{sep}jinyong count{sep}3") == {
        "style": "jinyong",
        "count": 3,
    }
    # words that only look like options stay in the text: "said:" ends a word, a link
    line = "Note:this he said: see https://example.org"
    assert parse_options(kinds["lovecraft"], line) == {"prompt": line}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "The door lenght=100 temp=0.5",
            "Unknown option `lenght` for /lovecraft. Did you mean `length`?",
        ),
        (
            "The door length=100 temp=0.5",
            "Unknown option `temp` for /lovecraft. Did you mean `temperature`?",
        ),
        ("The door at=noon", "Unknown option `at` for /lovecraft. Its options: prompt, length,"),
        ("The door length=5000", "Length must be a whole number from 1 to 2000."),
    ],
)
def test_console_refuses_an_unknown_option_naming_the_nearest(line: str, message: str) -> None:
    """A mistyped option is an error, not prompt text (it generated from "The door lenght=100
    temp=0.5" at the default length)."""
    lovecraft = {product.command: product.spec for product in BUILTIN}["lovecraft"]
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        parse_options(lovecraft, line, "/lovecraft")


async def test_console_write_takes_model_as_discord_writes_it_and_names_what_was_typed(
    own_models: Path, tiny_models_dir: Path
) -> None:
    engine = Engine.load(own_models)
    names = Engine.load(tiny_models_dir, only=["names"])
    engine.models["names"] = names.models["names"]
    commands = by_command(BUILTIN)
    try:
        for line in (
            "/write model:bard The night length:30",
            "/write bard prompt:The night length=30",
        ):
            product, kwargs = parse_command(line, commands, engine)
            assert (product.model, kwargs) == ("bard", {"prompt": "The night", "length": 30})
        product, kwargs = parse_command("/write names prompt:ma length:9", commands, engine)
        assert (product.kind, kwargs) == ("names", {"starts_with": "ma", "max_length": 9})
        for line, message in (
            (
                "/write model:names prompt:ma length:100",
                "Length must be a whole number from 1 to 40.",
            ),
            ("/write names The night was dark", "Prompt is the first letters of the names"),
            ("/write names abcde length:3", "Prompt (5 letters) is longer than length (3)."),
            (
                "/write names ma lenght:3",
                "Unknown option `lenght` for /write. Did you mean `length`?",
            ),
        ):
            with pytest.raises(InvalidRequest, match=re.escape(message)):
                parse_command(line, commands, engine)
    finally:
        await engine.aclose()
        await names.aclose()
