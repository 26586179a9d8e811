"""story: continue seed words with a word-level model (/story, /write), detokenized for reading."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from bot.engine.kinds import KindName
from bot.engine.tokenizer import detokenize_words, split_words
from bot.generators.base import Generation, InvalidRequest
from bot.generators.common import clean_prompt
from bot.generators.skeleton import Finish, Run, SentenceReply, generation, prepare
from bot.products import KINDS

if TYPE_CHECKING:
    from bot.engine.engine import Engine
    from bot.engine.tokenizer import Tokenizer

KIND = KINDS[KindName.STORY]
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
    run = prepare(KIND, scheduler, temperature=temperature, seed=seed, top_k=top_k, top_p=top_p)
    text, run.notes = clean_prompt(seed_words)
    words = split_words(text)
    if not any(w[:1].isalnum() for w in words):
        raise InvalidRequest("Give me at least one seed word, e.g. 'a fox'.")
    if len(words) > MAX_SEED_TOKENS:
        words = words[-MAX_SEED_TOKENS:]
        run.notes.append(f"The seed was long, so only its last {MAX_SEED_TOKENS} words were used.")
    tokenizer = scheduler.bundle.tokenizer
    encoded = tokenizer.encode(" ".join(words))
    if encoded.unknown:
        shown = ", ".join(repr(w) for w in encoded.unknown[:20])
        run.notes.append(f"Not in the {model} vocabulary (read as unknown): {shown}")
    start = [tokenizer.eos_id, tokenizer.bos_id, *encoded.ids]

    async def body(run: Run) -> AsyncGenerator[str | Finish, None]:
        reply = SentenceReply(run, start, length)

        def render(_: int, upto: int) -> str:
            return _extend(run.text, words, tokenizer, reply.ending.tokens[:upto])

        yield detokenize_words(words)
        max_tokens = min(10_000, 3 * length + 10)  # punctuation beside the words
        async with run.sampling(start, max_tokens=max_tokens, end_rule=reply.rule) as tokens:
            async for piece in reply.pieces(tokens, run.eos, render):
                yield piece
        kept = reply.ending.tokens[: reply.kept]
        yield Finish(reply.kept, {"words": sum(t in reply.rule.marks.words for t in kept)})

    return generation(run, body)


def _extend(text: str, seed_tokens: list[str], tokenizer: Tokenizer, ids: list[int]) -> str:
    """The new text the seed and ``ids`` add after ``text`` (detokenizing is prefix-stable)."""
    full = detokenize_words([*seed_tokens, *(tokenizer.token_text(i) for i in ids)])
    return full[len(text) :] if full.startswith(text) else ""
