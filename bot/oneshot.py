"""``python -m bot generate NAME``: generations for scripts, like nanoGPT's sample.py.

NAME is a product (``lovecraft``, ``poem``, ``name``, ``story``, an alias such as ``fables``,
or an operator command from ``--config``) or any model in ``--models-dir``, which is run with
the kind its metadata implies (what ``/write`` does). Prints the text as it streams (notes
go to stderr), or with ``--json`` one JSON object per sample (a list when ``--samples`` > 1)
with the result and the model's figures. Exit status: 0 done, 1 model unavailable, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from bot.config import ConfigError, load_settings
from bot.engine.bundle import ModelLoadError
from bot.engine.engine import Engine
from bot.generators import start
from bot.generators.base import GenerationError, InvalidRequest, UnknownModel
from bot.products import BUILTIN, KINDS, Kind, Product, by_command, model_product

MAX_SAMPLES = 100


def build_kwargs(kind: Kind, args: argparse.Namespace) -> dict[str, Any]:
    """Generator keyword arguments from the command line; InvalidRequest for unused options."""
    kwargs: dict[str, Any] = {
        "temperature": args.temperature,
        "seed": args.seed,
        "top_k": args.top_k,
        "top_p": args.top_p,
    }
    if args.prompt is not None or kind.needs_text:
        kwargs[kind.text.key] = args.prompt or ""
    if args.length is not None:
        kwargs[kind.option(kind.length).key] = args.length
    for name in ("style", "count"):
        value = getattr(args, name)
        if value is None:
            continue
        try:
            kwargs[kind.option(name).key] = value
        except KeyError:
            having = [k.name for k in KINDS.values() if name in {o.name for o in k.options}]
            raise InvalidRequest(f"--{name} only applies to {', '.join(having)}.") from None
    return kwargs


def resolve(target: str, args: argparse.Namespace) -> tuple[Product, Engine]:
    """The product NAME stands for, and an engine with its model loaded."""
    extra = load_settings(args.config).commands if args.config is not None else ()
    product = by_command((*BUILTIN, *extra)).get(target)
    model = product.model if product else target
    if product is None and not (args.models_dir / f"{target}.json").is_file():
        products = ", ".join(p.command for p in (*BUILTIN, *extra))
        raise InvalidRequest(
            f"invalid choice: {target!r} is neither a product ({products}) "
            f"nor a model in {args.models_dir}"
        )
    engine = Engine.load(args.models_dir, only=[model], threads=args.threads)
    if engine.load_errors:
        raise UnknownModel(next(iter(engine.load_errors.values())))
    if product is None:
        meta = engine.models[model].meta
        product = model_product(model, meta.level, meta.corpus.kind)
    return product, engine


async def generate(
    engine: Engine, product: Product, kwargs: dict[str, Any], samples: int, as_json: bool
) -> int:
    payloads = []
    try:
        for i in range(samples):
            options = dict(kwargs)
            if options["seed"] is not None:
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
    except InvalidRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (GenerationError, ModelLoadError, ConfigError) as exc:
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
    parser.add_argument("--models-dir", type=Path, default=Path("exported_models"))
    parser.add_argument("--threads", type=int, default=1, help="ORT threads")
    parser.add_argument(
        "--config", type=Path, default=None, help="TOML settings file: its [[commands]] too"
    )
    parser.set_defaults(func=run)
