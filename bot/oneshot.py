"""``python -m bot generate NAME``: generations for scripts, like nanoGPT's sample.py.

NAME is a product (``lovecraft``, ``poem``, ``name``, ``story``, an alias such as ``fables``,
or an operator command from ``--config``) or any model in ``--models-dir``, which is run with
the kind its metadata implies (what ``/write`` does). Prints the text as it streams (notes
go to stderr), or with ``--json`` one JSON object per sample (a list when ``--samples`` > 1)
with the result and the model's figures. Settings (models_dir, models, precision, ...) are
read as ``run`` reads them. Exit status: 0 done, 1 model unavailable, 2 bad input or config.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from bot.config import ConfigError, Settings, config_failed
from bot.engine.bundle import ModelLoadError
from bot.engine.engine import Engine
from bot.generators import start
from bot.generators.base import GenerationError, InvalidRequest, UnknownModel
from bot.options import request
from bot.products import BUILTIN, KINDS, SAMPLING, Kind, Product, by_command, model_product
from bot.startup import add_settings_arguments, cli_settings, open_engine

MAX_SAMPLES = 100
SAMPLED = tuple(option.name for option in SAMPLING)  # --temperature --seed --top-k --top-p


def build_kwargs(kind: Kind, args: argparse.Namespace) -> dict[str, Any]:
    """Generator keyword arguments from the command line, checked; InvalidRequest naming the
    flag (``--length must be ...``), or for a flag the kind has no use for."""
    values: dict[str, Any] = {name: getattr(args, name) for name in SAMPLED}
    called = {name: "--" + name.replace("_", "-") for name in SAMPLED}
    called |= {kind.length: "--length", kind.text.name: "--prompt"}
    if args.length is not None:
        values[kind.length] = args.length
    for name in ("style", "count"):
        value = getattr(args, name)
        if value is None:
            continue
        if not any(option.name == name for option in kind.options):
            having = [k.name for k in KINDS.values() if name in {o.name for o in k.options}]
            raise InvalidRequest(f"--{name} only applies to {', '.join(having)}.")
        values[name], called[name] = value, f"--{name}"
    text = args.prompt or "" if args.prompt is not None or kind.needs_text else None
    return request(kind, values, text, called)


def resolve(target: str, args: argparse.Namespace) -> tuple[Product, Engine]:
    """The product NAME stands for, and the engine of the settings (what ``run`` loads)."""
    settings = cli_settings(args)
    products = (*BUILTIN, *settings.commands)
    product = by_command(products).get(target)
    model = product.model if product else target
    if product is None and not (settings.models_dir / f"{target}.json").is_file():
        names = ", ".join(p.command for p in products)
        raise InvalidRequest(
            f"invalid choice: {target!r} is neither a product ({names}) "
            f"nor a model in {settings.models_dir}"
        )
    engine = open_engine(settings)
    if model not in engine.models:
        asyncio.run(engine.aclose())
        raise UnknownModel(_not_loaded(model, engine, settings))
    if product is None:
        meta = engine.models[model].meta
        product = model_product(model, meta.level, meta.corpus.kind)
    return product, engine


def _not_loaded(model: str, engine: Engine, settings: Settings) -> str:
    if model in engine.load_errors:
        return engine.load_errors[model]
    if settings.models is not None and model not in settings.models:
        return f"model {model!r} is not among BOT_MODELS (models): {', '.join(settings.models)}"
    return f"model {model!r} is not loaded: no {model}.json in {settings.models_dir}"


async def generate(
    engine: Engine, product: Product, kwargs: dict[str, Any], samples: int, as_json: bool
) -> int:
    payloads = []
    try:
        for i in range(samples):
            options = dict(kwargs)
            if options.get("seed") is not None:
                options["seed"] += i
            generation = start(product, engine, **options)
            try:
                async for piece in generation:
                    if not as_json:
                        sys.stdout.write(piece)
                        sys.stdout.flush()
            finally:
                await generation.aclose()
            result = generation.result
            assert result is not None
            if as_json:
                payloads.append(
                    {
                        "product": product.command,
                        "kind": result.product,
                        "model": result.model,
                        "text": result.text,
                        "tokens": result.tokens,
                        "notes": result.notes,
                        "extras": result.extras,
                        "first_token_s": result.first_token_s,
                        "total_s": result.total_s,
                        "options": {k: v for k, v in options.items() if v is not None},
                        "model_info": engine.describe().get(product.model, {}),
                    }
                )
                continue
            print(flush=True)
            for note in result.notes:
                print(f"note: {note}", file=sys.stderr)
            print(f"seed: {result.extras.get('seed')}", file=sys.stderr)
            if i + 1 < samples:
                print("---", flush=True)
    finally:
        await engine.aclose()
    if as_json:
        print(json.dumps(payloads[0] if samples == 1 else payloads, ensure_ascii=False, indent=1))
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        if not 1 <= args.samples <= MAX_SAMPLES:
            raise InvalidRequest(f"--samples must be from 1 to {MAX_SAMPLES}.")
        product, engine = resolve(args.target, args)
        try:
            kwargs = build_kwargs(product.spec, args)
        except InvalidRequest:
            asyncio.run(engine.aclose())
            raise
        return asyncio.run(generate(engine, product, kwargs, args.samples, args.json))
    except ConfigError as exc:
        return config_failed(exc)
    except InvalidRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (GenerationError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="generations for scripts", description=__doc__)
    products = ", ".join(p.command for p in BUILTIN)
    parser.add_argument(
        "target", metavar="NAME", help=f"a product ({products}, ...) or a model's name"
    )
    parser.add_argument(
        "--prompt",
        help="text to continue (prose, story, /write); poem: first line; names: first letters",
    )
    parser.add_argument("--seed", type=int, help="sample i uses seed + i")
    parser.add_argument("--temperature", type=float)
    parser.add_argument("--top-k", type=int, help="sample from the K likeliest tokens only")
    parser.add_argument("--top-p", type=float, help="nucleus sampling: keep this much mass")
    parser.add_argument("--samples", type=int, default=1, help="how many generations")
    parser.add_argument(
        "--length",
        type=int,
        help="prose: characters; story: words; poem: maximum lines; names: maximum name length",
    )
    parser.add_argument("--style", help="names: english, jinyong or gulong (or the model's own)")
    parser.add_argument("--count", type=int, help="names: how many")
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_settings_arguments(parser)
    parser.set_defaults(func=run)
