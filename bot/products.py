"""Every product the bot serves, declared once, as data.

A *kind* is a way of generating (continue prose, write a poem, invent names, continue a
word-level story): its options with their ranges and defaults, and its repetition guard.
A *product* is a command: a name, the model it runs on, its kind and its title. The four
shipped products are entries of :data:`BUILTIN`; ``/write`` serves any loaded model with the
kind its metadata implies (:func:`kind_for`); operators add products in the TOML config.

The console, the one-shot CLI, the Discord cogs, ``bench/``, ``training.evaluate`` and the
model card read this module. It imports nothing from the generators or Discord, so training
code can read it without pulling in the serving side.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.engine.errors import InvalidRequest
from bot.engine.kinds import CorpusKind, KindName, Level

MAX_SEED = 2**53  # the largest integer Discord clients send exactly


@dataclass(frozen=True)
class Option:
    """One option of a kind: what users type (slash option, console ``key=value``, CLI flag)."""

    name: str
    type: type
    description: str
    default: Any = None  # None: optional (for temperature: the model's own default)
    low: float | None = None  # numbers: smallest value; text: shortest length
    high: float | None = None  # numbers: largest value; text: longest length
    keyword: str = ""  # the generator's keyword argument, when it differs from ``name``

    @property
    def key(self) -> str:
        return self.keyword or self.name

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()

    def shown_as(self, called: str = "") -> str:
        """The option as the user ``called`` it, capitalised (its label if they did not)."""
        return called[:1].upper() + called[1:] if called else self.label

    def check(self, value: Any, called: str = "") -> Any:
        """``value`` if it fits the option; InvalidRequest otherwise, naming the option as the
        user ``called`` it (``length`` on /write, ``--count``; default: its label)."""
        if value is None:
            return None
        label = self.shown_as(called)
        if self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRequest(f"{label} must be a whole number.")
            if not self.low <= value <= self.high:  # type: ignore[operator]  # numbers have both
                raise InvalidRequest(
                    f"{label} must be a whole number from {self.low:g} to {self.high:g}."
                )
        elif self.type is float:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or not self.low <= value <= self.high  # type: ignore[operator]  # as above
            ):
                raise InvalidRequest(f"{label} must be between {self.low:g} and {self.high:g}.")
        elif self.type is bool:
            if not isinstance(value, bool):
                raise InvalidRequest(f"{label} must be yes or no.")
        elif not isinstance(value, str):
            raise InvalidRequest(f"{label} must be text.")
        return value


# The ranges are the ones every front end enforces (Discord's option ranges are built from
# them). Temperature 0 is served greedily (the sampler takes the likeliest token).
TEMPERATURE = Option("temperature", float, "Boldness, 0 (safe) to 2 (wild)", low=0.0, high=2.0)
SEED = Option("seed", int, "Same seed and options give the same text", low=0, high=MAX_SEED)
TOP_K = Option("top_k", int, "Sample from the K likeliest tokens only (0: all)", low=0, high=1000)
TOP_P = Option("top_p", float, "Sample from the likeliest tokens up to this mass", low=0.01, high=1)
SAMPLING = (TEMPERATURE, SEED, TOP_K, TOP_P)


@dataclass(frozen=True)
class Kind:
    """A way of generating, shared by every product (and model) it serves."""

    name: KindName
    level: Level  # the model level it needs
    text: Option  # the free text (prompt, first line, ...)
    options: tuple[Option, ...]  # the rest, sampling options last
    length: str  # the option a CLI --length sets
    repeat_limit: int  # never more than this many identical tokens in a row
    continues: bool  # a reply can be continued (primed with its text)
    slash: tuple[str, ...]  # the options a slash command shows after the free text
    needs_text: bool = False  # the free text is required

    def option(self, name: str) -> Option:
        """The option a user calls ``name`` (or the generator keyword it maps to)."""
        for option in (self.text, *self.options):
            if name in (option.name, option.key):
                return option
        raise KeyError(f"{self.name} has no option {name!r}")


KINDS: dict[KindName, Kind] = {
    kind.name: kind
    for kind in (
        Kind(
            KindName.PROSE,
            level=Level.CHAR,
            text=Option("prompt", str, "The beginning to continue", low=1, high=1000),
            options=(
                Option("length", int, "Characters to write", default=400, low=1, high=2000),
                *SAMPLING,
            ),
            length="length",
            repeat_limit=3,
            continues=True,
            slash=("length", "temperature", "seed"),
            needs_text=True,
        ),
        Kind(
            KindName.POEM,
            level=Level.CHAR,
            text=Option("first_line", str, "The poem's first line (optional)", low=1, high=200),
            options=(
                Option("lines", int, "Most lines", default=24, low=1, high=64, keyword="max_lines"),
                *SAMPLING,
            ),
            length="lines",
            repeat_limit=3,
            continues=False,
            slash=("lines", "temperature", "seed"),
        ),
        Kind(
            KindName.NAMES,
            level=Level.CHAR,
            text=Option("starts_with", str, "Letters the names start with", low=1, high=10),
            options=(
                Option("style", str, "Which kind of names"),
                # 25 names of up to 40 letters, numbered, fit one 2,000-character message
                Option("count", int, "How many names", default=5, low=1, high=25),
                Option(
                    "min", int, "Shortest name", default=2, low=1, high=40, keyword="min_length"
                ),
                Option(
                    "max", int, "Longest name", default=12, low=1, high=40, keyword="max_length"
                ),
                Option(
                    "known",
                    bool,
                    "Allow names from the training list",
                    default=False,
                    keyword="allow_known",
                ),
                *SAMPLING,
            ),
            length="max",
            repeat_limit=2,
            continues=False,
            slash=("style", "count", "temperature", "seed"),
        ),
        Kind(
            KindName.STORY,
            level=Level.WORD,
            text=Option(
                "seed_words", str, "How the story begins, e.g. 'a fox and a crow'", low=1, high=200
            ),
            options=(
                Option("length", int, "Words to write", default=60, low=1, high=500),
                *SAMPLING,
            ),
            length="length",
            repeat_limit=2,
            continues=True,
            slash=("length", "temperature", "seed"),
            needs_text=True,
        ),
    )
}


def kind_for(level: Level, corpus_kind: CorpusKind) -> Kind:
    """The kind a model's metadata implies: what ``/write`` and the evaluator use."""
    if corpus_kind == CorpusKind.NAMES:
        return KINDS[KindName.NAMES]
    if level == Level.WORD:
        return KINDS[KindName.STORY]
    return KINDS[KindName.POEM if corpus_kind == CorpusKind.POEMS else KindName.PROSE]


