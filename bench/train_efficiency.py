"""Training benchmark: the project's trainer against a plain truncated-BPTT loop, side by side.

    .venv/bin/python -m bench.train_efficiency --corpus ../shared/corpora/lovecraft \\
        --kind prose --minutes 10 [--hidden 384 --layers 2 --embedding 64] \\
        [--set dropout=0.1 --set batch_size=32 ...]   # trainer settings (TrainConfig fields)
    .venv/bin/python -m bench.train_efficiency --corpus ../shared/corpora/lovecraft --eval-cost

The corpus (char level: prose or poems) is cleaned once and cut in file order into a
training head and a contiguous held-out tail (``--tail``, a share of the characters). The
head is written to a temporary corpus; the trainer splits it as it always does (seeded,
``validation_fraction`` of the documents held out at random), and the plain loop trains on
exactly the trainer's training documents. Both then run at the same time for the same wall
minutes, one thread each (two cores), with the same architecture.

Both final models are scored here, by one function, on the same two held-out texts: the
trainer's random held-out documents and the tail. Each document is <start> chars <end> for
both, so the losses (nats per token = per character, plus one end token per document) are
directly comparable. The trainer is scored at its best checkpoint, the plain loop at its end.

The plain loop (``plain_loop``) shares no code with ``training/``: its own vocabulary,
batching, model and schedule (AdamW 3e-3, linear warmup then cosine over the time budget,
dropout only between the LSTM layers, sequences of 100, gradient clipping at 1).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

START, END, UNK = "\x02", "\x03", "\x00"  # the plain loop's document markers


# ---------------------------------------------------------------------------------------------
# Scoring: one function for both models


@torch.no_grad()
def heldout_nats(model: Any, docs: list[list[int]], rows: int = 8, seq: int = 128) -> float:
    """Mean next-token loss over the documents, each [start, ..., end], stateful as trained."""
    stream = torch.tensor([t for doc in docs for t in doc])
    n = len(stream) // rows * rows
    data = stream[:n].view(rows, -1)
    state, total, count = None, 0.0, 0
    for i in range(0, data.shape[1] - 1, seq):
        x, y = data[:, i : i + seq], data[:, i + 1 : i + 1 + seq]
        logits, state = model(x[:, : y.shape[1]], state)
        total += F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
        count += y.numel()
    return total / count


# ---------------------------------------------------------------------------------------------
# The plain loop (independent reference)


class PlainLSTM(nn.Module):
    def __init__(self, vocab: int, emb: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, layers, dropout=dropout, batch_first=True)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        h, state = self.lstm(self.emb(x), state)
        return self.out(h), state


def plain_loop(spec: dict[str, Any]) -> dict[str, Any]:
    torch.manual_seed(0)
    chars = sorted({c for text in spec["train"] for c in text})
    vocab = {c: i for i, c in enumerate([UNK, START, END, *chars])}

    def encode(text: str) -> list[int]:
        return [vocab[START], *(vocab.get(c, 0) for c in text), vocab[END]]

    batch, seq, budget = spec["plain_batch"], 100, spec["minutes"] * 60
    stream = torch.tensor([t for text in spec["train"] for t in encode(text)])
    data = stream[: len(stream) // batch * batch].view(batch, -1)
    model = PlainLSTM(len(vocab), spec["embedding"], spec["hidden"], spec["layers"], 0.1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    clock = time.process_time if spec["clock"] == "cpu" else time.monotonic
    warmup, step, pos, state, started = 100, 0, 0, None, clock()
    while (elapsed := clock() - started) < budget:
        cosine = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        scale = (step + 1) / warmup if step < warmup else cosine
        for group in opt.param_groups:
            group["lr"] = 3e-3 * scale
        if pos + seq + 1 > data.shape[1]:
            pos, state = 0, None
        x, y = data[:, pos : pos + seq], data[:, pos + 1 : pos + seq + 1]
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        pos, step = pos + seq, step + 1
    model.eval()
    return {
        "cpu_s": round(time.process_time(), 1),
        "steps": step,
        "tokens_seen": step * batch * seq,
        "heldout_random": heldout_nats(model, [encode(t) for t in spec["heldout"]]),
        "heldout_tail": heldout_nats(model, [encode(t) for t in spec["tail"]]),
    }


# ---------------------------------------------------------------------------------------------
# The project's trainer


def project_trainer(spec: dict[str, Any]) -> dict[str, Any]:
    from training.checkpoint import load
    from training.config import TrainConfig
    from training.models import build_model
    from training.train import train

    values = {
        "name": "trainer",
        "corpus_kind": spec["kind"],
        "corpus_path": spec["corpus"],
        "validation_fraction": spec["validation_fraction"],
        "embedding_size": spec["embedding"],
        "hidden_size": spec["hidden"],
        "layers": spec["layers"],
        "epochs": 1000.0,  # the time budget ends the run
        "max_minutes": spec["minutes"],
        "budget_clock": spec["clock"],
        "threads": 1,
        "progress": False,
        "out_dir": spec["out"],
        **spec["trainer_settings"],
    }
    config = TrainConfig(**values)
    saved = load(train(config))
    cpu_s = round(time.process_time(), 1)
    sizes = {"embedding_size": config.embedding_size, "hidden_size": config.hidden_size}
    model = build_model("char", vocab_size=len(saved.vocab), layers=config.layers, dropout=0.0,
                        **sizes)  # fmt: skip
    model.load_state_dict(saved.model)
    model.eval()
    index = {t: i for i, t in enumerate(saved.vocab)}
    special = saved.special_tokens

    def encode(text: str) -> list[int]:
        body = (index.get(c, index[special["unknown"]]) for c in text)
        return [index[special["bos"]], *body, index[special["eos"]]]

    last = saved.progress.history[-1]
    return {
        "cpu_s": cpu_s,
        "steps": saved.progress.step,
        "tokens_seen": saved.progress.tokens_seen,
        "own_heldout": saved.progress.best_validation,
        "evaluations": len(saved.progress.history),
        "tokens_per_s_last": last["tokens_per_s"],
        "heldout_random": heldout_nats(model, [encode(t) for t in spec["heldout"]]),
        "heldout_tail": heldout_nats(model, [encode(t) for t in spec["tail"]]),
    }


# ---------------------------------------------------------------------------------------------
# Evaluation cost


def evaluation_cost(args: argparse.Namespace) -> str:
    """CPU seconds of one trainer evaluation over the held-out split, in training steps."""
    from training.config import TrainConfig
    from training.dataset import prepare_data
    from training.eval_step import evaluate
    from training.models import build_model
    from training.runtime import Runtime
    from training.train import train_step

    settings = dict(parse_setting(s) for s in args.set)
    config = TrainConfig(corpus_kind=args.kind, corpus_path=str(args.corpus), threads=1,
                         hidden_size=args.hidden, layers=args.layers,
                         embedding_size=args.embedding, **settings)  # fmt: skip
    data = prepare_data(config)
    cpu = Runtime(torch.device("cpu"), None)
    model = build_model("char", vocab_size=len(data.vocab), embedding_size=args.embedding,
                        hidden_size=args.hidden, layers=args.layers, dropout=0.1)  # fmt: skip
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    batch = torch.randint(0, len(data.vocab), (config.batch_size, config.seq_len + 1))
    state = model.initial_state(config.batch_size)
    steps = 5
    for i in range(steps + 1):  # the first step warms up
        if i == 1:
            started = time.process_time()
        train_step(model, optimizer, scaler, batch[:, :-1], batch[:, 1:], state, config, cpu)
    step_s = (time.process_time() - started) / steps
    started = time.process_time()
    evaluate(model, data.validation, config, cpu)
    eval_s = time.process_time() - started
    share = eval_s / (eval_s + config.eval_every * step_s)
    return (
        f"train step ({config.batch_size}x{config.seq_len}): {step_s:.3f} CPU s; evaluate "
        f"({len(data.validation):,} tokens, batch {config.eval_batch_size}): {eval_s:.1f} CPU s "
        f"= {eval_s / step_s:.0f} steps; every {config.eval_every} steps: {share:.1%} of the time"
    )


# ---------------------------------------------------------------------------------------------
# Harness


def split_corpus(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Head/tail cut in file order, the head written as a corpus, the trainer's split of it."""
    from training.data import DOC_SEPARATOR, load_corpus, read_documents

    files = sorted(Path(args.corpus).glob("*.txt"))
    docs = [d.text for d in read_documents(args.kind, files, Counter())]
    total, kept, head = sum(map(len, docs)), 0, 0
    while head < len(docs) and kept + len(docs[head]) <= total * (1 - args.tail):
        kept += len(docs[head])
        head += 1
    corpus = work / "corpus"
    corpus.mkdir()
    if args.kind == "prose":
        for i, text in enumerate(docs[:head]):
            (corpus / f"{i:05d}.txt").write_text(text + "\n", "utf-8")
    else:
        body = "".join(f"{DOC_SEPARATOR}\n{text}\n" for text in docs[:head])
        (corpus / "poems.txt").write_text(body, "utf-8")
    split = load_corpus(args.kind, corpus, validation_fraction=args.validation_fraction, seed=1234)
    assert sorted(d.text for d in split.train + split.validation) == sorted(docs[:head])
    return {
        "kind": args.kind,
        "corpus": str(corpus),
        "validation_fraction": args.validation_fraction,
        "train": [d.text for d in split.train],
        "heldout": [d.text for d in split.validation],
        "tail": docs[head:],
        "minutes": args.minutes,
        "clock": args.clock,
        "embedding": args.embedding,
        "hidden": args.hidden,
        "layers": args.layers,
        "plain_batch": args.plain_batch,
        "trainer_settings": dict(parse_setting(s) for s in args.set),
        "out": str(work / "runs"),
    }


