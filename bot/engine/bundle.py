"""A loaded model: validated metadata, tokenizer and one onnxruntime session.

Loading checks everything that could make serving fail later (missing or corrupt files, a
hash mismatch, input/output names, ranks and sizes against the metadata) and raises
:class:`ModelLoadError` naming the file, so a broken model is reported at start-up.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path

import numpy as np
import onnxruntime as ort

from bot.engine.contract import (
    ONNX_INPUTS,
    ONNX_OUTPUTS,
    PRECISIONS,
    MetadataError,
    ModelMetadata,
)
from bot.engine.contract import load_metadata as _load_metadata
from bot.engine.name_filter import openings_of
from bot.engine.tokenizer import Tokenizer

_EXPECTED_TYPES = {"tokens": "tensor(int64)", "h": "tensor(float)", "c": "tensor(float)"}


class ModelLoadError(Exception):
    """A model cannot be served; the message names the file and the problem.

    ``brief`` says the same with bare file names and without library detail, for users
    (/models): no server path ever shows there.
    """

    def __init__(
        self, where: Path | str, problem: str, detail: str = "", *, brief: str | None = None
    ) -> None:
        self.where = Path(where)
        self._brief = problem if brief is None else brief
        super().__init__(f"{where}: {problem}" + (f": {detail}" if detail else ""))

    @property
    def brief(self) -> str:
        return f"{self.where.name}: {self._brief}"


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _confined(json_path: Path, name: str) -> Path:
    """``name`` in the metadata's folder; refused if it (or a link) leads outside it."""
    folder = json_path.parent.resolve()
    try:
        path = (folder / name).resolve()
    except RuntimeError:  # Python 3.11 raises this for a link loop (3.13: OSError)
        raise ModelLoadError(json_path, f"{name} is a link that leads to itself") from None
    if path.parent != folder:
        raise ModelLoadError(json_path, f"{name} is outside the model folder")
    return json_path.parent / name


def _check_sha256(path: Path, expected: str, field: str, hint: str) -> None:
    digest = file_sha256(path)
    if digest != expected:
        problem = f"sha256 {digest[:12]}… does not match {field} {expected[:12]}…"
        raise ModelLoadError(path, problem, hint)


