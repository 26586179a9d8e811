"""Character and word tokenizers, shared by training (to build vocabularies) and serving.

Both map text to token ids with the vocabulary stored in the model's metadata. Text that
the vocabulary cannot represent maps to the unknown token and is *reported*, never raised.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.engine.contract import ModelMetadata

# Words (with inner apostrophes or hyphens), numbers, or any single non-space symbol.
WORD_PATTERN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*|\d+|\n|[^\w\s]", re.UNICODE)
_NO_SPACE_BEFORE = {".", ",", ";", ":", "!", "?", ")", "]", "}", "%"}
_NO_SPACE_AFTER = {"(", "[", "{", "\n"}
_SENTENCE_END = {".", "!", "?"}


def split_words(text: str) -> list[str]:
    """Lower-cased word-level tokens; punctuation and newlines are tokens of their own."""
    return WORD_PATTERN.findall(text.lower())


@dataclass
class Encoded:
    """Token ids for a text, with what could not be represented."""

    ids: list[int]
    unknown: list[str] = field(default_factory=list)  # distinct OOV chars/words, first-seen order


class Tokenizer:
    """Maps text to ids and back for one model, as described by its metadata."""

    def __init__(self, meta: ModelMetadata) -> None:
        self.level = meta.level
        self.vocab = list(meta.vocab)
        self.index = {token: i for i, token in enumerate(self.vocab)}
        self.special = meta.special_tokens
        self.special_ids = {self.index[t] for t in self.special.all()}
        self.unknown_id = self.index[self.special.unknown]
        self.bos_id = self.index[self.special.bos]
        self.eos_id = self.index[self.special.eos]
        self.newline_id = self.index.get(self.special.newline or "\n", None)

    def __len__(self) -> int:
        return len(self.vocab)

    def style_id(self, style: str) -> int:
        return self.index[self.special.styles[style]]

    def encode(self, text: str) -> Encoded:
        pieces: Sequence[str] = split_words(text) if self.level == "word" else text
        ids: list[int] = []
        unknown: list[str] = []
        for raw in pieces:
            piece = self.special.newline if raw == "\n" and self.special.newline else raw
            token_id = self.index.get(piece)
            if token_id is None or (token_id in self.special_ids and piece != self.special.newline):
                if piece not in unknown:
                    unknown.append(piece)
                token_id = self.unknown_id
            ids.append(token_id)
        return Encoded(ids, unknown)

    def token_text(self, token_id: int) -> str:
        """Surface text of one token (specials render as nothing, newline as '\\n')."""
        token = self.vocab[token_id]
        if self.special.newline is not None and token == self.special.newline:
            return "\n"
        if token_id in self.special_ids:
            return ""
        return token

    def decode(self, ids: Sequence[int]) -> str:
        if self.level == "char":
            return "".join(self.token_text(i) for i in ids)
        return detokenize_words([self.token_text(i) for i in ids if self.token_text(i)])


def _glued_to_previous(prev: str, quote_open: bool) -> bool:
    """No space after an opening bracket, a line break, or an opening quote."""
    return prev in _NO_SPACE_AFTER or (prev == '"' and quote_open)


def detokenize_words(words: Sequence[str], *, capitalize: bool = True) -> str:
    """Join word tokens with natural spacing and (optionally) sentence capitalisation."""
    out: list[str] = []
    quote_open = False
    start_of_sentence = True
    prev = "\n"
    for word in words:
        text = word
        if capitalize and (start_of_sentence or word == "i") and text[:1].isalpha():
            text = text[:1].upper() + text[1:]
        if word == '"':
            space = not quote_open and prev not in _NO_SPACE_AFTER
            quote_open = not quote_open
        elif word in _NO_SPACE_BEFORE or word == "\n" or _glued_to_previous(prev, quote_open):
            space = False
        else:
            space = bool(out)
        if space:
            out.append(" ")
        out.append(text)
        if word in _SENTENCE_END or word == "\n":
            start_of_sentence = True
        elif word[:1].isalnum():
            start_of_sentence = False
        prev = word
    return "".join(out).strip(" ")
