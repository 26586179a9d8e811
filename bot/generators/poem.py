"""poem: a poem from a poems model, formatted as stanzas, with an originality figure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from bot.engine.ngrams import originality
from bot.engine.sampling import SamplingParams
from bot.generators.base import Generation, GenerationResult
from bot.generators.common import (
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

KIND = KINDS["poem"]
LINES = KIND.option("lines")
TOKENS_PER_LINE = 100  # token budget per requested line (lines are rarely longer)


class PoemFormatter:
    """Streams poem characters as display text: indentation kept, trailing spaces dropped,
    runs of blank lines collapsed to one stanza break, no blank lines at either end."""

    def __init__(self) -> None:
        self.started = False
        self.newlines = 0  # line breaks seen since the last visible character
        self.spaces = ""  # whitespace not yet known to be inside a line
        self.line_has_text = False
        self.lines = 0  # lines with text completed so far

    def feed(self, ch: str) -> str:
        if ch == "\n":
            self.spaces = ""
            if self.line_has_text:
                self.lines += 1
            self.line_has_text = False
            self.newlines += 1
            return ""
        if ch.isspace():
            self.spaces += " "
            return ""
        out = ""
        if self.started and self.newlines:
            out = "\n" if self.newlines == 1 else "\n\n"
        out += self.spaces + ch
        self.started, self.newlines, self.spaces, self.line_has_text = True, 0, "", True
        return out

    def total_lines(self) -> int:
        return self.lines + self.line_has_text


def poem(
    engine: Engine,
    *,
    model: str,
    first_line: str | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    max_lines: int = LINES.default,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Generation:
    """A poem of at most ``max_lines`` lines, optionally starting with ``first_line``.

    ``result.extras["originality"]``: share of the poem's word 4-grams absent from the training
    corpus (None when the poem is shorter than four words or the corpus artefact is missing).
    """
    LINES.check(max_lines)
    scheduler = engine.scheduler(model)
    bundle = scheduler.bundle
    params = sampling_params(
        bundle.meta, temperature, repeat_limit=KIND.repeat_limit, top_k=top_k, top_p=top_p
    )
    seed = resolve_seed(seed)
    tokenizer = bundle.tokenizer
    notes: list[str] = []
    line = ""
    if first_line is not None:
        line, notes = clean_prompt(first_line.replace("\n", " "), int(KIND.text.high or 0))
        line = line.rstrip()
        if not line:
            notes.append("The first line was empty, so the poem starts freely.")
    start = [tokenizer.eos_id, tokenizer.bos_id]
    if line:
        ids, missing = encode_chars(tokenizer, line + "\n")
        if missing:
            notes.append(oov_note(missing, model, "left out"))
        start += ids
    return TextGeneration(_run(scheduler, line, start, params, seed, max_lines, notes))


async def _run(
    scheduler: Scheduler,
    first_line: str,
    start: list[int],
    params: SamplingParams,
    seed: int,
    max_lines: int,
    notes: list[str],
) -> AsyncIterator[str | GenerationResult]:
    timer = Timer()
    bundle = scheduler.bundle
    tokenizer = bundle.tokenizer
    formatter = PoemFormatter()
    pieces: list[str] = []
    for ch in (first_line + "\n") if first_line else "":
        if piece := formatter.feed(ch):
            pieces.append(piece)
            yield piece
    tokens = 0
    if formatter.lines < max_lines:
        stream = scheduler.submit(
            start,
            params=params,
            seed=seed,
            max_tokens=min(10_000, max_lines * TOKENS_PER_LINE),
            stop_ids={tokenizer.eos_id},
        )
        try:
            async for token in stream:
                timer.token()
                tokens += 1
                if token == tokenizer.eos_id:
                    break
                if piece := formatter.feed(tokenizer.token_text(token)):
                    pieces.append(piece)
                    yield piece
                if formatter.lines >= max_lines:
                    break
        finally:
            await stream.aclose()
    text = "".join(pieces)
    if not text:
        notes.append("The model ended the poem at once; try another seed.")
    corpus = bundle.ngram_hashes
    score = originality(text, corpus) if corpus is not None else None
    if corpus is None:
        notes.append("Originality is unavailable: the model has no corpus 4-gram file.")
    yield GenerationResult(
        product=KIND.name,
        model=bundle.name,
        text=text,
        tokens=tokens,
        notes=notes,
        extras={
            "seed": seed,
            "originality": score,
            "lines": formatter.total_lines(),
            "stanzas": len(text.split("\n\n")) if text else 0,
            "temperature": params.temperature,
        },
        first_token_s=timer.first_token_s,
        total_s=timer.total_s,
    )
