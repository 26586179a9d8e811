"""How a shutdown spends its time: one budget, split into the waits that make it up.

On SIGINT/SIGTERM the bot stops taking requests, then in this order: in-flight generations
get ``grace_s`` to finish; those still running are stopped and get ``stop_s`` to close their
replies with a note; any request still open then has its row logged as cancelled and its
task cancelled, so nothing needs the HTTP session when it goes away; the gateway, the HTTP
session and the engine get ``close_s``; the request log gets ``log_close_s`` for its last
writes (``log_tries`` tries of ``busy_timeout_s`` each, with the writer's pauses), then
counts and reports what it could not write. ``total_s`` is when the exit deadline fires.
With Docker's image setting (``BOT_SHUTDOWN_GRACE=3``) the total is 9 s, inside the 10 s
``docker stop`` waits before it kills the process.
"""

from __future__ import annotations

from dataclasses import dataclass

STOP_S = 3.0  # stopped replies: one last edit each ("Stopped early")
CLOSE_S = 0.5  # gateway, HTTP session, engine threads
BUSY_TIMEOUT_S = 1.0  # SQLite's busy timeout for the request log's writes
LOG_TRIES = 2  # write attempts the request log makes while closing
LOG_PAUSE_S = 0.25  # room for the writer's pauses between attempts, per attempt


class ShutdownOverrun(Exception):
    """A request still open when the shutdown's time for closing replies ran out."""


@dataclass(frozen=True)
class ShutdownBudget:
    grace_s: float
    stop_s: float = STOP_S
    close_s: float = CLOSE_S
    busy_timeout_s: float = BUSY_TIMEOUT_S
    log_tries: int = LOG_TRIES

    @property
    def log_close_s(self) -> float:
        return self.log_tries * (self.busy_timeout_s + LOG_PAUSE_S)

    @property
    def total_s(self) -> float:
        return self.grace_s + self.stop_s + self.close_s + self.log_close_s
