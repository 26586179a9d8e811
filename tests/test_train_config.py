"""Trainer settings, declared once: TOML, command line, checks and --help agree on each one."""

from __future__ import annotations

import json
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from tests.tiny_corpora import write_prose
from training.config import ConfigError, TrainConfig, command_line, load_config
from training.settings import declarations, literal, markdown_table
from training.train import main, train

REPO = Path(__file__).resolve().parent.parent

# Every declared setting -> (a non-default value for the TOML file, another value for the
# command line). corpus_path's two values are replaced by two existing folders per test.
ALTERNATIVES: dict[str, tuple[object, object]] = {
    "name": ("from_file", "from_cli"),
    "corpus_kind": ("poems", "names"),
    "corpus_path": ("file-corpus", "cli-corpus"),
    "corpora_root": ("root-a", "root-b"),
    "corpus_pattern": ("*.md", "*.text"),
    "validation_fraction": (0.2, 0.3),
    "tail_fraction": (0.05, 0.1),
    "split_seed": (7, 8),
    "min_count": (2, 3),
    "embedding_size": (32, 48),
    "hidden_size": (128, 96),
    "layers": (3, 1),
    "dropout": (0.2, 0.3),
    "io_dropout": (0.25, 0.5),
    "weight_drop": (0.2, 0.4),
    "init_from": ("exported_models/a.json", "exported_models/b.json"),
    "batch_size": (8, 4),
    "seq_len": (64, 32),
    "lr": (0.01, 0.02),
    "min_lr_ratio": (0.1, 0.2),
    "weight_decay": (0.1, 0.3),
    "warmup_steps": (10, 20),
    "grad_clip": (0.5, 2.0),
    "epochs": (3.5, 4.5),
    "max_minutes": (15.0, 30.0),
    "budget_clock": ("cpu", "wall"),
    "max_steps": (100, 200),
    "eval_every": (50, 60),
    "eval_batch_size": (4, 2),
    "seed": (1, 2),
    "out_dir": ("runs-a", "runs-b"),
    "threads": (1, 2),
    "device": ("cpu", "cuda"),
    "amp": ("off", "bf16"),
    "progress": (False, True),
}


def toml_text(values: dict[str, object]) -> str:
    return "".join(
        f"{k} = {str(v).lower() if isinstance(v, bool) else json.dumps(v)}\n"
        for k, v in values.items()
    )


def cli_text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def test_every_setting_takes_effect_from_the_file_and_the_command_line_wins(
    tmp_path: Path,
) -> None:
    assert ALTERNATIVES.keys() == {f.name for f in fields(TrainConfig)}  # none left out
    defaults = TrainConfig()
    for name, (from_file, from_cli) in ALTERNATIVES.items():
        assert from_file != getattr(defaults, name), name
        assert from_cli != from_file, name
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    file_values = {name: pair[0] for name, pair in ALTERNATIVES.items()}
    cli_values = {name: pair[1] for name, pair in ALTERNATIVES.items()}
    file_values["corpus_path"], cli_values["corpus_path"] = str(tmp_path / "a"), str(tmp_path / "b")
    config_file = tmp_path / "all.toml"
    config_file.write_text(toml_text(file_values), "utf-8")

    from_file, resume = command_line([str(config_file)])
    assert not resume
    for name, value in file_values.items():
        assert getattr(from_file, name) == value, name

    argv = [str(config_file), "--resume"]
    for name, value in cli_values.items():
        argv += ["--" + name.replace("_", "-"), cli_text(value)]
    overridden, resume = command_line(argv)
    assert resume
    for name, value in cli_values.items():
        assert getattr(overridden, name) == value, name


