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
from bot.products import BUILTIN, KINDS, Kind, Option, Product, by_command, model_product
from bot.startup import add_settings_arguments, cli_settings, open_engine

MAX_SAMPLES = 100
METAVARS = {int: "N", float: "X", str: "TEXT"}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _registry_options() -> dict[str, list[tuple[Kind, Option]]]:
    """Every option a kind takes (but ``length``, which --length covers) -> (kind, option)
    pairs, in registry order: one command-line flag each."""
    table: dict[str, list[tuple[Kind, Option]]] = {}
    for kind in KINDS.values():
        for option in kind.options:
            if option.name != "length":
                table.setdefault(option.name, []).append((kind, option))
    return table


OPTIONS = _registry_options()


def _described(option: Option, kind: Kind | None = None) -> str:
    """``Characters to write (1 to 2000, default 400)``, from the registry."""
    facts: list[str] = []
    if option.type is str and option.high is not None:
        facts.append(f"up to {option.high:.0f} characters")
    elif option.low is not None and option.high is not None:
        facts.append(f"{_number(option.low)} to {_number(option.high)}")
    labels = [c for p in BUILTIN if p.spec is kind for c in p.labels]
    if option.type is str and option.high is None and labels:
        facts.append(", ".join(labels))
    if option.default is not None:
        facts.append(f"default {option.default}")
    return f"{option.description} ({', '.join(facts)})" if facts else option.description


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _help(pairs: list[tuple[Kind, Option]]) -> str:
    """One option's help: once if every kind shares it, else per kind."""
    if all(option is pairs[0][1] for _, option in pairs) and len(pairs) == len(KINDS):
        return _described(pairs[0][1])
    return "; ".join(f"{kind.name}: {_described(option, kind)}" for kind, option in pairs)


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    """--prompt, --length and one flag per registry option, with its help, range and
    default (all unset by default: a product's defaults apply)."""
    kinds = KINDS.values()
    parser.add_argument(
        "--prompt", metavar="TEXT", help=_help([(kind, kind.text) for kind in kinds])
    )
    parser.add_argument(
        "--length",
        type=int,
        metavar="N",
        help=_help([(kind, kind.option(kind.length)) for kind in kinds]),
    )
    for name, pairs in OPTIONS.items():
        option = pairs[0][1]
        if option.type is bool:
            parser.add_argument(
                _flag(name), action=argparse.BooleanOptionalAction, help=_help(pairs)
            )
        else:
            metavar = METAVARS[option.type]
            parser.add_argument(_flag(name), type=option.type, metavar=metavar, help=_help(pairs))


def build_kwargs(kind: Kind, args: argparse.Namespace) -> dict[str, Any]:
    """Generator keyword arguments from the command line, checked; InvalidRequest naming the
    flag (``--length must be ...``), or for a flag the kind has no use for."""
    values: dict[str, Any] = {}
    called = {kind.text.name: "--prompt"}
    if args.length is not None:
        values[kind.length], called[kind.length] = args.length, "--length"
    for name, pairs in OPTIONS.items():
        value = getattr(args, name)
        if value is None:
            continue
        if all(owner is not kind for owner, _ in pairs):
            having = ", ".join(owner.name for owner, _ in pairs)
            raise InvalidRequest(f"{_flag(name)} only applies to {having}.")
        if name in values:
            raise InvalidRequest(f"--length and {_flag(name)} both set {name}: give one.")
        values[name], called[name] = value, _flag(name)
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
                        "kind": result.kind,
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
        "--samples",
        type=int,
        default=1,
        metavar="N",
        help="how many generations (sample i uses seed + i)",
    )
    add_option_flags(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_settings_arguments(parser)
    parser.set_defaults(func=run)
