"""Continuous batching for one model: a worker thread advances every active request per ORT call.

The worker never touches the event loop's objects directly: requests arrive through a
locked pending queue, and sampled tokens go back through one mailbox per loop, which wakes
the loop for first and last tokens at once and otherwise at most every 5 ms. Between steps
the worker drops finished or cancelled requests and admits new ones; a new request's prompt
is primed in one multi-step call (requests with equal prompt length are primed together),
then it joins the batch. Each request samples with its own seeded RNG, so its tokens do not
depend on its batch-mates (see ``tests/test_scheduler.py``). Priming, masking and sampling
are ``bot.engine.decode``'s, the loop the evaluator draws the model card's samples with.

A batched ORT call that raises is retried one sequence at a time, so only a request that
fails on its own gets the error (a plain message; the ORT details ride along as its
``__cause__`` for the frontend's log), and its batch-mates go on with unchanged tokens.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np

from bot.engine.bundle import ModelBundle
from bot.engine.decode import Row, drop_done, prime, step
from bot.engine.ending import EndRule, Marks
from bot.engine.errors import Busy, GenerationError, InvalidRequest
from bot.engine.guard import Lexicon
from bot.engine.sampling import SamplingParams

log = logging.getLogger(__name__)

MAX_TOKENS_PER_REQUEST = 10_000
WAKE_INTERVAL_S = 0.005  # a running stream's tokens reach its event loop at least this often
_END = object()  # queue sentinel: the stream finished normally


@dataclass(eq=False, kw_only=True)
class _Sequence(Row):
    """Worker-side state of one request: a row of the shared sampling loop, and its stream.
    ``finished``: it left (or must leave) the batch."""

    stream: TokenStream

    def done(self) -> bool:
        return self.finished or self.stream.cancelled


class TokenStream:
    """Async iterator of sampled token ids for one request.

    Ends after a stop token (which is yielded) or ``max_tokens``. ``cancel()`` (also called
    by ``aclose()`` and when the consuming task is cancelled) frees the request's slot at once.
    """

    def __init__(self, scheduler: Scheduler, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduler = scheduler
        self.loop = loop
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self.cancelled = False  # set by the consumer, read by the worker
        self.released = False  # slot given back; changed only under the scheduler's lock
        self._finished = False  # consumer-side: nothing more to read

    def __aiter__(self) -> TokenStream:
        return self

    async def __anext__(self) -> int:
        if self._finished:
            raise StopAsyncIteration
        try:
            item = await self._queue.get()
        except asyncio.CancelledError:
            self.cancel()
            raise
        if item is _END:
            self._finished = True
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._finished = True
            raise item
        return item  # type: ignore[return-value]  # the queue holds ids, _END or errors

    def cancel(self) -> None:
        """Stop generating and free the slot (idempotent)."""
        if not self._finished:
            self._finished = True
            self.cancelled = True
            self._scheduler._release(self)

    async def aclose(self) -> None:
        self.cancel()

    def _deliver(self, items: Iterable[object]) -> None:
        if not self.cancelled:
            for item in items:
                self._queue.put_nowait(item)


class Scheduler:
    """Serves one model to many concurrent requests with continuous batching."""

    def __init__(self, bundle: ModelBundle, *, max_batch: int = 32, max_queue: int = 256) -> None:
        if max_batch < 1 or max_queue < 0:
            raise ValueError("max_batch must be >= 1 and max_queue >= 0")
        self.bundle = bundle
        self.lexicon = Lexicon.of(bundle.tokenizer)  # every request has the word guard
        self.marks = Marks.of(bundle.tokenizer)  # for the generators' sentence-end rules
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._lock = threading.Condition()
        self._pending: deque[_Sequence] = deque()
        self._load = 0  # admitted requests not yet finished or cancelled (active + pending)
        self._closed = False
        self._thread: threading.Thread | None = None
        self._mailboxes: dict[asyncio.AbstractEventLoop, _Mailbox] = {}  # worker thread only
        self.steps = 0  # ORT calls made (priming and sampling), for tests and stats
        self.max_batch_seen = 0
        self.last_batch = 0  # sequences in the latest ORT call (read by the metrics)
        self.sequence_steps = 0  # sum of every ORT call's batch size: / steps = mean batch

    @property
    def load(self) -> int:
        """Requests active or waiting."""
        with self._lock:
            return self._load

    @property
    def waiting(self) -> int:
        """Requests admitted and not yet in the batch (the queue's depth)."""
        with self._lock:
            return len(self._pending)

    def submit(
        self,
        prompt: Sequence[int],
        *,
        params: SamplingParams,
        seed: int | Sequence[int],
        max_tokens: int,
        stop_ids: Iterable[int] = (),
        end_rule: EndRule | None = None,
    ) -> TokenStream:
        """Queue a request; must be called from a running event loop. With ``end_rule`` the
        request also ends where that rule ends a reply (at a sentence end, within a length).

        Raises Busy when ``max_batch`` requests run and ``max_queue`` more are waiting.
        """
        if not prompt:
            raise InvalidRequest("Nothing to start from (empty prompt).")
        if not 1 <= max_tokens <= MAX_TOKENS_PER_REQUEST:
            raise InvalidRequest(f"Token limit must be 1-{MAX_TOKENS_PER_REQUEST}.")
        vocab = self.bundle.meta.vocab_size
        ids = np.asarray(prompt, dtype=np.int64)
        if ids.ndim != 1 or ids.min() < 0 or ids.max() >= vocab:
            raise ValueError(f"prompt token ids must be in [0, {vocab})")
        stream = TokenStream(self, asyncio.get_running_loop())
        seq = _Sequence(
            ids,
            params,
            np.random.default_rng(seed),
            max_tokens,
            frozenset(stop_ids),
            self.lexicon,
            end_rule,
            stream=stream,
        )
        with self._lock:
            if self._closed:
                raise GenerationError("The engine is shutting down.")
            if self._load >= self.max_batch + self.max_queue:
                raise Busy("The model is busy right now; please try again in a moment.")
            self._load += 1
            self._pending.append(seq)
            self._start_worker()
            self._lock.notify()
        return stream

    def _start_worker(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name=f"scheduler-{self.bundle.name}", daemon=True
            )
            self._thread.start()

    def _release(self, stream: TokenStream) -> None:
        with self._lock:
            if not stream.released:
                stream.released = True
                self._load -= 1
                self._lock.notify()

    async def aclose(self) -> None:
        """Stop the worker; requests still running end with an error."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    # -- worker thread -------------------------------------------------------------------------

    def _work(self) -> None:
        active: list[_Sequence] = []
        h = c = np.zeros((0,), np.float32)
        while True:
            with self._lock:
                while not self._closed and not self._pending and not active:
                    self._lock.wait()
                if self._closed:
                    leftovers = active + list(self._pending)
                    self._pending.clear()
                    break
                keep = [i for i, s in enumerate(active) if not s.done()]
                joining: list[_Sequence] = []
                while self._pending and len(keep) + len(joining) < self.max_batch:
                    seq = self._pending.popleft()
                    if not seq.stream.cancelled:
                        joining.append(seq)
            out: dict[asyncio.AbstractEventLoop, list[tuple[TokenStream, list[object]]]] = {}
            run_rows = partial(self._run_isolated, out=out)
            try:
                if len(keep) != len(active):
                    active = [active[i] for i in keep]
                    h, c = h[:, keep], c[:, keep]
                if joining:
                    new_h, new_c, sampled = prime(run_rows, self.bundle, joining)
                    self._deliver(sampled, out)
                    joined, new_h, new_c = drop_done(joining, new_h, new_c)
                    if active:
                        active += joined
                        h = np.concatenate([h, new_h], axis=1)
                        c = np.concatenate([c, new_c], axis=1)
                    else:
                        active, h, c = joined, new_h, new_c
                if active:
                    active, h, c, sampled = step(run_rows, self.bundle.never_sampled, active, h, c)
                    self._deliver(sampled, out)
                    active, h, c = drop_done(active, h, c)
            except Exception as exc:  # a bug outside the ORT calls must not kill the worker
                log.exception("%s scheduler step failed", self.bundle.name)
                for seq in active + joining:
                    self._finish(seq, out, self._failure(exc))
                active = []
            self._flush(out)
        out = {}
        for seq in leftovers:
            self._finish(seq, out, GenerationError("The engine is shutting down."))
        self._flush(out)

    def _count_step(self, batch: int) -> None:
        self.steps += 1
        self.max_batch_seen = max(self.max_batch_seen, batch)
        self.last_batch = batch
        self.sequence_steps += batch

    def _run_isolated(
        self, seqs: list[_Sequence], tokens: np.ndarray, h: np.ndarray, c: np.ndarray, out: dict
    ) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
        """The scheduler's ``RunRows``: one ORT call for ``seqs``; if it raises, one call per
        sequence, and only those that fail alone are finished with the error. Returns the
        indices that ran and their (logits, h, c). ORT gives a row the same bits at any batch
        size, so the survivors' tokens are unchanged."""
        try:
            logits, h_out, c_out = self.bundle.run(
                tokens, np.ascontiguousarray(h), np.ascontiguousarray(c)
            )
            self._count_step(len(seqs))
            return list(range(len(seqs))), logits, h_out, c_out
        except Exception as exc:
            if len(seqs) == 1:
                self._finish(seqs[0], out, self._failure(exc))
                return [], *self._empty_rows(h)
            log.warning(
                "%s: a batched call of %d sequences failed (%s); retrying one at a time",
                self.bundle.name,
                len(seqs),
                exc,
            )
        ran: list[int] = []
        rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for i, seq in enumerate(seqs):
            try:
                rows.append(
                    self.bundle.run(
                        tokens[i : i + 1],
                        np.ascontiguousarray(h[:, i : i + 1]),
                        np.ascontiguousarray(c[:, i : i + 1]),
                    )
                )
            except Exception as exc:
                self._finish(seq, out, self._failure(exc))
                continue
            self._count_step(1)
            ran.append(i)
        if not rows:
            return [], *self._empty_rows(h)
        logits = np.concatenate([r[0] for r in rows])
        h_out = np.concatenate([r[1] for r in rows], axis=1)
        c_out = np.concatenate([r[2] for r in rows], axis=1)
        return ran, logits, h_out, c_out

    def _empty_rows(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Logits and state for zero sequences."""
        state = np.zeros((h.shape[0], 0, h.shape[2]), np.float32)
        return np.zeros((0, self.bundle.meta.vocab_size), np.float32), state, state.copy()

    def _failure(self, cause: Exception) -> GenerationError:
        """The user's error: a plain message, with the model's own error as its cause."""
        error = GenerationError(f"The {self.bundle.name} model could not process this request.")
        error.__cause__ = cause
        return error

    def _deliver(self, sampled: list[_Sequence], out: dict) -> None:
        """Queue each sampled token for its stream; a finished one also ends the stream."""
        for seq in sampled:
            items: list[object] = [seq.history[-1]]
            if seq.finished:
                items.append(_END)
                self._release(seq.stream)
            out.setdefault(seq.stream.loop, []).append((seq.stream, items))

    def _finish(self, seq: _Sequence, out: dict, error: BaseException) -> None:
        seq.finished = True
        self._release(seq.stream)
        out.setdefault(seq.stream.loop, []).append((seq.stream, [error]))

    def _flush(
        self, out: dict[asyncio.AbstractEventLoop, list[tuple[TokenStream, list[object]]]]
    ) -> None:
        for loop, deliveries in out.items():
            if loop.is_closed():
                self._mailboxes.pop(loop, None)
                continue
            if loop not in self._mailboxes:
                self._mailboxes[loop] = _Mailbox(loop)
            self._mailboxes[loop].post(deliveries)


class _Mailbox:
    """Deliveries from the worker to one event loop: few wake-ups, order kept.

    Waking a loop (``call_soon_threadsafe``: a self-pipe write, the loop's wake-up, a thread
    switch) costs more per token than a small model's step. So a loop is woken at once for a
    stream's first token and its end (time to first text, and the slot's release), otherwise
    at most every ``WAKE_INTERVAL_S``; tokens in between wait in the box, and a wake-up
    drains everything there. Replies are edited at most every 0.2 s, so users never see it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._items: list[tuple[TokenStream, list[object]]] = []
        self._pending = False  # a wake-up is scheduled and has not drained yet
        self._last_wake = 0.0
        # streams with a delivery (worker thread only); weak, as a cancelled one never ends here
        self._started: weakref.WeakSet[TokenStream] = weakref.WeakSet()

    def post(self, deliveries: list[tuple[TokenStream, list[object]]]) -> None:
        urgent = False
        for stream, items in deliveries:
            if stream not in self._started:
                self._started.add(stream)
                urgent = True
            if items[-1] is _END or isinstance(items[-1], BaseException):
                self._started.discard(stream)
                urgent = True
        now = time.monotonic()
        with self._lock:
            self._items += deliveries
            if self._pending or not (urgent or now - self._last_wake >= WAKE_INTERVAL_S):
                return
            self._pending, self._last_wake = True, now
        self.loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            items, self._items, self._pending = self._items, [], False
        for stream, tokens in items:
            stream._deliver(tokens)
