"""Validate the fake Discord itself with a minimal discord.py bot defined here.

If these fail, the fake (not the project's bot) is wrong: they pin down the protocol
behaviour the real end-to-end tests rely on.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import FakeDiscord

from .helpers import running_client

pytestmark = pytest.mark.timeout(60)


class MiniBot(commands.Bot):
    """One slash command that defers and edits twice, plus a few to provoke errors."""

    def __init__(self, **options: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.1,
            **options,
        )
        self.errors: list[BaseException] = []
        self.pause = asyncio.Event()
        self.pause.set()

    async def setup_hook(self) -> None:
        bot = self

        @self.tree.command(name="poem", description="Write a poem")
        @app_commands.describe(first_line="How it starts", lines="How many lines")
        async def poem(
            interaction: discord.Interaction,
            first_line: str = "The sea",
            lines: app_commands.Range[int, 1, 8] = 2,
        ) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(content=f"{first_line} @everyone")
            await bot.pause.wait()
            text = "\n".join([first_line] + [f"line {i}" for i in range(1, lines)])
            await interaction.edit_original_response(content=text)

        @self.tree.command(name="quick", description="Answer at once, ephemerally")
        async def quick(interaction: discord.Interaction, who: discord.Member) -> None:
            await interaction.response.send_message(f"hello {who.mention}", ephemeral=True)

        @self.tree.command(name="long", description="Send more than Discord allows")
        async def long(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("x" * 2001)

        @self.tree.command(name="late", description="Answer after the 3 s deadline")
        async def late(interaction: discord.Interaction, delay: float) -> None:
            await asyncio.sleep(delay)
            await interaction.response.send_message("too late?")

        @self.tree.command(name="block", description="Block the event loop (a classic bug)")
        async def block(interaction: discord.Interaction, seconds: float) -> None:
            await interaction.response.defer()
            time.sleep(seconds)
            await interaction.edit_original_response(content="done")

        @self.tree.command(name="followups", description="Defer, then two follow-ups")
        async def followups(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await interaction.followup.send("first")
            await interaction.followup.send("second")
            await interaction.channel.send("in channel @here")  # type: ignore[union-attr]

        @self.tree.error
        async def on_error(
            interaction: discord.Interaction, error: app_commands.AppCommandError
        ) -> None:
            bot.errors.append(getattr(error, "original", error))


async def _world(fake: FakeDiscord) -> tuple[Any, Any]:
    user = fake.add_user("alice")
    guild = fake.add_guild("Guild A", members=[user])
    return user, guild


async def test_handshake_sync_and_streamed_command(fake: FakeDiscord) -> None:
    user, guild = await _world(fake)
    bot = MiniBot()
    async with running_client(fake, bot):
        # READY and GUILD_CREATE reached discord.py's cache
        assert bot.user is not None and str(bot.user.id) == fake.app_id
        assert [g.id for g in bot.guilds] == [int(guild.id)]
        assert bot.get_guild(int(guild.id)).name == "Guild A"  # type: ignore[union-attr]
        # the client asked for zlib-stream and got binary frames it could decode
        connect = [d for (_, what, d) in fake.recorder.gateway_events if what == "connect"]
        assert connect[0]["query"]["compress"] == "zlib-stream"
        assert connect[0]["query"]["encoding"] == "json"
        identify = [d for (_, what, d) in fake.recorder.gateway_events if what == "identify"]
        assert identify and "token" not in identify[0]
        # login and app info went through REST with the bot token, parsed as JSON
        info = await bot.application_info()
        assert str(info.id) == fake.app_id and info.owner.name == "owner"
        assert all(r.authorized for r in fake.recorder.by_route("get_me"))

        synced = await bot.tree.sync()
        assert {c.name for c in synced} == {"poem", "quick", "long", "late", "followups", "block"}
        assert {c["name"] for c in fake.global_commands} == {c.name for c in synced}

        trace = await fake.run_command(
            user=user, guild=guild, name="poem", options={"first_line": "Salt", "lines": 3}
        )
        await trace.wait_final(settle_s=0.3, timeout=10)

    assert trace.callback_type == 5 and trace.deferred
    kinds = [e.kind for e in trace.events]
    assert kinds == ["deferred", "edit_original", "edit_original"]
    assert trace.events[0].loading and not trace.events[1].loading
    assert trace.final_text == "Salt\nline 1\nline 2"
    # option typed from the synced schema: an integer
    sent = {o["name"]: o for o in trace.payload["data"]["options"]}
    assert sent["lines"]["type"] == 4 and sent["lines"]["value"] == 3
    # client-wide AllowedMentions.none() reached the edits: "@everyone" would not ping
    assert trace.events[1].allowed_mentions == {"parse": []}
    assert trace.events[1].pings == []
    assert not trace.ephemeral
    assert trace.time_to_first_text is not None
    assert trace.time_to_final is not None and trace.time_to_final >= trace.time_to_first_text
    assert fake.recorder.unknown_routes() == []


async def test_immediate_ephemeral_reply_with_member_option(fake: FakeDiscord) -> None:
    user, guild = await _world(fake)
    bob = fake.add_user("bob")
    guild.members.append(bob)
    bot = MiniBot()
    async with running_client(fake, bot):
        await bot.tree.sync()
        trace = await fake.run_command(user=user, guild=guild, name="quick", options={"who": bob})
        await trace.wait_final(settle_s=0.2, timeout=10)
    assert trace.callback_type == 4
    assert trace.ephemeral
    assert trace.final_text == f"hello <@{bob.id}>"
    # the mention of bob is not allowed to ping
    assert trace.events[0].pings == []


async def test_without_allowed_mentions_pings_are_detected(fake: FakeDiscord) -> None:
    """The ping detector must be able to fail: a client with default allowed_mentions."""
    user, guild = await _world(fake)
    bot = MiniBot()
    bot.allowed_mentions = None
    async with running_client(fake, bot):
        trace = await fake.run_command(
            user=user, guild=guild, name="poem", options={"first_line": "Hi"}
        )
        await trace.wait_final(settle_s=0.3, timeout=10)
    assert "@everyone" in trace.events[1].pings


async def test_followups_and_channel_message(fake: FakeDiscord) -> None:
    user, guild = await _world(fake)
    bot = MiniBot()
    async with running_client(fake, bot):
        trace = await fake.run_command(user=user, guild=guild, name="followups")
        await trace.wait_final(settle_s=0.3, timeout=10)
    # the first follow-up replaces the deferred "thinking" message (Discord behaviour)
    msgs = list(trace.messages.values())
    assert [m.content for m in msgs] == ["first", "second"]
    # ...keeping the deferral's ephemeral flag; a later follow-up without the flag is public
    assert msgs[0].ephemeral and not msgs[1].ephemeral
    channel_msgs = [e for e in fake.recorder.message_events if e.kind == "channel_message"]
    assert len(channel_msgs) == 1 and channel_msgs[0].content == "in channel @here"
    assert channel_msgs[0].pings == []
    assert channel_msgs[0].channel_id == guild.default_channel.id


async def test_dm_and_group_dm_contexts(fake: FakeDiscord) -> None:
    user, _guild = await _world(fake)
    friend = fake.add_user("friend")
    bot = MiniBot()
    async with running_client(fake, bot):
        dm = await fake.run_command(user=user, name="poem", options={"first_line": "DM"})
        group = fake.group_dm([user, friend])
        gdm = await fake.run_command(
            user=user,
            channel=group,
            name="poem",
            options={"first_line": "Group"},
            user_installed=True,
        )
        await dm.wait_final(settle_s=0.3, timeout=10)
        await gdm.wait_final(settle_s=0.3, timeout=10)
    assert dm.payload["context"] == 1 and "user" in dm.payload and "member" not in dm.payload
    assert gdm.payload["context"] == 2 and gdm.payload["authorizing_integration_owners"] == {
        "1": user.id
    }
    assert dm.final_text.startswith("DM") and gdm.final_text.startswith("Group")


async def test_message_over_2000_chars_is_rejected_like_discord(fake: FakeDiscord) -> None:
    user, guild = await _world(fake)
    bot = MiniBot()
    async with running_client(fake, bot):
        trace = await fake.run_command(user=user, guild=guild, name="long")
        await trace.wait_for(lambda t: bool(t.failed_requests), timeout=10)
        await asyncio.sleep(0.2)
    (req,) = trace.failed_requests
    assert req.status == 400 and req.response["code"] == 50035
    assert "content" in req.response["errors"]
    assert isinstance(bot.errors[0], discord.HTTPException)
    assert bot.errors[0].code == 50035  # type: ignore[attr-defined]
    assert not trace.acknowledged


async def test_callback_after_deadline_is_unknown_interaction(fake: FakeDiscord) -> None:
    user, guild = await _world(fake)
    fake.callback_deadline_s = 0.3
    bot = MiniBot()
    async with running_client(fake, bot):
        trace = await fake.run_command(user=user, guild=guild, name="late", options={"delay": 0.6})
        await trace.wait_for(lambda t: bool(t.failed_requests), timeout=10)
        await asyncio.sleep(0.2)
    assert trace.failed_requests[0].response["code"] == 10062
    assert isinstance(bot.errors[0], discord.NotFound)


async def test_gateway_drop_mid_stream_resumes(fake: FakeDiscord) -> None:
    user, guild = await _world(fake)
    bot = MiniBot()
    resumed = asyncio.Event()

    async def on_resumed() -> None:
        resumed.set()

    bot.add_listener(on_resumed, "on_resumed")
    async with running_client(fake, bot):
        bot.pause.clear()
        first = await fake.run_command(user=user, guild=guild, name="poem", options={"lines": 2})
        await first.wait_for(lambda t: len(t.events) >= 2, timeout=10)
        dropped = await fake.gateway.drop(mode="abort")
        assert dropped == 1
        # dispatched while the client is away: buffered, replayed on RESUME
        second = await fake.run_command(
            user=user, guild=guild, name="poem", options={"first_line": "After"}
        )
        bot.pause.set()  # REST does not depend on the gateway: the first reply completes
        await first.wait_final(settle_s=0.2, timeout=10)
        await fake.gateway.wait_resumed(1, timeout=15)
        await asyncio.wait_for(resumed.wait(), 5)
        await second.wait_final(settle_s=0.3, timeout=10)
        assert bot.is_ready() and not bot.is_closed()
    assert fake.gateway.identifies == 1 and fake.gateway.resumes == 1
    connects = [d for (_, what, d) in fake.recorder.gateway_events if what == "connect"]
    assert connects[-1]["path"] == "/resume"  # used READY's resume_gateway_url
    assert first.final_text == "The sea\nline 1"
    assert second.final_text == "After\nline 1"
    assert len(fake.recorder.by_route("callback")) == 2  # nothing answered twice


async def test_gateway_close_4000_and_reconnect_opcode_resume(fake: FakeDiscord) -> None:
    user, guild = await _world(fake)
    bot = MiniBot()
    async with running_client(fake, bot):
        await fake.gateway.drop(mode="close", code=4000)
        await fake.gateway.wait_resumed(1, timeout=15)
        await fake.gateway.send_reconnect()
        await fake.gateway.wait_resumed(2, timeout=15)
        trace = await fake.run_command(user=user, guild=guild, name="poem")
        await trace.wait_final(settle_s=0.2, timeout=10)
    assert fake.gateway.identifies == 1
    assert trace.final_text == "The sea\nline 1"


async def test_invalid_session_forces_new_identify(fake: FakeDiscord) -> None:
    user, guild = await _world(fake)
    bot = MiniBot()
    async with running_client(fake, bot):
        fake.gateway.refuse_resume = True
        await fake.gateway.drop(mode="abort")
        # discord.py waits 5 s before a non-initial IDENTIFY
        await fake.gateway.wait_ready(timeout=20, identifies=2)
        trace = await fake.run_command(user=user, guild=guild, name="poem")
        await trace.wait_final(settle_s=0.2, timeout=10)
    assert len(fake.gateway.sessions) == 2
    assert trace.final_text == "The sea\nline 1"


async def test_rate_limited_edit_is_retried_without_duplicates(fake: FakeDiscord) -> None:
    user, guild = await _world(fake)
    fault = fake.faults.rate_limit("edit_original", times=2, retry_after=0.3)
    bot = MiniBot()
    async with running_client(fake, bot):
        t0 = time.monotonic()
        trace = await fake.run_command(user=user, guild=guild, name="poem")
        await trace.wait_final(settle_s=0.3, timeout=15)
    assert fault.hits == 2
    edits = [r for r in trace.requests if r.route == "edit_original"]
    assert [r.status for r in edits] == [429, 429, 200, 200]
    assert edits[0].response["retry_after"] == 0.3
    # the client waited retry_after between tries
    assert edits[1].t - edits[0].t >= 0.28 and edits[2].t - edits[1].t >= 0.28
    assert [e.kind for e in trace.events] == ["deferred", "edit_original", "edit_original"]
    assert trace.final_text == "The sea\nline 1"
    assert time.monotonic() - t0 < 10


async def test_server_error_on_callback_is_retried(fake: FakeDiscord) -> None:
    user, guild = await _world(fake)
    fake.faults.server_error("callback", times=1)
    bot = MiniBot()
    async with running_client(fake, bot):
        trace = await fake.run_command(user=user, guild=guild, name="poem")
        await trace.wait_final(settle_s=0.2, timeout=15)
    callbacks = [r.status for r in trace.requests if r.route == "callback"]
    assert callbacks == [500, 200]  # discord.py retries 5xx after 1 s: within the deadline
    assert trace.final_text == "The sea\nline 1"


async def test_slow_responses_delay_but_complete(fake: FakeDiscord) -> None:
    user, guild = await _world(fake)
    fake.faults.slow("edit_original", 0.4)
    bot = MiniBot()
    async with running_client(fake, bot):
        trace = await fake.run_command(user=user, guild=guild, name="poem")
        await trace.wait_final(settle_s=0.2, timeout=15)
    edits = [r for r in trace.requests if r.route == "edit_original"]
    assert all(r.t_end - r.t >= 0.38 for r in edits)
    assert trace.final_text == "The sea\nline 1"


async def test_bad_token_fails_login(fake: FakeDiscord) -> None:
    bot = MiniBot()
    with fake.patch_discord(), pytest.raises(discord.LoginFailure):
        await asyncio.wait_for(bot.start("not-the-token"), 10)
    await bot.close()
    assert fake.recorder.by_route("get_me")[0].status == 401


async def test_invalid_command_tree_is_rejected_on_sync(fake: FakeDiscord) -> None:
    bot = MiniBot()
    async with running_client(fake, bot):

        @bot.tree.command(name="opt", description="bad order")
        async def opt(interaction: discord.Interaction, a: str = "x") -> None:
            return None

        # Make it invalid the way a hand-written payload could: required after optional.
        payload = [c.to_dict(bot.tree) for c in bot.tree.get_commands()]
        payload[-1]["options"].append(
            {"name": "b", "description": "b", "type": 3, "required": True}
        )
        with pytest.raises(discord.HTTPException) as info:
            await bot.http.bulk_upsert_global_commands(bot.application_id, payload)  # type: ignore[arg-type]
    assert info.value.code == 50035


async def test_load_generator_against_minimal_bot(fake: FakeDiscord) -> None:
    """The fake and the load generator keep every interaction apart under concurrency."""
    from .loadgen import LoadPlan, build_world, run_load

    people, guilds = build_world(fake, users=20, guilds=4)
    plan = LoadPlan(
        interactions=120,
        users=20,
        guilds=4,
        burst_size=40,
        burst_gap_s=0.05,
        settle_s=0.3,
        total_timeout_s=40,
        commands={
            "poem": lambda rng: {"first_line": f"line {rng.randint(0, 10**6)}"},
            "quick": lambda rng: {},
        },
    )
    bot = MiniBot()
    async with running_client(fake, bot):
        await bot.tree.sync()
        # /quick needs a member: give every /quick the invoking user as "who"
        plan.commands["quick"] = lambda rng: {"who": people[rng.randrange(len(people))]}
        report = await run_load(fake, plan, people=people, guilds=guilds)
    assert len(report.traces) == 120
    assert report.unanswered == [] and report.double_acks == [] and report.errors == []
    for t in report.traces:
        if t.name == "poem":
            assert t.final_text == t.options["first_line"] + "\nline 1"
    p50, p95 = report.percentiles("time_to_final")
    assert 0 <= p50 <= p95 < 30
    assert "p95" in report.format(tokens=100)


async def test_blocked_event_loop_shows_in_heartbeat_gaps() -> None:
    """The heartbeat-gap check used by the load test can fail: a command that blocks the
    loop for 2 s delays the client's heartbeats."""
    async with FakeDiscord(heartbeat_interval_ms=300) as fake:
        user, guild = await _world(fake)
        bot = MiniBot()
        async with running_client(fake, bot):
            await asyncio.sleep(1.0)
            assert max(fake.recorder.heartbeat_gaps()) < 1.0
            t0 = time.monotonic()
            trace = await fake.run_command(
                user=user, guild=guild, name="block", options={"seconds": 2.0}
            )
            await trace.wait_final(settle_s=0.8, timeout=15)
        assert max(fake.recorder.heartbeat_gaps(since=t0 - 1.0)) > 1.5


