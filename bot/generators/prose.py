"""prose: continue a prompt in the style of a character model's corpus (/lovecraft, /write)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from bot.engine.kinds import KindName
from bot.generators.base import Generation, InvalidRequest
from bot.generators.common import clean_prompt, encode_chars, oov_note
from bot.generators.skeleton import Finish, Run, SentenceReply, generation, prepare
from bot.products import KINDS

if TYPE_CHECKING:
    from bot.engine.engine import Engine

KIND = KINDS[KindName.PROSE]
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
    run = prepare(KIND, scheduler, temperature=temperature, seed=seed, top_k=top_k, top_p=top_p)
    text, run.notes = clean_prompt(prompt)
    if not text.strip():
        raise InvalidRequest("Give me a beginning to continue, e.g. 'The door'.")
    tokenizer = scheduler.bundle.tokenizer
    ids, missing = encode_chars(tokenizer, text)
    if missing:
        run.notes.append(oov_note(missing, model, "left out"))
    start = [tokenizer.eos_id, tokenizer.bos_id, *ids]

    async def body(run: Run) -> AsyncGenerator[str | Finish, None]:
        reply = SentenceReply(run, start, length)
        decode = scheduler.bundle.tokenizer.decode
        # the rule ends it first: at the length, or after a break
        async with run.sampling(start, max_tokens=length + 1, end_rule=reply.rule) as tokens:
            yield text
            async for piece in reply.pieces(
                tokens, run.eos, lambda a, b: decode(reply.ending.tokens[a:b])
            ):
                yield piece
        continuation = run.text[len(text) :]
        yield Finish(reply.kept, {"continuation": continuation})

    return generation(run, body)
