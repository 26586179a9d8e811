"""Train bigger candidates for the shipped models (on a GPU), and ship only what beats them.

    python -m training.candidates --device cuda [CONFIG.toml ...] [--jobs N] [--max-minutes M]
        [--models-dir exported_models] [--out runs/candidates] [--ship] [--TRAINER-FIELD VALUE]
    python -m training.candidates --speed-only     # on the 2-core serving machine

Each candidate is a full trainer config (by default every file in
``training/configs/candidates/``; ``python -m training.train`` runs one alone too). The shipped
model it competes with is the first part of its file name: ``lovecraft_2x768.toml`` against
``exported_models/lovecraft.json``, on the same split (refused otherwise). Every candidate runs
in its own process, ``--jobs`` at once on one GPU: train, export with the int8 copy
(``training.export``, quality-gated) and measure the fp32 export through onnxruntime on both
held-out texts, the config's random documents and the contiguous tail, as
``training.evaluate`` does; the shipped models are measured the same way in the same run. Then,
one model at a time, the int8 engine's single-stream tokens/s (``bench.engine``'s
``engine_run``, one ORT thread, best of ``--speed-rounds``).

The gate: a candidate ships only if its tail loss is at least ``--min-gain`` (0.03) nats/token
below the shipped model's and its int8 engine writes at least ``--min-tokens-per-s`` (1,000)
tokens/s single-stream. That speed is a promise about the 2-core serving machine; measured on
a GPU host it is only a first check, to be repeated there (``python -m bench.engine``).
``--ship`` exports the best passing candidate of each model over the shipped one; without it
the commands that would do so are printed. Figures: ``OUT/candidates.json``; logs:
``OUT/NAME.log``. ``--speed-only`` trains nothing: it measures the speed half of the gate on
the machine it runs on, with each candidate's shape and random weights.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import tomllib
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.engine import engine_run
from bot.engine.bundle import ModelBundle
from bot.engine.contract import ModelMetadata, load_metadata
from training.config import ConfigError, TrainConfig, load_config
from training.data import encode_documents
from training.eval_loss import heldout_loss, load_training_corpus
from training.evaluate import tail_loss
from training.export import export
from training.random_model import export_random_model
from training.settings import add_arguments, check_values, given, parse_given
from training.train import train

CANDIDATES = Path(__file__).parent / "configs" / "candidates"
MIN_GAIN = 0.03  # nats/token on the contiguous tail, against the shipped model
MIN_TOKENS_PER_S = 1000.0  # int8 engine, one request, on the 2-core serving machine
SPLIT_KEYS = ("corpus_kind", "validation_fraction", "split_seed", "tail_fraction")
SPEED_NOTE = "the int8 engine, one request of {tokens} tokens, 1 ORT thread, on {where}."


def machine() -> str:
    return f"this machine ({os.cpu_count()} CPUs, {platform.processor() or platform.machine()})"


@dataclass(frozen=True)
class Measured:
    """One exported model's figures (losses in nats/token, measured on the fp32 export)."""

    name: str
    json_path: str
    params: int
    random_docs: float
    tail: float | None  # None: trained without a contiguous tail
    int8: bool  # the export's quality gate accepted an int8 copy
    checkpoint: str = ""  # candidates only: the best checkpoint, to ship from


@dataclass(frozen=True)
class Gate:
    min_gain: float = MIN_GAIN
    min_tokens_per_s: float = MIN_TOKENS_PER_S

    def verdict(self, tail_gain: float | None, tokens_per_s: float | None) -> tuple[bool, str]:
        """(passes, why): every reason a candidate fails, or "ship"."""
        reasons = []
        if tail_gain is None:
            reasons.append("no contiguous tail to compare on")
        elif not tail_gain >= self.min_gain:
            reasons.append(f"tail gain {tail_gain:+.4f} < {self.min_gain:g}")
        if tokens_per_s is None:
            reasons.append("no int8 copy (the export's quality gate refused it)")
        elif not tokens_per_s >= self.min_tokens_per_s:
            reasons.append(f"int8 {tokens_per_s:,.0f} tokens/s < {self.min_tokens_per_s:,.0f}")
        return (not reasons, "; ".join(reasons) or "ship")


