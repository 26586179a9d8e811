"""What a press of a reply's button does.

- **Reroll**: the same options with a new seed, as a new reply.
- **Continue** (prose and story kinds): the model is primed with the reply's text (its state
  is rebuilt from it), its last ``MAX_PROMPT_CHARS`` characters from a word start (a
  prompt's limit, so no "the prompt was long" note), and writes more into a new reply.
- **Delete**: the requester, or a member who may manage messages, deletes the whole reply:
  every message of it (their ids are kept in the request's row), the one the buttons are on
  last; a part someone already deleted is skipped. Anyone else gets a polite private refusal.
  Without the row (pruned or forgotten), the requester is the user Discord names in the
  message's ``interaction_metadata``, and only the message the buttons are on is deleted.

A press is a request: refused while the bot shuts down, logged as a row whose ``parent_id``
is the reply's request. Reroll and Continue generate, so they are subject to the same
cooldown and concurrency limits as commands; Delete is not (it only takes down a reply).
A Reroll or Continue whose row is gone or whose model is no longer loaded gets a private
explanation; after ``buttons_expire_s`` a press disables the message's buttons.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import discord

from bot.discord.buttons import (
    MESSAGES_PARAM,
    TEMPLATE,
    disabled_view,
    parse_snowflake,
    reply_button,
)
from bot.discord.limits import Refused, ShuttingDown
from bot.discord.produce import WRITE, produce, products_of, write_product
from bot.engine.kinds import Status
from bot.generators.base import InvalidRequest
from bot.generators.common import MAX_PROMPT_CHARS, primer_text
from bot.products import Product

if TYPE_CHECKING:
    from bot.discord.context import ServingContext
    from bot.storage import RequestRow

log = logging.getLogger(__name__)

# the request-row parameters that a press does not pass on
NOT_REPLAYED = frozenset({"seed", "button", "members", MESSAGES_PARAM})

BAD_ID = "This button's id is not valid, so it does nothing; run the command for a new reply."
EXPIRED = "These buttons have expired; run the command again for a new reply."
GONE = "This reply's record is gone (it was pruned or forgotten), so its buttons no longer work."
NOT_KEPT = "This bot does not keep the text of replies, so this one cannot be run again."
NOT_YOURS = (
    "Sorry, only the person who asked for this reply (or someone who can manage messages "
    "here) can delete it."
)
PARTS_LEFT = (
    "I deleted this part of the reply, but I cannot reach its other parts here; "
    "please delete them yourself."
)


class Stale(Refused):
    """The reply's request cannot be run again; ``str(exc)`` says why."""


class ReplyButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """A reply's button as a press dispatches it (registered by the bot, so it matches the
    buttons of replies sent before a restart too). ``request_id`` is None for a button whose
    id is not a request id (forged, corrupt)."""

    def __init__(self, action: str, request_id: int | str) -> None:
        super().__init__(reply_button(action, request_id))
        self.action = action
        self.request_id = parse_snowflake(str(request_id))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> ReplyButton:
        return cls(match["action"], match["request"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = interaction.client  # the bot: a ServingContext, typed as discord.Client
        await press(bot, interaction, self.action, self.request_id)  # type: ignore[arg-type]


async def press(
    bot: ServingContext, interaction: discord.Interaction, action: str, request_id: int | None
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
        if request_id is None:  # not a request id (forged or corrupt): no row to look up
            raise InvalidRequest(BAD_ID)
        age = time.time() - discord.utils.snowflake_time(request_id).timestamp()
        if age > bot.settings.buttons_expire_s:
            await interaction.response.edit_message(view=disabled_view(interaction.message))
            await interaction.followup.send(EXPIRED, ephemeral=True)
            requests.finish(interaction, Status.REFUSED)
            return
        if action == "delete":
            await _delete(bot, interaction, await _find(bot, request_id))
            return
        await _again(bot, interaction, await _parent(bot, request_id), action)
    except Exception as exc:
        # on_error takes any error, as discord.py calls it
        await bot.tree.on_error(interaction, exc)  # type: ignore[arg-type]


async def _find(bot: ServingContext, request_id: int) -> RequestRow | None:
    return None if bot.request_log is None else await bot.request_log.find(request_id)


async def _parent(bot: ServingContext, request_id: int) -> RequestRow:
    parent = await _find(bot, request_id)
    if parent is None:
        raise Stale(GONE)
    return parent


def _asker(interaction: discord.Interaction) -> int | None:
    """Who asked for the reply the buttons are on, as Discord tells it (no row needed)."""
    metadata = interaction.message.interaction_metadata if interaction.message else None
    return metadata.user.id if metadata is not None else None


async def _delete(
    bot: ServingContext, interaction: discord.Interaction, parent: RequestRow | None
) -> None:
    owner = parent.user_id if parent is not None else _asker(interaction)
    if owner != interaction.user.id and not interaction.permissions.manage_messages:
        raise Stale(NOT_YOURS if owner is not None else GONE)
    await interaction.response.defer()  # acknowledges the press on the message itself
    pressed = interaction.message.id if interaction.message is not None else None
    ids = (parent.params.get(MESSAGES_PARAM) or ()) if parent is not None else ()
    parts = [int(i) for i in ids if int(i) != pressed]
    left = [i for i in parts if not await _delete_part(interaction, i)]
    # the message the buttons are on goes last: a press that fails midway can be repeated
    with contextlib.suppress(discord.NotFound):
        await interaction.delete_original_response()
    if left:
        await interaction.followup.send(PARTS_LEFT, ephemeral=True)
    bot.requests.finish(interaction, Status.OK)


async def _delete_part(interaction: discord.Interaction, message_id: int) -> bool:
    """Delete one earlier part of a reply with the bot's own token; True if it is gone
    (a part someone already deleted included), False where the bot cannot reach it (e.g. a
    user-installed bot in a server it is not in)."""
    if interaction.channel_id is None:
        return False
    channel = interaction.client.get_partial_messageable(interaction.channel_id)
    try:
        await channel.get_partial_message(message_id).delete()
    except discord.NotFound:
        return True  # already deleted by someone: as wanted
    except discord.Forbidden as exc:
        log.info("cannot delete part %s of a reply: %s", message_id, exc)
        return False
    return True


def _product(bot: ServingContext, parent: RequestRow) -> Product:
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


def _tail(text: str) -> str:
    """The end of ``text`` that fits a prompt, from the start of a word."""
    if len(text) <= MAX_PROMPT_CHARS:
        return text
    tail = text[-MAX_PROMPT_CHARS:]
    if not text[-MAX_PROMPT_CHARS - 1].isspace():  # the cut falls inside a word: drop it
        tail = tail.split(maxsplit=1)[-1]
    return tail.lstrip()


async def _again(
    bot: ServingContext, interaction: discord.Interaction, parent: RequestRow, action: str
) -> None:
    """Reroll (same options, new seed) or Continue (primed with the reply's text)."""
    product = _product(bot, parent)
    record = bot.requests.get(interaction)
    record.command = parent.command
    text = parent.prompt
    if action == "continue":
        if not product.spec.continues:
            raise Stale("This kind of reply cannot be continued; try Reroll.")
        # the model's own text: a cut mark is not part of it (and in no vocabulary)
        text = _tail(primer_text(parent.output)) if parent.output is not None else None
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
