"""prose: continue a prompt in the style of a character model's corpus (/lovecraft, /write)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bot.engine.ending import Ending, EndRule
from bot.engine.sampling import SamplingParams
from bot.generators.base import Generation, GenerationResult, InvalidRequest
from bot.generators.common import (
    CUT_MARK,
    TextGeneration,
    Timer,
    clean_prompt,
    encode_chars,
    oov_note,
    resolve_seed,
    sampling_params,
)
from bot.products import KINDS

if TYPE_CHECKING:
    from bot.engine.engine import Engine
    from bot.engine.scheduler import Scheduler

KIND = KINDS["prose"]
LENGTH = KIND.option("length")


def prose(
    engine: Engine,
    *,
    model: str,
    prompt: str,
    length: int = LENGTH.default,
    temperature: float | None = None,
    seed: int | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Generation:
    """Continue ``prompt`` by at most ``length`` characters, ending at a sentence end
    (:mod:`bot.engine.ending`); ``result.text`` is the prompt followed by the continuation."""
    LENGTH.check(length)
    scheduler = engine.scheduler(model)
    meta = scheduler.bundle.meta
    params = sampling_params(
        meta, temperature, repeat_limit=KIND.repeat_limit, top_k=top_k, top_p=top_p
    )
    seed = resolve_seed(seed)
    text, notes = clean_prompt(prompt)
    if not text.strip():
        raise InvalidRequest("Give me a beginning to continue, e.g. 'The door'.")
    tokenizer = scheduler.bundle.tokenizer
    ids, missing = encode_chars(tokenizer, text)
    if missing:
        notes.append(oov_note(missing, model, "left out"))
    start = [tokenizer.eos_id, tokenizer.bos_id, *ids]
    return TextGeneration(_run(scheduler, text, start, params, seed, length, notes))


async def _run(
    scheduler: Scheduler,
    prompt: str,
    start: list[int],
    params: SamplingParams,
    seed: int,
    length: int,
    notes: list[str],
) -> AsyncIterator[str | GenerationResult]:
    timer = Timer()
    tokenizer = scheduler.bundle.tokenizer
    rule = EndRule(scheduler.marks, length)
    ending = Ending(rule, start)
    stream = scheduler.submit(
        start,
        params=params,
        seed=seed,
        max_tokens=length + 1,  # the rule ends it first: at the length, or after a break
        stop_ids={tokenizer.eos_id},
        end_rule=rule,
    )
    pieces = [prompt]
    shown = 0
    end_of_document = False
    try:
        yield prompt
        async for token in stream:
            timer.token()
            if token == tokenizer.eos_id:
                end_of_document = True
                break
            ending.feed(token)
            if ending.shown > shown:
                piece = tokenizer.decode(ending.tokens[shown : ending.shown])
                shown = ending.shown
                pieces.append(piece)
                yield piece
            if ending.done:
                break
    finally:
        await stream.aclose()
    kept, cut = ending.final(end_of_document=end_of_document)
    tail = tokenizer.decode(ending.tokens[shown:kept]) + (CUT_MARK if cut else "")
    if tail:
        pieces.append(tail)
        yield tail
    text = "".join(pieces)
    yield GenerationResult(
        product=KIND.name,
        model=scheduler.bundle.name,
        text=text,
        tokens=kept,
        notes=notes,
        extras={
            "seed": seed,
            "continuation": text[len(prompt) :],
            "temperature": params.temperature,
        },
        first_token_s=timer.first_token_s,
        total_s=timer.total_s,
    )
