"""The limiter: cooldown windows, one generation per user, per-guild concurrency, shutdown;
what each refusal tells the user, guild slots counted one by one as they free up, a cooldown
use leaving the window exactly ``per`` seconds later, and no state left behind by guilds and
users that have gone quiet."""

from __future__ import annotations

import pytest

from bot.discord.limits import (
    CooldownActive,
    GuildBusy,
    Limiter,
    Refused,
    ShuttingDown,
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


@pytest.mark.parametrize(
    ("refusal", "args", "message"),
    [
        (UserBusy, (), "You already have a generation running; wait for it to finish."),
        (GuildBusy, (), "This server has too many generations running; try again shortly."),
        (ShuttingDown, (), "The bot is restarting; try again in a minute."),
        (CooldownActive, (2.6,), "Slow down a little: try again in 3 s."),
        (CooldownActive, (0.2,), "Slow down a little: try again in 1 s."),  # never "0 s"
    ],
)
def test_each_refusal_tells_the_user_what_to_do(
    refusal: type[Refused], args: tuple, message: str
) -> None:
    assert str(refusal(*args)) == message


def test_a_guild_gets_back_exactly_the_slots_that_were_released() -> None:
    limiter = Limiter(rate=0, per=10, guild_concurrency=3, clock=Clock())
    leases = [limiter.acquire(user, 50) for user in (1, 2, 3)]
    leases[0].release()
    again = limiter.acquire(4, 50)  # one slot came back
    with pytest.raises(GuildBusy):
        limiter.acquire(5, 50)  # and only one
    for lease in (*leases[1:], again):
        lease.release()
    for user in (6, 7, 8):
        limiter.acquire(user, 50)  # all three are free again
    with pytest.raises(GuildBusy):
        limiter.acquire(9, 50)


def test_quiet_guilds_leave_nothing_behind() -> None:
    """The bot runs for months across many servers: a guild's count goes when it is 0."""
    limiter = Limiter(rate=0, per=10, guild_concurrency=2, clock=Clock())
    for guild in range(100):
        with limiter.acquire(1, guild):
            pass
    assert not limiter._running_guilds


def test_a_use_leaves_the_cooldown_window_exactly_per_seconds_later() -> None:
    clock = Clock()
    limiter = Limiter(rate=1, per=10, guild_concurrency=0, clock=clock)
    limiter.acquire(1, None).release()
    clock.now += 9.999
    with pytest.raises(CooldownActive):
        limiter.acquire(1, None)
    clock.now = 1010.0
    limiter.acquire(1, None).release()


def test_users_are_forgotten_once_their_last_use_is_per_seconds_old() -> None:
    clock = Clock()
    limiter = Limiter(rate=1, per=10, guild_concurrency=0, clock=clock)
    limiter.acquire(1, None).release()
    clock.now += 5
    limiter.acquire(2, None).release()
    clock.now = 1010.0  # user 1's use is exactly 10 s old, user 2's 5 s
    limiter.acquire(3, None).release()
    assert set(limiter._uses) == {2, 3}
    with pytest.raises(CooldownActive):
        limiter.acquire(2, None)  # a remembered user is still cooling down


def test_a_refund_after_the_users_window_was_swept_is_harmless() -> None:
    """A long generation turned away at its end: its user's uses were forgotten meanwhile."""
    clock = Clock()
    limiter = Limiter(rate=1, per=10, guild_concurrency=0, clock=clock)
    lease = limiter.acquire(1, None)
    clock.now += 11
    limiter.acquire(2, None).release()  # sweeps user 1's old use
    lease.refund()
    lease.release()
    limiter.acquire(1, None).release()
