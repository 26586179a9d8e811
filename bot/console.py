"""``python -m bot console``: the products in a terminal, no Discord needed.

Commands: every product of :mod:`bot.products` (``/lovecraft The door``, ``/poem``,
``/name style=jinyong count=5``, ``/story had a general``), the operator's commands from
``--config``, ``/write MODEL text`` for any loaded model, ``/models``, ``help``, ``quit``.
Options are ``key=value`` words anywhere in the line. Text streams as it is generated;
Ctrl-C cancels the running generation only (at the prompt it exits). Reads lines until EOF,
so it can be scripted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from bot.config import ConfigError, config_failed
from bot.engine.bundle import ModelLoadError
from bot.engine.engine import Engine
from bot.generators import start
from bot.generators.base import GenerationError, GenerationResult, InvalidRequest, UnknownModel
from bot.options import request, unknown_option, write_names
from bot.products import BUILTIN, SAMPLING, Kind, Option, Product, by_command, model_product
from bot.startup import add_settings_arguments, cli_settings, open_engine

_OPTION = re.compile(r"([a-z_]+)[=:](\S*)")  # key=value, or Discord's key:value (fullmatch)
_TRUE, _FALSE = ("1", "yes", "true", "on", "y"), ("0", "no", "false", "off", "n")


def help_text(products: Sequence[Product]) -> str:
    """The command list, from the registry."""
    sampling = ", ".join(f"{o.name}=" for o in SAMPLING)
    lines = [f"Commands (options are key=value or key:value; all also take {sampling}):"]
    for product in products:
        kind = product.spec
        text = kind.text.name.replace("_", " ").upper()
        usage = f"/{product.command} {text if kind.needs_text else f'[{text}]'}"
        extra = " ".join(f"{o.name}=" for o in kind.options if o not in SAMPLING)
        lines.append(f"  {usage:26} {product.description or product.title}   {extra}".rstrip())
    lines += [
        f"  {'/write MODEL TEXT':26} continue TEXT with any loaded model (names: a list)",
        f"  {'/models':26} the loaded models and their figures",
        f"  {'help':26} this text",
        f"  {'quit':26} leave (also Ctrl-D; Ctrl-C stops a running generation)",
    ]
    return "\n".join(lines)


def _value(option: Option, raw: str) -> Any:
    if option.type is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise ValueError(raw)
    return option.type(raw)


def parse_options(
    kind: Kind, rest: str, command: str = "", aliases: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``style=jinyong count=5 some text`` -> generator keywords, checked; the other words are
    the kind's free text. Naming the free text (``prompt=The night``, ``prompt:The night``)
    just marks where it starts: every word after it still belongs to it. ``aliases``: other
    names of the kind's options (/write's ``prompt`` and ``length``). A ``key=value`` whose
    key is no option of ``command`` is an error naming the nearest one; words that only look
    like one stay text (``said:`` with nothing after it, a link's ``https://``)."""
    aliases = aliases or {}
    known = [*aliases, kind.text.name, *(o.name for o in kind.options)]
    values: dict[str, Any] = {}
    called = {name: alias for alias, name in aliases.items()}  # /write's text is "prompt"
    words: list[str] = []
    for word in rest.split(" "):
        match = _OPTION.fullmatch(word)
        if match is None:
            words.append(word)
            continue
        key, raw = match.groups()
        try:
            option = kind.option(aliases.get(key, key))
        except KeyError:
            if not raw or raw.startswith("/"):
                words.append(word)
                continue
            raise unknown_option(key, known, command or kind.name) from None
        called[option.name] = key
        if option is kind.text:
            words.append(raw)
            continue
        try:
            values[option.name] = _value(option, raw)
        except ValueError:
            raise InvalidRequest(f"Bad value for {key}: {raw!r}.") from None
    text = " ".join(words).strip()
    return request(kind, values, text if text or kind.needs_text else None, called)


def loaded(engine: Engine) -> str:
    return ", ".join(sorted(engine.models)) or "none"


def parse_command(
    line: str, products: dict[str, Product], engine: Engine
) -> tuple[Product, dict[str, Any]]:
    """``/name style=jinyong count=5`` -> (the name product, {"style": "jinyong", "count": 5});
    ``/write MODEL text`` (or ``model:MODEL`` anywhere, as Discord writes it) runs any loaded
    model with the kind its metadata implies."""
    head, _, rest = line.strip().lstrip("/").partition(" ")
    command = head.lower()
    if command == "write":
        model, rest = _write_model(rest)
        if not model:
            raise InvalidRequest(f"Name a model: /write MODEL text ({loaded(engine)}).")
        if model not in engine.models:
            raise UnknownModel(f"No model {model!r} is loaded; try one of: {loaded(engine)}.")
        meta = engine.models[model].meta
        product = model_product(model, meta.level, meta.corpus.kind)
        return product, parse_options(product.spec, rest, "/write", write_names(product.spec))
    if command not in products:
        raise InvalidRequest(f"Unknown command {head!r}; type help for the list.")
    product = products[command]
    return product, parse_options(product.spec, rest, f"/{product.command}")


