"""The buttons under every finished reply: Reroll, Continue and Delete.

Each button's ``custom_id`` carries the action and the request id (the interaction id of
the reply's request, kept in its log row). A press is matched by that pattern (``TEMPLATE``),
not by a view held in memory, so buttons keep working after a restart:
:class:`bot.discord.presses.ReplyButton` matches and handles it (this module is only the
buttons' look, so it imports no serving code). The pattern takes any digits, so that a
forged or corrupted id is still answered (privately, with a row); only a positive 63-bit
number is a request id (:func:`parse_snowflake`).
"""

from __future__ import annotations

from typing import Any

import discord

ACTIONS: dict[str, tuple[str, discord.ButtonStyle]] = {
    "reroll": ("Reroll", discord.ButtonStyle.secondary),
    "continue": ("Continue", discord.ButtonStyle.primary),
    "delete": ("Delete", discord.ButtonStyle.danger),
}
TEMPLATE = r"lstm:(?P<action>reroll|continue|delete):(?P<request>[0-9]+)"
MAX_SNOWFLAKE = (1 << 63) - 1  # Discord ids are 64-bit with the top bit clear (and SQLite's)
# the request-row parameter that lists a finished reply's message ids, first part first
MESSAGES_PARAM = "messages"


def parse_snowflake(text: str) -> int | None:
    """The Discord id written as ``text`` (decimal digits), or None if it is not one."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_SNOWFLAKE else None


def reply_button(action: str, request_id: int | str) -> discord.ui.Button[Any]:
    """The button of ``action`` for the reply of request ``request_id``."""
    label, style = ACTIONS[action]
    return discord.ui.Button(label=label, style=style, custom_id=f"lstm:{action}:{request_id}")


def reply_view(request_id: int, *, continues: bool, text_kept: bool) -> discord.ui.View:
    """The buttons of a finished reply. Without the text kept in the log, only Delete."""
    view = discord.ui.View(timeout=None)
    for action in ACTIONS:
        if action == "delete" or (text_kept and (action == "reroll" or continues)):
            view.add_item(reply_button(action, request_id))
    # Not kept in discord.py's view store: presses are dispatched by the template (above).
    view.stop()
    return view


def disabled_view(message: discord.Message | None) -> discord.ui.View:
    """The buttons of ``message``, all disabled (expired)."""
    view = discord.ui.View.from_message(message) if message else discord.ui.View()
    for item in view.children:
        if isinstance(item, discord.ui.Button):
            item.disabled = True
    view.stop()
    return view
