"""poem: a poem from a poems model, formatted as stanzas, with an originality figure."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from bot.engine.kinds import KindName
from bot.engine.ngrams import originality
from bot.generators.base import Generation
from bot.generators.common import clean_prompt, encode_chars, oov_note
from bot.generators.skeleton import Finish, Run, generation, prepare
from bot.products import KINDS

if TYPE_CHECKING:
    from bot.engine.engine import Engine

KIND = KINDS[KindName.POEM]
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
    run = prepare(KIND, scheduler, temperature=temperature, seed=seed, top_k=top_k, top_p=top_p)
    bundle = scheduler.bundle
    tokenizer = bundle.tokenizer
    line = ""
    if first_line is not None:
        line, run.notes = clean_prompt(first_line.replace("\n", " "), int(KIND.text.high or 0))
        line = line.rstrip()
        if not line:
            run.notes.append("The first line was empty, so the poem starts freely.")
    start = [tokenizer.eos_id, tokenizer.bos_id]
    if line:
        ids, missing = encode_chars(tokenizer, line + "\n")
        if missing:
            run.notes.append(oov_note(missing, model, "left out"))
        start += ids

    async def body(run: Run) -> AsyncGenerator[str | Finish, None]:
        formatter = PoemFormatter()
        for ch in (line + "\n") if line else "":
            if piece := formatter.feed(ch):
                yield piece
        tokens = 0
        if formatter.lines < max_lines:
            max_tokens = min(10_000, max_lines * TOKENS_PER_LINE)
            async with run.sampling(start, max_tokens=max_tokens) as stream:
                async for token in stream:
                    tokens += 1
                    if token == run.eos:
                        break
                    if piece := formatter.feed(tokenizer.token_text(token)):
                        yield piece
                    if formatter.lines >= max_lines:
                        break
        text = run.text
        if not text:
            run.notes.append("The model ended the poem at once; try another seed.")
        corpus = bundle.ngram_hashes
        score = originality(text, corpus) if corpus is not None else None
        if corpus is None:
            run.notes.append("Originality is unavailable: the model has no corpus 4-gram file.")
        yield Finish(
            tokens,
            {
                "originality": score,
                "lines": formatter.total_lines(),
                "stanzas": len(text.split("\n\n")) if text else 0,
            },
        )

    return generation(run, body)
