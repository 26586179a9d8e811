"""The evaluation report: what ``training.evaluate`` measures of one exported model, typed.

``evaluate`` builds a :class:`Report` and writes it as ``OUT/NAME.json``; ``model_card`` reads
it back with :meth:`Report.load`. The JSON keeps the layout it has always had: a group marked
``flat`` writes its fields into its parent's object (a text row is ``{"temperature",
"samples", ...its statistics}``), and a field marked ``omit`` is left out while it is None
(the held-out text has no ``ended_share``; only poems have the poem shape). Fields that older
reports lack have defaults, so a card can still be written from them.
"""

from __future__ import annotations

import json
import math
import types
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

import numpy as np

from bot.engine.contract import Architecture, SamplingDefaults, TrainingFigures
from bot.engine.kinds import CorpusKind, Level

T = TypeVar("T")
Examples = dict[str, list[str]]  # temperature ("0.8") -> texts
StyleExamples = dict[str, dict[str, list[str]]]  # temperature -> style -> names


# Field metadata: a group whose fields sit in the parent's object (its value: the key that
# shows an optional group is there), and an optional value left out while it is None.
FLAT = {"flat": True}
OMIT = {"omit": True}


def flat_if(marker: str) -> dict[str, Any]:
    return {"flat": marker, "omit": True}


class ReportError(ValueError):
    """A report file that is unreadable or lacks a field."""


@dataclass(frozen=True, kw_only=True)
class Loss:
    """Held-out loss on the random held-out documents, through onnxruntime."""

    nats_per_token: float | None
    bits_per_token: float | None
    tokens: int
    rows: int
    documents: int
    training_reported_nats: float


@dataclass(frozen=True, kw_only=True)
class TailLoss:
    """Loss on the contiguous tail: text further from training than random documents."""

    nats_per_token: float | None
    bits_per_token: float | None
    tokens: int
    documents: int
    fraction: float


@dataclass(frozen=True, kw_only=True)
class Baseline:
    name: str
    nats_per_token: float | None
    bits_per_token: float | None


@dataclass(frozen=True, kw_only=True)
class Target:
    """One target, its measured value and whether it is met (None: not measured);
    ``human``: the same statistic of held-out human text, for context."""

    target: str
    value: float | None
    op: str
    threshold: float
    met: bool | None
    human: float | None = None


@dataclass(frozen=True, kw_only=True)
class ModelSummary:
    """The metadata figures the report keeps beside the measurements."""

    level: Level
    kind: CorpusKind
    vocab_size: int
    architecture: Architecture
    onnx_bytes: int
    training: TrainingFigures
    sampling: SamplingDefaults


# ---------------------------------------------------------------------------------------------
# Text models: prose, poems, stories


@dataclass(frozen=True, kw_only=True)
class PoemStats:
    mean_lines: float | None
    mean_stanzas: float | None
    mean_lines_per_stanza: float | None
    mean_words_per_line: float | None
    mean_chars_per_line: float | None
    copied_4gram_share: float | None


@dataclass(frozen=True, kw_only=True)
class TextStats:
    """Statistics of samples or of held-out text, against the training split."""

    words: int
    unknown_words: int
    real_word_rate: float | None
    letter_counts: list[int]
    word_length_counts: list[int]
    mean_word_length: float | None
    suffix_per_10k: dict[str, float | None]
    the_share: float | None
    mean_sentence_words: float | None
    letter_tv: float | None
    letter_js_bits: float | None
    word_length_tv: float | None
    # samples only; poems only; word level only (the seam and grammar: samples only)
    ended_share: float | None = field(default=None, metadata=OMIT)
    poem: PoemStats | None = field(default=None, metadata=flat_if("copied_4gram_share"))
    seam_bigram_seen: float | None = field(default=None, metadata=OMIT)
    bigram_seen_rate: float | None = field(default=None, metadata=OMIT)
    grammatical_continuations: float | None = field(default=None, metadata=OMIT)


@dataclass(frozen=True, kw_only=True)
class TextRow:
    """The samples at one temperature."""

    temperature: float
    samples: int
    stats: TextStats = field(metadata=FLAT)


@dataclass(frozen=True, kw_only=True)
class Prompts:
    """What the samples continue: ``words`` held-out words each (0: from the start)."""

    words: int
    max_tokens: int
    first: list[str]


@dataclass(frozen=True, kw_only=True)
class TextCounts:
    letter_counts: list[int]
    word_length_counts: list[int]


@dataclass(frozen=True, kw_only=True)
class TextResults:
    prompts: Prompts
    examples: Examples
    temperatures: list[TextRow]
    heldout_text: TextStats
    reference: TextCounts


@dataclass(frozen=True, kw_only=True)
class ReplyRow:
    temperature: float
    replies: int
    sentence_end_share: float | None
    doubled_word_share: float | None
    looping_share: float
    mean_words: float


@dataclass(frozen=True, kw_only=True)
class Replies:
    """Replies as users get them (``training.eval_replies``)."""

    count: int
    default_temperature: float
    length: int | None  # None: poems, which are not held to sentence ends
    rows: list[ReplyRow]
    examples: list[str]
    heldout_doubled_word_share: float | None


# ---------------------------------------------------------------------------------------------
# Names models


