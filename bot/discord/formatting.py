"""Text shaping for Discord messages: neutralised mentions and markup, stanzas, 2,000-char pages.

Pure functions with no discord import, so they are easy to test. The client also sends
``AllowedMentions.none()``; escaping here keeps "@everyone" from even *looking* like a ping.
Text shown under the bot's name (the user's own prompt included) never hides a link behind
other words and never reorders itself with bidirectional controls.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MESSAGE_LIMIT = 2000
ZWSP = "\u200b"
TRUNCATED = "\n-# (truncated)"
ECHO_LIMIT = 200  # characters of a user's prompt shown back in a reply

_MENTION = re.compile(r"@(everyone|here)|<(@[!&]?|#)(\d+)>")
_FENCE = re.compile(r"`{3,}")
_LINE_MARKUP = re.compile(r"^(\s*)(#{1,3} |-# |>>> |> )", re.M)
# C0 controls (tab and newline kept), DEL, and the bidi marks, embeddings, overrides and
# isolates (U+061C, U+200E/F, U+202A-E, U+2066-9) that make text read as something else.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # lone halves: not encodable, Discord refuses them
_MASKED_LINK = re.compile(r"\](?=\()")  # "[text](url)" would show "text" and hide the url
_BLANK_RUNS = re.compile(r"\n{3,}")


def neutralize(text: str) -> str:
    """Make generated or user text inert: no mentions, no code fences, no headings/quotes, no
    masked links (the url shows as plain text), no bidi controls, no lone surrogates."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _SURROGATE.sub("\ufffd", text)
    text = _MASKED_LINK.sub("]" + ZWSP, text)

    def _mention(m: re.Match[str]) -> str:
        if m.group(1):
            return f"@{ZWSP}{m.group(1)}"
        return f"<{m.group(2)}{ZWSP}{m.group(3)}>"

    text = _MENTION.sub(_mention, text)
    text = _FENCE.sub(lambda m: ZWSP.join(m.group(0)), text)
    return _LINE_MARKUP.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", text)


def layout_stanzas(text: str) -> str:
    """Tidy a poem: trailing spaces gone, one blank line between stanzas, none at the ends."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")


def quote_block(text: str) -> str:
    """Discord block quote of every line (blank lines keep the quote open)."""
    return "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))


def _break_point(text: str, limit: int) -> int:
    """Where to end a page of at most ``limit`` chars: a stanza, line, then word break."""
    if len(text) <= limit:
        return len(text)
    floor = limit // 2
    for sep in ("\n\n", "\n", " "):
        cut = text.rfind(sep, floor, limit)
        if cut != -1:
            return cut + len(sep)
    return limit


def split_pages(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split into pages of at most ``limit`` chars at natural breaks.

    A page's extent depends only on the text from its start to ``limit`` chars later, so the
    pages of a growing text never move once the text has grown past them (streaming relies
    on this).
    """
    pages: list[str] = []
    while text:
        cut = _break_point(text, limit)
        page, text = text[:cut].rstrip(), text[cut:].lstrip("\n")
        if page:
            pages.append(page)
    return pages or [""]


def truncate(text: str, limit: int, marker: str = "…") -> str:
    """Shorten to at most ``limit`` chars, cutting at a word break and adding ``marker``."""
    if len(text) <= limit:
        return text
    room = limit - len(marker)
    cut = text.rfind(" ", room // 2, room + 1)
    return text[: cut if cut != -1 else room].rstrip() + marker


def echo_tail(text: str, limit: int = ECHO_LIMIT, marker: str = "…") -> str:
    """The end of a long echoed prompt: at most ``limit`` chars, starting at a word break
    after ``marker`` (the end is kept because the generated text continues from it)."""
    if len(text) <= limit:
        return text
    room = limit - len(marker)
    tail = text[-room:]
    cut = tail.find(" ", 0, room // 2)
    return marker + (tail[cut + 1 :] if cut != -1 else tail).lstrip()


def paginate(text: str, *, limit: int = MESSAGE_LIMIT, max_pages: int) -> list[str]:
    """Pages for a reply spanning at most ``max_pages`` messages; the excess is cut cleanly."""
    pages = split_pages(text, limit)
    if len(pages) <= max_pages:
        return pages
    kept = pages[:max_pages]
    kept[-1] = truncate(kept[-1], limit - len(TRUNCATED)) + TRUNCATED
    return kept


def with_notes(body: str, notes: Sequence[str]) -> str:
    """Append user-facing remarks as small grey lines."""
    extra = "".join(f"\n-# {neutralize(note)}" for note in notes if note.strip())
    return body + extra


# -- one renderer per product --------------------------------------------------------------


def render_prose(title: str, text: str, notes: Sequence[str] = ()) -> str:
    """Lovecraft and story replies: a bold title line, then the text."""
    return with_notes(f"**{title}**\n{neutralize(text).strip()}", notes)


def render_poem(text: str, originality: float | None, notes: Sequence[str] = ()) -> str:
    body = quote_block(layout_stanzas(neutralize(text)))
    title = "**A poem**"
    if originality is not None:
        title += f" · originality {originality:.0%}"
    return with_notes(f"{title}\n{body}", notes)


def render_names(
    names: Sequence[str], style_label: str, members: Sequence[int] = (), notes: Sequence[str] = ()
) -> str:
    """A list of names, or one christening line per member (as a mention that pings nobody)."""
    clean = [neutralize(n).strip() for n in names]
    if members:
        lines = [
            f"<@{member}> shall henceforth be known as **{clean[i]}**"
            if i < len(clean)
            else f"<@{member}>: no new name could be found"
            for i, member in enumerate(members)
        ]
        title = f"**Christening** ({style_label})"
    else:
        lines = [f"{i}. **{name}**" for i, name in enumerate(clean, 1)]
        title = f"**Names** ({style_label})"
    return with_notes("\n".join([title, *lines]), notes)


MENTION_ID = re.compile(r"<@!?(\d{15,21})>")


def mentioned_users(text: str) -> list[int]:
    """User ids mentioned in ``text`` (``<@id>``/``<@!id>``), first occurrence order."""
    seen: dict[int, None] = {}
    for m in MENTION_ID.finditer(text):
        seen.setdefault(int(m.group(1)), None)
    return list(seen)
