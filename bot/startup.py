"""The engine the settings describe, for every front end: console, ``generate`` and ``run``.

:func:`open_engine` loads the models (``models_dir``, ``models``, ``precision``,
``engine_threads``, ``max_batch``, ``max_queue``) and checks the operator's commands
against them, so the three accept and refuse the same configs with the same messages: a
command whose model is not loaded, or cannot serve its kind, is a ConfigError naming the
file and the entry (exit status 2 everywhere).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings, validate
from bot.engine.engine import Engine
from bot.products import unservable


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """The console's and generate's settings flags: a config file, and two overrides."""
    parser.add_argument(
        "--config", type=Path, default=None, help="TOML settings file (default: $BOT_CONFIG)"
    )
    parser.add_argument(
        "--models-dir", type=Path, default=None, help="overrides models_dir (BOT_MODELS_DIR)"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="overrides engine_threads (BOT_ENGINE_THREADS)"
    )


def cli_settings(args: argparse.Namespace) -> Settings:
    """The settings ``run`` would read (``--config`` or $BOT_CONFIG, then the environment),
    with the command line's ``--models-dir`` and ``--threads`` over them."""
    settings = load_settings(args.config)
    overrides = {"models_dir": args.models_dir, "engine_threads": args.threads}
    settings = dataclasses.replace(
        settings, **{key: value for key, value in overrides.items() if value is not None}
    )
    validate(settings)
    return settings


def open_engine(settings: Settings) -> Engine:
    """Load the settings' models; ConfigError if an operator command cannot be served,
    ModelLoadError if ``models_dir`` does not exist (a bad model is in ``load_errors``)."""
    engine = Engine.load(
        settings.models_dir,
        only=settings.models,
        threads=settings.engine_threads,
        max_batch=settings.max_batch,
        max_queue=settings.max_queue,
        precision=settings.precision,
    )
    levels = {
        name: (bundle.meta.level, bool(bundle.meta.special_tokens.styles))
        for name, bundle in engine.models.items()
    }
    problems = [p for product in settings.commands if (p := unservable(product, levels))]
    if problems:
        raise ConfigError("\n".join(problems))
    return engine
