"""Sampling edge cases users meet: boundary settings, exact top-p cut-offs, ties, one-token
vocabularies, the repetition guard at its limit, and the batched step's never-sampled mask."""

from __future__ import annotations

import numpy as np
import pytest

from bot.engine.sampling import (
    SamplingParams,
    banned_token,
    filter_logits,
    log_softmax,
    next_tokens,
    sample,
)


def kept(logp: np.ndarray) -> set[int]:
    return set(np.flatnonzero(np.isfinite(logp)).tolist())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": 0.0},  # greedy, what /lovecraft temperature 0 means
        {"top_k": 0},
        {"top_p": 1.0},
        {"repeat_limit": 0},
        {"temperature": 2.0, "top_k": 1, "top_p": 1e-9, "repeat_limit": 1},
    ],
)
def test_the_limits_of_each_setting_are_accepted(kwargs: dict) -> None:
    params = SamplingParams(**kwargs)
    assert all(getattr(params, key) == value for key, value in kwargs.items())


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": float("inf")}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.01}, "top_p"),
        ({"repeat_limit": -1}, "repeat_limit"),
    ],
)
def test_a_bad_setting_is_refused_by_name(kwargs: dict, named: str) -> None:
    with pytest.raises(
        ValueError, match=rf"^{named} must be .*, got {next(iter(kwargs.values()))}$"
    ):
        SamplingParams(**kwargs)


def test_log_softmax_is_a_normalised_log_distribution() -> None:
    x = np.array([1.0, 2.0, 3.0, -np.inf])
    logp = log_softmax(x)
    expected = np.log(np.exp(x[:3]) / np.exp(x[:3]).sum())
    assert np.allclose(logp[:3], expected) and logp[3] == -np.inf
    assert np.allclose(log_softmax(x + 1000.0)[:3], expected)  # shift invariant, no overflow


def test_the_guard_bans_after_exactly_repeat_limit_repeats() -> None:
    assert banned_token([7, 7], 2) == 7  # as long as the limit: banned
    assert banned_token([7], 2) is None  # shorter: not yet
    assert banned_token([3, 7], 2) is None
    assert banned_token([7], 1) == 7  # limit 1: never the same token twice in a row


def test_a_one_token_vocabulary_keeps_its_token_even_when_banned() -> None:
    logits = np.array([0.3])
    params = SamplingParams(1.0, top_p=0.5)
    assert kept(filter_logits(logits, params, banned=0)) == {0}
    assert sample(logits, params, np.random.default_rng(0), banned=0) == 0
    assert sample(logits, SamplingParams(1.0), np.random.default_rng(0), banned=0) == 0
    two = np.array([5.0, 0.0])  # with two tokens the ban does apply
    assert kept(filter_logits(two, params, banned=0)) == {1}
    assert sample(two, SamplingParams(1.0), np.random.default_rng(0), banned=0) == 1


def test_top_p_stops_adding_tokens_once_the_mass_reaches_p() -> None:
    """Probabilities 1/2, 1/4, 1/4 are exact in binary: top_p = 3/4 keeps two tokens."""
    logits = np.log(np.array([0.25, 0.5, 0.25]))
    assert kept(filter_logits(logits, SamplingParams(1.0, top_p=0.75))) == {0, 1}
    assert kept(filter_logits(logits, SamplingParams(1.0, top_p=0.5))) == {1}
    assert kept(filter_logits(logits, SamplingParams(1.0, top_p=0.76))) == {0, 1, 2}


def test_filtered_log_probabilities_are_renormalised_with_the_temperature() -> None:
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    logp = filter_logits(logits, SamplingParams(0.5, top_k=2))
    tempered = np.array([0.3, 0.4]) ** 2  # p ** (1 / T), then only the top two, renormalised
    assert np.allclose(np.exp(logp[2:]), tempered / tempered.sum())
    assert kept(logp) == {2, 3}


