"""The command tree: admits commands, and turns every failure into a short ephemeral answer.

Expected failures (refusals, bad options, a busy engine) get their own message; anything
else is logged with its traceback and answered with a generic apology. Either way the
request's row is logged here, with a status saying what happened.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, cast

import discord
from discord import app_commands

from bot.discord.formatting import neutralize, truncate
from bot.discord.limits import Refused, ShuttingDown
from bot.discord.redact import redacted_traceback
from bot.engine.kinds import Status
from bot.generators.base import Busy, GenerationError, InvalidRequest, UnknownModel
from bot.storage import StorageError

if TYPE_CHECKING:
    from bot.discord.context import ServingContext

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on my side; it has been logged."
BAD_OPTIONS = "One of the options is not valid; check it and try again."
STALE_COMMAND = "This command is out of date; Discord should update it within a minute."


class RefusedCheck(app_commands.CheckFailure):
    """A refusal raised before the command runs (the tree is not taking commands)."""

    def __init__(self, refusal: Refused) -> None:
        self.refusal = refusal
        super().__init__(str(refusal))


def classify(error: BaseException) -> tuple[Status, str, bool]:
    """(status, message for the user, whether to log a traceback) for a failure."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, RefusedCheck):
        error = error.refusal
    if isinstance(error, Refused):
        return Status.REFUSED, str(error), False
    if isinstance(error, InvalidRequest):
        return Status.INVALID, str(error), False
    if isinstance(error, Busy):
        return Status.BUSY, str(error), False
    if isinstance(error, UnknownModel):
        return Status.UNAVAILABLE, str(error), False
    if isinstance(error, GenerationError):
        return Status.ERROR, str(error), True
    if isinstance(error, StorageError):
        return Status.UNAVAILABLE, "The request log is unavailable right now.", True
    if isinstance(error, app_commands.TransformerError):
        return Status.INVALID, BAD_OPTIONS, False
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        return Status.INVALID, STALE_COMMAND, False
    if isinstance(error, app_commands.CheckFailure):
        return Status.REFUSED, "You cannot use this command here.", False
    if isinstance(error, discord.HTTPException):
        return Status.FAILED, APOLOGY, True
    return Status.ERROR, APOLOGY, True


async def reply_ephemeral(interaction: discord.Interaction, text: str, *, visible: bool) -> None:
    """Answer privately whatever state the interaction is in. A public "thinking…"
    placeholder with nothing in it yet is deleted so it does not linger."""
    text = truncate(neutralize(text), 2000)
    if interaction.is_expired():
        log.warning("interaction %s expired before it could be answered", interaction.id)
        return
    if not interaction.response.is_done():
        await interaction.response.send_message(text, ephemeral=True)
        return
    if not visible:
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as exc:
            log.info("could not delete the placeholder of %s: %s", interaction.id, exc)
    await interaction.followup.send(text, ephemeral=True)


class BotTree(app_commands.CommandTree[Any]):
    @property
    def bot(self) -> ServingContext:
        return cast("ServingContext", self.client)

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        requests = self.bot.requests
        if interaction.type is not discord.InteractionType.application_command:
            return requests.accepting  # autocomplete: answer nothing while shutting down
        if not requests.accepting:
            raise RefusedCheck(ShuttingDown())
        requests.begin(interaction)
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        status, message, loud = classify(error)
        original = getattr(error, "original", error)
        command = cast("dict[str, Any]", interaction.data or {}).get("name", "?")
        text = self.bot.settings.log_content == "full"  # else no message: it may quote input
        if loud:
            log.error(  # with the cause's traceback: the engine's own error sits there
                "/%s (request %s) failed for user %s%s",
                command,
                interaction.id,
                interaction.user.id,
                "" if text else f"\n{redacted_traceback(original)}",
                exc_info=original if text else None,
            )
        else:
            # by class only, in every mode: the message may quote what the user typed, and
            # the process log cannot forget it after /forget-me
            shown = type(original).__name__
            log.info("/%s %s for user %s: %s", command, status, interaction.user.id, shown)
        record = self.bot.requests.get(interaction)
        try:
            await reply_ephemeral(interaction, message, visible=record.visible)
        except Exception as exc:  # not only HTTP errors: e.g. a session closed at shutdown
            log.warning("could not tell user %s about a failure: %r", interaction.user.id, exc)
            status = Status.FAILED
        self.bot.requests.finish(interaction, status, original)