def incompatibility(kind: Kind, level: Level, has_styles: bool) -> str | None:
    """Why a model cannot serve ``kind`` (None if it can)."""
    if level != kind.level:
        return f"kind {kind.name} needs a {kind.level}-level model, this one is {level}-level"
    if kind.name == KindName.NAMES and not has_styles:
        return "kind names needs a model trained on a names corpus (with style tokens)"
    return None


@dataclass(frozen=True)
class Product:
    """A command: ``/command`` runs ``kind`` on ``model``; ``title`` heads its replies."""

    command: str
    model: str
    kind: KindName
    title: str
    description: str
    aliases: tuple[str, ...] = ()  # other names the console and the CLI accept
    labels: Mapping[str, str] = field(default_factory=dict)  # display names of choices
    builtin: bool = True  # False: an operator's command from the TOML config
    origin: str = field(default="", compare=False)  # operator's: "bot.toml: commands[0] (x)"

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]


BUILTIN: tuple[Product, ...] = (
    Product(
        "lovecraft",
        model="lovecraft",
        kind=KindName.PROSE,
        title="In the manner of Lovecraft",
        description="Continue your words as Lovecraft might",
        aliases=("prose",),
    ),
    Product(
        "poem",
        model="poems",
        kind=KindName.POEM,
        title="A poem",
        description="Write a poem, optionally from a first line",
        aliases=("poems",),
    ),
    Product(
        "name",
        model="names",
        kind=KindName.NAMES,
        title="Names",
        description="Invent new names, or christen members",
        aliases=("names",),
        labels={"english": "English", "jinyong": "Jin Yong wuxia", "gulong": "Gu Long wuxia"},
    ),
    Product(
        "story",
        model="fables",
        kind=KindName.STORY,
        title="A fable",
        description="Tell a short fable from a few words",
        aliases=("fable", "fables"),
    ),
)
# slash commands that are not products, and console words: reserved against operator commands
SLASH_ONLY = ("write", "models", "stats", "server-stats", "forget-me")
RESERVED = frozenset({*SLASH_ONLY, "help", "quit"})
# Discord's limit of slash (chat input) commands per scope, global or one guild
MAX_SLASH_COMMANDS = 100
MAX_OPERATOR_COMMANDS = MAX_SLASH_COMMANDS - len(BUILTIN) - len(SLASH_ONLY)