def parse_setting(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, {"true": True, "false": False}.get(value.lower(), value)


def run_side_by_side(spec: dict[str, Any], work: Path) -> dict[str, Any]:
    (work / "spec.json").write_text(json.dumps(spec), "utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = {}
    for worker in ("trainer", "plain"):
        log = (work / f"{worker}.log").open("w")
        cmd = [sys.executable, "-m", "bench.train_efficiency", "--worker", worker, str(work)]
        procs[worker] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    for worker, proc in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"{worker} failed; see {work / (worker + '.log')}")
    return {w: json.loads((work / f"{w}.json").read_text("utf-8")) for w in procs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.train_efficiency", description=__doc__)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--kind", choices=("prose", "poems"), default="prose")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="wall", help="what --minutes counts"
    )
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--embedding", type=int, default=64)
    parser.add_argument("--tail", type=float, default=0.05, help="share of characters held out")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--plain-batch", type=int, default=32)
    parser.add_argument("--set", action="append", default=[], help="trainer KEY=VALUE")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--eval-cost", action="store_true", help="only time one evaluation against train steps"
    )
    parser.add_argument("--worker", choices=("trainer", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("workdir", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.worker:
        spec = json.loads((args.workdir / "spec.json").read_text("utf-8"))
        result = (project_trainer if args.worker == "trainer" else plain_loop)(spec)
        (args.workdir / f"{args.worker}.json").write_text(json.dumps(result), "utf-8")
        return 0
    if args.corpus is None:
        parser.error("--corpus is required")
    if args.eval_cost:
        print(evaluation_cost(args))
        return 0
    with tempfile.TemporaryDirectory(prefix="train_efficiency.") as tmp:
        work = Path(tmp)
        spec = split_corpus(args, work)
        results = run_side_by_side(spec, work)
        log_tail = (work / "trainer.log").read_text("utf-8")[-1500:]
    sizes = {k: sum(map(len, spec[k])) for k in ("train", "heldout", "tail")}
    print(
        f"{args.corpus} ({args.kind}), {args.layers}x{args.hidden} char LSTM, {args.minutes:g} "
        f"{args.clock} min each, 1 thread each; chars: train {sizes['train']:,}, random held-out "
        f"{sizes['heldout']:,} ({len(spec['heldout'])} docs), tail {sizes['tail']:,} "
        f"({len(spec['tail'])} docs); trainer settings {spec['trainer_settings'] or 'defaults'}"
    )
    print(f"{'':10} {'cpu s':>6} {'steps':>7} {'tokens':>11} {'random docs':>12} {'tail':>8}")
    for name in ("trainer", "plain"):
        r = results[name]
        print(f"{name:10} {r['cpu_s']:>6.0f} {r['steps']:>7,} {r['tokens_seen']:>11,} "
              f"{r['heldout_random']:>12.4f} {r['heldout_tail']:>8.4f}")  # fmt: skip
    t, p = results["trainer"], results["plain"]
    gap_random = t["heldout_random"] - p["heldout_random"]
    gap_tail = t["heldout_tail"] - p["heldout_tail"]
    print(f"{'trainer - plain':>38} {gap_random:>+12.4f} {gap_tail:>+8.4f}  (< 0: trainer better)")
    if args.out:
        record = {"args": {k: str(v) for k, v in vars(args).items()}, "chars": sizes, **results}
        args.out.write_text(json.dumps(record, indent=1), "utf-8")
    print(f"trainer log (end):\n{log_tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
