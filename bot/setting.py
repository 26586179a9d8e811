"""One declaration per bot setting: a dataclass field carrying its environment variable,
one-line help and allowed values (:func:`setting`).

From the declarations come the parsing of TOML values and environment strings, the range
and choice checks (every problem at once, each naming the setting by its environment
variable and TOML key) and the README's settings table (:func:`markdown_table`). Types are
the fields' annotations, resolved with ``typing.get_type_hints``.

The core both kinds of settings share lives here too (training/settings.py builds the
trainer's on it): :class:`ConfigError`, the allowed values (:class:`Bounds`), the declared
fields with their resolved types (:func:`typed_fields`) and how a bound is written.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

Validator = Callable[[Any], str | None]  # a value -> what is wrong with it (None: fine)
Reader = Callable[[Any, str], Any]  # (TOML value, file name) -> the value; ValueError


class ConfigError(ValueError):
    """Bad settings: ``problems`` holds every one found, each naming its setting."""

    def __init__(self, problems: str | Iterable[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Bounds:
    """The values a setting allows: a range (each end open or closed) or a set of choices."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not allowed
    high_open: bool = False  # high itself is not allowed
    choices: tuple[str, ...] = ()

    @classmethod
    def declared(
        cls,
        *,
        at_least: float | None = None,
        above: float | None = None,
        at_most: float | None = None,
        below: float | None = None,
        choices: Iterable[str] = (),
        **rest: Any,
    ) -> Self:
        """``cls`` with the bounds a ``setting(...)`` call names and its other fields."""
        return cls(
            low=above if above is not None else at_least,
            high=below if below is not None else at_most,
            low_open=above is not None,
            high_open=below is not None,
            choices=tuple(choices),
            **rest,
        )

    def allows(self, value: Any) -> bool:
        if self.choices:
            return value in self.choices
        if self.low is not None and not (value > self.low if self.low_open else value >= self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)


def typed_fields(cls: type) -> list[tuple[dataclasses.Field[Any], Any]]:
    """A dataclass's fields in order, each with its annotation resolved."""
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


def number(value: float) -> str:
    """A bound as written: ``3`` rather than ``3.0``."""
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True, kw_only=True)
class Declaration(Bounds):
    """One setting: its TOML key, environment variable, type, default and allowed values
    (``choices`` are matched ignoring case and stored as written here)."""

    name: str
    env: str | None  # None: TOML only
    help: str
    default: Any
    type: Any = None  # the resolved annotation (set by :func:`declarations`)
    shown_default: str = ""  # the README's default column, where the value says too little
    shown_allowed: str = ""  # the README's allowed column, for a ``valid`` check
    valid: Validator | None = None  # a further check of a set value
    read: Reader | None = None  # reads the TOML value instead of the type's parser

    @property
    def called(self) -> str:
        """How messages name it: ``BOT_MAX_BATCH (max_batch)``, or the key if TOML only."""
        return f"{self.env} ({self.name})" if self.env else self.name

    @property
    def base(self) -> Any:
        """The type without ``| None``."""
        if isinstance(self.type, types.UnionType):
            (base,) = (arg for arg in typing.get_args(self.type) if arg is not type(None))
            return base
        return self.type

    @property
    def optional(self) -> bool:
        return isinstance(self.type, types.UnionType) and type(None) in typing.get_args(self.type)

    def parse(self, raw: Any, source: str = "") -> Any:
        """A TOML value or an environment string as the setting's type; ValueError naming
        the setting. A blank string unsets an optional setting."""
        if self.read is not None:
            return self.read(raw, source)
        if self.optional and isinstance(raw, str) and not raw.strip():
            return None
        try:
            return _convert(self.base, raw)
        except (TypeError, ValueError):
            raise ValueError(
                f"{self.called}: expected {_type_name(self.base)}, got {raw!r}"
            ) from None

    def normal(self, value: Any) -> Any:
        """A choice as declared (``debug`` -> ``DEBUG``); other values unchanged."""
        if self.choices and isinstance(value, str):
            return next((c for c in self.choices if c.lower() == value.lower()), value)
        return value

    def problem(self, value: Any) -> str | None:
        """What is wrong with a set value (None: nothing), naming the setting."""
        wrong = self._wrong(value)
        return f"{self.called}: {wrong}, got {value!r}" if wrong else None

    def _wrong(self, value: Any) -> str | None:
        if (self.low is not None or self.high is not None) and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            return f"expected {_type_name(self.base)}"
        if not self.allows(value):
            return f"must be {self.allowed()}"
        return self.valid(value) if self.valid is not None else None

    def allowed(self) -> str:
        """The allowed values in words: ``at least 1``, ``between 0.05 and 10``, ``positive``."""
        if self.choices:
            return _either(self.choices)
        if self.low is not None and self.high is not None:
            return f"between {number(self.low)} and {number(self.high)}"
        if self.low is not None:
            if self.low_open:
                return "positive" if self.low == 0 else f"more than {number(self.low)}"
            return "0 or more" if self.low == 0 else f"at least {number(self.low)}"
        return ""

    def row(self) -> str:
        """This setting's line of the README table."""
        env = f"`{self.env}`" if self.env else "(TOML only)"
        default = self.shown_default or (
            "unset" if self.default is None else f"`{_shown(self.default)}`"
        )
        allowed = self.shown_allowed or (
            _either(tuple(f"`{c}`" for c in self.choices)) if self.choices else self.allowed()
        )
        return f"| {self.name} | {env} | {default} | {allowed} | {self.help} |"


