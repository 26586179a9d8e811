"""The model contract: the schema of NAME.json written by training/export.py and read by the bot.

One definition serves both sides. The ONNX file beside it is a *step* model:

    inputs:  tokens int64 [batch, steps], h float32 [layers, batch, hidden], c (same as h)
    outputs: logits float32 [batch, vocab] (last step only), h_out, c_out (same as h)

``batch`` and ``steps`` are dynamic: steps > 1 primes a prompt in one call, steps = 1 samples.
Every field is validated on load; errors name the file and the field.

Format 2 adds ``quantized`` (an int8 copy of the model, with the held-out losses that let it ship)
and ``artefact_sha256``. Every file the metadata names is a bare file name in the metadata's own
folder. Format 1 files still load: they are read as format 2 with no int8 copy and unhashed
artefacts (``python -m training.export NAME.json --quantize int8`` rewrites one as format 2).
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot.engine.kinds import CorpusKind, Level
from bot.engine.name_score import NamePlausibility, plausibility_from_dict

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
PRECISIONS = ("fp32", "int8")
ONNX_INPUTS = ("tokens", "h", "c")
ONNX_OUTPUTS = ("logits", "h_out", "c_out")


class MetadataError(ValueError):
    """A model's metadata file is missing, unreadable, or has an invalid field."""

    def __init__(self, path: Path | str, field_name: str, problem: str) -> None:
        self.path = str(path)
        self.field = field_name
        self.problem = problem
        super().__init__(f"{path}: field '{field_name}': {problem}")


@dataclass(frozen=True)
class SpecialTokens:
    """Names of the special tokens as they appear in ``vocab``.

    ``bos``/``eos`` open and close a document (a poem, a name, a fable). ``styles`` maps a
    style name (e.g. ``jinyong``) to the token that conditions the model on it.
    """

    unknown: str
    bos: str
    eos: str
    newline: str | None = None
    styles: dict[str, str] = field(default_factory=dict)

    def all(self) -> list[str]:
        tokens = [self.unknown, self.bos, self.eos, *self.styles.values()]
        if self.newline is not None:
            tokens.append(self.newline)
        return tokens


@dataclass(frozen=True)
class Architecture:
    layers: int
    hidden_size: int
    embedding_size: int
    dropout: float
    parameters: int


@dataclass(frozen=True)
class CorpusInfo:
    name: str
    kind: CorpusKind
    files: list[str]
    bytes: int
    sha256: str
    documents: int
    train_documents: int
    validation_documents: int
    train_tokens: int
    validation_tokens: int


@dataclass(frozen=True)
class TrainingFigures:  # how training went; the evaluation report repeats these
    validation_loss_nats: float
    validation_bits_per_token: float
    epochs: float
    steps: int
    tokens_seen: int
    wall_time_s: float
    device: str
    torch_version: str
    finished_at: str


@dataclass(frozen=True)
class TrainingInfo(TrainingFigures):
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SamplingDefaults:
    temperature: float = 0.8
    top_k: int = 0
    top_p: float = 1.0
    max_tokens: int = 500


@dataclass(frozen=True)
class QuantizedModel:
    """An int8 copy of the step model, accepted by the export's quality gate.

    The losses are nats/token on the held-out split, measured through onnxruntime exactly as
    the bot serves each file (training/evaluate.py's ``heldout_loss``).
    """

    onnx_file: str
    onnx_sha256: str
    heldout_loss_nats: float
    fp32_heldout_loss_nats: float
    heldout_tokens: int
    gate_nats: float  # the largest loss increase the gate accepted


@dataclass(frozen=True)
class ModelMetadata:
    format_version: int
    name: str
    level: Level
    vocab: list[str]
    special_tokens: SpecialTokens
    architecture: Architecture
    corpus: CorpusInfo
    training: TrainingInfo
    sampling: SamplingDefaults
    onnx_file: str
    onnx_sha256: str
    artefacts: dict[str, str] = field(default_factory=dict)
    artefact_sha256: dict[str, str] = field(default_factory=dict)
    quantized: dict[str, QuantizedModel] = field(default_factory=dict)
    name_plausibility: NamePlausibility | None = None  # training/calibrate_names.py

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def token_id(self, token: str) -> int:
        return self.vocab.index(token)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n", "utf-8")


# ---------------------------------------------------------------------------------------------
# Validation


def _require(data: dict[str, Any], key: str, prefix: str, path: Path) -> Any:
    if not isinstance(data, dict):
        raise MetadataError(path, prefix.rstrip(".") or "<root>", "must be a JSON object")
    if key not in data:
        raise MetadataError(path, prefix + key, "is missing")
    return data[key]


