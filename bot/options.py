"""What a user typed, checked the same way by every front end (Discord, console, generate).

Options arrive by the names the user saw: the registry's (``length``, ``style``), /write's
(``prompt``, ``length``) or a flag (``--count``). :func:`request` checks each against its
kind and returns the generator's keywords; an error names the option as it was typed, never
a name the user did not see (``max`` behind /write's ``length`` on a names model). An
unknown option is an error that suggests the nearest known one (:func:`unknown_option`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from bot.engine.errors import InvalidRequest
from bot.engine.kinds import KindName
from bot.products import Kind


def write_names(kind: Kind) -> dict[str, str]:
    """/write's option names -> the registry names they stand for on a model of ``kind``."""
    return {"prompt": kind.text.name, "length": kind.length}


def unknown_option(name: str, known: Sequence[str], command: str) -> InvalidRequest:
    """The error for an option ``command`` does not take, with the nearest known one."""
    near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    near = near or [k for k in known if k.startswith(name) or name.startswith(k)][:1]
    hint = f" Did you mean `{near[0]}`?" if near else ""
    return InvalidRequest(
        f"Unknown option `{name}` for {command}.{hint} Its options: {', '.join(known)}."
    )


def request(
    kind: Kind,
    values: Mapping[str, Any],
    text: str | None,
    called: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Generator keywords for ``values`` (registry option names; None: unset) and the free
    ``text`` (None: not given), each checked against ``kind``. ``called``: registry name ->
    the name the user typed, for messages. InvalidRequest names the option as typed."""
    called = called or {}
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        option = kind.option(name)
        if value is not None:
            kwargs[option.key] = option.check(value, called.get(option.name, ""))
    if text is not None:
        kind.text.check(text, called.get(kind.text.name, ""))
        if kind.name == KindName.NAMES:
            _check_letters(kind, text, kwargs, called)
        kwargs[kind.text.key] = text
    return kwargs


def _check_letters(
    kind: Kind, text: str, kwargs: Mapping[str, Any], called: Mapping[str, str]
) -> None:
    """The letters names start with: a few letters, not a sentence, within the longest name."""
    letters = "".join(text.split())
    most = int(kind.text.high or 0)
    label = kind.text.shown_as(called.get(kind.text.name, ""))
    if len(letters) > most:
        raise InvalidRequest(
            f"{label} is the first letters of the names (at most {most}, e.g. `ma`), "
            f"not a sentence: {text[:40]!r} has {len(letters)}."
        )
    longest = kind.option(kind.length)
    limit = kwargs.get(longest.key)
    if limit is not None and len(letters) > limit:
        raise InvalidRequest(
            f"{label} ({len(letters)} letters) is longer than "
            f"{called.get(longest.name, longest.name)} ({limit})."
        )
