"""A protocol-faithful fake Discord (REST + gateway) for end-to-end tests of the bot."""

from .driver import InteractionTrace
from .faults import Fault, FaultPlan
from .payloads import FakeChannel, FakeGuild, FakeRole, FakeUser
from .recorder import MessageEvent, RecordedRequest, Recorder
from .server import FakeDiscord

__all__ = [
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeRole",
    "FakeUser",
    "Fault",
    "FaultPlan",
    "InteractionTrace",
    "MessageEvent",
    "RecordedRequest",
    "Recorder",
]