async def test_wait_final_rechecks_the_done_rule_after_settling() -> None:
    """A reply that looks done for a moment (a full first page, no cursor) and then goes on
    streaming in a second message is not final, however long that message stalls."""
    from tests.fakediscord import FakeUser, InteractionTrace, MessageEvent
    from tests.fakediscord.payloads import FakeChannel

    def event(message_id: str, content: str) -> MessageEvent:
        return MessageEvent(time.monotonic(), "edit", message_id, "1", "9", content, [], 0, None)

    trace = InteractionTrace(
        "9",
        "token",
        "poem",
        {},
        FakeUser("1", "u"),
        None,
        FakeChannel("1", "c"),
        {},
        0.0,
        done=lambda t: not any(m.content.endswith("▌") for m in t.final_messages),
    )
    trace.set_callback(5, time.monotonic(), {})
    trace.add_event(event("1", "a full first page"))
    waiting = asyncio.create_task(trace.wait_final(settle_s=0.2, timeout=0.8))
    await asyncio.sleep(0.02)  # it sees a finished reply and starts settling...
    trace.add_event(event("2", "the second page ▌"))  # ...then the reply goes on, and stalls
    with pytest.raises(TimeoutError, match="never settled"):
        await waiting
    trace.add_event(event("2", "the second page, final"))
    assert await trace.wait_final(settle_s=0.05, timeout=5) is trace
