"""training.metrics on crafted inputs with answers worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.engine.ngrams import ngram_hashes
from training import metrics


def test_total_variation_known_values() -> None:
    assert metrics.total_variation([1, 0], [0, 1]) == pytest.approx(1.0)
    assert metrics.total_variation([2, 2], [5, 5]) == pytest.approx(0.0)
    # (0.75, 0.25) vs (0.5, 0.5): half of 0.25 + 0.25
    assert metrics.total_variation([3, 1], [1, 1]) == pytest.approx(0.25)


def test_js_divergence_known_values() -> None:
    assert metrics.js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    assert metrics.js_divergence([1, 3], [2, 6]) == pytest.approx(0.0)
    # p = (1, 0), q = (1/2, 1/2): m = (3/4, 1/4); JS = 1/2 log2(4/3) + 1/4 log2(2/3) + 1/4 log2(2)
    expected = 0.5 * math.log2(4 / 3) + 0.25 * math.log2(2 / 3) + 0.25
    assert metrics.js_divergence([1, 0], [1, 1]) == pytest.approx(expected)


def test_letter_counts_fold_case_and_ignore_the_rest() -> None:
    counts = metrics.letter_counts("Abc a! é 9 Z")
    assert counts.sum() == 5
    assert counts[0] == 2 and counts[1] == 1 and counts[2] == 1 and counts[25] == 1


def test_real_word_rate() -> None:
    assert metrics.real_word_rate(["the", "cat", "xqz"], {"the", "cat"}) == pytest.approx(2 / 3)
    assert metrics.real_word_rate(["xqz"], {"the"}) == 0.0
    assert metrics.real_word_rate([], {"the"}) is None


def test_word_length_counts_put_long_words_in_the_last_bucket() -> None:
    counts = metrics.word_length_counts(["a", "bb", "cc", "x" * 18], max_length=15)
    assert counts.tolist() == [1, 2] + [0] * 12 + [1]


def test_suffix_counts_need_two_letters_before_the_suffix() -> None:
    words = ["running", "ring", "bed", "jumped", "nation", "tion", "sang"]
    assert metrics.suffix_counts(words) == {"ing": 1, "ed": 1, "tion": 1}


def test_per_10k_and_share_of_the() -> None:
    assert metrics.per_10k(37, 10_000) == pytest.approx(37.0)
    assert metrics.per_10k(1, 500) == pytest.approx(20.0)
    assert metrics.per_10k(3, 0) is None
    assert metrics.word_share(["the", "a", "the", "x"]) == pytest.approx(0.5)
    assert metrics.word_share([]) is None


def test_sentence_lengths() -> None:
    text = "One two. Three four five! Six?... Seven"
    assert metrics.sentence_lengths(text) == [2, 3, 1, 1]
    assert metrics.sentence_lengths("... !") == []


def test_copied_ngram_share_is_the_poets_check() -> None:
    corpus = ngram_hashes("The cat sat on the mat.")
    # 4-grams: "the cat sat on" (copied), "cat sat on a", "sat on a hat" (new)
    assert metrics.copied_ngram_share(["the cat sat on a hat"], corpus) == pytest.approx(1 / 3)
    # pooled over texts, repeated 4-grams counted once
    assert metrics.copied_ngram_share(
        ["the cat sat on", "The cat sat on", "a b c d"], corpus
    ) == pytest.approx(1 / 2)
    assert metrics.copied_ngram_share(["too short"], corpus) is None
    assert metrics.copied_ngram_share(["one two three four"], np.empty(0, np.uint64)) == 0.0


def test_poem_shape() -> None:
    shape = metrics.poem_shape("a b\n  c d e\n\nf\n")
    assert shape == {
        "lines": 3.0,
        "stanzas": 2.0,
        "lines_per_stanza": 1.5,
        "words_per_line": 2.0,
        "chars_per_line": pytest.approx((3 + 5 + 1) / 3),
    }
    assert metrics.poem_shape("\n\n")["lines"] == 0.0


def test_novelty_and_duplicates() -> None:
    names = ["Ann", "bob", "Zed", "zed"]
    assert metrics.novelty_rate(names, {"ann", "Bob"}) == pytest.approx(0.5)
    assert metrics.novelty_rate([], {"ann"}) is None
    assert metrics.duplicate_rate(["a", "b", "a", "a"]) == pytest.approx(0.5)
    assert metrics.duplicate_rate(["a", "b"]) == 0.0
    assert metrics.duplicate_rate([]) is None


def test_implausible_openings_judge_the_first_two_letters() -> None:
    training = ["ashley", "ann", "sharon", "x"]
    assert metrics.implausible_opening_share(["sshley", "Ashlyn", "shane", "y"], training) == (
        pytest.approx(1 / 3)  # sshley: no training name opens "ss"; "y" is too short to judge
    )
    assert metrics.implausible_opening_share(["a"], training) is None
    han = ["张无忌", "张三丰", "李寻欢"]  # Han names: judged by their first character
    assert metrics.implausible_opening_share(["张飞", "李白", "王五"], han) == pytest.approx(1 / 3)


def test_reinvented_share_counts_unseen_heldout_names() -> None:
    names = ["Nora", "nora", "Ann", "Zed"]
    assert metrics.reinvented_share(names, heldout=["nora", "ann"], training=["Ann"]) == 0.5
    assert metrics.reinvented_share([], heldout=["nora"], training=[]) is None


def test_continuation_check() -> None:
    known = {("fox", "said"), ("said", "the"), ("the", "crow")}
    check = metrics.continuation_check(["a", "fox"], ["said", "the", "crow", "."], known, 3)
    assert check == {"seam_seen": True, "seen_rate": 0.75, "grammatical": True}
    # fewer bigrams than the window: not judged grammatical
    check = metrics.continuation_check(["a", "fox"], ["said", "the", "crow", "."], known, 5)
    assert check["grammatical"] is False
    check = metrics.continuation_check(["a", "cat"], ["said", "the"], known, 2)
    assert check == {"seam_seen": False, "seen_rate": 0.5, "grammatical": False}


def test_bigram_set_and_seen_share() -> None:
    known = metrics.bigram_set([["a", "b", "c"], ["c", "a"]])
    assert known == {("a", "b"), ("b", "c"), ("c", "a")}
    assert metrics.bigram_seen_share([["a", "b", "a"], ["c", "a"]], known) == pytest.approx(2 / 3)
    assert metrics.bigram_seen_share([["a"]], known) is None


def test_witten_bell_bigram_by_hand() -> None:
    # train 0 1 0 1: P1 = (2+1)/(4+2) = 1/2 for both; c(0)=2, T(0)=1; c(1)=1, T(1)=1
    # P(1|0) = (2 + 1/2) / 3, P(1|1) = (0 + 1/2) / 2
    nats = metrics.witten_bell_bigram_nats(np.array([0, 1, 0, 1]), np.array([0, 1, 1]), 2)
    assert nats == pytest.approx(-(math.log(2.5 / 3) + math.log(0.25)) / 2)
    # a previous token never seen in training falls back to the add-one unigram
    nats = metrics.witten_bell_bigram_nats(np.array([0, 1, 0, 1]), np.array([2, 0]), 3)
    assert nats == pytest.approx(-math.log(3 / 7))


def test_witten_bell_is_a_distribution() -> None:
    rng = np.random.default_rng(0)
    train = rng.integers(0, 6, 200)
    for prev in range(7):  # token 6 never occurs in training
        total = sum(
            math.exp(-metrics.witten_bell_bigram_nats(train, np.array([prev, w]), 7))
            for w in range(7)
        )
        assert total == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two held-out tokens"):
        metrics.witten_bell_bigram_nats(train, np.array([1]), 7)


def test_text_statistics() -> None:
    texts = ["The cat was running. The nation rested!"]
    words = ["the", "cat", "was", "running", "the", "nation", "rested", "zzz"]
    stats = metrics.text_statistics(texts, words, {"the", "cat", "was", "running", "nation"})
    assert stats["words"] == 8
    assert stats["real_word_rate"] == pytest.approx(6 / 8)
    assert stats["suffix_per_10k"] == {"ing": 1250.0, "ed": 1250.0, "tion": 1250.0}
    assert stats["the_share"] == pytest.approx(0.25)
    assert stats["mean_sentence_words"] == pytest.approx(3.5)
    assert stats["mean_word_length"] == pytest.approx(sum(map(len, words)) / 8)
    assert sum(stats["letter_counts"]) == sum(ch.isalpha() for ch in texts[0])
    assert stats["word_length_counts"][2] == 5  # the, cat, was, the, zzz
    # a word model's unknown tokens lower the real-word rate and change nothing else
    with_unknown = metrics.text_statistics(texts, words, {"the", "cat", "was", "running"}, 2)
    assert with_unknown["real_word_rate"] == pytest.approx(5 / 10)
    assert with_unknown["word_length_counts"] == stats["word_length_counts"]
    assert with_unknown["the_share"] == stats["the_share"]
