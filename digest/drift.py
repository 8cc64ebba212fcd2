"""Drift alarm statistics: did a workflow's rejection or edit rate rise, this hour?

The test is a one-sided Bernoulli CUSUM (Page 1954), one per series (a workflow overall,
or one of its `metadata.model` / `metadata.prompt_version` values) and metric (rejection,
edit), over hourly buckets of human decisions. Each decision is a Bernoulli trial against
two hypotheses: the rate is still the baseline p0 (the series' last 28 days before the
window), or it doubled, p1 = min(2·p0, 0.95). A bucket with n decisions and k events adds
its log-likelihood ratio k·ln(p1/p0) + (n-k)·ln((1-p1)/(1-p0)) to S, and S never goes
below 0: S_t = max(0, S_{t-1} + LLR_t). The alarm is S ≥ h = ln(10^6).

Why CUSUM: among tests that watch a stream and must say *when* a rate moved, it is the one
with the shortest worst-case delay for a given false-alarm rate (Lorden 1971), and it
needs no choice of window or of how big a rise is "significant" beyond the alternative.
Why h = ln(10^6): Lorden's bound says the average run length to a false alarm while the
rate stays at p0 is at least e^h = 10^6 decisions per series, years of traffic for a busy
workflow. The price is a detection delay of about h / KL(p1‖p0) decisions after the rise
(311 for 10% → 20%: under an hour at 400 decisions an hour).

Everything here is plain functions over plain data with the clock passed in as `now`:
each hourly run recomputes from the counts, so replicas and restarts agree.
"""

import math
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Literal

Metric = Literal["rejection", "edit"]
Dimension = Literal["overall", "model", "prompt_version"]

METRICS: tuple[Metric, ...] = ("rejection", "edit")
HOUR = timedelta(hours=1)
# The alternative never claims a rate above this: a 60% rate cannot double.
MAX_ALTERNATIVE_RATE = 0.95
# Only a person's decision says something about the agent; timeouts and auto-approvals don't.
HUMAN_DECISIONS = frozenset({"approved", "edited", "rejected"})


@dataclass(frozen=True)
class HourCounts:
    start: datetime  # aware UTC, start of the clock hour
    decided: int  # human decisions in the hour
    rejected: int
    edited: int

    def __post_init__(self) -> None:
        if min(self.rejected, self.edited) < 0 or self.rejected + self.edited > self.decided:
            raise ValueError(f"inconsistent counts: {self}")


@dataclass(frozen=True)
class SeriesKey:
    workflow: str
    dimension: Dimension
    value: str | None  # None for "overall"


@dataclass(frozen=True)
class DriftConfig:
    baseline_days: int = 28
    window_hours: int = 168
    rise: float = 2.0
    threshold: float = math.log(1e6)
    min_baseline_decided: int = 200
    min_rate: float = 0.01


@dataclass(frozen=True)
class Finding:
    """One series and metric whose S is above 0 at `now`: rising, maybe not yet alarming."""

    key: SeriesKey
    metric: Metric
    baseline_rate: float  # observed in the baseline used (before the 0.01 floor)
    baseline_decided: int
    recent_rate: float  # since began_at
    recent_decided: int
    recent_events: int
    statistic: float  # S at now
    threshold: float
    began_at: datetime  # start of the bucket after the last zero of S
    # False when the series had too little history of its own (a new version) and was
    # tested against its workflow's overall baseline; breaks ties in attribution.
    own_baseline: bool = True

    @property
    def alarming(self) -> bool:
        return self.statistic >= self.threshold


@dataclass(frozen=True)
class OpenEpisode:
    """What the job knows of an open alert."""

    workflow: str
    metric: Metric
    key: SeriesKey  # the attributed series


@dataclass(frozen=True)
class NewAlert:
    finding: Finding  # the attributed series
    evidence: tuple[Finding, ...]  # every alarming series of the workflow and metric


@dataclass(frozen=True)
class EpisodeChanges:
    opened: tuple[NewAlert, ...]
    closed: tuple[OpenEpisode, ...]


