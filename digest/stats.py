"""Statistics for the friction digest: honest rates from small samples, and heavy hitters.

Every suggestion the digest makes rests on a count of decided items. These functions keep
it from reading a trend into a handful of items: rates come with Wilson intervals, rises
must pass a significance test, and recurring keys are counted in fixed memory.
"""

import heapq
import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of the proportion successes / n; (0.0, 1.0) when n == 0.

    Wilson rather than the normal approximation: it stays inside [0, 1] and is still
    sensible at 0/n and n/n, which is where review data lives (nearly all approved).
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes}/{n}")
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half_width = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # Clamp: at 0/n or n/n rounding can put a bound a hair outside [0, 1].
    return (max(0.0, centre - half_width), min(1.0, centre + half_width))


def rate_rising(
    now_hits: int,
    now_n: int,
    before_hits: int,
    before_n: int,
    *,
    min_n: int = 20,
    z: float = 1.96,
) -> bool:
    """True when the rate rose from the period before to now, and the rise is significant.

    Both periods need at least `min_n` items; then a pooled two-proportion z-test must
    reach |z| >= `z`, so a week-on-week wobble is not reported as a trend.
    """
    if now_n < min_n or before_n < min_n:
        return False
    now_rate = now_hits / now_n
    before_rate = before_hits / before_n
    if now_rate <= before_rate:
        return False
    pooled = (now_hits + before_hits) / (now_n + before_n)
    standard_error = math.sqrt(pooled * (1 - pooled) * (1 / now_n + 1 / before_n))
    if standard_error == 0:  # both rates 0 or both 1: nothing rose
        return False
    return (now_rate - before_rate) / standard_error >= z


@dataclass(frozen=True)
class Band:
    """Human-decided items of one route in one confidence band [lower, upper)."""

    lower: float  # inclusive, e.g. 0.90
    upper: float  # exclusive, except the top band which includes 1.0
    n: int  # decided by a person
    unchanged: int  # of those, approved without edits


@dataclass(frozen=True)
class EarnedThreshold:
    threshold: float  # suggested auto_approve_at
    n: int  # items at or above it
    unchanged: int
    rate: float  # unchanged / n
    lower_bound: float  # Wilson lower bound of that rate


def earned_threshold(
    bands: list[Band], *, target: float = 0.95, min_n: int = 30, min_band_n: int = 5
) -> EarnedThreshold | None:
    """The lowest band edge from which people approve unchanged at a rate of at least `target`.

    For an edge L, the bands at or above L are pooled: the pool needs at least `min_n`
    items and a Wilson lower bound of unchanged/n of at least `target`. Pooling alone could
    hide a bad band between good ones, so any band at or above L with `min_band_n` or more
    items whose own Wilson upper bound is below `target` disqualifies L. An edge whose own
    band has no decided items is never suggested: nobody has vouched for that confidence.
    None when no edge qualifies: a threshold is never earned from a handful of items.
    """
    edges = sorted({band.lower for band in bands}, reverse=True)
    # Walk edges from the top down, so each pool extends the previous one.
    pooled_n = 0
    pooled_unchanged = 0
    best: EarnedThreshold | None = None
    for edge in edges:
        at_edge = [band for band in bands if band.lower == edge]
        edge_n = sum(band.n for band in at_edge)
        pooled_n += edge_n
        pooled_unchanged += sum(band.unchanged for band in at_edge)
        if any(
            band.n >= min_band_n and wilson_interval(band.unchanged, band.n)[1] < target
            for band in at_edge
        ):
            break  # a bad band disqualifies its edge and every edge below, which pool it
        if edge_n == 0 or pooled_n < min_n:
            continue
        lower_bound = wilson_interval(pooled_unchanged, pooled_n)[0]
        if lower_bound >= target:
            best = EarnedThreshold(
                threshold=edge,
                n=pooled_n,
                unchanged=pooled_unchanged,
                rate=pooled_unchanged / pooled_n,
                lower_bound=lower_bound,
            )
    return best


@dataclass(frozen=True)
class ThresholdTooLow:
    threshold: float
    checked: int  # spot-checked auto-approved items
    wrong: int  # of those, judged wrong
    near_n: int  # human-decided items just below the threshold
    near_contradicted: int  # of those, rejected or edited
    wrong_lower_bound: float  # Wilson lower bound of the pooled contradiction rate