def setting(
    default: Any,
    env: str | None,
    help: str,
    *,
    shown_default: str = "",
    shown_allowed: str = "",
    at_least: float | None = None,
    above: float | None = None,
    at_most: float | None = None,
    choices: tuple[str, ...] = (),
    valid: Validator | None = None,
    read: Reader | None = None,
) -> Any:
    """Declare one setting of a dataclass: its default, environment variable, help and
    allowed values (``at_least``/``above`` a low end, ``at_most`` a high end, ``choices``)."""
    declaration = Declaration.declared(
        at_least=at_least,
        above=above,
        at_most=at_most,
        choices=choices,
        name="",
        env=env,
        help=help,
        default=default,
        shown_default=shown_default,
        shown_allowed=shown_allowed,
        valid=valid,
        read=read,
    )
    return dataclasses.field(default=default, metadata={"declaration": declaration})


@functools.cache
def declarations(cls: type) -> tuple[Declaration, ...]:
    """The settings ``cls`` declares, in field order, with names and resolved types."""
    return tuple(
        dataclasses.replace(f.metadata["declaration"], name=f.name, type=hint)
        for f, hint in typed_fields(cls)
    )


def markdown_table(cls: type) -> str:
    """The README's settings table, one row per declared setting."""
    lines = [
        "| TOML key | environment variable | default | allowed | |",
        "|---|---|---|---|---|",
        *(declaration.row() for declaration in declarations(cls)),
    ]
    return "\n".join(lines)


def _convert(kind: Any, raw: Any) -> Any:
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind)
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        return [
            _convert(item, value.strip() if isinstance(value, str) else value)
            for value in items
            if not (isinstance(value, str) and not value.strip())
        ]
    if kind is int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(raw)
        return int(raw)
    if kind is float:
        if isinstance(raw, bool) or not math.isfinite(value := float(raw)):
            raise ValueError(raw)
        return value
    if kind is Path:
        return Path(str(raw)).expanduser()
    return kind(str(raw))  # str, and str-like wrappers (Secret)


def _type_name(kind: Any) -> str:
    if typing.get_origin(kind) is list:
        return f"a comma-separated list of {_type_name(typing.get_args(kind)[0])}"
    return getattr(kind, "__name__", str(kind))


def _either(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]


def _shown(value: Any) -> str:
    return number(value) if isinstance(value, float) else str(value)
