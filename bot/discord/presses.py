"""What a press of a reply's button does.

- **Reroll**: the same options with a new seed, as a new reply.
- **Continue** (prose and story kinds): the model is primed with the reply's text (its state
  is rebuilt from it) and writes more into a new reply.
- **Delete**: the requester, or a member who may manage messages, deletes the message the
  buttons are on; anyone else gets a polite private refusal.

A press is a request like a command: refused while the bot shuts down, subject to the same
cooldown and concurrency limits, logged as a row whose ``parent_id`` is the reply's request.
A press whose row is gone (pruned or forgotten) or whose model is no longer loaded gets a
private explanation; after ``buttons_expire_s`` a press disables the message's buttons.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord

from bot.discord.buttons import disabled_view
from bot.discord.limits import Refused, ShuttingDown
from bot.discord.produce import WRITE, produce, products_of, write_product
from bot.products import Product

if TYPE_CHECKING:
    from bot.discord.bot import LSTMBotBase
    from bot.storage import RequestRow

# the request-row parameters that a press does not pass on
NOT_REPLAYED = frozenset({"seed", "button", "members"})

EXPIRED = "These buttons have expired; run the command again for a new reply."
GONE = "This reply's record is gone (it was pruned or forgotten), so its buttons no longer work."
NOT_KEPT = "This bot does not keep the text of replies, so this one cannot be run again."
NOT_YOURS = (
    "Sorry, only the person who asked for this reply (or someone who can manage messages "
    "here) can delete it."
)


class Stale(Refused):
    """The reply's request cannot be run again; ``str(exc)`` says why."""


async def press(
    bot: LSTMBotBase, interaction: discord.Interaction, action: str, request_id: int
) -> None:
    """Handle one button press as a request, answering failures like the command tree."""
    requests = bot.requests
    accepting = requests.accepting
    record = requests.begin(interaction) if accepting else requests.get(interaction)
    record.command = action
    record.parent_id = request_id
    try:
        if not accepting:
            raise ShuttingDown()
        age = time.time() - discord.utils.snowflake_time(request_id).timestamp()
        if age > bot.settings.buttons_expire_s:
            await interaction.response.edit_message(view=disabled_view(interaction.message))
            await interaction.followup.send(EXPIRED, ephemeral=True)
            requests.finish(interaction, "refused")
            return
        parent = await _parent(bot, request_id)
        if action == "delete":
            await _delete(bot, interaction, parent)
            return
        await _again(bot, interaction, parent, action)
    except Exception as exc:
        await bot.tree.on_error(interaction, exc)  # type: ignore[arg-type]


async def _parent(bot: LSTMBotBase, request_id: int) -> RequestRow:
    if bot.request_log is None:
        raise Stale(GONE)
    parent = await bot.request_log.find(request_id)
    if parent is None:
        raise Stale(GONE)
    return parent


async def _delete(bot: LSTMBotBase, interaction: discord.Interaction, parent: RequestRow) -> None:
    if parent.user_id != interaction.user.id and not interaction.permissions.manage_messages:
        raise Stale(NOT_YOURS)
    await interaction.response.defer()  # acknowledges the press on the message itself
    await interaction.delete_original_response()  # the message the buttons are on
    bot.requests.finish(interaction, "ok")


def _product(bot: LSTMBotBase, parent: RequestRow) -> Product:
    """The product that made the reply, if its model is still loaded."""
    model = parent.model or "?"
    if parent.command == WRITE:
        product = write_product(bot, model)
    else:
        product = products_of(bot).get(parent.command)
        engine = bot.engine
        if product is not None and (engine is None or product.model not in engine.models):
            product = None
    if product is None:
        raise Stale(f"The {model} model of this reply is no longer available.")
    return product


async def _again(
    bot: LSTMBotBase, interaction: discord.Interaction, parent: RequestRow, action: str
) -> None:
    """Reroll (same options, new seed) or Continue (primed with the reply's text)."""
    product = _product(bot, parent)
    record = bot.requests.get(interaction)
    record.command = parent.command
    text = parent.output if action == "continue" else parent.prompt
    if action == "continue" and not product.spec.continues:
        raise Stale("This kind of reply cannot be continued; try Reroll.")
    if text is None and (action == "continue" or product.spec.needs_text):
        raise Stale(NOT_KEPT)
    options = {k: v for k, v in parent.params.items() if k not in NOT_REPLAYED}
    members = [int(m) for m in parent.params.get("members") or ()]
    await produce(
        bot,
        interaction,
        product,
        options,
        text=text,
        members=members,
        log={"button": action, "members": members or None},
    )
