"""names: new names in a style (jinyong, gulong, english, ...) from a style-conditioned char model.

A name is sampled as the training data shows it: end-of-name token, style token, the name's
characters, end-of-name. Candidate ``i`` samples with seed ``(seed, i)`` and candidates are
judged in index order, so the answer depends only on the options and the seed.

Names are shown as people write them (``shown_case``: "o'brien" -> "O'Brien"). Which
candidates are shown is ``bot.engine.name_filter``'s rule, which the evaluator applies too: a
candidate opening as no known name of its style does ("sshley") is dropped, and so is one the
model scores under the style's calibrated threshold (``bot.engine.name_score``; each wave's
finished candidates are scored in one batch, off the event loop), and so is a Han name using
a character too few of the style's names use (``bot.engine.name_chars``). Dropped candidates
are made up for by more, up to the tries' budget.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from bot.engine.kinds import KindName
from bot.engine.name_chars import served_char_usage
from bot.engine.name_filter import NameFilter
from bot.engine.name_score import name_scores
from bot.generators.base import Busy, Generation, InvalidRequest
from bot.generators.common import encode_chars
from bot.generators.skeleton import Finish, Run, generation, prepare
from bot.products import KINDS

if TYPE_CHECKING:
    from bot.engine.engine import Engine
    from bot.engine.scheduler import Scheduler, TokenStream

log = logging.getLogger(__name__)

KIND = KINDS[KindName.NAMES]
COUNT, MIN_LENGTH, MAX_LENGTH = (KIND.option(name) for name in ("count", "min", "max"))
TRIES_PER_NAME = 20
MIN_TRIES = 50
WAVE = 8  # candidates sampled concurrently (they share ORT calls)


def names(
    engine: Engine,
    *,
    model: str,
    style: str | None = None,
    count: int = COUNT.default,
    starts_with: str | None = None,
    min_length: int = MIN_LENGTH.default,
    max_length: int = MAX_LENGTH.default,
    allow_known: bool = False,
    temperature: float | None = None,
    seed: int | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Generation:
    """Up to ``count`` distinct names in ``style`` (default: the model's first style in
    alphabetical order); new ones only (not in the training list) unless
    ``allow_known``. Gives up after ``max(50, 20 * count)`` tries and says how many it found."""
    COUNT.check(count)
    MAX_LENGTH.check(max_length)
    MIN_LENGTH.check(min_length)
    if min_length > max_length:
        raise InvalidRequest("The shortest name length is above the longest.")
    scheduler = engine.scheduler(model)
    bundle = scheduler.bundle
    styles = bundle.meta.special_tokens.styles
    if not styles:
        raise InvalidRequest(f"The {model} model was not trained on names (it has no styles).")
    if style is None:
        style = min(styles)  # the first in alphabetical order (english for /name)
    if style not in styles:
        raise InvalidRequest(
            f"Unknown style {style!r}; choose one of: {', '.join(sorted(styles))}."
        )
    run = prepare(KIND, scheduler, temperature=temperature, seed=seed, top_k=top_k, top_p=top_p)
    tokenizer = bundle.tokenizer
    prefix = "".join((starts_with or "").split())
    prefix_ids, missing = encode_chars(tokenizer, prefix)
    if missing:
        raise InvalidRequest(
            f"No {style} name can start with {prefix!r}: the model has no {missing[0]!r}."
        )
    if len(prefix) > max_length:
        raise InvalidRequest("The starting letters are longer than the maximum length.")
    prefix = "".join(tokenizer.vocab[i] for i in prefix_ids)  # case as the model knows it
    known = bundle.training_names
    if known is None and not allow_known:
        run.notes.append("The training name list is missing, so novelty could not be checked.")
    start = [tokenizer.eos_id, tokenizer.style_id(style), *prefix_ids]
    plausibility = bundle.meta.name_plausibility
    min_score = plausibility.thresholds.get(style) if plausibility else None
    if min_score is None and (str(bundle.json_path), style) not in _UNCALIBRATED:
        _UNCALIBRATED.add((str(bundle.json_path), style))
        log.warning(
            "%s has no plausibility threshold for %s names, so unlikely names are not "
            "filtered (python -m training.calibrate_names %s)",
            model,
            style,
            bundle.json_path,
        )
    name_filter = NameFilter(
        min_length,
        max_length,
        known=frozenset() if allow_known or known is None else known,
        openings=bundle.name_openings(style),
        prefix=prefix,
        min_score=min_score,
        chars=served_char_usage(bundle.names_by_style, plausibility, style),
    )
    options = _Options(count, allow_known, name_filter)
    return generation(run, lambda run: _run(run, start, options, style))


_UNCALIBRATED: set[tuple[str, str]] = set()  # (model file, style) pairs already logged


class _Options:
    def __init__(self, count: int, allow_known: bool, name_filter: NameFilter) -> None:
        self.count = count
        self.allow_known = allow_known
        self.filter = name_filter
        self.max_tries = max(MIN_TRIES, TRIES_PER_NAME * count)


# A word's first letter; after a one-letter word and an apostrophe, the letter after it too.
_WORD_START = re.compile(r"(?:^|(?<=[\s-]))(\w)(?:(')(\w))?")


def shown_case(name: str) -> str:
    """A lower-case name as people write it: "mary ann" -> "Mary Ann", "anne-marie" ->
    "Anne-Marie", "o'brien" -> "O'Brien" (but "ja'nae" -> "Ja'nae"). A name with a capital
    letter already is left as the model wrote it; Han characters have no case."""
    if name != name.lower():
        return name
    return _WORD_START.sub(lambda m: "".join(g.upper() for g in m.groups() if g), name)


async def _candidate(stream: TokenStream, eos: int) -> list[int] | None:
    """A candidate's tokens, or None if it ran out of room before its end token."""
    tokens = [t async for t in stream]
    return tokens[:-1] if tokens and tokens[-1] == eos else None


