"""Many generated guilds for scaling benchmarks (``FakeDiscord.bulk_guilds``).

Sizes are drawn once from seeded distributions (:class:`GuildSizes`); a guild is kept as five
integers, and its GUILD_CREATE body is built when a shard IDENTIFYs, sent, and dropped (not
kept for RESUME replay), so a 150,000-guild world costs the fake tens of MB, not gigabytes.

What the bot is sent is what Discord sends a bot with only the GUILDS intent: channels
(categories, text and voice, with permission overwrites), roles, custom emojis, and in
``members`` only the bot itself (member lists need the privileged intents); the drawn member
count is ``member_count``, and ``large`` is set past discord.py's ``large_threshold`` (250).
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass
from typing import Any

from .payloads import (
    GUILD_TEXT,
    FakeChannel,
    FakeGuild,
    FakeRole,
    FakeUser,
    guild_create_payload,
    member_payload,
)

GUILD_VOICE = 2
GUILD_CATEGORY = 4
MAX_CHANNELS = 500  # Discord's limits per guild
MAX_ROLES = 250
MAX_EMOJIS = 250
LARGE_THRESHOLD = 250  # what discord.py sends in IDENTIFY
# low 12 bits of a guild's id (the snowflake's increment) number its channels, roles, emojis
_ROLE_BASE, _EMOJI_BASE = 1 + MAX_CHANNELS, 1 + MAX_CHANNELS + MAX_ROLES
_ID_SPAN_MS = 8 * 365 * 86_400_000  # guild ids spread over eight years of Discord time
_ID_START_MS = 31_536_000_000  # from 2016


@dataclass(frozen=True)
class GuildSizes:
    """Lognormal sizes, given as median and sigma (of the log); clipped to Discord's limits.

    ``emoji_share`` of the guilds have custom emojis (lognormal among those); channels are
    one category per ``channels_per_category`` channels, ``voice_share`` voice, the rest text,
    each with Poisson(``overwrites_mean``) role overwrites."""

    channels_median: float = 20.0
    channels_sigma: float = 0.8
    roles_median: float = 15.0
    roles_sigma: float = 0.9
    members_median: float = 120.0
    members_sigma: float = 1.6
    emoji_share: float = 0.6
    emojis_median: float = 12.0
    emojis_sigma: float = 1.0
    channels_per_category: int = 6
    voice_share: float = 0.25
    overwrites_mean: float = 1.5


@dataclass(frozen=True)
class GuildSpec:
    ms: int  # the id's timestamp part: the shard is ms % shard_count, as Discord routes
    channels: int
    roles: int  # besides @everyone
    emojis: int
    members: int

    @property
    def id(self) -> int:
        return self.ms << 22


def _lognormal(rng: random.Random, median: float, sigma: float, lo: int, hi: int) -> int:
    return max(lo, min(hi, round(rng.lognormvariate(math.log(median), sigma))))


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class BulkGuilds:
    """``count`` guilds with sizes drawn from ``sizes`` by ``random.Random(seed)``."""

    def __init__(self, count: int, *, seed: int = 0, sizes: GuildSizes | None = None) -> None:
        self.seed = seed
        self.sizes = s = sizes or GuildSizes()
        rng = random.Random(seed)
        stamps = rng.sample(range(_ID_START_MS, _ID_START_MS + _ID_SPAN_MS), count)
        self.specs = [
            GuildSpec(
                ms=ms,
                channels=_lognormal(rng, s.channels_median, s.channels_sigma, 1, MAX_CHANNELS),
                roles=_lognormal(rng, s.roles_median, s.roles_sigma, 0, MAX_ROLES),
                emojis=_lognormal(rng, s.emojis_median, s.emojis_sigma, 1, MAX_EMOJIS)
                if rng.random() < s.emoji_share
                else 0,
                members=_lognormal(rng, s.members_median, s.members_sigma, 2, 500_000),
            )
            for ms in stamps
        ]

    def __len__(self) -> int:
        return len(self.specs)

    def for_shard(self, shard: tuple[int, int]) -> list[GuildSpec]:
        shard_id, shard_count = shard
        return [g for g in self.specs if g.ms % shard_count == shard_id]

    def summary(self) -> dict[str, dict[str, float]]:
        """Median, p95, p99 and max of each size, and the total (for the benchmark's report)."""
        out: dict[str, dict[str, float]] = {}
        for name in ("channels", "roles", "emojis", "members"):
            values = sorted(getattr(g, name) for g in self.specs)
            n = len(values)
            out[name] = {
                "median": statistics.median(values),
                "p95": values[min(n - 1, int(n * 0.95))],
                "p99": values[min(n - 1, int(n * 0.99))],
                "max": values[-1],
                "total": sum(values),
            }
        return out

    def payload(self, spec: GuildSpec, bot_user: FakeUser) -> dict[str, Any]:
        """The GUILD_CREATE body of one guild (the same for the same seed and spec)."""
        s = self.sizes
        gid = spec.id
        rng = random.Random(spec.ms ^ self.seed)
        roles = [
            FakeRole(id=str(gid + _ROLE_BASE + i), name=f"role-{i}", guild_id=str(gid))
            for i in range(spec.roles)
        ]
        guild = FakeGuild(id=str(gid), name=f"Guild {gid}", roles=roles)
        guild.channels = [FakeChannel(id=str(gid + 1), name="general", guild_id=str(gid))]
        data = guild_create_payload(guild, bot_user)
        channels: list[dict[str, Any]] = []
        category: str | None = None
        for i in range(spec.channels):
            cid = str(gid + 1 + i)
            overwrites = [
                {"id": r.id, "type": 0, "allow": "1024", "deny": "2048"}
                for r in rng.sample(roles, min(len(roles), _poisson(rng, s.overwrites_mean)))
            ]
            if i % s.channels_per_category == 0 and i + 1 < spec.channels:
                category = cid
                channels.append(_category(cid, str(gid), i, overwrites))
                continue
            ch = FakeChannel(id=cid, name=f"channel-{i}", guild_id=str(gid)).to_payload()
            ch.update(position=i, parent_id=category, permission_overwrites=overwrites)
            if rng.random() < s.voice_share:
                ch.update(type=GUILD_VOICE, bitrate=64000, user_limit=0, rtc_region=None)
                ch.update(video_quality_mode=1)
                ch.pop("topic")
            channels.append(ch)
        data["channels"] = channels
        data["system_channel_id"] = next(
            (c["id"] for c in channels if c["type"] == GUILD_TEXT), None
        )
        data["emojis"] = [
            {
                "id": str(gid + _EMOJI_BASE + i),
                "name": f"emoji_{i}",
                "roles": [],
                "require_colons": True,
                "managed": False,
                "animated": rng.random() < 0.2,
                "available": True,
            }
            for i in range(spec.emojis)
        ]
        data["members"] = [member_payload(bot_user)]
        data["member_count"] = spec.members
        data["large"] = spec.members > LARGE_THRESHOLD
        return data


def _category(cid: str, gid: str, position: int, overwrites: list[Any]) -> dict[str, Any]:
    return {
        "id": cid,
        "type": GUILD_CATEGORY,
        "name": f"category-{position}",
        "guild_id": gid,
        "position": position,
        "permission_overwrites": overwrites,
        "nsfw": False,
        "parent_id": None,
        "flags": 0,
    }


def fake_guild(spec: GuildSpec, members: list[FakeUser]) -> FakeGuild:
    """A driveable guild (``run_command``) with the spec's id, text channels and roles; put
    in ``fake.guilds`` it is sent from there (with ``members``), not from the bulk."""
    gid = str(spec.id)
    return FakeGuild(
        id=gid,
        name=f"Guild {gid}",
        channels=[
            FakeChannel(id=str(spec.id + 1 + i), name=f"channel-{i}", guild_id=gid)
            for i in range(spec.channels)
        ],
        roles=[
            FakeRole(id=str(spec.id + _ROLE_BASE + i), name=f"role-{i}", guild_id=gid)
            for i in range(spec.roles)
        ],
        members=list(members),
    )
