"""The vocabulary the bot and training share: token levels, corpus kinds, generation kinds and
request statuses.

Each is a ``StrEnum``: a member *is* its string (``CorpusKind.POEMS == "poems"``), so NAME.json,
the evaluation reports, checkpoints and the request log hold the same bytes as before, and
files written earlier load unchanged. Code compares and looks up members instead of spelling
near-duplicate strings (``"poems"`` is a corpus, ``"poem"`` a way of generating).
"""

from __future__ import annotations

from enum import StrEnum


class Level(StrEnum):
    """What one token of a model is."""

    CHAR = "char"
    WORD = "word"


class CorpusKind(StrEnum):
    """How a corpus is read, cleaned and tokenised (training/data.py); kept in NAME.json."""

    PROSE = "prose"
    POEMS = "poems"
    NAMES = "names"
    WORDS = "words"

    @property
    def level(self) -> Level:
        """The level a model of this corpus is trained at: words for WORDS, else characters."""
        return Level.WORD if self is CorpusKind.WORDS else Level.CHAR


class KindName(StrEnum):
    """A way of generating (bot/products.py's ``Kind``): what a command runs on its model."""

    PROSE = "prose"
    POEM = "poem"
    NAMES = "names"
    STORY = "story"


class Status(StrEnum):
    """How a request ended, as the request log records it."""

    OK = "ok"
    REFUSED = "refused"  # a cooldown, a limit, shutting down, not allowed here
    INVALID = "invalid"  # bad options, or a command Discord has not updated yet
    BUSY = "busy"  # the engine's queue is full
    UNAVAILABLE = "unavailable"  # the model is not loaded, or the request log is down
    CANCELLED = "cancelled"  # the reply was deleted, or the request cancelled
    FAILED = "failed"  # Discord did not take the answer
    ERROR = "error"  # the model failed, or a bug
