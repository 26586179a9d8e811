"""The limiter: cooldown windows, one generation per user, per-guild concurrency, shutdown."""

from __future__ import annotations

import pytest

from bot.discord.limits import (
    CooldownActive,
    GuildBusy,
    Limiter,
    UserBusy,
)
from tests.helpers import Clock


def make(rate: int = 2, per: float = 10.0, guild: int = 2) -> tuple[Limiter, Clock]:
    clock = Clock()
    return Limiter(rate=rate, per=per, guild_concurrency=guild, clock=clock), clock


def test_cooldown_is_a_sliding_window() -> None:
    limiter, clock = make(rate=2, per=10)
    limiter.acquire(1, None).release()
    clock.now += 4
    limiter.acquire(1, None).release()
    clock.now += 1
    with pytest.raises(CooldownActive) as refused:
        limiter.acquire(1, None)
    assert refused.value.retry_after == pytest.approx(5.0)
    assert "try again in 5 s" in str(refused.value)
    limiter.acquire(2, None).release()  # other users are unaffected
    clock.now += 5  # the first use leaves the window
    limiter.acquire(1, None).release()
    with pytest.raises(CooldownActive):
        limiter.acquire(1, None)


def test_rate_zero_disables_the_cooldown() -> None:
    limiter, _ = make(rate=0)
    for _ in range(100):
        limiter.acquire(1, 5).release()


def test_one_generation_per_user_and_refusals_cost_nothing() -> None:
    limiter, _ = make(rate=2)
    lease = limiter.acquire(1, 7)
    with pytest.raises(UserBusy):
        limiter.acquire(1, 8)  # even in another guild or a DM
    with pytest.raises(UserBusy):
        limiter.acquire(1, None)
    lease.release()
    lease.release()  # idempotent: must not free someone else's slot
    limiter.acquire(1, 7).release()  # the refused attempts did not use the second slot


def test_guild_concurrency_and_dms() -> None:
    limiter, _ = make(rate=0, guild=2)
    a, b = limiter.acquire(1, 50), limiter.acquire(2, 50)
    with pytest.raises(GuildBusy):
        limiter.acquire(3, 50)
    limiter.acquire(3, 51).release()  # another guild
    limiter.acquire(3, None).release()  # a DM has no guild limit
    assert limiter.active == 2
    with a:
        pass
    limiter.acquire(3, 50).release()
    b.release()
    assert limiter.active == 0


def test_unlimited_guild_concurrency() -> None:
    limiter, _ = make(rate=0, guild=0)
    leases = [limiter.acquire(user, 50) for user in range(20)]
    assert limiter.active == 20
    for lease in leases:
        lease.release()


def test_forgotten_users_are_swept() -> None:
    limiter, clock = make(rate=1, per=10)
    for user in range(100):
        limiter.acquire(user, None).release()
    clock.now += 11
    limiter.acquire(1000, None).release()
    assert set(limiter._uses) == {1000}


def test_a_double_release_never_frees_another_users_guild_slot() -> None:
    """serve() releases each lease twice (before the final edit and on the way out): a
    release that is not idempotent would let this guild run 3 generations with a limit of 2."""
    limiter, _ = make(rate=0, guild=2)
    bob = limiter.acquire(2, 50)  # bob's long generation keeps running throughout
    alice = limiter.acquire(1, 50)
    alice.release()
    alice.release()
    carol = limiter.acquire(3, 50)
    with pytest.raises(GuildBusy):
        limiter.acquire(4, 50)  # bob and carol are running: the guild is full
    assert limiter.active == 2
    for lease in (bob, carol):
        lease.release()


def test_refund_gives_back_the_cooldown_use_only() -> None:
    limiter, clock = make(rate=1, per=30)
    lease = limiter.acquire(1, 50)
    lease.refund()  # e.g. the engine was busy: the request did not count
    with pytest.raises(UserBusy):
        limiter.acquire(1, 50)  # still running until released
    lease.release()
    lease.refund()  # twice is harmless
    clock.now += 1
    used = limiter.acquire(1, 50)
    used.release()
    with pytest.raises(CooldownActive):
        limiter.acquire(1, 50)  # the accepted request did count
