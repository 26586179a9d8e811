"""Mutation testing of the modules whose bugs hurt users most (docs/MUTATION.md).

    .venv/bin/python -m bench.mutation [--jobs 2] [--module bot/engine/sampling.py ...]
                                       [--keep] [--fail-under 85] [--tests]

Runs mutmut (configured in pyproject.toml ``[tool.mutmut]``) from the repository root: every
small change mutmut makes to those modules ("mutant") is run against the unit tests that cover
the changed function (the test files that import the module: bench/mutation_tests.py; ``--tests``
lists them), and should make one of them fail. Prints per module the score, killed /
(total - skipped), where a timeout counts as killed (the tests noticed the change), and the
names of the survivors (``mutmut show NAME`` prints a survivor's diff). Not part of CI: it
takes tens of minutes. The tiny test models are trained once here, not once per test session.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench.mutation_tests import configured_modules, tests_of

ROOT = Path(__file__).resolve().parent.parent
DETECTED = {"killed", "timeout", "segfault"}  # the tests failed, hung or crashed
MUTANT = re.compile(r"^\s*(?P<module>[\w.]+?)\.x[_ǁ]\S*__mutmut_\d+: (?P<status>.+)$")


def dotted(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def build_tiny_models(root: Path) -> Path:
    """The tests' tiny models, trained once (tests/conftest.py reuses $LSTM_TINY_MODELS)."""
    from tests.tiny_corpora import build_tiny_models as build

    return build(root)


# mutmut 3.8 prints these when the unmutated tests fail, then hangs instead of exiting
FAILED_SETUP = ("failed to collect stats", "Failed to run clean test")


def run_mutmut(modules: list[str], jobs: int, models: Path) -> None:
    """``mutmut run`` on ``modules``, its output passed through; SystemExit if it fails."""
    env = {**os.environ, "LSTM_TINY_MODELS": str(models), "OMP_NUM_THREADS": "1"}
    patterns = [f"{dotted(m)}.*" for m in modules]
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *patterns]
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE) as mutmut:
        assert mutmut.stdout is not None
        tail = b""
        while chunk := mutmut.stdout.read1(4096):
            sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            tail = (tail + chunk)[-4096:]
            if any(marker.encode() in tail for marker in FAILED_SETUP):
                mutmut.terminate()
                raise SystemExit("mutmut: the tests fail without any mutant (output above)")
    if mutmut.returncode:
        raise SystemExit(f"mutmut exited with status {mutmut.returncode}")


def collect_results() -> dict[str, dict[str, str]]:
    """{module: {mutant name: status}} from ``mutmut results --all true``."""
    listing = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    results: dict[str, dict[str, str]] = defaultdict(dict)
    for line in listing.splitlines():
        if match := MUTANT.match(line):
            name = line.strip().rpartition(": ")[0]
            results[match["module"]][name] = match["status"].strip()
    return results


def score(statuses: Counter[str]) -> float:
    counted = sum(statuses.values()) - statuses["skipped"]
    detected = sum(statuses[s] for s in DETECTED)
    return 100.0 * detected / counted if counted else 100.0


def report(modules: list[str], results: dict[str, dict[str, str]]) -> dict[str, float]:
    """Print the score table and the survivors; returns each module's score."""
    print(f"\n{'module':<28} {'mutants':>7} {'killed':>7} {'timeout':>7} {'other':>6} {'score':>7}")
    scores: dict[str, float] = {}
    for module in modules:
        statuses = Counter(results.get(dotted(module), {}).values())
        other = sum(n for s, n in statuses.items() if s not in {"killed", "timeout", "skipped"})
        scores[module] = score(statuses)
        print(
            f"{module:<28} {sum(statuses.values()):>7} {statuses['killed']:>7} "
            f"{statuses['timeout']:>7} {other:>6} {scores[module]:>6.1f}%"
        )
    for module in modules:
        left = sorted(
            (name, status)
            for name, status in results.get(dotted(module), {}).items()
            if status not in DETECTED | {"skipped"}
        )
        print(f"\n{module}: {len(left)} not killed")
        for name, status in left:
            print(f"  {name}  ({status})")
    return scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mutation", description=__doc__)
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    parser.add_argument(
        "--module", action="append", help="a configured file to mutate (default: all)"
    )
    parser.add_argument("--keep", action="store_true", help="reuse mutants/ from the last run")
    parser.add_argument("--fail-under", type=float, help="exit 1 if a module scores lower (%%)")
    parser.add_argument("--tests", action="store_true", help="list each module's tests, run none")
    args = parser.parse_args(argv)
    modules = configured_modules()
    chosen = args.module or modules
    unknown = sorted(set(chosen) - set(modules))
    if unknown:
        parser.error(f"not in [tool.mutmut] only_mutate: {', '.join(unknown)}")
    if args.tests:
        for module in chosen:
            print(module, *(path.relative_to(ROOT) for path in tests_of(module)), sep="\n  ")
        return 0
    if not args.keep:
        shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutation-models-") as tmp:
        models = build_tiny_models(Path(tmp))
        run_mutmut(chosen, args.jobs, models)
    print(f"\nmutmut ran {(time.monotonic() - start) / 60:.1f} min with {args.jobs} jobs")
    results = collect_results()
    scores = report(chosen, results)
    if args.fail_under is not None:
        low = [m for m in chosen if scores[m] < args.fail_under]
        if low:
            print(f"\nunder {args.fail_under:g}%: {', '.join(low)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
