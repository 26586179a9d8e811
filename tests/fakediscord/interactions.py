"""The user simulator: members run slash and context-menu commands, press buttons and delete
replies. Each command is an INTERACTION_CREATE (built by ``driver.py``) dispatched on the
gateway to the shard of its guild; the returned :class:`InteractionTrace` collects what the
bot did with it."""

from __future__ import annotations

import secrets
import time
from typing import Any

from .driver import InteractionTrace, build_interaction_payload
from .messages import MessageStore
from .payloads import FakeChannel, FakeGuild, FakeUser, snowflake
from .state import FakeInteraction, StoredMessage


class InteractionActions(MessageStore):
    """What simulated users do (see the module docstring)."""

    async def run_command(
        self,
        *,
        user: FakeUser,
        name: str,
        guild: FakeGuild | None = None,
        channel: FakeChannel | None = None,
        options: dict[str, Any] | None = None,
        raw_options: list[dict[str, Any]] | None = None,
        locale: str = "en-US",
        interaction_type: int = 2,
        user_installed: bool = False,
        permissions: int | None = None,
        component: tuple[StoredMessage, str] | None = None,
        target: FakeUser | None = None,
    ) -> InteractionTrace:
        """User ``user`` runs ``/name`` with ``options`` in ``guild`` (or ``channel``: a DM /
        group DM). Dispatches INTERACTION_CREATE and returns the trace to await on.
        ``permissions``: the member's permission bits (Manage Server is 32); ``component``:
        (message, custom_id) of a button pressed (a type 3 interaction; see :meth:`click`);
        ``target``: the member a user context-menu command ``name`` is used on."""
        if channel is None:
            channel = guild.default_channel if guild is not None else self.dm_channel(user)
        iid = snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96)
        payload = build_interaction_payload(
            self,
            interaction_id=iid,
            token=token,
            user=user,
            guild=guild,
            channel=channel,
            name=name,
            options=options or {},
            raw_options=raw_options,
            locale=locale,
            interaction_type=interaction_type,
            user_installed=user_installed,
            permissions=permissions,
            target=target,
        )
        if component is not None:
            payload["data"] = {"custom_id": component[1], "component_type": 2}
            payload["message"] = component[0].payload
        it = FakeInteraction(
            id=iid,
            token=token,
            type=interaction_type,
            user=user,
            guild=guild,
            channel=channel,
            payload=payload,
            created=time.monotonic(),
            # a component interaction's "original" is the message the component is on
            original_id=component[0].id if component is not None else None,
        )
        trace = InteractionTrace(
            interaction_id=iid,
            token=token,
            name=name,
            options=dict(options or {}),
            user=user,
            guild=guild,
            channel=channel,
            payload=payload,
            dispatched_at=it.created,
            done=self.done_rule,
        )
        it.trace = trace
        self.interactions[iid] = it
        self._by_token[token] = it
        await self.gateway.dispatch(
            "INTERACTION_CREATE", payload, guild_id=guild.id if guild else None
        )
        return trace

    async def complete_command(
        self, *, settle_s: float = 1.5, timeout: float = 30.0, **kwargs: Any
    ) -> InteractionTrace:
        trace = await self.run_command(**kwargs)
        return await trace.wait_final(settle_s=settle_s, timeout=timeout)

    async def click(
        self,
        trace: InteractionTrace,
        label: str,
        *,
        user: FakeUser | None = None,
        permissions: int | None = None,
    ) -> InteractionTrace:
        """``user`` (default: whoever ran ``trace``) presses the button labelled ``label`` on
        the newest of ``trace``'s messages that shows it: a component interaction (type 3)
        carrying that message, answered with callback 4-7 like Discord; returns its trace.
        ``permissions``: the presser's permission bits (e.g. Manage Messages, 1 << 13)."""
        for message_id in reversed(list(trace.messages)):
            stored = self.messages[message_id]
            for row in stored.payload.get("components") or []:
                for button in row.get("components") or []:
                    if button.get("type") == 2 and button.get("label") == label:
                        return await self.run_command(
                            user=user or trace.user,
                            name=trace.name,
                            guild=trace.guild,
                            channel=trace.channel,
                            interaction_type=3,
                            component=(stored, str(button["custom_id"])),
                            permissions=permissions,
                        )
        raise ValueError(f"no button {label!r} on the messages of {trace.summary()}")

    def delete_as_user(self, trace: InteractionTrace) -> None:
        """A member (or moderator) deletes the interaction's reply: from now on the bot's
        edits of it fail with 404 Unknown Message (10008), as on Discord."""
        it = self.interactions[trace.interaction_id]
        stored = self.messages.get(it.original_id or "")
        if stored is None or stored.deleted:
            raise ValueError(f"interaction {trace.interaction_id} has no reply to delete")
        stored.deleted = True
        self._event("delete", stored, None, time.monotonic())

    @property
    def traces(self) -> list[InteractionTrace]:
        return [it.trace for it in self.interactions.values() if it.trace is not None]
