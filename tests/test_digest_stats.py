"""Digest statistics: honest rates from small samples, earned thresholds, heavy hitters."""

import math
import random

import pytest

from digest.stats import (
    Band,
    SpaceSaving,
    earned_threshold,
    rate_rising,
    threshold_too_low,
    wilson_interval,
)


def closed_form_wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The same interval written as (2np + z² ± z·sqrt(z² + 4np(1-p))) / 2(n + z²)."""
    p = successes / n
    spread = z * math.sqrt(z * z + 4 * n * p * (1 - p))
    return (
        (2 * n * p + z * z - spread) / (2 * (n + z * z)),
        (2 * n * p + z * z + spread) / (2 * (n + z * z)),
    )


# --- Wilson interval ---


def test_wilson_95_of_100_matches_the_closed_formula() -> None:
    lower, upper = wilson_interval(95, 100)
    assert lower == pytest.approx(0.888, abs=5e-4)
    assert (lower, upper) == pytest.approx(closed_form_wilson(95, 100), abs=1e-12)
    assert upper == pytest.approx(0.978, abs=5e-4)


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (3, 7), (50, 100), (999, 1000)])
def test_wilson_matches_the_closed_formula_elsewhere(successes: int, n: int) -> None:
    assert wilson_interval(successes, n) == pytest.approx(
        closed_form_wilson(successes, n), abs=1e-12
    )


def test_wilson_with_no_items_says_nothing() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_stays_inside_zero_one_at_the_extremes() -> None:
    lower, upper = wilson_interval(0, 20)
    assert lower == 0.0 and 0 < upper < 0.2
    lower, upper = wilson_interval(20, 20)
    assert upper == 1.0 and 0.8 < lower < 1.0


def test_wilson_narrows_as_items_accumulate() -> None:
    few = wilson_interval(9, 10)
    many = wilson_interval(900, 1000)
    assert many[1] - many[0] < (few[1] - few[0]) / 5


def test_wilson_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


# --- rising rates ---


def test_rate_rising_from_5_to_40_percent_is_significant() -> None:
    assert rate_rising(40, 100, 5, 100)


def test_rate_rising_ignores_small_samples() -> None:
    # 8/10 vs 1/10 would pass the z-test, but 10 items are below min_n.
    assert not rate_rising(8, 10, 1, 10)
    assert rate_rising(8, 10, 1, 10, min_n=10)


def test_rate_rising_ignores_falls_and_wobbles() -> None:
    assert not rate_rising(5, 100, 40, 100)  # a fall
    assert not rate_rising(13, 100, 10, 100)  # up, but within noise
    assert not rate_rising(0, 100, 0, 100)  # nothing at all


# --- earned threshold ---


def test_earned_threshold_is_the_lowest_edge_the_approvals_support() -> None:
    bands = [
        Band(0.70, 0.80, n=150, unchanged=100),
        Band(0.80, 0.90, n=200, unchanged=170),
        Band(0.90, 0.95, n=200, unchanged=198),
        Band(0.95, 1.00, n=400, unchanged=397),
    ]
    earned = earned_threshold(bands)
    assert earned is not None
    assert earned.threshold == 0.90
    assert (earned.n, earned.unchanged) == (600, 595)
    assert earned.rate == pytest.approx(595 / 600)
    assert earned.lower_bound == pytest.approx(wilson_interval(595, 600)[0])
    assert earned.lower_bound >= 0.95


def test_earned_threshold_needs_more_than_a_handful() -> None:
    bands = [Band(0.90, 0.95, n=4, unchanged=4), Band(0.95, 1.00, n=3, unchanged=3)]
    assert earned_threshold(bands) is None
    assert earned_threshold([]) is None


def test_earned_threshold_is_not_fooled_by_a_bad_middle_band() -> None:
    bands = [
        Band(0.90, 0.93, n=300, unchanged=299),
        Band(0.93, 0.96, n=40, unchanged=30),  # 75% unchanged: people fix these
        Band(0.96, 1.00, n=600, unchanged=599),
    ]
    # Pooled from 0.90 the rate looks fine; only the band check stops it.
    assert wilson_interval(299 + 30 + 599, 940)[0] >= 0.95
    earned = earned_threshold(bands)
    assert earned is not None
    assert earned.threshold == 0.96
    assert earned.n == 600


def test_earned_threshold_does_not_extend_over_an_empty_band() -> None:
    bands = [Band(0.85, 0.90, n=0, unchanged=0), Band(0.90, 1.00, n=300, unchanged=300)]
    earned = earned_threshold(bands)
    assert earned is not None and earned.threshold == 0.90


# --- threshold too low ---


def test_threshold_too_low_when_checks_and_near_misses_contradict() -> None:
    finding = threshold_too_low(0.8, checked=40, wrong=6, near_n=30, near_contradicted=8)
    assert finding is not None
    assert finding.threshold == 0.8
    assert (finding.checked, finding.wrong, finding.near_n, finding.near_contradicted) == (
        40,
        6,
        30,
        8,
    )
    assert finding.wrong_lower_bound == pytest.approx(wilson_interval(14, 70)[0])
    assert finding.wrong_lower_bound > 0.05


def test_threshold_not_too_low_when_contradictions_are_rare() -> None:
    assert threshold_too_low(0.8, checked=40, wrong=1, near_n=30, near_contradicted=1) is None


def test_threshold_too_low_needs_enough_items() -> None:
    # Every one of them wrong, but only 10 items in all.
    assert threshold_too_low(0.8, checked=5, wrong=5, near_n=5, near_contradicted=5) is None
    assert threshold_too_low(0.8, checked=5, wrong=5, near_n=5, near_contradicted=5, min_n=10)


# --- Space-Saving ---


def test_space_saving_counts_exactly_while_keys_fit() -> None:
    summary: SpaceSaving[str] = SpaceSaving(capacity=10)
    for key, times in {"a": 5, "b": 3, "c": 3, "d": 1}.items():
        for _ in range(times):
            summary.add(key)
    summary.add("d", weight=4)
    top = summary.top(10)
    assert [(h.key, h.count, h.error) for h in top] == [
        ("a", 5, 0),
        ("d", 5, 0),
        ("b", 3, 0),
        ("c", 3, 0),
    ]
    assert [h.key for h in summary.top(2)] == ["a", "d"]
    assert len(summary) == 4


def test_space_saving_keeps_heavy_hitters_among_unique_noise() -> None:
    # Space-Saving guarantees every key above total/capacity: 109,000 / 50 = 2,180 here.
    # (1,000 each would be below that bound and could rightly be evicted.)
    stream = [f"noise-{i}" for i in range(100_000)] + ["alpha", "beta", "gamma"] * 3_000
    random.Random(7).shuffle(stream)
    summary: SpaceSaving[str] = SpaceSaving(capacity=50)
    for key in stream:
        summary.add(key)
        assert len(summary) <= 50
    top = summary.top(3)
    assert {h.key for h in top} == {"alpha", "beta", "gamma"}
    for hitter in top:
        # The count is an upper bound, and count - error a lower bound, of the truth.
        assert hitter.count - hitter.error <= 3_000 <= hitter.count
    assert len(summary) == 50


def test_space_saving_keeps_the_first_distinct_examples() -> None:
    summary: SpaceSaving[str] = SpaceSaving(capacity=5, examples_per_key=2)
    for example in ["item-1", "item-1", "item-2", "item-3"]:
        summary.add("late reply", example=example)
    summary.add("late reply")  # no example: counted, nothing stored
    (hitter,) = summary.top(1)
    assert hitter.count == 5
    assert hitter.examples == ("item-1", "item-2")


def test_space_saving_newcomer_inherits_the_smallest_count_as_error() -> None:
    summary: SpaceSaving[str] = SpaceSaving(capacity=2)
    summary.add("a", weight=5)
    summary.add("b", weight=2)
    summary.add("c", example="x")  # evicts b (the smallest), starts at 2 + 1
    by_key = {h.key: h for h in summary.top(5)}
    assert set(by_key) == {"a", "c"}
    assert (by_key["c"].count, by_key["c"].error, by_key["c"].examples) == (3, 2, ("x",))
