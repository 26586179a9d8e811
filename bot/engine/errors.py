"""Why a request cannot be served; every frontend maps these to its own answer.

They live in the engine because the scheduler raises them; generators and frontends import
them from here (``bot.generators.base`` re-exports them for the generators' callers).
"""

from __future__ import annotations


class GenerationError(Exception):
    """A request that cannot be served; ``str(exc)`` is a short message fit for the user."""


class InvalidRequest(GenerationError):
    """Bad options or prompt (out of range, empty where text is required, ...)."""


class Busy(GenerationError):
    """The engine's queue is full; the user should try again shortly."""


class UnknownModel(GenerationError):
    """The requested model is not loaded (missing or failed to load)."""