async def _scores(
    scheduler: Scheduler,
    start: list[int],
    results: list[list[int] | None],
    name_filter: NameFilter,
) -> list[float | None]:
    """Each finished candidate's score when the filter judges scores (else None), computed
    in one batch in a worker thread: a few small ORT calls beside the scheduler's."""
    finished = [ids for ids in results if ids is not None]
    if name_filter.min_score is None or not finished:
        return [None] * len(results)
    bundle = scheduler.bundle
    scored = iter(
        await asyncio.to_thread(name_scores, bundle, start, finished, bundle.tokenizer.eos_id)
    )
    return [None if ids is None else float(next(scored)) for ids in results]


async def _run(
    run: Run, start: list[int], options: _Options, style: str
) -> AsyncGenerator[str | Finish, None]:
    scheduler = run.scheduler
    tokenizer = scheduler.bundle.tokenizer
    # characters left after the prefix, plus the end token
    room = options.filter.max_length - len(options.filter.prefix) + 1
    found: list[str] = []
    seen: set[str] = set()
    tries = tokens = 0
    while len(found) < options.count and tries < options.max_tries:
        streams: list[TokenStream] = []
        try:
            for i in range(tries, min(tries + WAVE, options.max_tries)):
                try:
                    streams.append(run.submit(start, max_tokens=room, seed=(run.seed, i)))
                except Busy:
                    if not streams:
                        raise
                    break
            results = await asyncio.gather(*(_candidate(s, tokenizer.eos_id) for s in streams))
        finally:
            for s in streams:
                await s.aclose()
        run.timer.token()
        scores = await _scores(scheduler, start, results, options.filter)
        for ids, score in zip(results, scores, strict=True):
            if len(found) == options.count:
                break
            tries += 1
            tokens += len(ids) + 1 if ids is not None else room
            if ids is None:
                continue
            name = options.filter.prefix + tokenizer.decode(ids).strip()
            if options.filter.rejects(name, seen, score):
                continue
            seen.add(name.casefold())
            name = shown_case(name)
            piece = name if not found else "\n" + name
            found.append(name)
            yield piece
    if len(found) < options.count:
        kind = "" if options.allow_known else "new "
        run.notes.append(
            f"Found {len(found)} of {options.count} {kind}{style} names in {tries} tries; "
            "try other options or a higher temperature."
        )
    yield Finish(tokens, {"names": found, "tries": tries, "style": style})
