"""``python -m bot console``: the generators in a terminal, no Discord needed.

Commands: ``/lovecraft The door``, ``/poem``, ``/name style=jinyong count=5``,
``/story had a general``, ``/models``, ``help``, ``quit``. Options are ``key=value`` words
anywhere in the line. Text streams as it is generated; Ctrl-C cancels the running
generation only (at the prompt it exits). Reads lines until EOF, so it can be scripted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from bot.engine.bundle import ModelLoadError
from bot.engine.engine import Engine
from bot.generators import lovecraft, names, poem, story
from bot.generators.base import Generation, GenerationError, GenerationResult, InvalidRequest

HELP = """\
Commands (options are key=value; every command takes temperature= and seed=):
  /lovecraft TEXT          continue TEXT in the style of the prose model   length=CHARS
  /poem [FIRST LINE]       a poem, optionally starting with your line       lines=N
  /name                    invented names    style=english|jinyong|gulong count=N
                           starts=LETTERS min=N max=N known=yes (allow training names)
  /story SEED WORDS        a fable continuing your words                    length=WORDS
  /models                  the loaded models and their figures
  help                     this text
  quit                     leave (also Ctrl-D; Ctrl-C stops a running generation)"""


def _bool(value: str) -> bool:
    if value.lower() in ("1", "yes", "true", "on", "y"):
        return True
    if value.lower() in ("0", "no", "false", "off", "n"):
        return False
    raise ValueError(value)


_COMMON = {"temperature": ("temperature", float), "seed": ("seed", int)}
# command -> (generator, keyword taking the free text, {option: (keyword, parser)})
COMMANDS: dict[str, tuple[Callable[..., Generation], str | None, dict[str, tuple[str, Any]]]] = {
    "lovecraft": (lovecraft, "prompt", {"length": ("length", int), **_COMMON}),
    "poem": (poem, "first_line", {"lines": ("max_lines", int), **_COMMON}),
    "name": (
        names,
        "starts_with",
        {
            "style": ("style", str),
            "count": ("count", int),
            "starts": ("starts_with", str),
            "min": ("min_length", int),
            "max": ("max_length", int),
            "known": ("allow_known", _bool),
            **_COMMON,
        },
    ),
    "story": (story, "seed_words", {"length": ("length", int), **_COMMON}),
}
ALIASES = {"names": "name", "prose": "lovecraft", "fable": "story", "poems": "poem"}
_OPTION = re.compile(r"^([a-z_]+)=(\S*)$")


def parse_command(line: str) -> tuple[str, dict[str, Any]]:
    """``/name style=jinyong count=5`` -> ("name", {"style": "jinyong", "count": 5})."""
    head, _, rest = line.strip().lstrip("/").partition(" ")
    command = ALIASES.get(head.lower(), head.lower())
    if command not in COMMANDS:
        raise InvalidRequest(f"Unknown command {head!r}; type help for the list.")
    _, text_key, options = COMMANDS[command]
    kwargs: dict[str, Any] = {}
    words: list[str] = []
    for word in rest.split(" "):
        match = _OPTION.match(word)
        if not match or match.group(1) not in options:
            words.append(word)
            continue
        key, parse = options[match.group(1)]
        try:
            kwargs[key] = parse(match.group(2))
        except ValueError:
            raise InvalidRequest(f"Bad value for {match.group(1)}: {match.group(2)!r}.") from None
    text = " ".join(words).strip()
    if text_key is not None and (text or text_key in ("prompt", "seed_words")):
        kwargs.setdefault(text_key, text)  # required text: an empty one gets a clear error
    return command, kwargs


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

    def __init__(self, engine: Engine, stdin: TextIO, stdout: TextIO) -> None:
        self.engine = engine
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
            self.write(HELP + "\n")
            return
        if lowered == "models":
            self.write(describe_models(self.engine) + "\n")
            return
        try:
            command, kwargs = parse_command(line)
            generation = COMMANDS[command][0](self.engine, **kwargs)
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


def run(args: argparse.Namespace) -> int:
    try:
        engine = Engine.load(args.models_dir, threads=args.threads)
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, error in engine.load_errors.items():
        print(f"warning: model {name} not loaded: {error}", file=sys.stderr)
    return asyncio.run(Console(engine, sys.stdin, sys.stdout).run())


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "console", help="interactive terminal over the generators", description=__doc__
    )
    parser.add_argument("--models-dir", type=Path, default=Path("exported_models"))
    parser.add_argument("--threads", type=int, default=1, help="ORT threads per model")
    parser.set_defaults(func=run)