def threshold_too_low(
    threshold: float,
    *,
    checked: int,
    wrong: int,
    near_n: int,
    near_contradicted: int,
    tolerance: float = 0.05,
    min_n: int = 20,
) -> ThresholdTooLow | None:
    """Evidence that auto-approval at `threshold` lets through what people would not.

    Spot-check verdicts on auto-approved items are few, so they are pooled with the items
    of similar confidence that people decided. Reported only when the pool has at least
    `min_n` items and even the Wilson lower bound of its contradiction rate exceeds
    `tolerance`; None otherwise.
    """
    pooled_n = checked + near_n
    pooled_contradicted = wrong + near_contradicted
    if pooled_n < min_n:
        return None
    lower_bound = wilson_interval(pooled_contradicted, pooled_n)[0]
    if lower_bound <= tolerance:
        return None
    return ThresholdTooLow(
        threshold=threshold,
        checked=checked,
        wrong=wrong,
        near_n=near_n,
        near_contradicted=near_contradicted,
        wrong_lower_bound=lower_bound,
    )


Key = TypeVar("Key", bound=Hashable)


@dataclass(frozen=True)
class HeavyHitter(Generic[Key]):
    key: Key
    count: int  # an upper bound of the key's true count
    error: int  # count - error is a lower bound of the true count
    examples: tuple[Any, ...]


@dataclass(slots=True)
class _Counter:
    count: int
    error: int
    updated: int  # stream position of the last update; the oldest is evicted among ties
    examples: list[Any] = field(default_factory=list)


class SpaceSaving(Generic[Key]):
    """Top-k heavy hitters in fixed memory (Metwally et al., Space-Saving): at most
    `capacity` keys are tracked whatever the stream length; a key's count may be
    overestimated by at most its `error`.

    Any key whose true count exceeds (total weight) / capacity is guaranteed to be tracked.
    """

    def __init__(self, capacity: int, examples_per_key: int = 3) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.examples_per_key = examples_per_key
        self.total = 0  # weight of the whole stream
        self._counters: dict[Key, _Counter] = {}
        # Min-heap of (count, updated, key) with stale entries left in place and skipped
        # when popped (lazy deletion); rebuilt when it grows, so memory stays O(capacity).
        self._heap: list[tuple[int, int, Key]] = []
        self._clock = 0

    def add(self, key: Key, weight: int = 1, example: Any = None) -> None:
        if weight < 1:
            raise ValueError("weight must be a positive integer")
        self._clock += 1
        self.total += weight
        counter = self._counters.get(key)
        if counter is not None:
            counter.count += weight
            counter.updated = self._clock
        elif len(self._counters) < self.capacity:
            counter = _Counter(count=weight, error=0, updated=self._clock)
            self._counters[key] = counter
        else:
            # The new key takes over the smallest counter: its count so far is unknown but
            # at most that minimum, which becomes its error.
            floor = self._pop_smallest()
            counter = _Counter(count=floor + weight, error=floor, updated=self._clock)
            self._counters[key] = counter
        if (
            example is not None
            and len(counter.examples) < self.examples_per_key
            and example not in counter.examples
        ):
            counter.examples.append(example)
        heapq.heappush(self._heap, (counter.count, counter.updated, key))
        if len(self._heap) > 4 * self.capacity + 16:
            self._rebuild_heap()

    def _pop_smallest(self) -> int:
        """Evict the key with the smallest count; return that count."""
        while True:
            count, updated, key = heapq.heappop(self._heap)
            counter = self._counters.get(key)
            if counter is not None and counter.updated == updated:
                del self._counters[key]
                return count

    def _rebuild_heap(self) -> None:
        self._heap = [(c.count, c.updated, key) for key, c in self._counters.items()]
        heapq.heapify(self._heap)

    def top(self, n: int) -> list[HeavyHitter[Key]]:
        """The `n` keys with the highest counts, by count descending, then key."""
        hitters = [
            HeavyHitter(key=key, count=c.count, error=c.error, examples=tuple(c.examples))
            for key, c in self._counters.items()
        ]
        try:
            hitters.sort(key=lambda hitter: (-hitter.count, hitter.key))
        except TypeError:  # keys of mixed types do not compare; order them by repr
            hitters.sort(key=lambda hitter: (-hitter.count, repr(hitter.key)))
        return hitters[: max(n, 0)]

    def __len__(self) -> int:
        return len(self._counters)