def shipped_name(config_path: Path) -> str:
    """The shipped model a candidate competes with: its file name up to the first '_'."""
    return config_path.stem.split("_", 1)[0]


def split_mismatch(candidate: ModelMetadata, shipped: ModelMetadata) -> str | None:
    """Why the two models' held-out texts differ, or None when they are the same."""
    if candidate.corpus.sha256 != shipped.corpus.sha256:
        return "a different corpus (sha256)"
    ours, theirs = candidate.training.config, shipped.training.config
    differ = [k for k in SPLIT_KEYS if ours.get(k) != theirs.get(k)]
    return f"a different split ({', '.join(differ)})" if differ else None


# ---------------------------------------------------------------------------------------------
# Work done in the worker processes


def measure(json_path: Path, checkpoint: str = "") -> Measured:
    """Held-out loss of an exported model on the random documents and the contiguous tail."""
    bundle = ModelBundle.load(json_path, threads=1)
    meta = bundle.meta
    corpus = load_training_corpus(bundle)
    rows = int(meta.training.config.get("eval_batch_size", 8))
    validation = encode_documents(corpus.validation, list(meta.vocab), meta.special_tokens)
    tail = tail_loss(bundle, corpus, rows, progress=False)
    return Measured(
        name=meta.name,
        json_path=str(json_path),
        params=meta.architecture.parameters,
        random_docs=heldout_loss(bundle, validation, rows, progress=False),
        tail=None if tail is None else tail.nats_per_token,
        int8="int8" in meta.quantized,
        checkpoint=checkpoint,
    )


def run_candidate(config_path: Path, overrides: dict[str, Any], out: Path) -> Measured:
    """Train, export with int8 and measure one candidate; its output goes to OUT/NAME.log."""
    name = config_path.stem
    log_path = out / f"{name}.log"
    with log_path.open("w", encoding="utf-8") as log, redirect_stdout(log), redirect_stderr(log):
        settings = {**overrides, "name": name, "out_dir": str(out / "runs"), "progress": False}
        try:
            best = train(load_config(config_path, settings))
        except ConfigError as exc:  # bad settings, or ones this machine cannot run
            raise RuntimeError(f"{exc} (log: {log_path})") from None
        export(best, name, out / "models", quantize="int8")
        return measure(out / "models" / f"{name}.json", checkpoint=str(best))


# ---------------------------------------------------------------------------------------------
# Speed, table, shipping


def int8_tokens_per_s(json_path: Path, tokens: int, rounds: int) -> float | None:
    """Best of ``rounds`` single-stream runs of the int8 engine (one ORT thread); None
    without an int8 copy. Other work only ever slows a run down, so the best is the least
    disturbed."""
    bundle = ModelBundle.load(json_path, threads=1, precision="int8")
    if bundle.precision != "int8":
        return None
    return max(asyncio.run(engine_run(bundle, 1, tokens))[0] for _ in range(rounds))


def table(rows: list[dict[str, Any]]) -> str:
    """The report: one line per shipped model (the reference) and per candidate."""

    def num(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    head = ("candidate", "params", "tail", "random docs", "vs shipped", "int8 tok/s", "verdict")
    lines = [head]
    for row in rows:
        lines.append(
            (
                row["label"],
                f"{row['params'] / 1e6:.2f} M" if row.get("params") else "-",
                num(row.get("tail"), ".4f"),
                num(row.get("random_docs"), ".4f"),
                num(row.get("tail_gain"), "+.4f"),
                num(row.get("tokens_per_s"), ",.0f"),
                row["verdict"],
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(head) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True))
        + "  "
        + line[-1]
        for line in lines
    )


def export_command(checkpoint: str, name: str, models_dir: Path) -> str:
    return (
        f"python -m training.export {checkpoint} --name {name} --out {models_dir} --quantize int8"
    )


