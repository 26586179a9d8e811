"""How the process log names a failure. With ``log_content = "metadata"`` no text a user
typed may reach the log, and exception messages quote input (``Unknown style '…'``,
``There is no model '…'``, a value that failed to convert), so a failure is named by its
class, and a traceback keeps its frames (code, not data) but no message."""

from __future__ import annotations

import traceback


def described(error: BaseException, *, text: bool) -> str:
    """``error`` as a log line shows it: its message, or (``text`` off) its class only."""
    return str(error) if text else type(error).__name__


def redacted_traceback(error: BaseException) -> str:
    """The traceback of ``error`` and of its causes, each exception named by its class only."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append("".join(traceback.format_tb(current.__traceback__)) + type(current).__name__)
        current = current.__cause__ or current.__context__
    return "\nwhile handling:\n".join(reversed(parts))
