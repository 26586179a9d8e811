"""``generate``'s option flags are the registry's options (bot/products.py): one flag each,
its help showing the registry's description, range and default, and each flag reaching the
generator as the registry's keyword (issue #24: every front end reads the registry)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from bot import oneshot
from bot.generators.base import InvalidRequest
from bot.products import KINDS, Kind, Option

OWN_FLAGS = {"-h", "--help", "--samples", "--json", "--config", "--models-dir", "--threads"}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser()
    oneshot.register(top.add_subparsers(dest="command", required=True))
    return top


def flags() -> dict[str, str]:
    """Every flag of ``generate`` -> its help."""
    subparsers = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    generate = subparsers.choices["generate"]
    return {
        s: a.help or "" for a in generate._actions for s in a.option_strings if "--no-" not in s
    }


def flag(option: Option) -> str:
    return "--" + option.name.replace("_", "-")


def test_every_registry_option_is_a_flag_with_the_registrys_help() -> None:
    shown = flags()
    options = {o.name: o for kind in KINDS.values() for o in kind.options}
    assert set(shown) - OWN_FLAGS == {"--prompt", *(flag(o) for o in options.values())}
    for kind in KINDS.values():
        assert f"{kind.name}: {kind.text.description}" in shown["--prompt"]
        length = kind.option(kind.length)
        assert (
            f"{kind.name}: {length.description} ({length.low:g} to {length.high:g}, "
            in (shown["--length"])
        )
        for option in kind.options:
            assert option.description in shown[flag(option)]
            if option.type in (int, float):
                assert f"{option.low:g} to " in shown[flag(option)]
            if option.default is not None:
                assert f"default {option.default}" in shown[flag(option)]


def _args(*argv: str) -> argparse.Namespace:
    return parser().parse_args(["generate", "x", *argv])


def _inside(option: Option) -> Any:
    """A value in the option's range, other than its default."""
    if option.type is bool:
        return not option.default
    if option.type is str:
        return "english"
    low, high = option.low or 0, option.high or 0
    if option.type is float:
        return (low + high) / 2
    return int(low + 1 if option.default != low + 1 else low)


@pytest.mark.parametrize("kind", KINDS.values(), ids=list(KINDS))
def test_each_flag_reaches_the_generator_as_the_registrys_keyword(kind: Kind) -> None:
    for option in kind.options:
        value = _inside(option)
        argv = [f"--{'' if value else 'no-'}known"] if option.type is bool else [flag(option)]
        argv += [] if option.type is bool else [str(value)]
        if option.name == "length":
            argv[0] = "--length"
        kwargs = oneshot.build_kwargs(kind, _args(*argv, "--prompt", "ab"))
        assert kwargs[option.key] == value, (kind.name, option.name, kwargs)
    length = kind.option(kind.length)
    assert oneshot.build_kwargs(kind, _args("--length", "3", "--prompt", "a"))[length.key] == 3


@pytest.mark.parametrize(
    ("kind", "argv", "message"),
    [
        ("story", ["--count", "3"], "--count only applies to names"),
        ("prose", ["--lines", "3"], "--lines only applies to poem"),
        ("poem", ["--length", "3", "--lines", "4"], "--length and --lines both set lines"),
        ("names", ["--max", "50"], "--max must be a whole number from 1 to 40"),
    ],
)
def test_a_flag_the_kind_cannot_use_is_refused_by_name(
    kind: str, argv: list[str], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        oneshot.build_kwargs(KINDS[kind], _args(*argv, "--prompt", "a"))
