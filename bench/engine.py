"""Engine benchmark: the serving engine against simpler ways of sampling from the same LSTM.

    .venv/bin/python -m bench.engine [--quick] [--model exported_models/lovecraft.json]
        [--profile]

For each model (the shipped lovecraft model if present, plus a random 2x256 char model):
tokens/s of one request through the engine, a bare ORT step loop, torch eager stateful
stepping, and the Keras-style re-feed of the last 50 / 300 tokens per sampled token; then
1, 8 and 32 concurrent requests (aggregate tokens/s, p50/p95 time per token), with ORT
thread spinning off (the engine default) and on; then the int8 copy (bare loop, 1 request,
32 concurrent) in the same run, so that the fp32/int8 ratios are measured side by side.
``--profile`` prints cProfile's view of one int8 engine request (worker thread and event
loop). torch is needed here only.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import platform
import pstats
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bot.engine.bundle import ModelBundle
from bot.engine.sampling import SamplingParams
from bot.engine.scheduler import Scheduler
from training.random_model import export_random_model

PARAMS = SamplingParams(temperature=1.0)


def bare_ort(bundle: ModelBundle, n: int) -> float:
    """tokens/s of the simplest possible stateful loop: one session.run per token."""
    rng = np.random.default_rng(0)
    session = bundle.session
    h, c = bundle.initial_state(1)
    token = np.array([[bundle.tokenizer.bos_id]], np.int64)
    start = time.perf_counter()
    for _ in range(n):
        logits, h, c = session.run(None, {"tokens": token, "h": h, "c": c})
        p = np.exp(logits[0] - logits[0].max())
        token[0, 0] = min(int(np.searchsorted(np.cumsum(p), rng.random() * p.sum())), p.size - 1)
    return n / (time.perf_counter() - start)


def refeed(bundle: ModelBundle, window: int, n: int) -> float:
    """tokens/s when every token re-reads the last ``window`` tokens from a zero state."""
    rng = np.random.default_rng(0)
    history = list(rng.integers(3, bundle.meta.vocab_size, size=window))
    h, c = bundle.initial_state(1)
    start = time.perf_counter()
    for _ in range(n):
        tokens = np.array([history[-window:]], np.int64)
        logits, _, _ = bundle.session.run(None, {"tokens": tokens, "h": h, "c": c})
        history.append(int(np.argmax(logits[0])))
    return n / (time.perf_counter() - start)


def torch_eager(bundle: ModelBundle, n: int) -> float:
    """tokens/s of a torch Embedding->LSTM->Linear of the same size, stepped statefully."""
    arch = bundle.meta.architecture
    vocab = bundle.meta.vocab_size
    emb = torch.nn.Embedding(vocab, arch.embedding_size)
    lstm = torch.nn.LSTM(arch.embedding_size, arch.hidden_size, arch.layers, batch_first=True)
    head = torch.nn.Linear(arch.hidden_size, vocab)
    state = (torch.zeros(arch.layers, 1, arch.hidden_size),) * 2
    token = torch.tensor([[1]])
    start = time.perf_counter()
    with torch.inference_mode():
        for _ in range(n):
            out, state = lstm(emb(token), state)
            probs = torch.softmax(head(out[:, -1]), dim=-1)
            token = torch.multinomial(probs, 1)
    return n / (time.perf_counter() - start)


async def engine_run(
    bundle: ModelBundle, requests: int, n: int, profile: cProfile.Profile | None = None
) -> tuple[float, float, float]:
    """(aggregate tokens/s, p50 ms/token, p95 ms/token) for ``requests`` concurrent requests.

    With ``profile``, the scheduler's worker thread runs under it."""
    scheduler = Scheduler(bundle, max_batch=max(32, requests))
    if profile is not None:
        work = scheduler._work
        scheduler._work = lambda: profile.runcall(work)  # type: ignore[method-assign]
    gaps: list[float] = []

    async def one(seed: int) -> None:
        last = time.perf_counter()
        stream = scheduler.submit([bundle.tokenizer.bos_id], params=PARAMS, seed=seed, max_tokens=n)
        async for _ in stream:
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    start = time.perf_counter()
    await asyncio.gather(*(one(s) for s in range(requests)))
    wall = time.perf_counter() - start
    await scheduler.aclose()
    p50, p95 = np.percentile(gaps, [50, 95]) * 1000
    return requests * n / wall, float(p50), float(p95)