def test_ties_among_many_levels_are_cut_in_token_order() -> None:
    """300 tokens on three levels; top_p = 0.5 ends inside the top level: its lowest ids."""
    logits = np.random.default_rng(0).integers(0, 3, size=300).astype(np.float64)
    chosen = sorted(kept(filter_logits(logits, SamplingParams(1.0, top_p=0.5))))
    top = np.flatnonzero(logits == 2).tolist()
    assert 0 < len(chosen) < len(top)  # the premise: a cut inside the level
    assert chosen == top[: len(chosen)]


def test_top_k_keeps_exactly_the_k_most_likely() -> None:
    for seed in range(5):  # vocabularies of hundreds of tokens, as the shipped models have
        logits = np.random.default_rng(seed).normal(size=300 + 50 * seed)
        for k in (1, 3, 40):
            expected = set(np.argsort(-logits)[:k].tolist())
            assert kept(filter_logits(logits, SamplingParams(1.0, top_k=k))) == expected


def test_top_k_ties_keep_every_token_as_likely_as_the_kth() -> None:
    logits = np.array([1.0, 3.0, 2.0, 2.0, 0.0])
    assert kept(filter_logits(logits, SamplingParams(1.0, top_k=2))) == {1, 2, 3}
    assert kept(filter_logits(logits, SamplingParams(1.0, top_k=5))) == {0, 1, 2, 3, 4}


def test_the_greedy_ban_picks_the_best_other_token() -> None:
    logits = np.array([1.0, 9.0, 5.0])
    assert sample(logits, SamplingParams(0.0), np.random.default_rng(0), banned=1) == 2


def test_a_batched_step_masks_never_sampled_ids_and_guards_each_row() -> None:
    """Row 0 would pick the masked id 1 and row 1 has just repeated id 2 twice."""
    logits = np.array([[0.0, 9.0, 8.0, 0.0], [0.0, 0.0, 9.0, 8.0]])
    greedy = SamplingParams(0.0, repeat_limit=2)
    rows = [
        (greedy, np.random.default_rng(0), [0]),
        (greedy, np.random.default_rng(1), [2, 2]),
    ]
    assert next_tokens(logits, np.array([1]), rows) == [2, 3]
    assert np.isneginf(logits[:, 1]).all()  # masked in place, as documented
    with pytest.raises(ValueError):  # one params/generator/history per row, no fewer
        next_tokens(logits, np.array([1]), rows[:1])


def test_each_row_draws_from_its_own_generator() -> None:
    logits = np.zeros((2, 50))
    params = SamplingParams(1.0)
    a, b = np.random.default_rng(5), np.random.default_rng(6)
    tokens = next_tokens(logits, np.array([], dtype=np.int64), [(params, a, []), (params, b, [])])
    alone = [sample(np.zeros(50), params, np.random.default_rng(seed)) for seed in (5, 6)]
    assert tokens == alone


def test_the_repetition_guard_holds_with_the_shipped_top_k_and_top_p() -> None:
    """/lovecraft, /poem and /story sample with top_k=40, top_p=0.95 and the guard."""
    logits = np.array([0.0, 6.0, 5.0, 1.0])
    params = SamplingParams(1.0, top_k=40, top_p=0.95)
    drawn = {sample(logits, params, np.random.default_rng(s), banned=1) for s in range(200)}
    assert 1 not in drawn and 2 in drawn


class ZeroDraw:
    """A generator whose uniform draw is exactly 0.0 (it happens once in 2**53 draws)."""

    def random(self) -> float:
        return 0.0


def test_a_draw_of_exactly_zero_never_picks_a_masked_token() -> None:
    logits = np.array([-np.inf, 1.0, 2.0])
    assert sample(logits, SamplingParams(1.0), ZeroDraw()) == 1  # type: ignore[arg-type]
    assert sample(np.array([3.0, 1.0]), SamplingParams(1.0), ZeroDraw(), banned=0) == 1  # type: ignore[arg-type]
