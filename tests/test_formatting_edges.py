"""Message shaping at its edges: where pages, cuts and echoes break, poem indentation and
line endings, and notes under a reply."""

from __future__ import annotations

from bot.discord.formatting import (
    MESSAGE_LIMIT,
    TRUNCATED,
    ZWSP,
    echo_tail,
    layout_stanzas,
    neutralize,
    paginate,
    quote_block,
    render_names,
    split_pages,
    truncate,
    with_notes,
)


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
