"""What every generator returns: a stream of text pieces plus a final result.

Frontends (Discord cog, console, one-shot CLI) iterate ``async for piece in generation``
to show text as it is produced, then read ``generation.result`` for the formatted answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from bot.engine.errors import Busy, GenerationError, InvalidRequest, UnknownModel
from bot.engine.kinds import KindName

__all__ = [
    "Busy",
    "Generation",
    "GenerationError",
    "GenerationResult",
    "InvalidRequest",
    "UnknownModel",
]


@dataclass
class GenerationResult:
    """The finished answer of one request."""

    kind: KindName  # how it was generated (the product's kind)
    model: str  # name of the model that produced it
    text: str  # final text formatted for display (stanzas, name list, ...)
    tokens: int  # tokens sampled
    notes: list[str] = field(default_factory=list)  # user-facing remarks (e.g. OOV characters)
    extras: dict[str, Any] = field(default_factory=dict)  # originality, names, seed, ...
    first_token_s: float | None = None  # latency to the first sampled token
    total_s: float = 0.0


class Generation(AsyncIterator[str]):
    """An in-flight request: iterate for text pieces; ``result`` is set when iteration ends.

    ``aclose()`` (or cancelling the consuming task) cancels the request and frees its slot.
    """

    result: GenerationResult | None

    def __aiter__(self) -> Generation:
        return self

    async def __anext__(self) -> str:  # pragma: no cover - implemented by subclasses
        raise NotImplementedError

    async def aclose(self) -> None:  # pragma: no cover - implemented by subclasses
        raise NotImplementedError
