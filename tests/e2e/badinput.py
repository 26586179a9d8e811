"""Generated hostile text: every unicode class, invisible and bidi marks, lone surrogates,
emoji, control characters, huge strings, mentions, markdown and masked links, SQL and format
strings."""

from __future__ import annotations

import random
import sys
import unicodedata
from collections.abc import Callable

ZERO_WIDTH_AND_BIDI = [
    "\u200b",  # zero width space
    "\u200c",  # ZWNJ
    "\u200d",  # ZWJ
    "\u2060",  # word joiner
    "\ufeff",  # BOM
    "\u200e",  # LRM
    "\u200f",  # RLM
    "\u202a",  # LRE
    "\u202b",  # RLE
    "\u202c",  # PDF
    "\u202d",  # LRO
    "\u202e",  # RLO
    "\u2066",  # LRI
    "\u2067",  # RLI
    "\u2068",  # FSI
    "\u2069",  # PDI
    "\u061c",  # Arabic letter mark
]
EMOJI = [
    "😀",
    "🐙",
    "👩‍👩‍👧‍👦",  # ZWJ family
    "👍🏽",  # skin tone
    "🏳️‍🌈",
    "🇯🇵",  # flag (regional indicators)
    "❤️",  # variation selector
    "🫠",
    "#️⃣",  # keycap
]
MARKDOWN = [
    "**bold**",
    "__underline__",
    "*it*",
    "~~strike~~",
    "||spoiler||",
    "`code`",
    "```py\nprint('hi')\n```",
    "```",
    "> quote",
    ">>> block quote",
    "# Heading",
    "## h2",
    "-# subtext",
    "- list item",
    "1. numbered",
    "[link](https://example.com)",
    "<https://example.com>",
    "https://discord.gg/invite",
    "\\*escaped\\*",
    "<t:1700000000:R>",
    "<:emoji:123456789012345678>",
    "<a:anim:123456789012345678>",
]
# "[text](url)" shows text and hides the url; the bot must never render one
MASKED_LINKS = [
    "[click me](https://evil.example)",
    "[https://discord.com](https://evil.example/login)",
    "[x](<https://evil.example>)",
    '[x](https://evil.example "title")',
    "[nested [link]](https://evil.example)",
    "\\[escaped](https://evil.example)",
    "[\u202eknil](https://evil.example)",
    "[@everyone](https://evil.example)",
    "[](https://evil.example)",
]
# lone UTF-16 halves: valid JSON ("\ud83d"), accepted by discord.py, not encodable as UTF-8
SURROGATES = ["\ud83d", "\ude00", "\ud800\ud800", "a\udfffb", "\udc00\ud83d", "🐙\ud83d"]
SQL = [
    "'; DROP TABLE requests; --",
    "Robert'); DROP TABLE requests;--",
    '" OR 1=1 --',
    "1; DELETE FROM requests WHERE 1=1",
    "' UNION SELECT * FROM sqlite_master --",
    "PRAGMA user_version = 999;",
    "\\'; ATTACH DATABASE '/tmp/x.db' AS x; --",
]
FORMAT = ["{0}", "{}", "%s", "%(x)s", "{__class__}", "{{}}", "$(whoami)", "`rm -rf /`", "${HOME}"]
CONTROL = [chr(c) for c in range(0x00, 0x20)] + ["\x7f", "\r\n", "\u0085", "\u2028", "\u2029"]


def _all_categories() -> dict[str, list[str]]:
    """A sample of code points of every general category (no surrogates: not valid UTF-8)."""
    cats: dict[str, list[str]] = {}
    for cp in range(0, sys.maxunicode + 1, 7):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        cat = unicodedata.category(ch)
        bucket = cats.setdefault(cat, [])
        if len(bucket) < 200:
            bucket.append(ch)
    return cats


_CATEGORIES = _all_categories()


def mentions(user_ids: list[str], role_ids: list[str], channel_ids: list[str]) -> list[str]:
    return [
        "@everyone",
        "@here",
        "@@everyone",
        "@\u200beveryone",
        "＠everyone",
        *[f"<@{u}>" for u in user_ids],
        *[f"<@!{u}>" for u in user_ids],
        *[f"<@&{r}>" for r in role_ids],
        *[f"<#{c}>" for c in channel_ids],
        "<@123456789012345678>",
        "<@&123456789012345678>",
    ]