def by_command(products: Iterable[Product]) -> dict[str, Product]:
    """Every command name and alias -> its product."""
    table: dict[str, Product] = {}
    for product in products:
        for name in (product.command, *product.aliases):
            table.setdefault(name, product)
    return table


def model_product(model: str, level: Level, corpus_kind: CorpusKind) -> Product:
    """The product ``/write MODEL`` runs: the model's own kind, titled with its name."""
    kind = kind_for(level, corpus_kind)
    return Product(model, model=model, kind=kind.name, title=model, description="", builtin=False)


def serving(model: str, products: Iterable[Product] = BUILTIN) -> Product | None:
    """The first product that serves ``model`` (for the model card)."""
    return next((p for p in products if p.model == model), None)


COMMAND_NAME = re.compile(r"[-_a-z0-9]{1,32}")  # what Discord accepts (fullmatch)
MODEL_NAME = re.compile(r"[\w-]{1,100}")  # a file name without .json (fullmatch)
_FIELDS = {"name", "model", "kind", "description", "title"}


def operator_products(entries: object, source: str = "") -> tuple[Product, ...]:
    """The ``[[commands]]`` tables of the TOML config (read from ``source``) as products;
    ValueError listing every problem, one line each, naming its entry
    (``bot.toml: commands[2] (shakespeare): ...``)."""
    prefix = f"{source}: " if source else ""
    if not isinstance(entries, list):
        raise ValueError(f"{prefix}commands: expected [[commands]] tables")
    problems: list[str] = []
    if len(entries) > MAX_OPERATOR_COMMANDS:
        problems.append(
            f"{prefix}commands: {len(entries)} commands, but Discord allows "
            f"{MAX_SLASH_COMMANDS} slash commands and the bot has "
            f"{MAX_SLASH_COMMANDS - MAX_OPERATOR_COMMANDS} of its own: at most "
            f"{MAX_OPERATOR_COMMANDS} [[commands]]"
        )
    taken = set(by_command(BUILTIN)) | RESERVED
    products = []
    for i, entry in enumerate(entries):
        where = f"{prefix}commands[{i}]"
        if isinstance(entry, dict) and isinstance(name := entry.get("name"), str):
            where += f" ({name})" if name.isprintable() else f" ({name!r})"
        problem = _entry_problem(entry, taken)
        if problem:
            problems.append(f"{where}: {problem}")
            continue
        assert isinstance(entry, dict)
        name, model = entry["name"], entry["model"]
        taken.add(name)
        products.append(
            Product(
                name,
                model=model,
                kind=KindName(entry["kind"]),
                title=str(entry.get("title", name)),
                description=entry.get("description", f"Write with the {model} model"),
                builtin=False,
                origin=where,
            )
        )
    if problems:
        raise ValueError("\n".join(problems))
    return tuple(products)


def _entry_problem(entry: object, taken: set[str]) -> str | None:
    """What is wrong with one ``[[commands]]`` table (None: nothing)."""
    if not isinstance(entry, dict):
        return "expected a table with name, model and kind"
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        return f"unknown key(s) {', '.join(unknown)}"
    missing = [key for key in ("name", "model", "kind") if key not in entry]
    if missing:
        return f"missing {', '.join(missing)}"
    for key in sorted(_FIELDS & set(entry)):
        if not isinstance(entry[key], str) or not entry[key].strip():
            return f"{key} must be non-empty text"
    name, model, kind = entry["name"], entry["model"], entry["kind"]
    if not COMMAND_NAME.fullmatch(name):
        return "name must be 1-32 lower-case letters, digits, '-' or '_'"
    if name in taken:
        return f"name {name!r} is already a command"
    if not MODEL_NAME.fullmatch(model):
        return "model must be a model's file name without .json"
    if kind not in KINDS:
        return f"kind {kind!r} is not one of {', '.join(KINDS)}"
    for key in ("description", "title"):
        if len(entry.get(key, "")) > 100:
            return f"{key} must be at most 100 characters"
    return None


def unservable(product: Product, levels: Mapping[str, tuple[Level, bool]]) -> str | None:
    """Why ``product`` cannot run on the loaded models (``levels``: model -> (level, has
    styles)), naming where the command was declared; None if it can."""
    where = product.origin or f"command {product.command}"
    if product.model not in levels:
        loaded = ", ".join(sorted(levels)) or "none"
        return f"{where}: model {product.model!r} is not loaded (loaded: {loaded})"
    level, has_styles = levels[product.model]
    problem = incompatibility(product.spec, level, has_styles)
    return f"{where}: {problem} (model {product.model})" if problem else None
