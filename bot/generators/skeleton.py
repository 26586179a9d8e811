"""What every generator shares: the request's settings, its clock, sampling a stream of tokens,
the sentence-ended reply of prose and stories, and the result.

A generator checks its own options, calls :func:`prepare`, and hands :func:`generation` a body:
an async generator that yields the reply's text pieces and, last, a :class:`Finish` with its
token count and extras. The skeleton forwards the pieces, keeps their text (``run.text``, so
``"".join(pieces) == result.text`` always) and builds the GenerationResult.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.engine.ending import Ending, EndRule
from bot.engine.sampling import SamplingParams
from bot.generators.base import Generation, GenerationResult
from bot.generators.common import CUT_MARK, resolve_seed, sampling_params
from bot.products import Kind

if TYPE_CHECKING:
    from bot.engine.scheduler import Scheduler, TokenStream


class TextGeneration(Generation):
    """Runs a product's async generator: it yields text pieces, then one GenerationResult.

    ``"".join(pieces) == result.text`` for every product, so a frontend may show either.
    A frontend that may stop early should ``await generation.aclose()`` in a ``finally``
    (or use ``contextlib.aclosing``): that frees the request's batch slot at once.
    """

    def __init__(self, body: AsyncGenerator[str | GenerationResult, None]) -> None:
        self.result = None
        self._body = body

    async def __anext__(self) -> str:
        item = await self._body.__anext__()
        if isinstance(item, GenerationResult):
            self.result = item
            await self._body.aclose()
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        await self._body.aclose()


class Timer:
    """Latency to the first sampled token and total time of one request."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first_token_s: float | None = None

    def token(self) -> None:
        if self.first_token_s is None:
            self.first_token_s = time.perf_counter() - self.start

    @property
    def total_s(self) -> float:
        return time.perf_counter() - self.start


@dataclass
class Run:
    """One request: the product's kind, the model's scheduler, the sampling settings and seed,
    the notes for the user, the clock and the text shown so far."""

    kind: Kind
    scheduler: Scheduler
    params: SamplingParams
    seed: int
    notes: list[str] = field(default_factory=list)
    timer: Timer = field(default_factory=Timer)
    text: str = ""

    @property
    def eos(self) -> int:
        return self.scheduler.bundle.tokenizer.eos_id

    def submit(
        self,
        start: list[int],
        *,
        max_tokens: int,
        end_rule: EndRule | None = None,
        seed: int | tuple[int, int] | None = None,
    ) -> TokenStream:
        """Queue one sequence (raises Busy at once), stopping at the end token."""
        return self.scheduler.submit(
            start,
            params=self.params,
            seed=self.seed if seed is None else seed,
            max_tokens=max_tokens,
            stop_ids={self.eos},
            end_rule=end_rule,
        )

    @asynccontextmanager
    async def sampling(
        self, start: list[int], *, max_tokens: int, end_rule: EndRule | None = None
    ) -> AsyncIterator[_Timed]:
        """Submit now; iterate the tokens (each one clocked); the stream is closed on exit."""
        stream = self.submit(start, max_tokens=max_tokens, end_rule=end_rule)
        try:
            yield _Timed(stream, self.timer)
        finally:
            await stream.aclose()


class _Timed:
    """A token stream that tells the request's clock of every token."""

    def __init__(self, stream: TokenStream, timer: Timer) -> None:
        self._stream = stream
        self._timer = timer

    def __aiter__(self) -> _Timed:
        return self

    async def __anext__(self) -> int:
        token = await self._stream.__anext__()
        self._timer.token()
        return token


@dataclass(frozen=True)
class Finish:
    """The body's last item: tokens sampled and the product's extras."""

    tokens: int
    extras: dict[str, Any]


def prepare(
    kind: Kind,
    scheduler: Scheduler,
    *,
    temperature: float | None,
    seed: int | None,
    top_k: int | None,
    top_p: float | None,
) -> Run:
    """Check the sampling options and draw a seed when none is given."""
    params = sampling_params(
        scheduler.bundle.meta,
        temperature,
        repeat_limit=kind.repeat_limit,
        top_k=top_k,
        top_p=top_p,
    )
    return Run(kind, scheduler, params, resolve_seed(seed))


def generation(run: Run, body: Callable[[Run], AsyncGenerator[str | Finish, None]]) -> Generation:
    """The Generation that runs ``body(run)`` when it is first iterated."""
    return TextGeneration(_stream(run, body))


async def _stream(
    run: Run, body: Callable[[Run], AsyncGenerator[str | Finish, None]]
) -> AsyncGenerator[str | GenerationResult, None]:
    run.timer = Timer()  # the clock starts when the request does
    finish: Finish | None = None
    async with aclosing(body(run)) as items:
        async for item in items:
            if isinstance(item, Finish):
                finish = item
                continue
            run.text += item
            yield item
    assert finish is not None, "a generator's body ends with a Finish"
    yield GenerationResult(
        kind=run.kind.name,
        model=run.scheduler.bundle.name,
        text=run.text,
        tokens=finish.tokens,
        notes=run.notes,
        extras={"seed": run.seed, **finish.extras, "temperature": run.params.temperature},
        first_token_s=run.timer.first_token_s,
        total_s=run.timer.total_s,
    )


class SentenceReply:
    """A prose or story reply under an :class:`EndRule` (:mod:`bot.engine.ending`): the text
    of the tokens as they may be shown, then the kept tail, with the cut mark if it was cut.

    ``render(a, b)``: the new text of the reply's tokens ``a`` to ``b``."""

    def __init__(self, run: Run, start: list[int], length: int) -> None:
        self.rule = EndRule(run.scheduler.marks, length)
        self.ending = Ending(self.rule, start)
        self.kept = 0  # tokens kept, once the reply is done

    async def pieces(
        self, tokens: AsyncIterator[int], eos: int, render: Callable[[int, int], str]
    ) -> AsyncIterator[str]:
        ending, shown, end_of_document = self.ending, 0, False
        async for token in tokens:
            if token == eos:
                end_of_document = True
                break
            ending.feed(token)
            if ending.shown > shown:
                piece, shown = render(shown, ending.shown), ending.shown
                if piece:
                    yield piece
            if ending.done:
                break
        self.kept, cut = ending.final(end_of_document=end_of_document)
        if tail := render(shown, self.kept) + (CUT_MARK if cut else ""):
            yield tail
