"""Training configuration: a TOML file per model, every value overridable on the command line."""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from training.data import CorpusError, level_of

# Where a relative corpus_path is looked for, after the path as given (relative to the working
# directory): the corpora_root setting, then $LSTM_CORPORA_ROOT, then these defaults in order.
# `python -m training.corpora fetch` writes to ./corpora/ by default.
CORPORA_ROOT_ENV = "LSTM_CORPORA_ROOT"
DEFAULT_CORPORA_ROOTS = ("../shared/corpora", "corpora")


@dataclass
class TrainConfig:
    name: str = "model"
    # data
    corpus_kind: str = "prose"  # prose | poems | names | words
    corpus_path: str = ""  # relative paths are also looked up under the corpora roots
    corpora_root: str = ""  # tried first for a relative corpus_path; else $LSTM_CORPORA_ROOT
    corpus_pattern: str = "*.txt"
    validation_fraction: float = 0.1
    # share of the characters cut from the end (file order, per style) as a contiguous test
    # tail, reported beside the random split and never trained on; 0 = none
    tail_fraction: float = 0.0
    split_seed: int = 1234
    min_count: int = 1  # word level: rarer words become <unk>
    # model
    embedding_size: int = 64
    hidden_size: int = 256
    layers: int = 2
    dropout: float = 0.1  # between the LSTM layers
    io_dropout: float = 0.0  # on the embedding output and the LSTM output (docs/TRAINING.md)
    weight_drop: float = 0.0  # DropConnect on the recurrent weights while training (AWD-LSTM)
    # start from a shipped model's weights (exported_models/NAME.json); its vocabulary grows
    # by the corpus's new tokens and its sizes replace the three above
    init_from: str = ""
    # optimisation
    batch_size: int = 16  # parallel streams (global, split across DDP ranks); docs/TRAINING.md
    seq_len: int = 128  # truncated BPTT length; state is carried across batches
    lr: float = 3e-3
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    warmup_steps: int = 100
    grad_clip: float = 1.0
    epochs: float = 10.0
    max_minutes: float = 0.0  # stop (with a checkpoint) after this wall time; 0 = no limit
    # what max_minutes counts: "wall" time, or this process's "cpu" time (comparable runs on
    # a shared machine; one thread per process)
    budget_clock: str = "wall"
    max_steps: int = 0  # stop (with a checkpoint) at this step; the schedule still spans epochs
    # bookkeeping
    eval_every: int = 500  # one evaluation costs ~20 steps on a large held-out split
    eval_batch_size: int = 8
    seed: int = 1337
    out_dir: str = "runs"
    threads: int = 0  # CPU threads; 0 = all cores
    device: str = "auto"  # auto | cpu | cuda
    # Mixed precision: "auto" = on CUDA only (bf16 where supported, else fp16 with a gradient
    # scaler); "bf16" / "fp16" force it on any device (CPU autocast too); "off" disables it.
    amp: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("dropout", "io_dropout", "weight_drop"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise SystemExit(f"{name} must be in [0, 1); got {getattr(self, name)}")

    @property
    def level(self) -> str:
        return level_of(self.corpus_kind)

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--field`` flag per TrainConfig field, all defaulting to 'not given'."""
    group = parser.add_argument_group("config overrides")
    for f in fields(TrainConfig):
        kind = _parse_bool if f.type == "bool" else {"int": int, "float": float}.get(f.type, str)
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=None)


def load_config(path: Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """Defaults <- TOML file <- command-line overrides; unknown keys are an error."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = tomllib.loads(Path(path).read_text("utf-8"))
        except FileNotFoundError:
            raise SystemExit(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SystemExit(f"{path}: invalid TOML: {exc}") from None
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SystemExit(f"{path}: unknown config keys: {', '.join(unknown)}")
    values.update({k: v for k, v in overrides.items() if k in known and v is not None})
    config = TrainConfig(**values)
    if not config.corpus_path:
        raise SystemExit("corpus_path is required (in the config file or --corpus-path)")
    try:
        config.corpus_path = str(resolve_corpus_path(config.corpus_path, config.corpora_root))
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return config


def corpora_roots(setting: str = "") -> list[Path]:
    """The corpora roots in the order they are tried: setting, $LSTM_CORPORA_ROOT, defaults."""
    roots = [setting, os.environ.get(CORPORA_ROOT_ENV, ""), *DEFAULT_CORPORA_ROOTS]
    return [Path(root) for root in dict.fromkeys(r for r in roots if r)]


def resolve_corpus_path(corpus_path: str, corpora_root: str = "") -> Path:
    """The corpus as given if it exists, else the first corpora root that holds it.

    An absolute path is used as it is. Raises CorpusError listing every place tried.
    """
    given = Path(corpus_path)
    tried = (
        [given]
        if given.is_absolute()
        else [given, *(r / given for r in corpora_roots(corpora_root))]
    )
    for candidate in tried:
        if candidate.exists():
            return candidate
    places = "\n".join(f"  {place}" for place in tried)
    hint = (
        ""
        if given.is_absolute()
        else f"\nfetch the default corpora with `python -m training.corpora fetch all` "
        f"(into ./corpora/), or set {CORPORA_ROOT_ENV} / --corpora-root"
    )
    raise CorpusError(f"{corpus_path}: corpus path does not exist; tried:\n{places}{hint}")