def _typed(value: Any, kind: type | tuple[type, ...], name: str, path: Path) -> Any:
    if isinstance(value, bool) and kind is not bool and bool not in _as_tuple(kind):
        raise MetadataError(path, name, f"must be {_kind_name(kind)}, got a boolean")
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        raise MetadataError(path, name, f"must be {_kind_name(kind)}, got {type(value).__name__}")
    if isinstance(value, float) and not math.isfinite(value):
        raise MetadataError(path, name, "must be a finite number")
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _as_tuple(kind))


def _build(cls: type, data: Any, prefix: str, path: Path) -> Any:
    """Build a flat dataclass of scalars (and dict/list fields) from JSON, checking each
    value against its field's annotation."""
    if not isinstance(data, dict):
        raise MetadataError(path, prefix.rstrip("."), "must be a JSON object")
    values: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        name = prefix + f.name
        if f.name not in data:
            if f.default is not MISSING or f.default_factory is not MISSING:
                continue
            raise MetadataError(path, name, "is missing")
        values[f.name] = _checked(data[f.name], hints[f.name], name, path)
    return cls(**values)


def _checked(value: Any, hint: Any, name: str, path: Path) -> Any:
    """``value`` if it has the JSON type ``hint`` allows (``str | None``, one of a StrEnum's
    strings, ``list[str]``, a dict); MetadataError naming the field otherwise."""
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        for i, element in enumerate(items := _typed(value, list, name, path)):
            _typed(element, item, f"{name}[{i}]", path)
        return items
    if origin is dict:
        return _typed(value, dict, name, path)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        if (text := _typed(value, str, name, path)) not in set(hint):
            known = ", ".join(map(repr, map(str, hint)))
            raise MetadataError(path, name, f"is {text!r}, not one of {known}")
        return hint(text)
    if origin is types.UnionType:
        return _typed(value, typing.get_args(hint), name, path)
    return _typed(value, hint, name, path)


NAME_MAX = 255  # bytes in one file name on the file systems the bot runs on


def _file_name(value: Any, name: str, path: Path) -> str:
    """A bare file name in the metadata's folder: no directory part, never absolute or '..',
    printable (no NUL, no lone surrogate) and at most NAME_MAX bytes, so that opening it can
    only fail as a missing file."""
    value = _typed(value, str, name, path)
    if (
        not value
        or value in (".", "..")
        or "/" in value
        or "\\" in value
        or not value.isprintable()
        or len(value.encode("utf-8")) > NAME_MAX
        or Path(value).is_absolute()
        or Path(value).name != value
    ):
        shown = value if len(value) <= 4 * NAME_MAX else value[:NAME_MAX] + "…"
        raise MetadataError(path, name, f"must be a file name in the model folder, got {shown!r}")
    return value


def _sha256(value: Any, name: str, path: Path) -> str:
    value = _typed(value, str, name, path)
    if len(value) != 64 or any(ch not in "0123456789abcdef" for ch in value):
        raise MetadataError(path, name, "must be a 64-character lower-case hex sha256")
    return value


