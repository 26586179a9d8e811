"""The limiter at its edges: what each refusal tells the user, guild slots counted one by one
as they free up, a cooldown use leaving the window exactly ``per`` seconds later, and no
state left behind by guilds and users that have gone quiet."""

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