def ship_or_print(rows: list[dict[str, Any]], models_dir: Path, ship: bool) -> list[str]:
    """For each shipped model, the passing candidate with the lowest tail loss: exported over
    the shipped one with ``ship``, else its command. Returns what was done or is to do."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("passes") and (
            row["against"] not in best or row["tail"] < best[row["against"]]["tail"]
        ):
            best[row["against"]] = row
    lines = []
    for name, row in sorted(best.items()):
        command = export_command(row["checkpoint"], name, models_dir)
        if ship:
            export(Path(row["checkpoint"]), name, models_dir, quantize="int8")
            lines.append(f"shipped {row['label']} as {name}: {command}")
        else:
            lines.append(f"to ship {row['label']} as {name}: {command}")
        lines.append(
            f"  then, on the 2-core serving machine: python -m bench.engine --model "
            f"{models_dir / f'{name}.json'} --int8-only --quick (int8 engine, 1 request >= "
            f"{MIN_TOKENS_PER_S:,.0f} tokens/s), and python -m training.evaluate --only {name}"
        )
    return lines or ["nothing passes the gate: the shipped models stay"]


# ---------------------------------------------------------------------------------------------
# The run


def collect(futures: dict[str, Future]) -> dict[str, Measured | str]:
    """Each job's figures, or the last line of its error (one failure stops no other job)."""
    results: dict[str, Measured | str] = {}
    for name, future in futures.items():
        try:
            results[name] = future.result()
        except Exception as exc:
            text = "".join(traceback.format_exception_only(exc)).strip().splitlines()
            results[name] = f"failed: {text[-1] if text else type(exc).__name__}"
    return results


def judge(
    configs: list[Path], results: dict[str, Measured | str], speeds: dict[str, float | None],
    gate: Gate,
) -> list[dict[str, Any]]:  # fmt: skip
    """Table rows: the shipped models first (the reference), then each candidate's verdict."""
    rows: list[dict[str, Any]] = []
    metas: dict[str, ModelMetadata] = {}
    for name in sorted({shipped_name(p) for p in configs}):
        shipped = results[f"shipped:{name}"]
        row: dict[str, Any] = {"label": f"{name} (shipped)", "against": name}
        if isinstance(shipped, str):
            rows.append({**row, "verdict": shipped})
            continue
        metas[name] = load_metadata(Path(shipped.json_path))
        rows.append({**row, **asdict(shipped), "tokens_per_s": speeds[f"shipped:{name}"],
                     "verdict": "reference"})  # fmt: skip
    reference = {r["against"]: r for r in rows if "tail" in r}
    for path in configs:
        name, against = path.stem, shipped_name(path)
        result = results[name]
        row = {"label": name, "against": against}
        if isinstance(result, str):
            rows.append({**row, "verdict": result})
            continue
        row.update(asdict(result), tokens_per_s=speeds[name])
        if against not in reference:
            rows.append({**row, "verdict": f"no shipped {against} to compare with"})
            continue
        mismatch = split_mismatch(load_metadata(Path(result.json_path)), metas[against])
        if mismatch:
            rows.append({**row, "verdict": f"not comparable: {mismatch}"})
            continue
        shipped_tail = reference[against]["tail"]
        gain = None if result.tail is None or shipped_tail is None else shipped_tail - result.tail
        passes, why = gate.verdict(gain, row["tokens_per_s"])
        rows.append({**row, "tail_gain": gain, "passes": passes, "verdict": why})
    return rows


