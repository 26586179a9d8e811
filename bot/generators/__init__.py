"""The generator of each kind, as plain functions over an Engine that return a streaming
Generation; :func:`start` runs a product (from :mod:`bot.products`) on its model.

Options are checked when the function is called (InvalidRequest, UnknownModel); Busy comes
from the first step of iteration, when the request is queued.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.engine.kinds import KindName
from bot.generators.base import Generation
from bot.generators.common import collect
from bot.generators.names import names
from bot.generators.poem import poem
from bot.generators.prose import prose
from bot.generators.story import story
from bot.products import Product

if TYPE_CHECKING:
    from bot.engine.engine import Engine

GENERATORS: dict[KindName, Callable[..., Generation]] = {
    KindName.PROSE: prose,
    KindName.POEM: poem,
    KindName.NAMES: names,
    KindName.STORY: story,
}


def start(product: Product, engine: Engine, **options: Any) -> Generation:
    """Start ``product`` on ``engine`` with the given options (generator keywords)."""
    return GENERATORS[product.kind](engine, model=product.model, **options)


__all__ = ["GENERATORS", "collect", "start"]
