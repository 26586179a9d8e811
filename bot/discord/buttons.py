"""The buttons under every finished reply: Reroll, Continue and Delete.

Each is a :class:`ReplyButton`, a ``DynamicItem`` whose ``custom_id`` carries the action and
the request id (the interaction id of the reply's request, kept in its log row). A press is
matched by that pattern, not by a view held in memory, so buttons keep working after a
restart; :mod:`bot.discord.presses` handles it. The pattern takes any digits, so that a
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


class ReplyButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """``request_id`` is None for a button whose id is not a request id (forged, corrupt)."""

    def __init__(self, action: str, request_id: int | str) -> None:
        label, style = ACTIONS[action]
        super().__init__(
            discord.ui.Button(
                label=label,
                style=style,
                custom_id=f"lstm:{action}:{request_id}",
            )
        )
        self.action = action
        self.request_id = parse_snowflake(str(request_id))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> ReplyButton:
        return cls(match["action"], match["request"])

    async def callback(self, interaction: discord.Interaction) -> None:
        from bot.discord.presses import press  # it runs products, which show these buttons

        await press(interaction.client, interaction, self.action, self.request_id)  # type: ignore[arg-type]


def reply_view(request_id: int, *, continues: bool, text_kept: bool) -> discord.ui.View:
    """The buttons of a finished reply. Without the text kept in the log, only Delete."""
    view = discord.ui.View(timeout=None)
    for action in ACTIONS:
        if action == "delete" or (text_kept and (action == "reroll" or continues)):
            view.add_item(ReplyButton(action, request_id))
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
