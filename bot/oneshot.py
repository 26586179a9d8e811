"""``python -m bot generate PRODUCT_OR_MODEL``: one generation for scripts.

Prints the text as it streams (notes go to stderr), or with ``--json`` one JSON object with
the result and the model's figures. Exit status: 0 done, 1 model unavailable, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from bot.engine.bundle import ModelLoadError
from bot.engine.engine import Engine
from bot.generators import PRODUCT_MODELS, PRODUCTS
from bot.generators.base import GenerationError, InvalidRequest

TARGETS = {
    "lovecraft": "lovecraft",
    "prose": "lovecraft",
    "poem": "poem",
    "poems": "poem",
    "name": "name",
    "names": "name",
    "story": "story",
    "fables": "story",
}
# where --prompt and --length go for each product
PROMPT_KEY = {
    "lovecraft": "prompt",
    "poem": "first_line",
    "name": "starts_with",
    "story": "seed_words",
}
LENGTH_KEY = {"lovecraft": "length", "poem": "max_lines", "name": "max_length", "story": "length"}


def build_kwargs(product: str, args: argparse.Namespace) -> dict[str, Any]:
    """Generator keyword arguments from the command line; InvalidRequest for unused options."""
    kwargs: dict[str, Any] = {"temperature": args.temperature, "seed": args.seed}
    if args.prompt is not None or product in ("lovecraft", "story"):
        kwargs[PROMPT_KEY[product]] = args.prompt or ""
    if args.length is not None:
        kwargs[LENGTH_KEY[product]] = args.length
    for option in ("style", "count"):
        value = getattr(args, option)
        if value is not None:
            if product != "name":
                raise InvalidRequest(f"--{option} only applies to names.")
            kwargs[option] = value
    return kwargs


async def generate(engine: Engine, product: str, kwargs: dict[str, Any], as_json: bool) -> int:
    try:
        generation = PRODUCTS[product](engine, **kwargs)
        try:
            async for piece in generation:
                if not as_json:
                    sys.stdout.write(piece)
                    sys.stdout.flush()
        finally:
            await generation.aclose()
    finally:
        await engine.aclose()
    result = generation.result
    assert result is not None
    if as_json:
        model = PRODUCT_MODELS[product]
        payload = {
            "product": result.product,
            "model": result.model,
            "text": result.text,
            "tokens": result.tokens,
            "notes": result.notes,
            "extras": result.extras,
            "first_token_s": result.first_token_s,
            "total_s": result.total_s,
            "options": {k: v for k, v in kwargs.items() if v is not None},
            "model_info": engine.describe().get(model, {}),
        }
        print(json.dumps(payload, ensure_ascii=False, indent=1))
    else:
        print()
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
        print(f"seed: {result.extras.get('seed')}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    product = TARGETS[args.target]
    try:
        kwargs = build_kwargs(product, args)
        engine = Engine.load(args.models_dir, only=[PRODUCT_MODELS[product]], threads=args.threads)
        if engine.load_errors:
            print(f"error: {next(iter(engine.load_errors.values()))}", file=sys.stderr)
            return 1
        return asyncio.run(generate(engine, product, kwargs, args.json))
    except InvalidRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (GenerationError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="one generation, for scripts", description=__doc__
    )
    parser.add_argument(
        "target",
        metavar="PRODUCT_OR_MODEL",
        choices=sorted(TARGETS),
        help=f"one of {', '.join(sorted(TARGETS))}",
    )
    parser.add_argument(
        "--prompt",
        help="lovecraft: text to continue; poem: first line; "
        "names: starting letters; story: seed words",
    )
    parser.add_argument("--seed", type=int)
    parser.add_argument("--temperature", type=float)
    parser.add_argument(
        "--length",
        type=int,
        help="lovecraft: characters; story: words; poem: maximum lines; names: maximum name length",
    )
    parser.add_argument("--style", help="names: english, jinyong or gulong")
    parser.add_argument("--count", type=int, help="names: how many")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--models-dir", type=Path, default=Path("exported_models"))
    parser.add_argument("--threads", type=int, default=1, help="ORT threads")
    parser.set_defaults(func=run)