def hour_start(moment: datetime) -> datetime:
    """The UTC clock hour `moment` falls in."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: drift buckets are UTC hours")
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def series_of(
    rows: Iterable[tuple[datetime, str, str | None, str | None, str]],
) -> dict[SeriesKey, list[HourCounts]]:
    """Hourly series from (decided_at, workflow, model, prompt_version, status) rows.

    Every workflow gets an overall series, plus one per model and per prompt_version seen;
    a row without a model (or prompt_version) counts only in the other series. Rows that
    are not a person's decision are ignored. Each series is sorted by hour, empty hours
    left out (they add nothing to the test).
    """
    # Count distinct (hour, labels, status) first: far fewer than rows.
    tally = Counter(
        (hour_start(decided_at), workflow, model, prompt_version, status)
        for decided_at, workflow, model, prompt_version, status in rows
    )
    return series_of_counts((*key, count) for key, count in tally.items())


def series_of_counts(
    rows: Iterable[tuple[datetime, str, str | None, str | None, str, int]],
) -> dict[SeriesKey, list[HourCounts]]:
    """`series_of` from rows already counted: (hour, workflow, model, prompt_version,
    status, count), as a GROUP BY gives them; several rows may share a key (they add)."""
    buckets: dict[SeriesKey, dict[datetime, list[int]]] = defaultdict(dict)
    for hour, workflow, model, prompt_version, status, count in rows:
        if status not in HUMAN_DECISIONS:
            continue
        hour = hour_start(hour)
        keys = [SeriesKey(workflow, "overall", None)]
        if model:
            keys.append(SeriesKey(workflow, "model", model))
        if prompt_version:
            keys.append(SeriesKey(workflow, "prompt_version", prompt_version))
        for key in keys:
            decided_rejected_edited = buckets[key].setdefault(hour, [0, 0, 0])
            decided_rejected_edited[0] += count
            decided_rejected_edited[1] += count if status == "rejected" else 0
            decided_rejected_edited[2] += count if status == "edited" else 0
    return {
        key: [HourCounts(hour, *counts) for hour, counts in sorted(hours.items())]
        for key, hours in buckets.items()
    }


def alternative_rate(
    baseline_rate: float, config: DriftConfig = DriftConfig()
) -> tuple[float, float]:
    """(p0, p1): the floored baseline and the rate the test watches for."""
    p0 = max(baseline_rate, config.min_rate)
    return p0, min(config.rise * p0, MAX_ALTERNATIVE_RATE)


def decisions_to_detect(baseline_rate: float, config: DriftConfig = DriftConfig()) -> float:
    """About how many decisions after a rise to p1 the alarm needs: h / KL(p1‖p0)."""
    p0, p1 = alternative_rate(baseline_rate, config)
    divergence = p1 * math.log(p1 / p0) + (1 - p1) * math.log((1 - p1) / (1 - p0))
    return config.threshold / divergence


def cusum(steps: Iterable[float]) -> tuple[float, int | None]:
    """Page's CUSUM over log-likelihood ratios: (S at the end, index where its run began).

    The index is the first step of the current run of S above 0, None when S ends at 0.
    """
    statistic = 0.0
    run_start: int | None = None
    for index, step in enumerate(steps):
        statistic += step
        if statistic <= 0.0:
            statistic, run_start = 0.0, None
        elif run_start is None:
            run_start = index
    return statistic, run_start


@dataclass(frozen=True)
class _Baseline:
    decided: int
    rejected: int
    edited: int

    def events(self, metric: Metric) -> int:
        return self.rejected if metric == "rejection" else self.edited


_START = attrgetter("start")


def _split(
    buckets: Sequence[HourCounts], baseline_start: datetime, window_start: datetime, end: datetime
) -> tuple[_Baseline, Sequence[HourCounts]]:
    """The baseline totals and the window's buckets of one series (sorted by start)."""
    first_baseline = bisect_left(buckets, baseline_start, key=_START)
    first_window = bisect_left(buckets, window_start, lo=first_baseline, key=_START)
    after_window = bisect_right(buckets, end, lo=first_window, key=_START)
    baseline = buckets[first_baseline:first_window]
    totals = _Baseline(
        sum(map(attrgetter("decided"), baseline)),
        sum(map(attrgetter("rejected"), baseline)),
        sum(map(attrgetter("edited"), baseline)),
    )
    return totals, buckets[first_window:after_window]


