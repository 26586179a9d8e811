"""Publishing an exported model so that no reader ever sees half of the change.

:func:`publish` moves an exported model's staged files into its folder with ``NAME.json`` as
the single switch. Each staged file moves in under a name no metadata in the folder names
(its own name when that is free or already holds the same bytes, else ``NAME.<sha12>.REST``),
fsynced; then ``NAME.json`` replaces the old one in one ``os.replace``; only then are the files
the old metadata named, and no metadata names now, removed. A reader (the bot starting, an
evaluation) finds the old set or the new set, never a mix; a failure before the switch
removes what it had moved in.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

from bot.engine.bundle import file_sha256
from bot.engine.contract import ModelMetadata, load_metadata
from training.atomic import fsync_dir, fsync_file


class PublishError(RuntimeError):
    """The folder holds a file under the content-addressed name with other bytes."""


def files_named(meta: ModelMetadata) -> list[str]:
    """Every file ``meta`` names: the fp32 model, its artefacts and its quantized copies."""
    quantized = [q.onnx_file for q in meta.quantized.values()]
    return [meta.onnx_file, *meta.artefacts.values(), *quantized]


def _names_in(json_path: Path) -> set[str]:
    """The file names a metadata file names, read leniently: a damaged file still protects
    (and frees) what it names, as far as it can be read."""
    try:
        data = json.loads(json_path.read_text("utf-8"))
    except (OSError, ValueError, RecursionError):
        return set()
    if not isinstance(data, dict):
        return set()
    found = [data.get("onnx_file")]
    for key in ("artefacts", "quantized"):
        value = data.get(key)
        if isinstance(value, dict):
            found += [v.get("onnx_file") if isinstance(v, dict) else v for v in value.values()]
    return {name for name in found if isinstance(name, str) and _bare(name)}


def _bare(name: str) -> bool:
    """A plain file name in the folder (what the contract allows): never a way out of it."""
    return (
        name not in ("", ".", "..")
        and Path(name).name == name
        and not {"/", "\\", "\0"} & set(name)
    )


def names_in_folder(folder: Path) -> set[str]:
    """Every file name any model's metadata in ``folder`` names."""
    names: set[str] = set()
    for json_path in folder.glob("*.json"):
        if "." not in json_path.stem:  # NAME.json, as the bot lists models
            names |= _names_in(json_path)
    return names


def _target(folder: Path, name: str, staged: Path, taken: set[str]) -> str:
    """The name ``staged`` takes in ``folder``: its own if free or already the same bytes, else
    ``MODEL.<sha12>.REST`` (content-addressed, so a later export never needs it)."""
    digest = file_sha256(staged)
    model, _, rest = name.partition(".")
    for candidate in (name, f"{model}.{digest[:12]}.{rest}"):
        path = folder / candidate
        if candidate not in taken or (path.is_file() and file_sha256(path) == digest):
            return candidate
    raise PublishError(f"{folder / candidate}: exists with other bytes than {staged.name}")


def _renamed(meta: ModelMetadata, names: dict[str, str]) -> ModelMetadata:
    quantized = {
        p: dataclasses.replace(q, onnx_file=names.get(q.onnx_file, q.onnx_file))
        for p, q in meta.quantized.items()
    }
    return dataclasses.replace(
        meta,
        onnx_file=names.get(meta.onnx_file, meta.onnx_file),
        artefacts={key: names.get(value, value) for key, value in meta.artefacts.items()},
        quantized=quantized,
    )


def _ours(folder: Path, model: str) -> Iterable[str]:
    """Leftovers of an interrupted publish: content-addressed names of ``model``."""
    pattern = re.compile(rf"{re.escape(model)}\.[0-9a-f]{{12}}\..+")
    return (p.name for p in folder.iterdir() if pattern.fullmatch(p.name))


def publish(stage: Path, folder: Path, meta: ModelMetadata) -> ModelMetadata:
    """Move the files ``meta`` names that lie in ``stage`` into ``folder``, then switch
    ``folder/NAME.json`` to the metadata naming them; returns that metadata."""
    json_path = folder / f"{meta.name}.json"
    previous = _names_in(json_path)
    taken = names_in_folder(folder)
    names: dict[str, str] = {}
    moved: list[Path] = []
    switched = False
    try:
        for name in files_named(meta):
            staged = stage / name
            if not staged.is_file():  # already in the folder (an int8 copy added in place)
                continue
            names[name] = _target(folder, name, staged, taken)
            if names[name] not in taken:  # else the same bytes are there already
                fsync_file(staged)
                os.replace(staged, folder / names[name])
                moved.append(folder / names[name])
        fsync_dir(folder)
        meta = _renamed(meta, names)
        staged_json = stage / json_path.name
        meta.write(staged_json)
        load_metadata(staged_json)  # what we publish must pass the bot's own validation
        fsync_file(staged_json)
        os.replace(staged_json, json_path)
        switched = True
    finally:
        if not switched:
            for path in moved:
                path.unlink(missing_ok=True)
    fsync_dir(folder)
    now = names_in_folder(folder)
    for name in (previous | {f"{meta.name}.int8.onnx", *_ours(folder, meta.name)}) - now:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            (folder / name).unlink()
    fsync_dir(folder)
    return meta
