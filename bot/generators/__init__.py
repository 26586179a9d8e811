"""The four products, as plain functions over an Engine that return a streaming Generation.

Options are checked when the function is called (InvalidRequest, UnknownModel); Busy comes
from the first step of iteration, when the request is queued.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.generators.base import Generation
from bot.generators.common import collect
from bot.generators.names import names
from bot.generators.poem import poem
from bot.generators.prose import lovecraft
from bot.generators.story import story

PRODUCTS: dict[str, Callable[..., Generation]] = {
    "lovecraft": lovecraft,
    "poem": poem,
    "name": names,
    "story": story,
}
# the model each product runs on
PRODUCT_MODELS = {"lovecraft": "lovecraft", "poem": "poems", "name": "names", "story": "fables"}

__all__ = ["PRODUCTS", "PRODUCT_MODELS", "collect", "lovecraft", "names", "poem", "story"]