class HostileText:
    def __init__(self, rng: random.Random, pings: list[str]) -> None:
        self.rng = rng
        self.pings = pings
        self.makers: list[Callable[[], str]] = [
            self.category_soup,
            self.invisible,
            self.emoji,
            self.control,
            self.huge,
            self.mention,
            self.markdown,
            self.sql,
            self.mixed,
            self.rtl,
            self.combining,
            self.surrogates,
            self.masked_link,
            self.bidi_spoof,
        ]

    def any(self) -> str:
        return self.rng.choice(self.makers)()

    def category_soup(self) -> str:
        cat = self.rng.choice(sorted(_CATEGORIES))
        return "".join(self.rng.choices(_CATEGORIES[cat], k=self.rng.randint(1, 60)))

    def invisible(self) -> str:
        marks = self.rng.choices(ZERO_WIDTH_AND_BIDI, k=self.rng.randint(1, 10))
        return "the" + "".join(marks) + " sea" + "".join(marks)

    def emoji(self) -> str:
        return " ".join(self.rng.choices(EMOJI, k=self.rng.randint(1, 12)))

    def control(self) -> str:
        return "a" + "".join(self.rng.choices(CONTROL, k=self.rng.randint(1, 20))) + "b"

    def huge(self) -> str:
        unit = self.rng.choice(["a", "night ", "🐙", "\u200b", "@everyone ", "```", "\n", "é"])
        return (unit * (10_000 // len(unit) + 1))[: self.rng.choice([2001, 4000, 10_000])]

    def mention(self) -> str:
        return " ".join(self.rng.choices(self.pings, k=self.rng.randint(1, 5)))

    def markdown(self) -> str:
        return " ".join(self.rng.choices(MARKDOWN, k=self.rng.randint(1, 5)))

    def sql(self) -> str:
        return self.rng.choice(SQL + FORMAT)

    def rtl(self) -> str:
        return self.rng.choice(["שלום עולם", "مرحبا بالعالم", "\u202eevil\u202c", "ܫܠܡܐ"]) + " sea"

    def surrogates(self) -> str:
        return "the " + self.rng.choice(SURROGATES) + " sea " + self.rng.choice(SURROGATES)

    def masked_link(self) -> str:
        return " ".join(self.rng.choices(MASKED_LINKS, k=self.rng.randint(1, 3))) + " the sea"

    def bidi_spoof(self) -> str:
        """An override that makes the text read backwards (e.g. a file name "...exe.jpg")."""
        mark = self.rng.choice(ZERO_WIDTH_AND_BIDI[-12:])
        return f"the sea{mark}gpj.exe{self.rng.choice(ZERO_WIDTH_AND_BIDI[-12:])} night"

    def combining(self) -> str:
        base = self.rng.choice("aeiouzxq")
        return base + "".join(chr(self.rng.randint(0x300, 0x36F)) for _ in range(50))

    def mixed(self) -> str:
        parts = [self.rng.choice(self.makers[:-1])() for _ in range(3)]
        return "".join(parts)[:5000]


def hostile_options(rng: random.Random, text: HostileText) -> tuple[str, dict[str, object]]:
    """A command and options in which every text option is hostile (numbers are sane or
    edge values)."""
    name = rng.choice(["lovecraft", "poem", "story", "name", "name"])
    t = text.any()
    if name == "lovecraft":
        return name, {"prompt": t, "length": rng.choice([20, 25, 40])}
    if name == "poem":
        opts: dict[str, object] = {"first_line": t}
        if rng.random() < 0.3:
            opts["temperature"] = rng.choice([0.1, 1.0, 2.0])
        return name, opts
    if name == "story":
        return name, {"seed_words": t, "length": rng.choice([5, 8])}
    opts = {"count": rng.choice([1, 2])}
    roll = rng.random()
    if roll < 0.4:
        opts["starts_with"] = t[: rng.randint(1, 10)]
    elif roll < 0.7:
        opts["for"] = t
    elif roll < 0.85:
        opts["style"] = t[:50]
    return name, opts