def session_options(threads: int, spinning: bool) -> ort.SessionOptions:
    """One session per model, sequential execution (an LSTM is a chain, ORT_PARALLEL can't help).

    ``spinning`` off by default: spinning intra-op threads burn CPU beside the event loop and
    other models' workers; bench/engine.py measures both.
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3
    return options


class ModelBundle:
    """Metadata, tokenizer and ORT session of one model (``NAME.json`` + the served ONNX file).

    ``precision`` is the file served: ``int8`` when asked for and the metadata lists an int8
    copy (accepted by the export's quality gate), otherwise ``fp32``.
    """

    def __init__(
        self,
        meta: ModelMetadata,
        session: ort.InferenceSession,
        json_path: Path,
        onnx_path: Path,
        precision: str = "fp32",
    ) -> None:
        self.meta = meta
        self.name = meta.name
        self.session = session
        self.json_path = json_path
        self.onnx_path = onnx_path
        self.precision = precision
        self.tokenizer = Tokenizer(meta)

    @classmethod
    def load(
        cls,
        json_path: Path | str,
        *,
        threads: int = 1,
        spinning: bool = False,
        precision: str = "fp32",
    ) -> ModelBundle:
        json_path = Path(json_path)
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        try:
            meta = _load_metadata(json_path)
        except MetadataError as exc:
            problem = f"field '{exc.field}': {exc.problem}"  # values may be paths: not for users
            raise ModelLoadError(exc.path, problem, brief=f"invalid field '{exc.field}'") from None
        if meta.name != json_path.stem:
            raise ModelLoadError(
                json_path, f"field 'name': is {meta.name!r} but the file is {json_path.name}"
            )
        try:
            onnx_path, precision = cls._check_files(meta, json_path, precision)
        except OSError as exc:  # unreadable, not merely missing: still this model's error only
            raise ModelLoadError(json_path, "a file it names cannot be read", str(exc)) from None
        return cls.open(
            meta, json_path, onnx_path, precision=precision, threads=threads, spinning=spinning
        )

    @staticmethod
    def _check_files(meta: ModelMetadata, json_path: Path, precision: str) -> tuple[Path, str]:
        """The ONNX file to serve and its precision, after every named file is checked."""
        for name in (meta.onnx_file, *(q.onnx_file for q in meta.quantized.values())):
            _confined(json_path, name)  # every file named, served now or not
        entry = meta.quantized.get(precision)
        if entry is None:  # fp32 asked for, or no int8 copy passed the export's gate
            precision, onnx_file, sha, field = "fp32", meta.onnx_file, meta.onnx_sha256, ""
        else:
            onnx_file, sha, field = entry.onnx_file, entry.onnx_sha256, f"quantized.{precision}."
        onnx_path = _confined(json_path, onnx_file)
        if not onnx_path.is_file():
            raise ModelLoadError(onnx_path, "model file does not exist", f"named in {json_path}")
        hint = f"in {json_path.name} (re-export the model)"
        _check_sha256(onnx_path, sha, f"{field}onnx_sha256", hint)
        for key, name in meta.artefacts.items():  # optional side files: absent is allowed
            path = _confined(json_path, name)
            if path.is_file() and key in meta.artefact_sha256:
                _check_sha256(path, meta.artefact_sha256[key], f"artefact_sha256.{key}", hint)
        return onnx_path, precision

    @classmethod
    def open(
        cls,
        meta: ModelMetadata,
        json_path: Path,
        onnx_path: Path,
        *,
        precision: str = "fp32",
        threads: int = 1,
        spinning: bool = False,
    ) -> ModelBundle:
        """A session on ``onnx_path``, checked against ``meta`` (no file or hash checks)."""
        try:
            session = ort.InferenceSession(
                str(onnx_path),
                session_options(threads, spinning),
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # ORT raises several unrelated types for a bad file
            raise ModelLoadError(onnx_path, "not a loadable ONNX model", str(exc)) from None
        bundle = cls(meta, session, json_path, onnx_path, precision)
        bundle._check_graph()
        return bundle

    # -- validation ----------------------------------------------------------------------------

    def _check_graph(self) -> None:
        """Check names, types and static sizes, then run one probe step to check real shapes."""
        where = self.onnx_path
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name: o for o in self.session.get_outputs()}
        if tuple(sorted(inputs)) != tuple(sorted(ONNX_INPUTS)):
            raise ModelLoadError(where, f"inputs are {sorted(inputs)}, expected {ONNX_INPUTS}")
        if not set(ONNX_OUTPUTS) <= set(outputs):
            raise ModelLoadError(where, f"outputs are {sorted(outputs)}, expected {ONNX_OUTPUTS}")
        for name, kind in _EXPECTED_TYPES.items():
            if inputs[name].type != kind:
                raise ModelLoadError(where, f"input {name} is {inputs[name].type}, expected {kind}")
        arch = self.meta.architecture
        expected_ranks = {"tokens": 2, "h": 3, "c": 3}
        for name, rank in expected_ranks.items():
            shape = inputs[name].shape
            if len(shape) != rank:
                raise ModelLoadError(where, f"input {name} has shape {shape}, expected rank {rank}")
        for name in ("h", "c"):
            layers, _, hidden = inputs[name].shape
            if (isinstance(layers, int) and layers != arch.layers) or (
                isinstance(hidden, int) and hidden != arch.hidden_size
            ):
                raise ModelLoadError(
                    where,
                    f"input {name} has shape {inputs[name].shape}, but "
                    f"{self.json_path.name} says layers={arch.layers}, "
                    f"hidden_size={arch.hidden_size}",
                )
        try:
            h, c = self.initial_state(2)
            logits, h_out, c_out = self.run(np.zeros((2, 3), np.int64), h, c)
        except Exception as exc:
            raise ModelLoadError(where, "probe step failed", str(exc)) from None
        if logits.shape != (2, self.meta.vocab_size):
            raise ModelLoadError(
                where,
                f"logits have {logits.shape[-1]} entries per step but "
                f"{self.json_path.name} lists {self.meta.vocab_size} vocab tokens",
            )
        if h_out.shape != h.shape or c_out.shape != c.shape:
            raise ModelLoadError(
                where, f"state outputs have shape {h_out.shape}, expected {h.shape}"
            )

    # -- inference -----------------------------------------------------------------------------

    @cached_property
    def never_sampled(self) -> np.ndarray:
        """Ids never sampled: <unk> (it has no text), <bos> and style tokens (they only open
        a document). <eos> and <nl> stay: they end a document and break a paragraph."""
        special = self.meta.special_tokens
        index = self.tokenizer.index
        return np.array(
            [index[t] for t in (special.unknown, special.bos, *special.styles.values())]
        )

    def initial_state(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        shape = (self.meta.architecture.layers, batch, self.meta.architecture.hidden_size)
        return np.zeros(shape, np.float32), np.zeros(shape, np.float32)

    def run(
        self, tokens: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One ORT call: tokens [B, T] -> (last-step logits [B, V], h_out, c_out)."""
        logits, h_out, c_out = self.session.run(
            list(ONNX_OUTPUTS), {"tokens": tokens, "h": h, "c": c}
        )
        return logits, h_out, c_out

    # -- side artefacts ------------------------------------------------------------------------

    def artefact_path(self, key: str) -> Path | None:
        """Path of ``metadata.artefacts[key]`` if listed and present (hashed at load), else None."""
        name = self.meta.artefacts.get(key)
        if name is None:
            return None
        path = _confined(self.json_path, name)
        return path if path.is_file() else None

    @cached_property
    def training_names(self) -> frozenset[str] | None:
        """Names of the training set (case-folded), for the novelty filter; None if absent."""
        path = self.artefact_path("training_names")
        if path is None:
            return None
        lines = path.read_text("utf-8").splitlines()
        return frozenset(line.strip().casefold() for line in lines if line.strip())

    @cached_property
    def names_by_style(self) -> dict[str, frozenset[str]] | None:
        """The exported names of each style (case-folded); None if absent (a model exported
        before the list was written)."""
        path = self.artefact_path("names_by_style")
        if path is None:
            return None
        try:
            data = json.loads(path.read_text("utf-8"))
        except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested too deep
            raise ModelLoadError(path, "not a JSON names list", str(exc)) from None
        if not isinstance(data, dict) or not all(
            isinstance(names, list) and all(isinstance(n, str) for n in names)
            for names in data.values()
        ):
            raise ModelLoadError(path, "expected a JSON object of style -> list of names")
        return {style: frozenset(n.casefold() for n in names) for style, names in data.items()}

    def name_openings(self, style: str) -> frozenset[str]:
        """The openings a new name of ``style`` may have: those of the style's exported names,
        or of all the exported names for a model without the per-style list (or a style it
        lacks); empty (nothing judged) without either list."""
        by_style = self.names_by_style or {}
        names = by_style.get(style, self.training_names)
        return openings_of(names) if names is not None else frozenset()

    @cached_property
    def ngram_hashes(self) -> np.ndarray | None:
        """Sorted uint64 hashes of the training corpus's word 4-grams; None if absent."""
        path = self.artefact_path("ngram_hashes")
        if path is None:
            return None
        array = np.load(path, allow_pickle=False)
        if array.dtype != np.uint64 or array.ndim != 1:
            raise ModelLoadError(path, f"expected a 1-D uint64 array, got {array.dtype}")
        return np.sort(array)
