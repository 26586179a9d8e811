"""A protocol-faithful fake Discord (REST + gateway) on 127.0.0.1 for end-to-end tests.

Point an unmodified discord.py client at it through discord.py's own override points::

    async with FakeDiscord() as fake:
        with fake.patch_discord():          # Route.BASE + DiscordWebSocket.DEFAULT_GATEWAY
            await bot.start(fake.token)

or, for a subprocess, ``fake.env()`` gives DISCORD_API_BASE_URL / DISCORD_GATEWAY_URL /
DISCORD_TOKEN.

``FakeDiscord`` is assembled from one class per concept, all on one shared state:

- ``state.py``: settings, addresses, the world (users, guilds, DMs, commands), the records
- ``messages.py``: messages created, edited and deleted, and the events they leave
- ``rest.py``: the route table and the request plumbing; the handlers in ``rest_channels.py``
  (users, application, channels), ``rest_commands.py`` (command sync, validated) and
  ``rest_interactions.py`` (callbacks, original responses, follow-ups)
- ``interactions.py``: the user simulator (commands, button presses, deletions)
- ``gateway.py``: the websocket side (``fake.gateway``)
- ``faults.py``: armed REST faults (``fake.faults``); ``recorder.py``: ``fake.recorder``
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from aiohttp import web

from .interactions import InteractionActions
from .rest import RestServer


class FakeDiscord(RestServer, InteractionActions):
    """The fake: REST + gateway + state (guilds, users, interactions, messages, commands)."""

    _runner: web.AppRunner | None = None
    _site: web.TCPSite | None = None

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._entry)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await self._site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for conn in list(self.gateway.connections):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py (in this process) at the fake; restores the old values."""
        import discord.gateway
        import discord.http
        import yarl

        old_base = discord.http.Route.BASE
        old_gw = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.base_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gw


__all__ = ["FakeDiscord"]