def help_entries(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """``python -m training.train --help``'s entry per option, on one line each."""
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping, so no word is split at a hyphen
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    entries = [
        " ".join(("--" + entry).split()) for entry in capsys.readouterr().out.split("\n  --")
    ]
    return {entry.split(" ")[0]: entry for entry in entries[1:]}


def test_help_gives_every_setting_its_description_default_and_range(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    entries = help_entries(capsys, monkeypatch)
    for item in declarations(TrainConfig).values():
        entry = entries[item.flag]
        assert " ".join(item.rule.help.split()) in entry, item.name
        assert f"Default {literal(item.default)}" in entry, item.name
        assert item.rule.describe() in entry, item.name
    assert entries["--lr"] == "--lr FLOAT peak learning rate (AdamW). Default 0.003; > 0."
    assert "Default 0.1; in [0, 1)." in entries["--dropout"]
    assert "one of wall, cpu." in entries["--budget-clock"]
    assert entries["--progress"].endswith("Default true.")


def test_every_bad_setting_is_reported_at_once_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file = tmp_path / "bad.toml"
    config_file.write_text(
        'corpus_path = "nowhere"\nlr = -1\nhidden_sise = 3\ndropout = 1.0\n'
        'layers = "2"\nseq_len = 0\nprogress = "no"\n',
        "utf-8",
    )
    argv = [str(config_file), "--epochs", "x", "--amp", "bf32", "--seq-len", "8"]
    with pytest.raises(ConfigError) as caught:
        command_line(argv)
    problems = caught.value.problems
    expected = {
        "lr": "lr must be > 0; got -1.0",
        "hidden_sise": "hidden_sise: unknown setting",
        "dropout": "dropout must be in [0, 1); got 1.0",
        "layers": "layers must be a whole number; got '2'",
        "progress": "progress must be true or false; got 'no'",
        "epochs": "epochs must be a number; got 'x' (--epochs)",
        "amp": "amp must be one of auto, bf16, fp16, off; got 'bf32' (--amp)",
        "corpus_path": "corpus_path: nowhere: corpus path does not exist",
    }
    assert len(problems) == len(expected)  # seq_len = 0 in the file lost to --seq-len 8
    for name, message in expected.items():
        assert any(p.startswith(message) for p in problems), (name, problems)
    assert "did you mean hidden_size?" in str(caught.value)
    assert f"({config_file})" in next(p for p in problems if p.startswith("lr "))
    assert isinstance(caught.value, ValueError)

    assert main(argv) == 2  # only the command line turns them into an exit status
    said = capsys.readouterr().err
    assert said.count("error: ") == len(expected)
    assert "Traceback" not in said


def test_a_config_built_in_code_raises_one_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig(lr=0.0, layers=0, amp="bf32", budget_clock="gpu")
    assert [p.split(" ")[0] for p in caught.value.problems] == [
        "layers", "lr", "budget_clock", "amp",
    ]  # fmt: skip
    widened = TrainConfig(epochs=3, max_minutes=1)  # a whole number is a number
    assert type(widened.epochs) is float and widened.epochs == 3.0
    assert type(widened.max_minutes) is float


def test_the_shipped_configs_load_with_every_value_as_written(tmp_path: Path) -> None:
    configs = sorted((REPO / "training" / "configs").rglob("*.toml"))
    assert len(configs) >= 8
    for path in configs:
        written = tomllib.loads(path.read_text("utf-8"))
        (tmp_path / written["corpus_path"]).mkdir(parents=True, exist_ok=True)
        config = load_config(path, {"corpora_root": str(tmp_path)})
        assert Path(config.corpus_path) == tmp_path / written["corpus_path"]
        for name, value in written.items():
            if name != "corpus_path":
                assert getattr(config, name) == value, (path.name, name)


def test_command_line_words_for_true_and_false(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for text, expected in (("no", False), ("off", False), ("0", False), ("YES", True)):
        config, _ = command_line(["--corpus-path", str(corpus), "--progress", text])
        assert config.progress is expected


def test_the_training_docs_table_is_the_declared_settings() -> None:
    text = (REPO / "docs" / "TRAINING.md").read_text("utf-8")
    start = text.index("<!-- trainer settings table:")
    start = text.index("\n", start) + 1
    end = text.index("<!-- end of the trainer settings table -->")
    assert text[start:end].strip() == markdown_table(TrainConfig)


def test_a_setting_the_machine_cannot_run_is_a_config_error_and_exit_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_prose(tmp_path / "corpus")
    argv = ["--corpus-path", str(corpus), "--device", "cpu", "--amp", "fp16"]
    config, _ = command_line([*argv, "--out-dir", str(tmp_path / "runs")])
    with pytest.raises(ConfigError, match='amp = "fp16" needs CUDA'):  # not SystemExit
        train(config)
    assert main([*argv, "--out-dir", str(tmp_path / "runs")]) == 2
    assert (
        capsys.readouterr().err
        == 'error: amp = "fp16" needs CUDA; on CPU use amp = "bf16" or "off"\n'
    )
