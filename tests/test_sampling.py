"""Sampling: greedy, seeded reproducibility, top-k/top-p masks, stability, repetition guard."""

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


def draws(logits: np.ndarray, params: SamplingParams, seed: int, n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([sample(logits, params, rng) for _ in range(n)])


LOGITS = np.log(np.array([0.05, 0.4, 0.3, 0.15, 0.1], dtype=np.float32))


def test_greedy_is_argmax() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        logits = rng.normal(size=30).astype(np.float32)
        for t in (0.0, 1e-5):
            assert sample(logits, SamplingParams(temperature=t), rng) == int(np.argmax(logits))


def test_same_seed_same_tokens_and_different_seed_differs() -> None:
    params = SamplingParams(temperature=1.0)
    assert (draws(LOGITS, params, 7) == draws(LOGITS, params, 7)).all()
    assert (draws(LOGITS, params, 7) != draws(LOGITS, params, 8)).any()


def test_one_uniform_per_token() -> None:
    """Each sample consumes exactly one draw, whatever the settings (keeps streams aligned)."""
    for params in (
        SamplingParams(0.0),
        SamplingParams(1.0, top_k=2),
        SamplingParams(0.7, top_p=0.5),
    ):
        rng, ref = np.random.default_rng(3), np.random.default_rng(3)
        for _ in range(5):
            sample(LOGITS, params, rng)
            ref.random()
        assert rng.random() == ref.random()


def test_frequencies_follow_softmax_at_temperature_one() -> None:
    counts = np.bincount(draws(LOGITS, SamplingParams(temperature=1.0), 1, 20000), minlength=5)
    expected = np.exp(log_softmax(LOGITS.astype(np.float64)))
    assert np.abs(counts / 20000 - expected).max() < 0.015


def test_temperature_sharpens() -> None:
    cold = draws(LOGITS, SamplingParams(temperature=0.3), 2)
    hot = draws(LOGITS, SamplingParams(temperature=1.5), 2)
    assert (cold == 1).mean() > (hot == 1).mean() + 0.2


def test_top_k_mask() -> None:
    tokens = set(draws(LOGITS, SamplingParams(temperature=2.0, top_k=2), 4).tolist())
    assert tokens == {1, 2}


def shipped_expectation(logits: np.ndarray, temperature: float, top_k: int, top_p: float):
    """The distribution worked out step by step: softmax at the temperature, keep the top k,
    renormalise, keep the most likely tokens until their mass reaches top_p, renormalise."""
    p = np.exp(logits / temperature - np.max(logits / temperature))
    p /= p.sum()
    order = sorted(range(p.size), key=lambda i: -p[i])[:top_k]
    q = p[order] / p[order].sum()
    kept, mass = [], 0.0
    for i, share in zip(order, q, strict=True):
        kept.append(i)
        mass += share
        if mass >= top_p:
            break
    out = np.zeros_like(p)
    out[kept] = p[kept] / p[kept].sum()
    return out


@pytest.mark.parametrize("temperature", [0.5, 0.8, 1.7])
def test_temperature_applies_with_the_shipped_top_k_and_top_p(temperature: float) -> None:
    """Every product but /name samples with top_k=40, top_p=0.95: the temperature must count."""
    logits = np.random.default_rng(0).normal(scale=2.0, size=60)
    params = SamplingParams(temperature, top_k=40, top_p=0.95)
    expected = shipped_expectation(logits, temperature, 40, 0.95)
    untempered = shipped_expectation(logits, 1.0, 40, 0.95)
    assert np.abs(expected - untempered).max() > 0.05  # the premise: T changes the answer
    assert np.allclose(np.exp(filter_logits(logits, params)), expected, atol=1e-9)
    counts = np.bincount(draws(logits, params, 9, 20000), minlength=60)
    assert np.abs(counts / 20000 - expected).max() < 0.015


def test_top_p_mask_keeps_smallest_prefix_reaching_p() -> None:
    # sorted probs 0.4, 0.3, 0.15, 0.1, 0.05: p=0.65 needs {1, 2}; p=0.75 needs {1, 2, 3}
    assert set(draws(LOGITS, SamplingParams(1.0, top_p=0.65), 5).tolist()) == {1, 2}
    assert set(draws(LOGITS, SamplingParams(1.0, top_p=0.75), 5).tolist()) == {1, 2, 3}
    assert set(draws(LOGITS, SamplingParams(1.0, top_p=0.01), 5).tolist()) == {1}


def test_stable_with_huge_logits_and_masked_entries() -> None:
    logits = np.array([1e30, 1e30 - 1e24, -1e30, -np.inf], dtype=np.float64)
    assert np.isfinite(log_softmax(logits)[:3]).all()
    logp = filter_logits(np.array([5000.0, 4999.0, -5000.0]), SamplingParams(1.0))
    assert np.isclose(np.exp(logp).sum(), 1.0)
    assert sample(
        np.array([5000.0, 4999.0, -5000.0]), SamplingParams(1.0), np.random.default_rng()
    ) in (0, 1)


def test_repetition_guard() -> None:
    assert banned_token([1, 2, 2, 2], 3) == 2
    assert banned_token([2, 2, 1, 2], 3) is None
    assert banned_token([2, 2], 3) is None
    assert banned_token([2, 2, 2], 0) is None
    logits = np.array([0.0, 10.0, 0.0])
    assert sample(logits, SamplingParams(0.0), np.random.default_rng(), banned=1) != 1
    assert {
        sample(logits, SamplingParams(1.0), np.random.default_rng(s), banned=1) for s in range(50)
    } <= {0, 2}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"temperature": -1},
        {"temperature": float("nan")},
        {"top_k": -1},
        {"top_p": 0},
        {"top_p": 1.5},
    ],
)
def test_invalid_params_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SamplingParams(**kwargs)


def test_next_tokens_masks_then_guards_each_row() -> None:
    """The shared step: never-sampled ids are masked even where they are the likeliest, each
    row has its own repetition guard, and each row draws from its own generator only."""
    logits = np.array([[5.0, 4.0, 1.0, 0.0], [0.0, 1.0, 4.0, 5.0], [0.0, 1.0, 4.0, 5.0]])
    greedy = SamplingParams(temperature=0.0, repeat_limit=2)
    rngs = [np.random.default_rng(i) for i in range(3)]
    tokens = next_tokens(
        logits.copy(),
        np.array([0]),
        [(greedy, rngs[0], []), (greedy, rngs[1], [3, 3]), (greedy, rngs[2], [3])],
    )
    assert tokens == [1, 2, 3]
    again = [np.random.default_rng(i) for i in range(3)]
    for rng, used in zip(again, rngs, strict=True):
        rng.random()  # exactly one draw per row
        assert rng.random() == used.random()
