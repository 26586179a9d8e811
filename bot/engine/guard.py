"""The word guard of the sampling loop: no doubled words, no word 4-gram a third time.

Words are what :func:`bot.engine.ngrams.words_for_ngrams` counts (runs of letters with inner
apostrophes or hyphens, lower-cased), so the guard and the evaluator's loop measure agree.
A word model's words are its word tokens: the guard bans the previous token when it is a word
(only punctuation or a line break may separate two equal words) and every word that would
complete, for the third time, a word 4-gram of the reply. A character model decides a word
when it would end it: while the word written so far equals the previous word (only a space
between them) or would complete such a 4-gram, every token but a letter is banned, so the
word grows into another one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bot.engine.tokenizer import Tokenizer

NGRAM = 4
MAX_NGRAM_REPEATS = 2  # a word 4-gram may occur this often in one reply, not more
JOINERS = frozenset("'’-")


@dataclass(frozen=True)
class Lexicon:
    """A vocabulary as the guard reads it (built once per model)."""

    level: str
    texts: tuple[str, ...]  # each token's surface text, lower-cased ("" for specials)
    index: dict[str, int]  # word level: word -> id
    not_letters: np.ndarray  # char level: ids that would end a word

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> Lexicon:
        texts = tuple(tokenizer.token_text(i).lower() for i in range(len(tokenizer)))
        not_letters = [i for i, t in enumerate(texts) if not (len(t) == 1 and t.isalpha())]
        words = {t: i for i, t in enumerate(texts) if t[:1].isalpha()}
        return cls(tokenizer.level, texts, words, np.asarray(not_letters, np.int64))


class WordGuard:
    """The words of one reply so far (its prompt included) and the tokens they ban next."""

    def __init__(self, lexicon: Lexicon, prompt: Sequence[int] | np.ndarray = ()) -> None:
        self.lexicon = lexicon
        self.partial = ""  # char level: the word being written
        self.joiner = ""  # char level: an apostrophe or hyphen that may join two parts
        self.previous: str | None = None  # the last word, while only a space follows it
        self.recent: tuple[str, ...] = ()  # the last NGRAM - 1 words
        self.seen: defaultdict[tuple[str, ...], dict[str, int]] = defaultdict(dict)
        for token in prompt:
            self.feed(int(token))

    def feed(self, token: int) -> None:
        text = self.lexicon.texts[token]
        if self.lexicon.level == "word":
            if text[:1].isalpha():
                self._word(text)
                self.previous = text
            else:
                self.previous = None
            return
        if len(text) == 1 and text.isalpha():
            if self.joiner and self.partial:
                self.partial += self.joiner
            self.partial += text
            self.joiner = ""
        elif text in JOINERS and self.partial and not self.joiner:
            self.joiner = text
        else:
            joined = bool(self.joiner)
            if self.partial:
                self._word(self.partial)
            self.partial = self.joiner = ""
            if text != " " or joined:
                self.previous = None

    def _word(self, word: str) -> None:
        followers = self.seen[self.recent]
        followers[word] = followers.get(word, 0) + 1
        self.recent = (*self.recent, word)[-(NGRAM - 1) :]
        self.previous = word

    def _worn_out(self) -> list[str]:
        """Words that would complete a 4-gram already seen ``MAX_NGRAM_REPEATS`` times."""
        if len(self.recent) < NGRAM - 1:
            return []
        followers = self.seen.get(self.recent, {})
        return [w for w, n in followers.items() if n >= MAX_NGRAM_REPEATS]

    def banned(self) -> list[int] | np.ndarray:
        """Token ids the next token must not be."""
        if self.lexicon.level == "word":
            worn = self._worn_out()
            if self.previous is not None:
                worn.append(self.previous)
            return [self.lexicon.index[w] for w in worn if w in self.lexicon.index]
        if self.partial and (self.partial == self.previous or self.partial in self._worn_out()):
            return self.lexicon.not_letters
        return []