def bench_model(
    json_path: Path, n: int, threads: int, *, int8_only: bool = False
) -> dict[str, float]:
    torch.set_num_threads(threads)
    bundle = ModelBundle.load(json_path, threads=threads)
    spinning = ModelBundle.load(json_path, threads=threads, spinning=True)
    int8 = ModelBundle.load(json_path, threads=threads, precision="int8")
    if int8_only:
        return side_by_side(bundle, int8, n)
    bare_ort(bundle, 50)  # warm-up
    fig: dict[str, float] = {}
    fig["bare ORT loop"] = bare_ort(bundle, n)
    fig["engine, 1 request"] = asyncio.run(engine_run(bundle, 1, n))[0]
    fig["torch eager stepping"] = torch_eager(bundle, n)
    fig["re-feed last 50"] = refeed(bundle, 50, max(20, n // 20))
    fig["re-feed last 300"] = refeed(bundle, 300, max(10, n // 50))
    for label, b in (("", bundle), (" spin", spinning)):
        for requests in (1, 8, 32):
            tps, p50, p95 = asyncio.run(engine_run(b, requests, n))
            fig[f"{requests:>2} concurrent{label}: tok/s"] = tps
            fig[f"{requests:>2} concurrent{label}: p50 ms"] = p50
            fig[f"{requests:>2} concurrent{label}: p95 ms"] = p95
    if int8.precision == "int8":
        fig.update(side_by_side(bundle, int8, n))
    return fig


def side_by_side(fp32: ModelBundle, int8: ModelBundle, n: int, rounds: int = 3) -> dict:
    """fp32 and int8 rows measured in alternation, best of ``rounds`` each: on a shared
    machine other work only ever slows a run down, so the best run is the least disturbed.
    Beside tokens/s (wall clock), tokens per CPU second of this process (both threads),
    which other processes disturb far less."""
    runs: dict[str, list[float]] = {}

    def timed(key: str, tokens: int, run) -> None:
        start = time.process_time()
        runs.setdefault(f"{key} (best of {rounds})", []).append(run())
        cpu = time.process_time() - start
        runs.setdefault(f"{key}, per CPU s (best of {rounds})", []).append(tokens / cpu)

    for _ in range(rounds):
        for label, b in (("fp32", fp32), ("int8", int8)):
            bare_ort(b, 20)
            timed(f"{label} bare ORT loop", n, lambda b=b: bare_ort(b, n))
            timed(f"{label} engine, 1 request", n, lambda b=b: asyncio.run(engine_run(b, 1, n))[0])
            timed(
                f"{label} 32 concurrent tok/s",
                32 * n,
                lambda b=b: asyncio.run(engine_run(b, 32, n))[0],
            )
    return {key: max(values) for key, values in runs.items()}


def profile_engine(json_path: Path, n: int, threads: int) -> str:
    """cProfile of one int8 engine request: the worker thread, then the event loop."""
    bundle = ModelBundle.load(json_path, threads=threads, precision="int8")
    worker, loop = cProfile.Profile(), cProfile.Profile()
    loop.runcall(asyncio.run, engine_run(bundle, 1, n, worker))
    out = io.StringIO()
    for label, profile in (("worker thread", worker), ("event loop", loop)):
        out.write(f"## {json_path.stem} ({bundle.precision}), {n} tokens: {label}\n")
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(14)
    return out.getvalue()


def int8_ratios(name: str, f: dict[str, float]) -> str:
    lines = []
    for unit in ("", ", per CPU s"):

        def row(label: str, what: str, unit: str = unit) -> float:
            return f[f"{label} {what}{unit} (best of 3)"]

        lines.append(
            f"  {name} int8/fp32 ({'tokens per CPU second' if unit else 'wall clock'}): "
            f"engine 1 request "
            f"{row('int8', 'engine, 1 request') / row('fp32', 'engine, 1 request'):.2f} (>= 3.5),"
            f" 32 concurrent "
            f"{row('int8', '32 concurrent tok/s') / row('fp32', '32 concurrent tok/s'):.2f} "
            f"(>= 1.5), bare loop {row('int8', 'bare ORT loop') / row('fp32', 'bare ORT loop'):.2f}"
            f"; bare/engine: fp32 "
            f"{row('fp32', 'bare ORT loop') / row('fp32', 'engine, 1 request'):.2f}, int8 "
            f"{row('int8', 'bare ORT loop') / row('int8', 'engine, 1 request'):.2f} (<= 1.15)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens (noisier figures)")
    parser.add_argument("--model", type=Path, default=Path("exported_models/lovecraft.json"))
    parser.add_argument("--threads", type=int, default=1, help="ORT/torch intra-op threads")
    parser.add_argument("--profile", action="store_true", help="cProfile one int8 request")
    parser.add_argument("--int8-only", action="store_true", help="only the fp32/int8 rows")
    args = parser.parse_args(argv)
    n = 200 if args.quick else 1000
    models: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.model.is_file():
            meta = ModelBundle.load(args.model).meta.architecture
            models[f"{args.model.stem} {meta.layers}x{meta.hidden_size}"] = args.model
        models["random 2x256"] = export_random_model(
            Path(tmp), "random", layers=2, hidden=256, emb=64, int8=True
        )
        if args.profile:
            for path in models.values():
                print(profile_engine(path, n, args.threads))
            return 0
        figures = {
            name: bench_model(path, n, args.threads, int8_only=args.int8_only)
            for name, path in models.items()
        }
    names = list(figures)
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"threads={args.threads}, {n} tokens per request"
    )
    print(f"{'':34}" + "".join(f"{name:>22}" for name in names))
    for key in figures[names[0]]:
        cells = (figures[name].get(key, float("nan")) for name in names)
        print(f"{key:34}" + "".join(f"{cell:>22.1f}" for cell in cells))
    print("ratios (goal):")
    for name in names:
        f = figures[name]
        if "bare ORT loop" not in f:  # --int8-only
            print(int8_ratios(name, f))
            continue
        print(
            f"  {name}: bare/engine {f['bare ORT loop'] / f['engine, 1 request']:.2f} (<= 1.2), "
            f"engine/torch {f['engine, 1 request'] / f['torch eager stepping']:.1f} (>= 5), "
            f"engine/re-feed50 {f['engine, 1 request'] / f['re-feed last 50']:.0f} (>= 30), "
            f"engine/re-feed300 {f['engine, 1 request'] / f['re-feed last 300']:.0f}, "
            f"32 vs 1 concurrent {f['32 concurrent: tok/s'] / f[' 1 concurrent: tok/s']:.1f} (>= 4)"
        )
        if "int8 engine, 1 request (best of 3)" in f:
            print(int8_ratios(name, f))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
