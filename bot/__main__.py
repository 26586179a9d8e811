"""Command line: ``python -m bot {console,generate,run,sync,stats,prune}``.

Each subcommand lives in its own module, which exposes ``register(subparsers)``; the module
sets ``func`` on its parser, and ``func(args)`` returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "bot.console",  # console: interactive terminal
    "bot.oneshot",  # generate: one-shot, for scripts
    "bot.discord.runner",  # run: the Discord bot
    "bot.discord.sync",  # sync: push the slash-command tree to Discord
    "bot.stats_cli",  # stats, prune: the request log
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
