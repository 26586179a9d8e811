"""The request log's privacy invariants over random sequences of steps (a short, derandomized
run; ``python -m bench.invariants --examples 5000`` is the long one). See
``tests/e2e/invariants.py`` for the steps and the invariants."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from bot.storage.backend import POSTGRESQL
from tests.pg import PgServer
from tests.storage_db import BACKENDS

from .invariants import machine_for

pytestmark = pytest.mark.timeout(180)

SHORT = settings(
    max_examples=10,
    stateful_step_count=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(params=BACKENDS)
def pg(request: pytest.FixtureRequest) -> PgServer | None:
    """None: the log is a SQLite file; else the PostgreSQL server it is a database on."""
    return request.getfixturevalue("pg_server") if request.param == POSTGRESQL else None


def test_privacy_invariants_hold_over_random_sequences(
    tiny_models_dir: Path, pg: PgServer | None
) -> None:
    run_state_machine_as_test(machine_for(tiny_models_dir, pg), settings=SHORT)


def test_a_known_sequence_through_the_same_machine(
    tiny_models_dir: Path, pg: PgServer | None
) -> None:
    """The steps the random run may miss, in one fixed order: B rerolls A's reply, C
    continues B's; A forgets while a generation of theirs runs; a shutdown with slow edits
    and a locked database; /stats in each place and /server-stats; B forgets; C forgets
    across a restart; prune.
    Every invariant after each step."""
    machine = machine_for(tiny_models_dir, pg)()

    def check() -> None:
        machine.one_row_each()
        machine.forgotten_and_metadata_leave_no_text()
        machine.files_are_private()

    try:
        machine.start("full")
        asked = machine.lovecraft(0, place=0)
        check()
        rerolled = machine.reroll(asked, 1)
        check()
        machine.continue_(rerolled, 2)
        check()
        machine.forget_me(0, confirm=True, running=True)
        check()
        machine.restart_while_running(1, slow=True, locked=True)
        check()
        machine.poem(2, place=1)  # rows in the other server and in a DM
        machine.story(2, place=2)
        for place in (0, 1, 2):
            machine.stats(2, place=place)
        machine.server_stats(2, place=0, manager=True)
        machine.server_stats(1, place=1, manager=False)
        machine.forget_me(1, confirm=True, running=False)
        check()
        machine.lovecraft(2, place=2)
        machine.forget_across_restart(2, confirm=True)  # the answer after a restart
        check()
        machine.prune()
        check()
        assert machine.counts["pressed Reroll"] == machine.counts["pressed Continue"] == 1
    finally:
        machine.teardown()
