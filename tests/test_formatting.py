"""Message shaping: mention/markup neutralisation, stanza layout, the 2,000-character limit."""

from __future__ import annotations

import random

import pytest

from bot.discord.formatting import (
    ECHO_LIMIT,
    MESSAGE_LIMIT,
    ZWSP,
    echo_tail,
    layout_stanzas,
    mentioned_users,
    neutralize,
    paginate,
    render_names,
    render_poem,
    render_prose,
    split_pages,
    truncate,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("hello @everyone!", f"hello @{ZWSP}everyone!"),
        ("@here and @here", f"@{ZWSP}here and @{ZWSP}here"),
        ("hi <@123456789012345678>", f"hi <@{ZWSP}123456789012345678>"),
        ("<@!1234> <@&99> <#42>", f"<@!{ZWSP}1234> <@&{ZWSP}99> <#{ZWSP}42>"),
        ("mail me at bob@example.com", "mail me at bob@example.com"),
        ("```py\nx\n```", f"`{ZWSP}`{ZWSP}`py\nx\n`{ZWSP}`{ZWSP}`"),
        ("# Title\n> quote\n-# small", "\\# Title\n\\> quote\n\\-# small"),
        ("a\x00b\x07c\r\nd\te", "abc\nd\te"),
        # masked links: the url stays visible as plain text, the link is broken
        ("[click me](https://evil.example)", f"[click me]{ZWSP}(https://evil.example)"),
        ("[a](<https://x.y>) [b] (c)", f"[a]{ZWSP}(<https://x.y>) [b] (c)"),
        ("\\[x\\](https://e.x)", f"\\[x\\]{ZWSP}(https://e.x)"),
        # bidi controls and marks are dropped: "\u202eexe.jpg" must not read "gpj.exe"
        ("file\u202egpj.exe", "filegpj.exe"),
        ("\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061cok", "ok"),
        ("\u200d\U0001f469", "\u200d\U0001f469"),  # a ZWJ is not a bidi control: kept
        # a lone surrogate (valid JSON, not valid UTF-8) is replaced
        ("a\ud83db", "a\ufffdb"),
    ],
)
def test_neutralize(raw: str, expected: str) -> None:
    assert neutralize(raw) == expected


def test_neutralize_leaves_no_live_mention() -> None:
    rng = random.Random(3)
    pieces = ["@everyone", "@here", "<@1>", "<@&2>", "@", "<", ">", "every", "one", " ", "`"]
    for _ in range(500):
        text = neutralize("".join(rng.choice(pieces) for _ in range(12)))
        assert "@everyone" not in text and "@here" not in text
        assert "<@1>" not in text and "<@&2>" not in text and "```" not in text


def test_neutralized_text_always_encodes_and_hides_no_link() -> None:
    rng = random.Random(5)
    pieces = ["[", "]", "(", ")", "http://e.x", "\ud800", "\udfff", "\u202e", "\u2067", "a", " "]
    for _ in range(500):
        text = neutralize("".join(rng.choice(pieces) for _ in range(16)))
        text.encode("utf-8")
        assert "](" not in text
        assert not any(ch in text for ch in "\u202e\u2067")


def test_echo_tail_keeps_the_end_of_a_long_prompt() -> None:
    assert echo_tail("short prompt") == "short prompt"
    exact = "x" * ECHO_LIMIT
    assert echo_tail(exact) == exact
    long = " ".join(f"w{i}" for i in range(3000))  # ~15,000 characters
    tail = echo_tail(long)
    assert len(tail) <= ECHO_LIMIT and len(tail) > ECHO_LIMIT // 2
    assert tail.startswith("…w") and long.endswith(tail[1:])  # starts at a word
    unbroken = "y" * 6000
    assert echo_tail(unbroken) == "…" + "y" * (ECHO_LIMIT - 1)


def test_layout_stanzas() -> None:
    raw = "\n\nThe moon   \nabove the sea\n\n\n\nand I\r\nalone  \n\n\n"
    assert layout_stanzas(raw) == "The moon\nabove the sea\n\nand I\nalone"


def test_poem_is_quoted_stanzas_with_originality() -> None:
    text = render_poem("one\ntwo\n\n\nthree @everyone", 0.934, notes=["2 characters skipped"])
    assert text == (
        "**A poem** · originality 93%\n> one\n> two\n>\n"
        f"> three @{ZWSP}everyone\n-# 2 characters skipped"
    )
    assert render_poem("x", None).startswith("**A poem**\n")


def test_names_and_christening() -> None:
    assert render_names(["Ann", "Bo"], "English") == "**Names** (English)\n1. **Ann**\n2. **Bo**"
    text = render_names(["Ann"], "English", members=[111, 222])
    assert "<@111> shall henceforth be known as **Ann**" in text
    assert "<@222>: no new name could be found" in text
    # too-short ids and role mentions are not users
    assert mentioned_users("<@111> <@!222222222222222222> <@&333333333333333333>") == [
        222222222222222222
    ]
    ids = mentioned_users("<@111111111111111111> <@!222222222222222222> <@111111111111111111>")
    assert ids == [111111111111111111, 222222222222222222]


def test_prose_title() -> None:
    assert render_prose("The Call", "  it came @here  ") == f"**The Call**\nit came @{ZWSP}here"


def test_split_pages_respects_limit_and_breaks_naturally() -> None:
    words = " ".join(f"word{i}" for i in range(1500))
    pages = split_pages(words, 200)
    assert all(0 < len(p) <= 200 for p in pages)
    assert " ".join(pages) == words  # nothing lost, cut between words
    stanzas = "\n\n".join("line " * 30 for _ in range(20))
    pages = split_pages(stanzas, 500)
    assert all(len(p) <= 500 for p in pages)
    assert all(p.endswith("line") for p in pages)  # cut at a stanza break
    assert split_pages("x" * 450, 200) == ["x" * 200, "x" * 200, "x" * 50]  # no break possible
    assert split_pages("") == [""]


def test_pages_of_a_growing_text_do_not_move() -> None:
    rng = random.Random(1)
    text = "".join(rng.choice(["a", "b", " ", "\n", "cd"]) for _ in range(3000))
    final = split_pages(text, 300)
    for end in range(0, len(text), 37):
        prefix_pages = split_pages(text[:end], 300)
        assert prefix_pages[:-1] == final[: len(prefix_pages) - 1]


def test_truncate_and_paginate() -> None:
    assert truncate("short", 10) == "short"
    cut = truncate("alpha beta gamma delta", 14)
    assert cut == "alpha beta…" and len(cut) <= 14
    long = " ".join(["lorem"] * 2000)
    pages = paginate(long, max_pages=2)
    assert len(pages) == 2
    assert all(len(p) <= MESSAGE_LIMIT for p in pages)
    assert pages[-1].endswith("-# (truncated)")
    assert paginate("hi", max_pages=1) == ["hi"]
