"""Serve any registry product for an interaction: ``/write``, the operator's commands,
"Christen" and the reply buttons share this.

Options arrive by their registry names (``length``, ``lines``, ``style``...);
:func:`bot.options.request` checks them and maps them to the generator's keywords, naming an
option as the user saw it (``called``). A reply is rendered by the product's kind and titled
with the product's title.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import discord

from bot.discord.buttons import reply_view
from bot.discord.formatting import render_names, render_poem, render_prose
from bot.discord.serving import footnotes, serve
from bot.engine.kinds import KindName
from bot.generators import start
from bot.generators.base import GenerationResult
from bot.options import request
from bot.products import BUILTIN, Kind, Product, by_command, model_product

if TYPE_CHECKING:
    from bot.discord.context import ServingContext

WRITE = "write"  # the command that runs any loaded model


def _knows(kind: Kind, name: str) -> bool:
    try:
        kind.option(name)
    except KeyError:
        return False
    return True


def render(product: Product, result: GenerationResult, members: Sequence[int] = ()) -> str:
    """The final reply of ``product``: by kind, titled with the product's title."""
    notes = footnotes(result)
    if product.kind == KindName.POEM:
        return render_poem(result.text, result.extras.get("originality"), notes)
    if product.kind == KindName.NAMES:
        style = str(result.extras.get("style", ""))
        return render_names(
            result.extras.get("names", []), product.labels.get(style, style), members, notes
        )
    return render_prose(product.title, result.text, notes)


def products_of(bot: ServingContext) -> dict[str, Product]:
    """Every command (and alias) of this bot -> its product: built-ins, then the operator's."""
    return by_command((*BUILTIN, *bot.settings.commands))


def write_product(bot: ServingContext, model: str) -> Product | None:
    """The product ``/write model`` runs, or None if that model is not loaded."""
    engine = bot.engine
    bundle = engine.models.get(model) if engine is not None else None
    if bundle is None:
        return None
    return model_product(model, bundle.meta.level, bundle.meta.corpus.kind)


async def produce(
    bot: ServingContext,
    interaction: discord.Interaction,
    product: Product,
    options: Mapping[str, Any],
    *,
    text: str | None,
    members: Sequence[int] = (),
    log: Mapping[str, Any] | None = None,
    called: Mapping[str, str] | None = None,
) -> None:
    """Run ``product`` with ``options`` (registry names) and the free ``text`` as a streamed
    reply. ``log``: extra entries for the request row's params (never given to the model);
    ``called``: registry name -> the option's name where the user saw another (/write).
    Names the kind does not know are left out (a row logged by an older version)."""
    kind = product.spec
    known = {name: value for name, value in options.items() if _knows(kind, name)}
    kwargs = request(kind, known, text, called)
    engine = bot.engine
    kept = bot.request_log is None or bot.request_log.store_text
    await serve(
        bot,
        interaction,
        product=product,
        # the engine is loaded (setup_hook) before any command runs
        start=lambda: start(product, engine, **kwargs),  # type: ignore[arg-type]
        render=lambda result: render(product, result, members),
        params={**options, **(log or {})},
        prompt=text,
        echo=product.spec.needs_text,
        view=reply_view(interaction.id, continues=product.spec.continues, text_kept=kept),
    )
