"""The last-resort exit deadline armed by ``python -m bot run`` on SIGINT/SIGTERM."""

from __future__ import annotations

import threading

from bot.discord.runner import arm_exit_deadline


def test_exits_with_status_1_when_the_deadline_passes() -> None:
    fired = threading.Event()
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        fired.set()

    timer = arm_exit_deadline(0.01, exit_now=fake_exit)
    assert timer.daemon  # never keeps the process alive itself
    assert fired.wait(30)
    assert codes == [1]
