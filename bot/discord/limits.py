"""Who may start a generation now: per-user cooldowns, per-guild concurrency, one per user.

app_commands has a per-user cooldown check but no concurrency limit, and the three rules
must be decided together (a refused request must not use up a cooldown slot), hence this
small hand-made limiter. It runs on the event loop only, so it needs no locks.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from types import TracebackType


class Refused(Exception):
    """The request is turned away; ``str(exc)`` is the short message for the user."""


class CooldownActive(Refused):
    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"Slow down a little: try again in {max(1, round(retry_after))} s.")


class UserBusy(Refused):
    def __init__(self) -> None:
        super().__init__("You already have a generation running; wait for it to finish.")


class GuildBusy(Refused):
    def __init__(self) -> None:
        super().__init__("This server has too many generations running; try again shortly.")


class ShuttingDown(Refused):
    def __init__(self) -> None:
        super().__init__("The bot is restarting; try again in a minute.")


class Lease:
    """A running generation's slot; release it exactly once (``with lease:`` does)."""

    def __init__(
        self, limiter: Limiter, user_id: int, guild_id: int | None, used_at: float | None
    ) -> None:
        self._limiter = limiter
        self.user_id = user_id
        self.guild_id = guild_id
        self.used_at = used_at  # this lease's entry in the user's cooldown window, if any
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._limiter._release(self)

    def refund(self) -> None:
        """Give back this lease's cooldown use (the request was turned away after all)."""
        if self.used_at is not None:
            self._limiter._refund(self.user_id, self.used_at)
            self.used_at = None

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class Limiter:
    """``rate`` generations per ``per`` seconds per user (sliding window; rate 0 = no
    cooldown), at most ``guild_concurrency`` at once per guild (0 = no limit; DMs have no
    guild), and one at a time per user."""

    def __init__(
        self,
        *,
        rate: int,
        per: float,
        guild_concurrency: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.per = per
        self.guild_concurrency = guild_concurrency
        self._clock = clock
        self._uses: dict[int, deque[float]] = {}
        self._running_users: set[int] = set()
        self._running_guilds: defaultdict[int, int] = defaultdict(int)
        self._last_sweep = clock()

    @property
    def active(self) -> int:
        return len(self._running_users)

    def acquire(self, user_id: int, guild_id: int | None) -> Lease:
        """A lease for a new generation, or a :class:`Refused` subclass explaining why not."""
        if user_id in self._running_users:
            raise UserBusy
        if (
            guild_id is not None
            and self.guild_concurrency
            and self._running_guilds[guild_id] >= self.guild_concurrency
        ):
            raise GuildBusy
        now = self._clock()
        used_at = None
        if self.rate:
            self._sweep(now)
            uses = self._uses.setdefault(user_id, deque())
            while uses and uses[0] <= now - self.per:
                uses.popleft()
            if len(uses) >= self.rate:
                raise CooldownActive(uses[0] + self.per - now)
            uses.append(now)
            used_at = now
        self._running_users.add(user_id)
        if guild_id is not None:
            self._running_guilds[guild_id] += 1
        return Lease(self, user_id, guild_id, used_at)

    def _release(self, lease: Lease) -> None:
        self._running_users.discard(lease.user_id)
        if lease.guild_id is not None:
            self._running_guilds[lease.guild_id] -= 1
            if self._running_guilds[lease.guild_id] <= 0:
                del self._running_guilds[lease.guild_id]

    def _refund(self, user_id: int, used_at: float) -> None:
        uses = self._uses.get(user_id)
        if uses is not None and used_at in uses:
            uses.remove(used_at)

    def _sweep(self, now: float) -> None:
        """Forget users whose last use has left the window, at most once per window."""
        if now - self._last_sweep < self.per:
            return
        self._last_sweep = now
        for user, uses in list(self._uses.items()):
            if not uses or uses[-1] <= now - self.per:
                del self._uses[user]