def _write_model(rest: str) -> tuple[str, str]:
    """/write's model (``model:NAME`` or ``model=NAME`` anywhere, else the first word) and the
    rest of the line."""
    words = rest.strip().split(" ")
    for i, word in enumerate(words):
        match = _OPTION.fullmatch(word)
        if match is not None and match.group(1) == "model":
            return match.group(2), " ".join(words[:i] + words[i + 1 :])
    return words[0], " ".join(words[1:])


def footer(result: GenerationResult) -> str:
    """One line of figures after a generation."""
    parts = [
        f"seed {result.extras.get('seed')}",
        f"{result.tokens} tokens",
        f"{result.total_s:.2f} s",
    ]
    if result.first_token_s is not None:
        parts.append(f"first token {result.first_token_s * 1000:.0f} ms")
    if "originality" in result.extras and result.extras["originality"] is not None:
        parts.append(f"originality {result.extras['originality']:.0%}")
    return "[" + " · ".join(parts) + "]"


def describe_models(engine: Engine) -> str:
    lines = []
    for name, d in engine.describe().items():
        styles = f"  styles {', '.join(d['styles'])}" if d["styles"] else ""
        lines.append(
            f"{name:10} {d['level']}-level {d['layers']}x{d['hidden_size']} LSTM, "
            f"{d['parameters']:,} parameters, vocab {d['vocab_size']}; held-out "
            f"{d['validation_loss_nats']:.3f} nats/token ({d['validation_bits_per_token']:.3f} "
            f"bits); corpus {d['corpus']} ({d['corpus_bytes']:,} bytes, {d['documents']} docs); "
            f"{d['epochs']:g} epochs in {d['training_time_s'] / 60:.1f} min on {d['device']}"
            + styles
        )
    for name, error in engine.load_errors.items():
        lines.append(f"{name:10} NOT LOADED: {error}")
    return "\n".join(lines) or "No models loaded."


class Console:
    """The read-eval-print loop; ``run()`` returns the exit code."""

    def __init__(
        self,
        engine: Engine,
        stdin: TextIO,
        stdout: TextIO,
        products: Sequence[Product] = BUILTIN,
    ) -> None:
        self.engine = engine
        self.products = list(products)
        self.commands = by_command(products)
        self.stdin = stdin
        self.out = stdout
        self.interactive = stdin.isatty()
        self.current: asyncio.Task[None] | None = None
        self.lines: asyncio.Queue[str | None] = asyncio.Queue()

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._read_lines, args=(loop,), daemon=True).start()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, self._interrupt)
        if self.interactive:
            self.write(f"Models: {', '.join(self.engine.models) or 'none'}. Type help.\n")
        try:
            while True:
                if self.interactive:
                    self.write("> ")
                line = await self.lines.get()
                if line is None:
                    break
                line = line.strip()
                if not line:
                    continue
                if line.lower().lstrip("/") in ("quit", "exit", "q"):
                    break
                self.current = asyncio.create_task(self.execute(line))
                await asyncio.wait([self.current])
                if self.current.cancelled():
                    self.write("\n[cancelled]\n")
                self.current = None
        finally:
            await self.engine.aclose()
        return 0

    def _read_lines(self, loop: asyncio.AbstractEventLoop) -> None:
        """Reader thread: the event loop stays free while waiting for input."""
        while True:
            try:
                line: str | None = input()
            except (EOFError, KeyboardInterrupt, UnicodeDecodeError):
                line = None
            try:
                loop.call_soon_threadsafe(self.lines.put_nowait, line)
            except RuntimeError:  # the loop has closed
                return
            if line is None:
                return

    def _interrupt(self) -> None:
        if self.current is not None and not self.current.done():
            self.current.cancel()
        else:
            self.write("\n")
            self.lines.put_nowait(None)

    async def execute(self, line: str) -> None:
        lowered = line.lower().lstrip("/")
        if lowered in ("help", "?"):
            self.write(help_text(self.products) + "\n")
            return
        if lowered == "models":
            self.write(describe_models(self.engine) + "\n")
            return
        try:
            product, kwargs = parse_command(line, self.commands, self.engine)
            generation = start(product, self.engine, **kwargs)
            try:
                async for piece in generation:
                    self.write(piece)
            finally:
                await generation.aclose()
        except GenerationError as exc:
            self.write(f"error: {exc}\n")
            return
        result = generation.result
        assert result is not None
        self.write("\n")
        for note in result.notes:
            self.write(f"note: {note}\n")
        self.write(footer(result) + "\n")


def open_console(args: argparse.Namespace) -> tuple[Engine, tuple[Product, ...]]:
    """The engine and the products of the settings (``--config`` or $BOT_CONFIG, the
    environment), as ``run`` would serve them; ``--models-dir`` and ``--threads`` override."""
    settings = cli_settings(args)
    return open_engine(settings), (*BUILTIN, *settings.commands)


def run(args: argparse.Namespace) -> int:
    try:
        engine, products = open_console(args)
    except ConfigError as exc:
        return config_failed(exc)
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, error in engine.load_errors.items():
        print(f"warning: model {name} not loaded: {error}", file=sys.stderr)
    console = Console(engine, sys.stdin, sys.stdout, products)
    return asyncio.run(console.run())


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "console", help="interactive terminal over the generators", description=__doc__
    )
    add_settings_arguments(parser)
    parser.set_defaults(func=run)