def speed_only(configs: list[Path], args: argparse.Namespace) -> int:
    """The speed half of the gate, without training: each candidate's shape with random
    weights (a step costs the same whatever their values) beside the shipped models, one
    round of each in turn, best of ``--speed-rounds``. Run it on the serving machine."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = {f"{n} (shipped)": args.models_dir / f"{n}.json"
                 for n in sorted({shipped_name(p) for p in configs})}  # fmt: skip
        for path in configs:
            config = TrainConfig(**tomllib.loads(path.read_text("utf-8")))
            paths[path.stem] = export_random_model(
                Path(tmp), path.stem, layers=config.layers, hidden=config.hidden_size,
                emb=config.embedding_size, int8=True,
            )  # fmt: skip
        speeds: dict[str, list[float | None]] = {key: [] for key in paths}
        for _ in range(args.speed_rounds):
            for key, path in paths.items():
                speeds[key].append(int8_tokens_per_s(path, args.speed_tokens, 1))
        rows = []
        for key, path in paths.items():
            tokens_per_s = max((s for s in speeds[key] if s is not None), default=None)
            passes = tokens_per_s is not None and tokens_per_s >= args.min_tokens_per_s
            verdict = "reference" if key.endswith("(shipped)") else (
                "speed passes (loss not measured)" if passes
                else f"speed fails: below {args.min_tokens_per_s:,.0f} tokens/s"
            )  # fmt: skip
            params = load_metadata(path).architecture.parameters
            rows.append({"label": key, "params": params, "tokens_per_s": tokens_per_s,
                         "verdict": verdict})  # fmt: skip
    print(table(rows))
    print(f"int8 tok/s: {SPEED_NOTE.format(tokens=args.speed_tokens, where=machine())}")
    return 0


def run(configs: list[Path], overrides: dict[str, Any], args: argparse.Namespace) -> int:
    out, models_dir = args.out, args.models_dir
    out.mkdir(parents=True, exist_ok=True)
    spawn = multiprocessing.get_context("spawn")  # CUDA in the workers needs spawn
    with ProcessPoolExecutor(max_workers=args.jobs or len(configs), mp_context=spawn) as pool:
        futures: dict[str, Future] = {
            p.stem: pool.submit(run_candidate, p, overrides, out) for p in configs
        }
        for name in sorted({shipped_name(p) for p in configs}):
            futures[f"shipped:{name}"] = pool.submit(measure, models_dir / f"{name}.json")
        print(f"training {len(configs)} candidate(s); logs in {out}/NAME.log", flush=True)
        results = collect(futures)
    speeds = {  # one at a time, once every worker has finished
        key: int8_tokens_per_s(Path(r.json_path), args.speed_tokens, args.speed_rounds)
        if isinstance(r, Measured) and r.int8
        else None
        for key, r in results.items()
    }
    rows = judge(configs, results, speeds, Gate(args.min_gain, args.min_tokens_per_s))
    print(table(rows))
    print(
        f"int8 tok/s: {SPEED_NOTE.format(tokens=args.speed_tokens, where=machine())} The "
        f"gate's {args.min_tokens_per_s:,.0f} tokens/s is for the 2-core serving machine: "
        "where this host differs, re-measure there before serving (--speed-only, or "
        "bench.engine). Losses in nats/token, fp32 export."
    )
    for line in ship_or_print(rows, models_dir, args.ship):
        print(line)
    report = {"rows": rows, "gate": asdict(Gate(args.min_gain, args.min_tokens_per_s))}
    (out / "candidates.json").write_text(json.dumps(report, indent=1) + "\n", "utf-8")
    return 1 if any(r["verdict"].startswith(("failed", "not comparable")) for r in rows) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.candidates", description=__doc__)
    parser.add_argument("configs", type=Path, nargs="*", help=f"default: {CANDIDATES}/*.toml")
    parser.add_argument("--models-dir", type=Path, default=Path("exported_models"))
    parser.add_argument("--out", type=Path, default=Path("runs/candidates"))
    parser.add_argument("--jobs", type=int, default=0, help="candidates at once (0: all)")
    parser.add_argument("--speed-tokens", type=int, default=1000)
    parser.add_argument("--speed-rounds", type=int, default=3)
    parser.add_argument("--min-gain", type=float, default=MIN_GAIN)
    parser.add_argument("--min-tokens-per-s", type=float, default=MIN_TOKENS_PER_S)
    parser.add_argument("--ship", action="store_true", help="export what passes over the shipped")
    parser.add_argument(
        "--speed-only", action="store_true", help="no training: the speed half, random weights"
    )
    add_arguments(parser, TrainConfig, "settings for every candidate (over its file's)")
    args = parser.parse_args(argv)
    overrides = given(args, TrainConfig)  # --device cuda, --max-minutes 5, ...
    parsed, problems = parse_given(TrainConfig, overrides)
    problems += check_values(TrainConfig, parsed)[1]
    if problems:
        parser.error("; ".join(problems))
    for fixed in ("name", "out_dir"):
        if fixed in overrides:
            parser.error(f"--{fixed.replace('_', '-')} is set per candidate (see --out)")
    configs = args.configs or sorted(CANDIDATES.glob("*.toml"))
    if not configs:
        parser.error("no candidate configs")
    return speed_only(configs, args) if args.speed_only else run(configs, overrides, args)


if __name__ == "__main__":
    sys.exit(main())
