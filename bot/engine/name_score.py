"""How name-like a candidate is: its mean log-likelihood per character under the names model.

A name's score is the mean log-probability (nats) of its characters and of the end of the
name, each given the ones before it, after the style token (and any asked-for starting
letters), at temperature 1 over the tokens the sampler may draw. "石死意" or "Guonajis" score
low: the model itself finds them unlikely names of their style.

The lowest score /name shows is set per style from real names the model never trained on,
by ``python -m training.calibrate_names``, and kept in the model's metadata
(``name_plausibility``). A model without it is served with this filter off.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bot.engine.decode import Model


@dataclass(frozen=True)
class NamePlausibility:
    """``thresholds``: per style, the lowest score a shown name may have, set so that
    ``1 - quantile`` of the style's held-out names pass; measured on the ``precision`` file
    (fp32 or int8) over ``heldout_names`` names per style, of which ``heldout_passed`` passed.
    ``char_min_names`` (optional): per Han style, the ``K`` of ``bot.engine.name_chars``,
    set the same way; ``char_heldout_passed``: the held-out names that check passed."""

    thresholds: dict[str, float]
    quantile: float
    precision: str
    heldout_names: dict[str, int]
    heldout_passed: dict[str, float]
    char_min_names: dict[str, int] = field(default_factory=dict)
    char_heldout_passed: dict[str, float] = field(default_factory=dict)


_REQUIRED = ("thresholds", "quantile", "precision", "heldout_names", "heldout_passed")


def plausibility_from_dict(
    data: Any, styles: Iterable[str], path: Path | str = "<metadata>"
) -> NamePlausibility | None:
    """The metadata's ``name_plausibility``, validated (None when absent); a MetadataError
    names the field otherwise."""
    from bot.engine.contract import MetadataError  # the contract reads this module's schema

    if data is None:
        return None
    try:
        return _plausibility(data, set(styles))
    except ValueError as exc:
        where, problem = str(exc).split(": ", 1)
        raise MetadataError(path, "name_plausibility" + where, problem) from None


def _plausibility(data: Any, styles: set[str]) -> NamePlausibility:
    if not isinstance(data, dict):
        raise ValueError(": must be a JSON object")
    missing = [key for key in _REQUIRED if key not in data]
    if missing:
        raise ValueError(f".{missing[0]}: is missing")
    quantile, precision = data["quantile"], data["precision"]
    if not _number(quantile) or not 0 < quantile < 1:
        raise ValueError(".quantile: must be a number in (0, 1)")
    if precision not in ("fp32", "int8"):
        raise ValueError(".precision: must be 'fp32' or 'int8'")
    tables = {}
    ranges = (("thresholds", -math.inf, 0), ("heldout_passed", 0, 1), ("char_heldout_passed", 0, 1))
    for key, low, high in ranges:
        table = data.get(key, {})
        if not isinstance(table, dict):
            raise ValueError(f".{key}: must be a JSON object")
        for style, value in table.items():
            if style not in styles:
                raise ValueError(f".{key}.{style}: is not a style of the model")
            if not _number(value) or not low <= value <= high:
                raise ValueError(f".{key}.{style}: must be a number in [{low}, {high}]")
        tables[key] = {style: float(value) for style, value in table.items()}
    counts = data["heldout_names"]
    if not isinstance(counts, dict) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in counts.values()
    ):
        raise ValueError(".heldout_names: must map styles to positive counts")
    min_names = data.get("char_min_names", {})
    if not isinstance(min_names, dict) or not all(
        style in styles and isinstance(k, int) and not isinstance(k, bool) and k > 0
        for style, k in min_names.items()
    ):
        raise ValueError(".char_min_names: must map styles of the model to positive counts")
    return NamePlausibility(
        tables["thresholds"],
        float(quantile),
        precision,
        dict(counts),
        tables["heldout_passed"],
        dict(min_names),
        tables["char_heldout_passed"],
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def name_scores(
    model: Model, start: Sequence[int], names: Sequence[Sequence[int]], end_id: int
) -> np.ndarray:
    """The score of each name (its token ids, without the end token) after ``start``: one
    call primes ``start``, then one call per character for all names together."""
    if not names:
        return np.zeros(0)
    count, steps = len(names), max(len(ids) for ids in names) + 1
    targets = np.full((count, steps), end_id, np.int64)  # each name, then its end token
    for i, ids in enumerate(names):
        targets[i, : len(ids)] = ids
    scored = np.arange(steps) <= np.array([[len(ids)] for ids in names])
    h, c = model.initial_state(1)
    logits, h, c = model.run(np.asarray([start], np.int64), h, c)
    logits = np.repeat(logits, count, axis=0)
    h, c = np.repeat(h, count, axis=1), np.repeat(c, count, axis=1)
    total = np.zeros(count)
    for t in range(steps):
        z = logits.astype(np.float64)
        z[:, model.never_sampled] = -np.inf
        top = z.max(axis=1)
        log_norm = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
        logp = z[np.arange(count), targets[:, t]] - log_norm
        total += np.where(scored[:, t], logp, 0.0)
        if t + 1 < steps:
            logits, h, c = model.run(targets[:, t : t + 1], h, c)
    return total / scored.sum(axis=1)
