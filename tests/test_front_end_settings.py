"""``console`` and ``generate`` load the engine ``run`` loads: models_dir, models, precision,
engine_threads, max_batch and max_queue from the TOML file and the environment, with the
command line's --models-dir and --threads over them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.__main__ import build_parser
from bot.console import open_console
from bot.engine.engine import Engine
from bot.oneshot import resolve
from bot.products import BUILTIN


def engines(argv: list[str]) -> list[Engine]:
    """The console's and generate's engines for the same settings flags."""
    console = open_console(build_parser().parse_args(["console", *argv]))[0]
    generate = resolve("bard", build_parser().parse_args(["generate", "bard", *argv]))[1]
    return [console, generate]


def test_the_toml_and_environment_reach_the_engine(
    bard_and_lore: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "bot.toml"
    config.write_text(f'models_dir = "{bard_and_lore}"\nmodels = ["bard"]\nmax_queue = 9\n')
    monkeypatch.setenv("BOT_PRECISION", "fp32")
    monkeypatch.setenv("BOT_MAX_BATCH", "7")
    for engine in engines(["--config", str(config)]):
        assert list(engine.models) == ["bard"]  # models: lore is not loaded
        assert (engine.max_batch, engine.max_queue) == (7, 9)
        assert engine.models["bard"].precision == "fp32"
    monkeypatch.setenv("BOT_PRECISION", "int8")
    monkeypatch.setenv("BOT_CONFIG", str(config))  # the file run reads without --config
    for engine in engines([]):
        assert engine.models["bard"].precision == "int8" and engine.max_queue == 9


def test_models_dir_from_the_environment_and_the_command_line(
    bard_and_lore: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("BOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BOT_MODELS_DIR", str(bard_and_lore))
    for engine in engines([]):
        assert set(engine.models) == {"bard", "lore"}
    monkeypatch.setenv("BOT_MODELS_DIR", str(tmp_path))  # no model there
    for engine in engines(["--models-dir", str(bard_and_lore), "--threads", "2"]):
        assert set(engine.models) == {"bard", "lore"}
        options = engine.models["bard"].session.get_session_options()
        assert options.intra_op_num_threads == 2
    console, products = open_console(build_parser().parse_args(["console"]))
    assert console.models == {} and products == BUILTIN
