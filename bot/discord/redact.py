"""A failure's traceback for the process log without the exceptions' messages. With
``log_content = "metadata"`` no text a user typed may reach the log, and a message may quote
input (``Unknown style '…'``, ``There is no model '…'``, a value that failed to convert): the
frames (code, not data) and the exceptions' classes are kept."""

from __future__ import annotations

import traceback


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