@dataclass(frozen=True, kw_only=True)
class NameRow:
    """One style at one temperature. The optional figures are absent from older reports."""

    temperature: float
    style: str
    samples: int
    empty_share: float
    unfinished_share: float | None = None
    novelty: float | None
    duplicates: float | None
    shown: int | None = None
    shown_novelty: float | None = None
    shown_duplicates: float | None = None
    implausible_openings: float | None = None
    shown_implausible_openings: float | None = None
    unlikely_share: float | None = None
    rare_char_share: float | None = None
    heldout_reinvented: float | None = None
    mean_length: float | None
    train_mean_length: float | None
    length_tv: float | None
    length_counts: list[int] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class CharFigures:
    """The character check of a Han style: alone, and with the score (``both``)."""

    chars_min_names: int | None
    chars_heldout_passed: float | None
    both_heldout_passed: float | None
    chars_tail_passed: float | None
    both_tail_passed: float | None


@dataclass(frozen=True, kw_only=True)
class StylePlausibility:
    """A style's plausibility threshold (None: off) and the held-out names passing it."""

    threshold: float | None
    calibrated_on: str | None
    heldout_names: int
    heldout_passed: float | None
    tail_names: int
    tail_passed: float | None
    # Han styles only
    chars: CharFigures | None = field(default=None, metadata=flat_if("chars_min_names"))


@dataclass(frozen=True, kw_only=True)
class NameCounts:
    length_counts: dict[str, list[int]]


@dataclass(frozen=True, kw_only=True)
class NameResults:
    temperatures: list[NameRow]
    examples: StyleExamples
    unlikely_examples: StyleExamples = field(default_factory=dict)
    rare_char_examples: StyleExamples = field(default_factory=dict)
    plausibility: dict[str, StylePlausibility] = field(default_factory=dict)
    reference: NameCounts


# ---------------------------------------------------------------------------------------------
# The report


@dataclass(frozen=True, kw_only=True)
class Report:
    model: str
    onnx_sha256: str
    command: str  # the command line that reproduces this report
    seed: int
    samples: int
    temperature_list: list[float]
    sampling_note: str
    summary: ModelSummary = field(metadata=FLAT)
    heldout: Loss
    heldout_tail: TailLoss | None
    baselines: list[Baseline]
    figures: dict[str, str | None]  # picture key -> PNG file beside the report (None: none)
    results: TextResults | NameResults = field(metadata=FLAT)
    replies: Replies | None = field(default=None, metadata=OMIT)  # text models
    targets: list[Target]
    elapsed_s: float

    @property
    def kind(self) -> CorpusKind:
        return self.summary.kind

    @property
    def names(self) -> NameResults:
        if not isinstance(self.results, NameResults):
            raise TypeError(f"{self.model} is not a names model")
        return self.results

    def to_json(self) -> dict[str, Any]:
        """The JSON object (NaN and infinities as null, numpy numbers as Python's)."""
        encoded = _encode(self)
        assert isinstance(encoded, dict)
        return encoded

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", "utf-8")

    @classmethod
    def from_json(cls, data: Any, where: str = "report") -> Report:
        if not isinstance(data, dict):
            raise ReportError(f"{where}: not a JSON object")
        results = NameResults if data.get("kind") == CorpusKind.NAMES else TextResults
        return _decode_class(cls, data, where, {"results": results})

    @classmethod
    def load(cls, path: Path) -> Report:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ReportError(f"{path}: {exc}") from None
        return cls.from_json(data, str(path))


def _encode(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in fields(value):
            item = getattr(value, f.name)
            if item is None and f.metadata.get("omit"):
                continue
            if f.metadata.get("flat"):
                out.update(_encode(item))
            else:
                out[f.name] = _encode(item)
        return out
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _decode(hint: Any, value: Any, where: str) -> Any:
    """``value`` read as ``hint``: dataclasses built, containers checked, scalars as written."""
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [arg for arg in get_args(hint) if arg is not type(None)]
        if value is None:
            return None
        hint, origin = options[0], get_origin(options[0])
    if isinstance(hint, type) and is_dataclass(hint):
        return _decode_class(hint, value, where)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        if value not in set(hint):
            raise ReportError(f"{where}: {value!r} is not one of {', '.join(hint)}")
        return hint(value)
    if origin is list:
        if not isinstance(value, list):
            raise ReportError(f"{where}: not a list")
        (item,) = get_args(hint)
        return [_decode(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ReportError(f"{where}: not an object")
        item = get_args(hint)[1]
        return {key: _decode(item, v, f"{where}.{key}") for key, v in value.items()}
    return value


def _decode_class(cls: type[T], data: Any, where: str, chosen: dict[str, type] | None = None) -> T:
    if not isinstance(data, dict):
        raise ReportError(f"{where}: not a JSON object")
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]  # cls is a dataclass
        hint = (chosen or {}).get(f.name, hints[f.name])
        marker = f.metadata.get("flat")
        if marker is not None:
            if marker is True or marker in data:
                kwargs[f.name] = _decode(hint, data, where)
        elif f.name in data:
            kwargs[f.name] = _decode(hint, data[f.name], f"{where}.{f.name}")
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ReportError(f"{where}: no field '{f.name}'")
    return cls(**kwargs)
