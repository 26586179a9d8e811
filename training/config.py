"""Training configuration: every trainer setting declared once, in ``TrainConfig``.

A run's settings are the defaults, then a TOML file per model (training/configs/), then the
command line (one ``--flag`` per setting, listed with help, default and range by
``python -m training.train --help``). ``load_config`` reports every bad setting at once as
one ``ConfigError``; building a ``TrainConfig`` in code checks the same way.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bot.engine.kinds import CorpusKind, Level
from bot.setting import ConfigError
from training.data import CORPUS_KINDS, CorpusError
from training.settings import (
    add_arguments,
    check_values,
    given,
    markdown_table,
    parse_given,
    setting,
)

# Where a relative corpus_path is looked for, after the path as given (relative to the working
# directory): the corpora_root setting, then $LSTM_CORPORA_ROOT, then these defaults in order.
# `python -m training.corpora fetch` writes to ./corpora/ by default.
CORPORA_ROOT_ENV = "LSTM_CORPORA_ROOT"
DEFAULT_CORPORA_ROOTS = ("../shared/corpora", "corpora")
AMP_CHOICES = ("auto", "bf16", "fp16", "off")
BUDGET_CLOCKS = ("wall", "cpu")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """Every trainer setting: its default, one-line help and allowed values."""

    name: str = setting("model", "run name: checkpoints, samples and curves go to OUT_DIR/NAME")
    # data
    corpus_kind: str = setting(
        "prose", "how the corpus is read and tokenised (words: word level)", choices=CORPUS_KINDS
    )
    corpus_path: str = setting(
        "", "corpus file or folder (required); a relative path is also looked up under the "
        "corpora roots"
    )  # fmt: skip
    corpora_root: str = setting(
        "", f"corpora root tried first for a relative corpus_path; else ${CORPORA_ROOT_ENV}"
    )
    corpus_pattern: str = setting("*.txt", "which files of a corpus folder are read (glob)")
    validation_fraction: float = setting(
        0.1, "share of each style's documents held out (seeded by split_seed)", above=0, below=1
    )
    tail_fraction: float = setting(
        0.0, "share of the characters cut from the end (file order, per style) as a contiguous "
        "test tail, reported beside the random split and never trained on; 0 = none",
        at_least=0, below=1,
    )  # fmt: skip
    split_seed: int = setting(1234, "seed of the train/held-out document split", at_least=0)
    min_count: int = setting(
        1, "word level: words seen fewer times become the unknown token", at_least=1
    )
    # model
    embedding_size: int = setting(64, "token embedding width", at_least=1)
    hidden_size: int = setting(256, "LSTM hidden units per layer", at_least=1)
    layers: int = setting(2, "stacked LSTM layers", at_least=1)
    dropout: float = setting(0.1, "dropout between the LSTM layers", at_least=0, below=1)
    io_dropout: float = setting(
        0.0, "dropout on the embedding output and the LSTM output", at_least=0, below=1
    )
    weight_drop: float = setting(
        0.0, "DropConnect on the recurrent weights while training (AWD-LSTM)", at_least=0, below=1
    )
    init_from: str = setting(
        "", "start from a shipped model (exported_models/NAME.json): its vocabulary grows by the "
        "corpus's new tokens and its sizes replace embedding_size, hidden_size and layers"
    )  # fmt: skip
    # optimisation
    batch_size: int = setting(
        16, "parallel streams per step (global, split across DDP ranks)", at_least=1
    )
    seq_len: int = setting(
        128, "truncated BPTT length; the LSTM state is carried across batches", at_least=1
    )
    lr: float = setting(3e-3, "peak learning rate (AdamW)", above=0)
    min_lr_ratio: float = setting(
        0.05, "where the cosine decay ends, as a share of lr", at_least=0, at_most=1
    )
    weight_decay: float = setting(0.01, "AdamW weight decay", at_least=0)
    warmup_steps: int = setting(100, "linear learning-rate warmup steps", at_least=0)
    grad_clip: float = setting(1.0, "clip the gradients to this total norm", above=0)
    epochs: float = setting(
        10.0, "passes over the training split; the schedule spans them", above=0
    )
    max_minutes: float = setting(
        0.0, "stop (with a checkpoint) after this much budget_clock time, the decay spanning it; "
        "0 = no limit", at_least=0,
    )  # fmt: skip
    budget_clock: str = setting(
        "wall", "what max_minutes counts: wall time, or this process's cpu time (comparable "
        "runs on a shared machine; one thread per process)", choices=BUDGET_CLOCKS,
    )  # fmt: skip
    max_steps: int = setting(
        0, "stop (with a checkpoint) at this step, the schedule still spanning epochs; 0 = none",
        at_least=0,
    )  # fmt: skip
    # bookkeeping
    eval_every: int = setting(
        500, "steps between evaluations (one costs ~20 steps on a large held-out split)",
        at_least=1,
    )  # fmt: skip
    eval_batch_size: int = setting(8, "parallel streams when evaluating", at_least=1)
    seed: int = setting(1337, "seed of the weights, shuffling and samples", at_least=0)
    out_dir: str = setting("runs", "folder of the run folders")
    threads: int = setting(0, "CPU threads; 0 = all cores", at_least=0)
    device: str = setting("auto", "where to train: auto = CUDA if present", choices=DEVICES)
    amp: str = setting(
        "auto", "mixed precision: auto = on CUDA only (bf16 where supported, else fp16 with a "
        "gradient scaler); bf16 / fp16 force it on any device; off disables it",
        choices=AMP_CHOICES,
    )  # fmt: skip
    progress: bool = setting(True, "show a progress bar")

    def __post_init__(self) -> None:
        values, problems = check_values(TrainConfig, self.to_dict())
        if problems:
            raise ConfigError(problems)
        for name, value in values.items():  # ints given for float settings become floats
            setattr(self, name, value)

    @property
    def level(self) -> Level:
        return CorpusKind(self.corpus_kind).level

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"config file not found: {path}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None


def load_config(path: Path | None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults <- TOML file <- overrides, with every problem in one ConfigError.

    ``overrides`` are settings by name, typed or as command-line text (parsed by the setting's
    type); None means 'not given'. A relative corpus_path is resolved against the corpora
    roots (``resolve_corpus_path``).
    """
    from_file = read_toml(path) if path is not None else {}
    given = {name: value for name, value in (overrides or {}).items() if value is not None}
    parsed, problems = parse_given(TrainConfig, given)
    unparsed = given.keys() - parsed.keys()  # reported above; the file's value is not used
    values = {k: v for k, v in from_file.items() if k not in unparsed} | parsed
    where = {name: str(path) for name in from_file}
    where |= {name: "--" + name.replace("_", "-") for name in given}
    values, found = check_values(TrainConfig, values, where)
    problems += found
    corpus, root = values.get("corpus_path", ""), values.get("corpora_root", "")
    if corpus == "":
        problems.append("corpus_path is required (in the config file or --corpus-path)")
    elif isinstance(corpus, str) and isinstance(root, str) and corpus:
        try:
            values["corpus_path"] = str(resolve_corpus_path(corpus, root))
        except CorpusError as exc:
            problems.append(f"corpus_path: {exc}")
    if problems:
        raise ConfigError(problems)
    return TrainConfig(**values)


def command_line(
    argv: list[str] | None, description: str | None = None
) -> tuple[TrainConfig, bool]:
    """``python -m training.train``'s config and --resume; every bad setting in one ConfigError."""
    parser = argparse.ArgumentParser(
        prog="python -m training.train",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", type=Path, nargs="?", help="TOML config (training/configs/)")
    parser.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.*")
    add_arguments(parser, TrainConfig, "settings (each overrides the config file's)")
    args = parser.parse_args(argv)
    return load_config(args.config, given(args, TrainConfig)), args.resume


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


if __name__ == "__main__":  # the settings table of docs/TRAINING.md
    print(markdown_table(TrainConfig))
