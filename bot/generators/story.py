"""story: continue seed words with a word-level model (/story, /write), detokenized for reading."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bot.engine.ending import Ending, EndRule
from bot.engine.sampling import SamplingParams
from bot.engine.tokenizer import detokenize_words, split_words
from bot.generators.base import Generation, GenerationResult, InvalidRequest
from bot.generators.common import (
    CUT_MARK,
    TextGeneration,
    Timer,
    clean_prompt,
    resolve_seed,
    sampling_params,
)
from bot.products import KINDS

if TYPE_CHECKING:
    from bot.engine.engine import Engine
    from bot.engine.scheduler import Scheduler
    from bot.engine.tokenizer import Tokenizer

KIND = KINDS["story"]
LENGTH = KIND.option("length")
MAX_SEED_TOKENS = 200  # longer seeds keep their last 200 words and marks


def story(
    engine: Engine,
    *,
    model: str,
    seed_words: str,
    length: int = LENGTH.default,
    temperature: float | None = None,
    seed: int | None = None,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Generation:
    """Continue ``seed_words`` by at most ``length`` words, ending at a sentence end
    (:mod:`bot.engine.ending`). Seed words outside the vocabulary are reported and read as
    the unknown token."""
    LENGTH.check(length)
    scheduler = engine.scheduler(model)
    bundle = scheduler.bundle
    params = sampling_params(
        bundle.meta, temperature, repeat_limit=KIND.repeat_limit, top_k=top_k, top_p=top_p
    )
    seed = resolve_seed(seed)
    text, notes = clean_prompt(seed_words)
    words = split_words(text)
    if not any(w[:1].isalnum() for w in words):
        raise InvalidRequest("Give me at least one seed word, e.g. 'a fox'.")
    if len(words) > MAX_SEED_TOKENS:
        words = words[-MAX_SEED_TOKENS:]
        notes.append(f"The seed was long, so only its last {MAX_SEED_TOKENS} words were used.")
    tokenizer = bundle.tokenizer
    encoded = tokenizer.encode(" ".join(words))
    if encoded.unknown:
        shown = ", ".join(repr(w) for w in encoded.unknown[:20])
        notes.append(f"Not in the {model} vocabulary (read as unknown): {shown}")
    start = [tokenizer.eos_id, tokenizer.bos_id, *encoded.ids]
    return TextGeneration(_run(scheduler, words, start, params, seed, length, notes))


async def _run(
    scheduler: Scheduler,
    seed_tokens: list[str],
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
    text = detokenize_words(seed_tokens)
    yield text
    stream = scheduler.submit(
        start,
        params=params,
        seed=seed,
        max_tokens=min(10_000, 3 * length + 10),  # punctuation beside the words
        stop_ids={tokenizer.eos_id},
        end_rule=rule,
    )
    shown = 0
    end_of_document = False
    try:
        async for token in stream:
            timer.token()
            if token == tokenizer.eos_id:
                end_of_document = True
                break
            ending.feed(token)
            if ending.shown > shown:
                shown = ending.shown
                if piece := _extend(text, seed_tokens, tokenizer, ending.tokens[:shown]):
                    text += piece
                    yield piece
            if ending.done:
                break
    finally:
        await stream.aclose()
    kept, cut = ending.final(end_of_document=end_of_document)
    tail = _extend(text, seed_tokens, tokenizer, ending.tokens[:kept]) + (CUT_MARK if cut else "")
    if tail:
        text += tail
        yield tail
    yield GenerationResult(
        product=KIND.name,
        model=scheduler.bundle.name,
        text=text,
        tokens=kept,
        notes=notes,
        extras={
            "seed": seed,
            "words": sum(t in rule.marks.words for t in ending.tokens[:kept]),
            "temperature": params.temperature,
        },
        first_token_s=timer.first_token_s,
        total_s=timer.total_s,
    )


def _extend(text: str, seed_tokens: list[str], tokenizer: Tokenizer, ids: list[int]) -> str:
    """The new text the seed and ``ids`` add after ``text`` (detokenizing is prefix-stable)."""
    full = detokenize_words([*seed_tokens, *(tokenizer.token_text(i) for i in ids)])
    return full[len(text) :] if full.startswith(text) else ""
