"""Char and word tokenizers: encoding, OOV reporting, word detokenization."""

from __future__ import annotations

import itertools
import random

import pytest

from bot.engine.contract import SpecialTokens
from bot.engine.tokenizer import Tokenizer, detokenize_words, split_words
from training.random_model import CHARS, WORDS


class _Meta:
    """The two fields Tokenizer reads, without a whole ModelMetadata."""

    def __init__(self, level: str, vocab: list[str], special: SpecialTokens) -> None:
        self.level, self.vocab, self.special_tokens = level, vocab, special


def char_tokenizer() -> Tokenizer:
    special = SpecialTokens("<unk>", "<bos>", "<eos>")
    return Tokenizer(_Meta("char", [*special.all(), *CHARS], special))  # type: ignore[arg-type]


def word_tokenizer() -> Tokenizer:
    special = SpecialTokens("<unk>", "<bos>", "<eos>", newline="<nl>")
    return Tokenizer(_Meta("word", [*special.all(), *WORDS], special))  # type: ignore[arg-type]


def test_char_round_trip_and_oov_reported_once() -> None:
    tok = char_tokenizer()
    enc = tok.encode("Hi! ☃ x☃é")
    assert enc.unknown == ["☃", "é"]
    assert enc.ids.count(tok.unknown_id) == 3
    assert tok.decode(tok.encode("Hello, world.\n").ids) == "Hello, world.\n"


def test_special_token_text_typed_by_user_is_not_special() -> None:
    tok = word_tokenizer()
    enc = tok.encode("<eos> the")
    assert tok.eos_id not in enc.ids
    assert enc.ids[-1] == tok.index["the"]


def test_word_encoding_newline_and_unknown() -> None:
    tok = word_tokenizer()
    enc = tok.encode("The Fox\nsaid zebra.")
    assert [tok.vocab[i] for i in enc.ids] == ["the", "fox", "<nl>", "said", "<unk>", "."]
    assert enc.unknown == ["zebra"]


def test_split_words_keeps_inner_apostrophes_and_hyphens() -> None:
    assert split_words("Don't go—well-known 42 times!") == [
        "don't",
        "go",
        "—",
        "well-known",
        "42",
        "times",
        "!",
    ]


@pytest.mark.parametrize(
    ("words", "text"),
    [
        (["the", "fox", ",", "said", "he", "."], "The fox, said he."),
        (["i", "saw", "it", "!", "and", "i", "ran", "."], "I saw it! And I ran."),
        (['"', "hello", ",", '"', "said", "the", "crow", "."], '"Hello," said the crow.'),
        (["a", "(", "small", ")", "fox", "."], "A (small) fox."),
        (["the", "end", ".", "\n", "a", "new", "one"], "The end.\nA new one"),
        (["he", "said", '"', "no", '"', "."], 'He said "no".'),
    ],
)
def test_detokenize_words(words: list[str], text: str) -> None:
    assert detokenize_words(words) == text


def test_word_decode_skips_specials_and_renders_newlines() -> None:
    tok = word_tokenizer()
    ids = [tok.bos_id, tok.index["the"], tok.index["fox"], tok.unknown_id, tok.index["."]]
    ids += [tok.index["<nl>"], tok.index["a"], tok.index["crow"], tok.eos_id]
    assert tok.decode(ids) == "The fox.\nA crow"


def test_detokenize_is_prefix_stable() -> None:
    """The story generator streams the difference between successive detokenizations."""
    rng = random.Random(0)
    vocab = [*WORDS, "\n", "(", ")", "i"]
    for _ in range(200):
        words = [rng.choice(vocab) for _ in range(rng.randint(1, 30))]
        texts = [detokenize_words(words[:n]) for n in range(1, len(words) + 1)]
        for shorter, longer in itertools.pairwise(texts):
            assert longer.startswith(shorter), (words, shorter, longer)
