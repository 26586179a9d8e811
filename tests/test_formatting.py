"""Message shaping: mention/markup neutralisation, stanza layout, the 2,000-character limit,
and its edges: where pages, cuts and echoes break, poem indentation and line endings, and
notes under a reply."""

from __future__ import annotations

import random

import pytest

from bot.discord.formatting import (
    ECHO_LIMIT,
    MESSAGE_LIMIT,
    TRUNCATED,
    ZWSP,
    echo_tail,
    layout_stanzas,
    mentioned_users,
    neutralize,
    paginate,
    quote_block,
    render_names,
    render_poem,
    render_prose,
    split_pages,
    truncate,
    with_notes,
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


def test_a_poem_keeps_its_first_lines_indentation_and_windows_line_ends() -> None:
    assert layout_stanzas("   indented\r\nnext") == "   indented\nnext"
    assert layout_stanzas("a\r\n\r\n\r\nb") == "a\n\nb"
    assert layout_stanzas("a\n  \n\t\nb") == "a\n\nb"  # lines of spaces are blank lines
    assert layout_stanzas("Xanadu\n\nby X\n") == "Xanadu\n\nby X"  # only line breaks trimmed


def test_a_lone_carriage_return_is_a_line_break() -> None:
    assert neutralize("one\rtwo\r\nthree") == "one\ntwo\nthree"


def test_blank_lines_keep_a_block_quote_open() -> None:
    assert quote_block("one\n\ntwo") == "> one\n>\n> two"


def test_every_note_gets_its_own_small_line_and_blank_ones_none() -> None:
    body = with_notes("text", ["first", "  ", "second @everyone"])
    assert body == f"text\n-# first\n-# second @{ZWSP}everyone"
    assert with_notes("text", []) == "text"


def test_pages_break_at_a_stanza_then_a_line_then_a_word_in_their_second_half() -> None:
    # a stanza break in the second half wins over a later line break
    text = "a" * 60 + "\n\n" + "b" * 20 + "\n" + "c" * 50
    assert split_pages(text, 100) == ["a" * 60, "b" * 20 + "\n" + "c" * 50]
    # a line break wins over a later space
    text = "a" * 60 + "\n" + "b" * 20 + " " + "c" * 50
    assert split_pages(text, 100) == ["a" * 60, "b" * 20 + " " + "c" * 50]
    # breaks in the first half are ignored: the page would be too short
    text = "a" * 10 + "\n\n" + "b" * 60 + " " + "c" * 50
    assert split_pages(text, 100)[0] == "a" * 10 + "\n\n" + "b" * 60
    text = "a" * 40 + "\n\n" + "b" * 100  # 40 % of the way: still the first half
    assert split_pages(text, 100)[0] == "a" * 40 + "\n\n" + "b" * 58
    # a text of exactly the limit is one page, breaks or not
    assert split_pages("x" * 100, 100) == ["x" * 100]
    assert split_pages("a" * 60 + " " + "b" * 39, 100) == ["a" * 60 + " " + "b" * 39]
    # a break right at the limit is used: the page is full
    assert split_pages("a" * 99 + " " + "b" * 5, 100) == ["a" * 99, "b" * 5]


def test_pages_never_start_with_blank_lines_but_keep_indentation() -> None:
    assert split_pages("a" * 90 + "\n\n\n\n" + "b" * 50, 100) == ["a" * 90, "b" * 50]
    # a run of blank lines across the page end
    assert split_pages("a" * 90 + "\n" * 20 + "Xb", 100) == ["a" * 90, "Xb"]
    # the next page's first line keeps its indentation
    assert split_pages("a" * 60 + "\n    " + "b" * 50, 100) == ["a" * 60, "    " + "b" * 50]


def test_truncate_cuts_at_the_last_word_break_that_fits() -> None:
    assert truncate("aaaa bbbb cccc", 10) == "aaaa bbbb…"  # the space at 9 fits exactly
    assert truncate("x" * 20, 10) == "x" * 9 + "…"  # no break at all: cut mid-word
    assert truncate("aa " + "x" * 20, 10) == "aa xxxxxx…"  # a break in the first half only
    assert truncate("aaa bbbbbbbbbbbbbbb", 10) == "aaa bbbbb…"  # a third of the way: too early
    assert truncate("aaaa   bbbbbbbbbb", 10) == "aaaa…"  # no spaces before the marker
    assert truncate("aaaa bbbb!", 10) == "aaaa bbbb!"  # exactly the limit: kept whole
    assert len(truncate("word " * 50, 37, marker=" [more]")) <= 37


def test_an_echoed_prompt_starts_at_a_word_within_its_first_half() -> None:
    text = "x" * 300 + " " + "tail words here"
    assert echo_tail(text, 20) == "…tail words here"
    assert echo_tail("ab " + "c" * 30, 20) == "…" + "c" * 19  # no space in the first half
    assert echo_tail("y" * 21, 20, marker="[…]") == "[…]" + "y" * 17
    # the tail's only space is in its second half: the tail is kept whole
    assert echo_tail("c" * 30 + "d" * 14 + " eeee", 20) == "…" + "d" * 14 + " eeee"
    assert echo_tail("c" * 30 + "d" * 7 + " " + "e" * 11, 20) == "…" + "e" * 11
    assert echo_tail("c" * 30 + "dd  " + "e" * 15, 20) == "…" + "e" * 15


def test_a_reply_over_its_page_budget_ends_cleanly_within_the_limit() -> None:
    text = " ".join(f"w{i}" for i in range(1000))
    pages, whole = paginate(text, limit=200, max_pages=3), split_pages(text, 200)
    assert len(pages) == 3
    assert all(len(page) <= 200 for page in pages)
    assert pages[:2] == whole[:2]
    assert pages[2].endswith("…" + TRUNCATED) and whole[2].startswith(pages[2][:100])
    exact = paginate("word " * 79, limit=200, max_pages=2)  # exactly two pages: kept whole
    assert len(exact) == 2 and not exact[-1].endswith(TRUNCATED)
    assert paginate("x" * MESSAGE_LIMIT, max_pages=1) == ["x" * MESSAGE_LIMIT]


def test_christening_more_members_than_names() -> None:
    text = render_names(["Ann", "Bo"], "English", members=[1, 2, 3])
    assert text.split("\n") == [
        "**Christening** (English)",
        "<@1> shall henceforth be known as **Ann**",
        "<@2> shall henceforth be known as **Bo**",
        "<@3>: no new name could be found",
    ]
