"""One request row: its columns, and what of it is stored with and without text logging."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from typing import Any

from bot.engine.kinds import Status

COLUMNS = (
    "created_at",
    "guild_id",
    "channel_id",
    "user_id",
    "command",
    "model",
    "params",
    "prompt",
    "output",
    "tokens",
    "first_token_s",
    "total_s",
    "status",
    "error",
    "interaction_id",
    "parent_id",
)
INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
USER = COLUMNS.index("user_id")
COMMAND = COLUMNS.index("command")
PARAMS = COLUMNS.index("params")
PROMPT = COLUMNS.index("prompt")
OUTPUT = COLUMNS.index("output")
STATUS = COLUMNS.index("status")
ERROR = COLUMNS.index("error")
INTERACTION = COLUMNS.index("interaction_id")
PARENT = COLUMNS.index("parent_id")
CREATED = COLUMNS.index("created_at")

# Without text, the only string parameter kept: a style, and only on a successful request
# (the generator refuses any style its model was not trained on, so it is a fixed choice;
# an operator's names command takes it as free text, which an invalid row would keep).
METADATA_TEXT_PARAMS = frozenset({"style"})

Values = tuple[Any, ...]  # one row as bound to INSERT


def storable(text: str) -> str:
    """``text`` with lone UTF-16 surrogates (valid in a Python str and in JSON, but not in
    UTF-8, so SQLite refuses them) and NUL characters (PostgreSQL's text refuses them)
    replaced by U+FFFD; surrogate pairs are joined. Both databases store the same."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _clean(value: Any) -> Any:
    return storable(value) if isinstance(value, str) else value


def error_category(error: str | None) -> str | None:
    """The fixed part of a stored error, ``"InvalidRequest"`` of ``"InvalidRequest: Unknown
    style 'x'"``: the exception's class, never its message (which may quote the input)."""
    if error is None:
        return None
    head = error.partition(":")[0].strip()
    return head if head.isidentifier() else "error"


def metadata_params(params: dict[str, Any], status: str) -> dict[str, Any]:
    """``params`` without free text: numbers, ids and lists of ids stay; of the strings only
    the style of a successful request."""
    return {
        k: v
        for k, v in params.items()
        if not isinstance(v, str) or (k in METADATA_TEXT_PARAMS and status == "ok")
    }


def encode_params(params: dict[str, Any]) -> str:
    return json.dumps(params, ensure_ascii=False, sort_keys=True, default=str)


def without_text(values: Values) -> Values:
    """Stored values with the prompt, output, free-text parameters and error message taken
    out (a row whose text came from someone who asked to be forgotten)."""
    try:
        params = json.loads(values[PARAMS] or "{}")
    except ValueError:
        params = {}
    kept = metadata_params(params if isinstance(params, dict) else {}, values[STATUS])
    out = list(values)
    out[PARAMS] = encode_params(kept)
    out[PROMPT] = out[OUTPUT] = None
    out[ERROR] = error_category(values[ERROR])
    return tuple(out)


@dataclass(kw_only=True)
class RequestFields:
    """What a request's row says before the request ends: all but its status, total time and
    error. The command's pending record (``bot.discord.requests``) fills these in."""

    user_id: int
    command: str
    created_at: float = field(default_factory=time.time)
    guild_id: int | None = None
    channel_id: int | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    output: str | None = None
    tokens: int | None = None
    first_token_s: float | None = None
    interaction_id: int | None = None  # the Discord interaction (the reply buttons' key)
    parent_id: int | None = None  # a button press: the interaction id of the reply's request

    def ended(self, status: Status, total_s: float | None, error: str | None) -> RequestRow:
        """The row of this request, ended with ``status`` after ``total_s`` seconds."""
        shared = {f.name: getattr(self, f.name) for f in fields(RequestFields)}
        return RequestRow(**shared, status=status, total_s=total_s, error=error)


@dataclass(kw_only=True)
class RequestRow(RequestFields):
    """One request as logged. ``status``: ok | refused | invalid | busy | unavailable |
    cancelled | failed | error."""

    status: Status
    total_s: float | None = None
    error: str | None = None

    def values(self, *, text: bool = True) -> Values:
        """The row as storable values; without ``text``, metadata only: no prompt, output,
        free-text parameter or error message (the error's class is kept)."""
        row = {c: getattr(self, c) for c in COLUMNS}
        params = self.params if text else metadata_params(self.params, self.status)
        row["params"] = encode_params(params)
        if not text:
            row["prompt"] = row["output"] = None
            row["error"] = error_category(self.error)
        return tuple(_clean(row[c]) for c in COLUMNS)

    @classmethod
    def from_values(cls, values: Values) -> RequestRow:
        row = dict(zip(COLUMNS, values, strict=True))
        row["params"] = json.loads(row["params"] or "{}")
        return cls(**row)
