"""Streaming replies against a recording sink: edit rate, 2,000-char pages, stop, errors."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace

import discord
import pytest

from bot.discord.streaming import CURSOR, InteractionSink, ReplyGone, StreamingReply


class RecordingSink:
    def __init__(self, delay: float = 0.0, fail_first: int = 0, gone_after: int | None = None):
        self.delay = delay
        self.fail_first = fail_first
        self.gone_after = gone_after  # shows that succeed before the message is deleted
        self.attempts = 0
        self.calls: list[tuple[float, int, str]] = []
        self.messages: dict[int, str] = {}
        self.removed: list[int] = []

    async def show(self, index: int, content: str) -> None:
        await asyncio.sleep(self.delay)
        self.attempts += 1
        if self.gone_after is not None and self.attempts > self.gone_after:
            raise ReplyGone("404 Not Found (error code: 10008): Unknown Message")
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("HTTP 500")
        self.calls.append((time.monotonic(), index, content))
        self.messages[index] = content

    async def remove(self, index: int) -> None:
        self.removed.append(index)
        del self.messages[index]


async def pieces(items: list[str], gap: float) -> AsyncIterator[str]:
    for item in items:
        await asyncio.sleep(gap)
        yield item


async def test_edits_are_rate_limited_and_final_text_wins() -> None:
    sink = RecordingSink()
    reply = StreamingReply(sink, interval=0.1)
    start = time.monotonic()
    assert await reply.stream(pieces([f"w{i} " for i in range(60)], 0.01))
    await reply.finish("THE END")
    elapsed = time.monotonic() - start  # >= 0.6 s, longer on a slow or busy machine
    times = [t for t, _, _ in sink.calls]
    # at most one edit per interval over the time it took (+1 for the very first), and
    # several: the text streamed for at least 0.6 s
    assert 3 <= len(times) <= elapsed / 0.1 + 1
    assert all(b - a >= 0.1 - 0.005 for a, b in itertools.pairwise(times))
    assert sink.calls[0][2].endswith(CURSOR)
    assert sink.messages == {0: "THE END"}
    assert reply.text == "".join(f"w{i} " for i in range(60))
    assert reply.first_piece_at is not None


async def test_long_text_spans_messages_within_the_limit() -> None:
    sink = RecordingSink()
    reply = StreamingReply(sink, interval=0.05, limit=200, max_messages=3)
    words = [f"word{i} " for i in range(90)]  # ~630 chars: more than 3 pages of 200
    assert await reply.stream(pieces(words, 0.002))
    final = "".join(words)
    await reply.finish(final)
    assert all(len(content) <= 200 for _, _, content in sink.calls)
    assert sorted(sink.messages) == [0, 1, 2]
    assert sink.messages[2].endswith("-# (truncated)")
    shown = " ".join(sink.messages[i] for i in (0, 1))
    assert final.startswith(shown)

    await reply.finish("short now")  # a final text with fewer pages drops the extra messages
    assert sink.messages == {0: "short now"} and sink.removed == [2, 1]


async def test_slow_edits_do_not_slow_the_generation() -> None:
    """Every edit is held until the generation has ended: all 40 pieces must be read while
    the first edit is still in flight (if reading waited for edits, this would time out)."""
    all_read = asyncio.Event()

    class HeldSink(RecordingSink):
        async def show(self, index: int, content: str) -> None:
            await asyncio.wait_for(all_read.wait(), 30)
            await super().show(index, content)

    async def counted() -> AsyncIterator[str]:
        async for piece in pieces(["x"] * 40, 0.001):
            yield piece
        all_read.set()

    sink = HeldSink()
    reply = StreamingReply(sink, interval=0.05)
    assert await reply.stream(counted())
    assert reply.text == "x" * 40
    assert len(sink.calls) == 1 and sink.calls[0][2].startswith("x")  # one edit, then done


async def test_stop_abandons_the_generation() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[str]:
        try:
            while True:
                await asyncio.sleep(0.01)
                yield "la "
        finally:
            closed.set()

    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.15, stop.set)
    reply = StreamingReply(RecordingSink(), interval=0.05)
    assert await reply.stream(endless(), stop) is False
    assert closed.is_set()
    assert reply.text.startswith("la ")


async def test_generation_error_propagates_after_preview() -> None:
    async def failing() -> AsyncIterator[str]:
        yield "half a sen"
        await asyncio.sleep(0.05)
        raise ValueError("engine exploded")

    sink = RecordingSink()
    reply = StreamingReply(sink, interval=0.01)
    with pytest.raises(ValueError, match="exploded"):
        await reply.stream(failing())
    assert sink.messages[0].startswith("half a sen")


async def test_failed_preview_edit_is_retried_later() -> None:
    sink = RecordingSink(fail_first=1)
    reply = StreamingReply(sink, interval=0.05)
    assert await reply.stream(pieces(["a", "b", "c", "d"], 0.04))
    await reply.finish("abcd!")
    assert sink.messages == {0: "abcd!"}


async def test_preview_is_neutralized() -> None:
    sink = RecordingSink()
    reply = StreamingReply(sink, interval=0.01)
    await reply.stream(pieces(["hey @every", "one"], 0.02))
    assert all("@everyone" not in content for _, _, content in sink.calls)


async def test_a_deleted_reply_stops_the_generation_at_once() -> None:
    """The message is deleted after the first preview: the next edit meets 404 Unknown
    Message, and the (endless) generation is cancelled; nothing more is sent."""
    closed = asyncio.Event()
    produced = 0

    async def endless() -> AsyncIterator[str]:
        nonlocal produced
        try:
            while True:
                await asyncio.sleep(0.002)
                produced += 1
                yield "la "
        finally:
            closed.set()

    sink = RecordingSink(gone_after=1)
    reply = StreamingReply(sink, interval=0.02)
    assert await asyncio.wait_for(reply.stream(endless()), 30) is False
    assert reply.gone and closed.is_set()
    assert sink.attempts == 2 and len(sink.calls) == 1  # one preview shown, one edit failed
    at_stop = produced
    await asyncio.sleep(0.05)
    assert produced == at_stop  # nothing is generated any more


async def test_a_reply_deleted_during_the_final_edit_raises_reply_gone() -> None:
    sink = RecordingSink(gone_after=0)
    reply = StreamingReply(sink, interval=0.01)
    with pytest.raises(ReplyGone):
        await reply.finish("the end")


@pytest.mark.parametrize(("code", "gone"), [(10008, True), (10015, True), (10003, False)])
async def test_interaction_sink_maps_unknown_message_and_webhook_to_reply_gone(
    code: int, gone: bool
) -> None:
    """404 Unknown Message (10008) / Unknown Webhook (10015): the reply is gone; another
    404 (e.g. Unknown Channel) stays an HTTP error."""
    response = SimpleNamespace(status=404, reason="Not Found")
    error = discord.NotFound(response, {"code": code, "message": "Unknown"})  # type: ignore[arg-type]

    async def edit_original_response(**_: object) -> None:
        raise error

    sink = InteractionSink(SimpleNamespace(edit_original_response=edit_original_response))  # type: ignore[arg-type]
    with pytest.raises(ReplyGone if gone else discord.NotFound):
        await sink.show(0, "text")