def _test_series(
    key: SeriesKey,
    metric: Metric,
    baseline: _Baseline,
    window: Sequence[HourCounts],
    own_baseline: bool,
    config: DriftConfig,
) -> Finding | None:
    baseline_rate = baseline.events(metric) / baseline.decided
    p0, p1 = alternative_rate(baseline_rate, config)
    if p1 <= p0:  # already at the cap: no doubling left to watch for
        return None
    event_weight = math.log(p1 / p0)
    non_event_weight = math.log((1 - p1) / (1 - p0))
    events = [bucket.rejected if metric == "rejection" else bucket.edited for bucket in window]
    statistic, run_start = cusum(
        k * event_weight + (bucket.decided - k) * non_event_weight
        for bucket, k in zip(window, events, strict=True)
    )
    if run_start is None:
        return None
    recent_decided = sum(bucket.decided for bucket in window[run_start:])
    recent_events = sum(events[run_start:])
    return Finding(
        key=key,
        metric=metric,
        baseline_rate=baseline_rate,
        baseline_decided=baseline.decided,
        recent_rate=recent_events / recent_decided,
        recent_decided=recent_decided,
        recent_events=recent_events,
        statistic=statistic,
        threshold=config.threshold,
        began_at=window[run_start].start,
        own_baseline=own_baseline,
    )


def evaluate(
    history: Mapping[SeriesKey, Sequence[HourCounts]],
    *,
    now: datetime,
    config: DriftConfig = DriftConfig(),
) -> list[Finding]:
    """Every series and metric whose S is above 0 at `now`, alarming or not.

    The window is the last `window_hours` clock hours up to `now`, the current partial hour
    included; buckets after it are ignored. Each series is tested against its own counts in
    the `baseline_days` before the window when they hold `min_baseline_decided` decisions,
    else against its workflow overall's (a new prompt_version has no history of its own);
    with neither, it is not tested. Each series must be sorted by start, as `series_of`
    returns them.
    """
    window_end = hour_start(now)
    window_start = window_end - (config.window_hours - 1) * HOUR
    baseline_start = window_start - timedelta(days=config.baseline_days)
    parts = {
        key: _split(buckets, baseline_start, window_start, window_end)
        for key, buckets in history.items()
    }
    overall_baselines = {
        key.workflow: baseline for key, (baseline, _) in parts.items() if key.dimension == "overall"
    }
    findings = []
    for key, (own, window) in parts.items():
        if not window:
            continue
        own_baseline = own.decided >= config.min_baseline_decided
        baseline = own if own_baseline else overall_baselines.get(key.workflow)
        if baseline is None or baseline.decided < config.min_baseline_decided:
            continue
        for metric in METRICS:
            finding = _test_series(key, metric, baseline, window, own_baseline, config)
            if finding is not None:
                findings.append(finding)
    return findings


def _attribution_order(finding: Finding) -> tuple[bool, float, bool, bool, str]:
    """Sort key, best first: a specific series before overall, then the highest S; on a
    tie (series with the same traffic), a new series before an old one, since the change
    began where something new appeared, then a prompt_version before a model."""
    return (
        finding.key.dimension == "overall",
        -finding.statistic,
        finding.own_baseline,
        finding.key.dimension != "prompt_version",
        finding.key.value or "",
    )


def decide(findings: Sequence[Finding], open_episodes: Sequence[OpenEpisode]) -> EpisodeChanges:
    """Which alerts open and which episodes close, given this run's findings.

    An episode closes when its attributed series' S is back at 0 (no finding for it). A
    (workflow, metric) with alarming series and no episode still open gets one alert,
    attributed to the alarming model or prompt_version with the highest S, else overall.
    """
    rising = {(finding.key, finding.metric) for finding in findings}
    closed = tuple(
        episode for episode in open_episodes if (episode.key, episode.metric) not in rising
    )
    still_open = {
        (episode.workflow, episode.metric) for episode in open_episodes if episode not in closed
    }
    alarming: dict[tuple[str, Metric], list[Finding]] = defaultdict(list)
    for finding in findings:
        if finding.alarming:
            alarming[(finding.key.workflow, finding.metric)].append(finding)
    opened = []
    for workflow_metric, group in sorted(alarming.items()):
        if workflow_metric in still_open:
            continue
        ranked = sorted(group, key=_attribution_order)
        evidence = sorted(
            group, key=lambda finding: (-finding.statistic, _attribution_order(finding))
        )
        opened.append(NewAlert(finding=ranked[0], evidence=tuple(evidence)))
    return EpisodeChanges(opened=tuple(opened), closed=closed)