def metadata_from_dict(data: Any, path: Path | str = "<metadata>") -> ModelMetadata:
    """Validate a parsed NAME.json and return it as a ModelMetadata."""
    path = Path(path)
    if not isinstance(data, dict):
        raise MetadataError(path, "<root>", "must be a JSON object")
    version = _typed(_require(data, "format_version", "", path), int, "format_version", path)
    if version not in READABLE_VERSIONS:
        raise MetadataError(
            path,
            "format_version",
            f"is {version}, this code reads versions {', '.join(map(str, READABLE_VERSIONS))}",
        )
    name = _typed(_require(data, "name", "", path), str, "name", path)
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise MetadataError(path, "name", f"must be a simple identifier, got {name!r}")
    level = _checked(_require(data, "level", "", path), Level, "level", path)

    vocab = _typed(_require(data, "vocab", "", path), list, "vocab", path)
    if len(vocab) < 2:
        raise MetadataError(path, "vocab", "must hold at least two tokens")
    for i, token in enumerate(vocab):
        _typed(token, str, f"vocab[{i}]", path)
        if token == "":
            raise MetadataError(path, f"vocab[{i}]", "is an empty string")
    if len(set(vocab)) != len(vocab):
        seen: set[str] = set()
        for i, token in enumerate(vocab):
            if token in seen:
                raise MetadataError(path, f"vocab[{i}]", f"duplicate token {token!r}")
            seen.add(token)

    special_raw = _require(data, "special_tokens", "", path)
    special = _build(SpecialTokens, special_raw, "special_tokens.", path)
    for style, token in special.styles.items():
        _typed(token, str, f"special_tokens.styles.{style}", path)
    vocab_set = set(vocab)
    for key in ("unknown", "bos", "eos", "newline"):
        token = getattr(special, key)
        if token is not None and token not in vocab_set:
            raise MetadataError(path, f"special_tokens.{key}", f"{token!r} is not in vocab")
    for style, token in special.styles.items():
        if token not in vocab_set:
            raise MetadataError(path, f"special_tokens.styles.{style}", f"{token!r} not in vocab")

    arch = _build(Architecture, _require(data, "architecture", "", path), "architecture.", path)
    for key in ("layers", "hidden_size", "embedding_size", "parameters"):
        if getattr(arch, key) < 1:
            raise MetadataError(path, f"architecture.{key}", "must be positive")
    if not 0.0 <= arch.dropout < 1.0:
        raise MetadataError(path, "architecture.dropout", "must be in [0, 1)")

    corpus = _build(CorpusInfo, _require(data, "corpus", "", path), "corpus.", path)
    if len(corpus.sha256) != 64:
        raise MetadataError(path, "corpus.sha256", "must be a 64-character hex digest")

    training = _build(TrainingInfo, _require(data, "training", "", path), "training.", path)
    if training.validation_loss_nats <= 0:
        raise MetadataError(path, "training.validation_loss_nats", "must be positive")

    sampling = _build(SamplingDefaults, data.get("sampling", {}), "sampling.", path)
    if sampling.temperature < 0:
        raise MetadataError(path, "sampling.temperature", "must be >= 0")
    if not 0.0 < sampling.top_p <= 1.0:
        raise MetadataError(path, "sampling.top_p", "must be in (0, 1]")
    if sampling.top_k < 0 or sampling.max_tokens < 1:
        raise MetadataError(path, "sampling", "top_k must be >= 0 and max_tokens >= 1")

    onnx_file = _file_name(_require(data, "onnx_file", "", path), "onnx_file", path)
    onnx_sha = _sha256(_require(data, "onnx_sha256", "", path), "onnx_sha256", path)
    artefacts = _typed(data.get("artefacts", {}), dict, "artefacts", path)
    for key, value in artefacts.items():
        _file_name(value, f"artefacts.{key}", path)
    hashes: dict[str, str] = {}
    quantized: dict[str, QuantizedModel] = {}
    if version >= 2:
        hashes = _typed(data.get("artefact_sha256", {}), dict, "artefact_sha256", path)
        if set(hashes) != set(artefacts):
            raise MetadataError(
                path, "artefact_sha256", "must hold one sha256 for each entry of artefacts"
            )
        for key, value in hashes.items():
            _sha256(value, f"artefact_sha256.{key}", path)
        raw = _typed(data.get("quantized", {}), dict, "quantized", path)
        for precision, entry in raw.items():
            prefix = f"quantized.{precision}"
            if precision not in PRECISIONS[1:]:
                raise MetadataError(path, prefix, f"unknown precision (known: {PRECISIONS[1:]})")
            model = _build(QuantizedModel, entry, prefix + ".", path)
            _file_name(model.onnx_file, prefix + ".onnx_file", path)
            _sha256(model.onnx_sha256, prefix + ".onnx_sha256", path)
            if model.onnx_file == onnx_file:
                raise MetadataError(path, prefix + ".onnx_file", "is the fp32 model's file")
            if not model.heldout_loss_nats - model.fp32_heldout_loss_nats <= model.gate_nats:
                raise MetadataError(
                    path, prefix + ".heldout_loss_nats", "is further from fp32 than gate_nats"
                )
            quantized[precision] = model

    return ModelMetadata(
        format_version=version,
        name=name,
        level=level,
        vocab=list(vocab),
        special_tokens=special,
        architecture=arch,
        corpus=corpus,
        training=training,
        sampling=sampling,
        onnx_file=onnx_file,
        onnx_sha256=onnx_sha,
        artefacts=dict(artefacts),
        artefact_sha256=dict(hashes),
        quantized=quantized,
        name_plausibility=plausibility_from_dict(
            data.get("name_plausibility"), special.styles, path
        ),
    )


def load_metadata(path: Path | str) -> ModelMetadata:
    """Read and validate NAME.json; every failure is a MetadataError naming file and field."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise MetadataError(path, "<file>", "does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MetadataError(path, "<file>", f"cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except RecursionError:  # nesting deeper than the parser's stack: no metadata is that deep
        raise MetadataError(path, "<file>", "is not valid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, or an integer of over 4,300 digits
        raise MetadataError(path, "<file>", f"is not valid JSON: {exc}") from None
    return metadata_from_dict(data, path)
