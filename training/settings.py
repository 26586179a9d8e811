"""Settings declared once: each dataclass field carries its help and allowed values.

``setting(...)`` declares one field (default, one-line help, range or choices). From those
declarations come the checks (every problem at once, each naming its setting), the parsing of
command-line text, and one ``--flag`` per setting with its help, default and range in
``--help``. Types are the fields' annotations, resolved by ``typing.get_type_hints``. The core
(``ConfigError``, the bounds, the typed fields) is the bot settings' own, in bot/setting.py.
"""

from __future__ import annotations

import argparse
import difflib
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.setting import Bounds, number, typed_fields

TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}
METAVARS = {int: "INT", float: "FLOAT", bool: "BOOL", str: "TEXT"}
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


@dataclass(frozen=True, kw_only=True)
class Rule(Bounds):
    """What one setting means and allows: its help, and a range or a set of choices."""

    help: str

    def describe(self) -> str:
        """The allowed values in words: ``in [0, 1)``, ``> 0``, ``one of wall, cpu``; or ''."""
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{number(self.low)}, {number(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {number(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {number(self.high)}"
        return ""


def setting(
    default: Any,
    help: str,
    *,
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    below: float | None = None,
    choices: Iterable[str] = (),
) -> Any:
    """Declare one setting: a dataclass field with its default, help and allowed values."""
    rule = Rule.declared(
        help=help, at_least=at_least, above=above, at_most=at_most, below=below, choices=choices
    )
    return field(default=default, metadata={"rule": rule})


@dataclass(frozen=True)
class Declaration:
    """One declared setting, its type resolved from the annotation."""

    name: str
    kind: type
    default: Any
    rule: Rule

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> tuple[Any, str | None]:
        """The value (an int widened for a float setting) and the problem with it, if any."""
        if self.kind is float and type(value) is int:
            value = float(value)
        if type(value) is not self.kind:
            return value, f"{self.name} must be {TYPE_WORDS[self.kind]}; got {value!r}"
        if not self.rule.allows(value):
            return value, f"{self.name} must be {self.rule.describe()}; got {value!r}"
        return value, None

    def parse(self, text: str) -> Any:
        """Command-line text as this setting's type; ValueError naming the setting if not."""
        try:
            if self.kind is bool:
                if text.lower() not in TRUE_WORDS + FALSE_WORDS:
                    raise ValueError(text)
                return text.lower() in TRUE_WORDS
            return self.kind(text)
        except ValueError:
            raise ValueError(f"{self.name} must be {TYPE_WORDS[self.kind]}; got {text!r}") from None

    def help_line(self) -> str:
        """``help. Default VALUE; RANGE.`` as --help shows it."""
        allowed = self.rule.describe()
        return f"{self.rule.help}. Default {literal(self.default)}" + (
            f"; {allowed}." if allowed else "."
        )


def literal(value: Any) -> str:
    """A value as it is written in a TOML file."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return number(value)


@functools.cache
def declarations(cls: type) -> dict[str, Declaration]:
    """The settings a dataclass declares, in field order."""
    return {
        f.name: Declaration(f.name, hint, f.default, f.metadata["rule"])
        for f, hint in typed_fields(cls)
    }


def check_values(
    cls: type, values: Mapping[str, Any], where: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Checked values and every problem: unknown names (with the nearest known), wrong types,
    values out of range. ``where`` names each value's source, appended to its problems."""
    declared = declarations(cls)
    checked: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in values.items():
        source = f" ({where[name]})" if where and name in where else ""
        if name not in declared:
            near = difflib.get_close_matches(name, declared, n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            problems.append(f"{name}: unknown setting{source}{hint}")
            continue
        checked[name], problem = declared[name].check(value)
        if problem:
            problems.append(problem + source)
    return checked, problems


def add_arguments(parser: argparse.ArgumentParser, cls: type, title: str) -> None:
    """One ``--flag VALUE`` per declared setting, defaulting to 'not given' (None).

    Values stay text: ``parse_given`` converts and checks them, so every bad one is reported
    together with the config file's problems rather than the first alone.
    """
    group = parser.add_argument_group(title)
    for item in declarations(cls).values():
        choices = "{" + ",".join(item.rule.choices) + "}" if item.rule.choices else ""
        group.add_argument(
            item.flag,
            dest=item.name,
            default=None,
            metavar=choices or METAVARS[item.kind],
            help=item.help_line().replace("%", "%%"),
        )


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The settings given on the command line (as text), by name."""
    values = vars(args)
    return {name: values[name] for name in declarations(cls) if values.get(name) is not None}


def parse_given(cls: type, values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Text for non-text settings parsed to their type; typed values pass as they are."""
    declared = declarations(cls)
    parsed: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in values.items():
        item = declared.get(name)
        if item is None or item.kind is str or not isinstance(value, str):
            parsed[name] = value
            continue
        try:
            parsed[name] = item.parse(value)
        except ValueError as exc:
            problems.append(f"{exc} ({item.flag})")
    return parsed, problems


def markdown_table(cls: type) -> str:
    """The declared settings as a Markdown table, one row each."""
    rows = ["| setting | type | default | allowed | what it does |", "|---|---|---|---|---|"]
    for item in declarations(cls).values():
        cells = [f"`{item.name}`", METAVARS[item.kind].lower(), f"`{literal(item.default)}`"]
        allowed = item.rule.describe() or ("true or false" if item.kind is bool else "any")
        cells += [allowed, item.rule.help]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows)
