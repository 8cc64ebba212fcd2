"""The drift alarm's statistics: a real rise alarms within the hour, once per episode, and
stable traffic does not alarm at all. Pure and fast: generated histories, no database."""

import math
import random
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.drift import (
    HOUR,
    DriftConfig,
    Finding,
    HourCounts,
    Metric,
    OpenEpisode,
    SeriesKey,
    cusum,
    decide,
    decisions_to_detect,
    evaluate,
    series_of,
)

START = datetime(2026, 9, 1, tzinfo=UTC)
WORKFLOW = "ap-invoices"
OVERALL = SeriesKey(WORKFLOW, "overall", None)
MODEL_M1 = SeriesKey(WORKFLOW, "model", "m1")
PROMPT_V12 = SeriesKey(WORKFLOW, "prompt_version", "v12")
PROMPT_V13 = SeriesKey(WORKFLOW, "prompt_version", "v13")
PER_HOUR = 400
EDIT_RATE = 0.15

Row = tuple[datetime, str, str | None, str | None, str]


def decision_rows(
    rng: random.Random, first_hour: datetime, hours: int, rejection_rate: float, prompt: str
) -> list[Row]:
    """PER_HOUR human decisions an hour, evenly spread over it, by model m1 and `prompt`."""
    rows: list[Row] = []
    for hour in range(hours):
        start = first_hour + hour * HOUR
        for index in range(PER_HOUR):
            draw = rng.random()
            status = (
                "rejected"
                if draw < rejection_rate
                else "edited"
                if draw < rejection_rate + EDIT_RATE
                else "approved"
            )
            decided_at = start + timedelta(seconds=index * 3600 / PER_HOUR)
            rows.append((decided_at, WORKFLOW, "m1", prompt, status))
    return rows


def hourly_counts(
    rng: random.Random, first_hour: datetime, rejection_rates: Sequence[float]
) -> list[HourCounts]:
    """One bucket per rate, PER_HOUR decisions each, events drawn decision by decision."""
    buckets = []
    for hour, rate in enumerate(rejection_rates):
        draws = [rng.random() for _ in range(PER_HOUR)]
        rejected = sum(draw < rate for draw in draws)
        edited = sum(rate <= draw < rate + EDIT_RATE for draw in draws)
        buckets.append(HourCounts(first_hour + hour * HOUR, PER_HOUR, rejected, edited))
    return buckets


def run_hourly(
    history: dict[SeriesKey, list[HourCounts]], nows: Sequence[datetime]
) -> Iterator[tuple[datetime, list[Finding], list[OpenEpisode], tuple[OpenEpisode, ...]]]:
    """What the job does each hour: evaluate, decide, keep the open episodes.

    Yields (now, findings, episodes opened, episodes closed)."""
    episodes: list[OpenEpisode] = []
    for now in nows:
        findings = evaluate(history, now=now)
        changes = decide(findings, episodes)
        opened = [
            OpenEpisode(alert.finding.key.workflow, alert.finding.metric, alert.finding.key)
            for alert in changes.opened
        ]
        episodes = [episode for episode in episodes if episode not in changes.closed] + opened
        yield now, findings, opened, changes.closed


# --- 1. a new prompt version doubles the rejection rate ---


def test_a_new_prompt_version_doubling_rejections_alarms_once_within_the_hour() -> None:
    rng = random.Random(1)
    change = START + 28 * 24 * HOUR
    before = series_of(decision_rows(rng, START, 28 * 24, 0.10, "v12"))
    after = decision_rows(rng, change, 26, 0.20, "v13")

    def history_at(now: datetime) -> dict[SeriesKey, list[HourCounts]]:
        # What the job's query sees: decisions up to now, the current hour partly.
        recent = series_of(row for row in after if row[0] <= now)
        keys = before.keys() | recent.keys()
        return {key: before.get(key, []) + recent.get(key, []) for key in keys}

    # The job's run at the top of the next hour sees the change hour's 400 decisions. They
    # carry enough evidence about two times in three (311 needed on average, see
    # docs/drift.md); the seed fixes one history where they do, as most do.
    first_run = change + HOUR
    findings = evaluate(history_at(first_run), now=first_run)
    changes = decide(findings, [])
    assert changes.closed == ()
    [alert] = changes.opened
    assert (alert.finding.key, alert.finding.metric) == (PROMPT_V13, "rejection")
    assert alert.finding.began_at == change
    assert alert.finding.alarming
    assert alert.finding.own_baseline is False  # v13 is new: tested against the workflow's
    assert alert.finding.baseline_rate == pytest.approx(0.10, abs=0.01)
    assert alert.finding.recent_rate == pytest.approx(0.20, abs=0.05)
    assert {finding.key for finding in alert.evidence} == {OVERALL, MODEL_M1, PROMPT_V13}
    assert all(finding.metric == "rejection" for finding in alert.evidence)

    episode = OpenEpisode(WORKFLOW, "rejection", PROMPT_V13)
    for hours_later in range(2, 26):
        now = change + hours_later * HOUR
        findings = evaluate(history_at(now), now=now)
        assert decide(findings, [episode]).opened == ()
        assert decide(findings, [episode]).closed == ()
        assert not any(f.alarming for f in findings if f.metric == "edit")


# --- 2. stable traffic never alarms ---


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_eight_stable_weeks_evaluated_hourly_for_four_weeks_raise_no_alarm(seed: int) -> None:
    rng = random.Random(seed)
    hours = 8 * 7 * 24
    buckets = hourly_counts(rng, START, [0.10] * hours)
    history = {OVERALL: buckets, MODEL_M1: buckets, PROMPT_V12: buckets}
    nows = [START + hour * HOUR + timedelta(minutes=59) for hour in range(hours - 672, hours)]
    assert len(nows) == 672
    for now, findings, opened, _ in run_hourly(history, nows):
        assert opened == [], now
        assert not any(finding.alarming for finding in findings), now
    # The same history was tested, not skipped: a bad last hour would have alarmed.
    bad_hour = HourCounts(buckets[-1].start, PER_HOUR, 3 * PER_HOUR // 10, 0)
    [alarm] = evaluate({OVERALL: [*buckets[:-1], bad_hour]}, now=nows[-1])
    assert alarm.alarming


# --- 3. episodes ---


def test_an_episode_closes_when_the_rise_ends_and_a_later_rise_is_a_new_episode() -> None:
    rng = random.Random(3)
    baseline_hours, rise_hours, calm_hours = 35 * 24, 6, 3 * 24
    rates = (
        [0.10] * baseline_hours
        + [0.25] * rise_hours
        + [0.10] * calm_hours
        + [0.25] * rise_hours
        + [0.10] * calm_hours
    )
    history = {OVERALL: hourly_counts(rng, START, rates)}
    first_rise = START + baseline_hours * HOUR
    calm = first_rise + rise_hours * HOUR
    second_rise = calm + calm_hours * HOUR
    nows = [
        START + hour * HOUR + timedelta(minutes=59) for hour in range(baseline_hours, len(rates))
    ]

    changes: list[tuple[str, datetime, Metric]] = []
    for now, _, opened, closed in run_hourly(history, nows):
        changes += [("opened", now, episode.metric) for episode in opened]
        changes += [("closed", now, episode.metric) for episode in closed]

    assert [(change, metric) for change, _, metric in changes] == [
        ("opened", "rejection"),
        ("closed", "rejection"),
        ("opened", "rejection"),
        ("closed", "rejection"),
    ]
    opened_at, closed_at, reopened_at = (moment for _, moment, _ in changes[:3])
    assert first_rise <= opened_at < first_rise + HOUR  # the first hour of the rise
    assert calm < closed_at < calm + 24 * HOUR  # the rate was back for a while first
    assert second_rise <= reopened_at < second_rise + HOUR


def test_an_open_episode_stays_open_while_its_series_is_above_zero_but_not_alarming() -> None:
    rising = finding(PROMPT_V13, statistic=3.0)
    episode = OpenEpisode(WORKFLOW, "rejection", PROMPT_V13)
    assert decide([rising], [episode]).closed == ()
    assert decide([], [episode]).closed == (episode,)
    # The other metric's episode is another episode.
    assert decide([finding(PROMPT_V13, metric="edit", statistic=20.0)], [episode]).closed == (
        episode,
    )


def test_attribution_prefers_a_specific_series_and_then_the_highest_statistic() -> None:
    overall = finding(OVERALL, statistic=40.0)
    model = finding(MODEL_M1, statistic=30.0)
    prompt = finding(PROMPT_V12, statistic=20.0)
    below = finding(PROMPT_V13, statistic=5.0)
    [alert] = decide([prompt, overall, below, model], []).opened
    assert alert.finding == model
    assert alert.evidence == (overall, model, prompt)  # alarming only, highest S first
    [alert] = decide([overall], []).opened
    assert alert.finding == overall


def finding(key: SeriesKey, *, statistic: float, metric: Metric = "rejection") -> Finding:
    return Finding(
        key=key,
        metric=metric,
        baseline_rate=0.1,
        baseline_decided=1000,
        recent_rate=0.2,
        recent_decided=400,
        recent_events=80,
        statistic=statistic,
        threshold=math.log(1e6),
        began_at=START,
    )


# --- 4. edge cases ---

NOW = START + 40 * 24 * HOUR + timedelta(minutes=30)
CURRENT_HOUR = NOW.replace(minute=0)
WINDOW_START = CURRENT_HOUR - 167 * HOUR
BASELINE_START = WINDOW_START - 28 * 24 * HOUR


def steady(first: datetime, hours: int, decided: int, rejected: int) -> list[HourCounts]:
    return [HourCounts(first + hour * HOUR, decided, rejected, 0) for hour in range(hours)]


def test_a_workflow_with_too_little_baseline_is_not_tested() -> None:
    history = {
        OVERALL: steady(BASELINE_START, 15, 10, 1) + steady(WINDOW_START, 168, 100, 90),
        PROMPT_V13: steady(WINDOW_START, 168, 100, 90),
    }
    assert evaluate(history, now=NOW) == []  # 150 decisions of baseline: below 200


def test_a_new_series_borrows_its_workflow_baseline() -> None:
    history = {
        OVERALL: steady(BASELINE_START, 20, 10, 1) + steady(CURRENT_HOUR - 2 * HOUR, 3, 200, 60),
        PROMPT_V13: steady(BASELINE_START, 5, 10, 0) + steady(CURRENT_HOUR - 2 * HOUR, 3, 200, 60),
    }
    [new] = [f for f in evaluate(history, now=NOW) if f.key == PROMPT_V13]
    assert (new.own_baseline, new.baseline_decided, new.baseline_rate) == (False, 200, 0.1)
    assert new.began_at == CURRENT_HOUR - 2 * HOUR
    assert (new.recent_decided, new.recent_events, new.recent_rate) == (600, 180, 0.3)


def test_a_zero_baseline_rate_is_floored_at_one_percent() -> None:
    history = {OVERALL: steady(BASELINE_START, 10, 100, 0) + steady(CURRENT_HOUR, 1, 300, 30)}
    [found] = evaluate(history, now=NOW)
    expected = 30 * math.log(0.02 / 0.01) + 270 * math.log(0.98 / 0.99)
    assert found.statistic == pytest.approx(expected)
    assert found.alarming
    assert (found.baseline_rate, found.recent_rate) == (0.0, 0.1)


def test_a_baseline_at_the_cap_is_not_tested() -> None:
    history = {OVERALL: steady(BASELINE_START, 10, 100, 96) + steady(CURRENT_HOUR, 1, 100, 100)}
    assert evaluate(history, now=NOW) == []


def test_rows_without_model_or_prompt_version_count_only_overall() -> None:
    at = START + timedelta(minutes=10)
    rows: list[Row] = [
        (at, WORKFLOW, None, None, "rejected"),
        (at, WORKFLOW, "m1", None, "approved"),
        (at, WORKFLOW, None, "v12", "edited"),
        (at, WORKFLOW, "", "", "approved"),
        (at, WORKFLOW, "m1", "v12", "expired"),  # not a person's decision
        (at + HOUR, "other", None, None, "auto_approved"),
    ]
    assert series_of(rows) == {
        OVERALL: [HourCounts(START, 4, 1, 1)],
        MODEL_M1: [HourCounts(START, 1, 0, 0)],
        PROMPT_V12: [HourCounts(START, 1, 0, 1)],
    }


def test_series_of_buckets_by_utc_hour_in_order() -> None:
    paris = datetime(2026, 9, 1, 10, 30, tzinfo=UTC).astimezone()  # any zone: same instant
    rows: list[Row] = [
        (paris + HOUR, WORKFLOW, None, None, "approved"),
        (paris, WORKFLOW, None, None, "rejected"),
    ]
    assert series_of(rows)[OVERALL] == [
        HourCounts(datetime(2026, 9, 1, 10, tzinfo=UTC), 1, 1, 0),
        HourCounts(datetime(2026, 9, 1, 11, tzinfo=UTC), 1, 0, 0),
    ]
    with pytest.raises(ValueError, match="naive"):
        series_of([(datetime(2026, 9, 1), WORKFLOW, None, None, "approved")])


def test_hours_without_decisions_change_nothing() -> None:
    rng = random.Random(4)
    busy = hourly_counts(rng, BASELINE_START, [0.1] * (28 * 24) + [0.3] * 168)
    sparse = busy[::3]  # most hours empty ...
    padded = [
        bucket
        for counts in sparse
        for bucket in (counts, HourCounts(counts.start + HOUR, 0, 0, 0))  # ... or zero
    ]
    findings = evaluate({OVERALL: sparse}, now=NOW)
    assert findings and all(f.alarming for f in findings if f.metric == "rejection")
    assert evaluate({OVERALL: padded}, now=NOW) == findings


def test_now_anywhere_in_the_hour_includes_that_hour_and_nothing_later() -> None:
    hour = CURRENT_HOUR
    history = {
        OVERALL: steady(BASELINE_START, 10, 100, 10)
        + steady(hour - HOUR, 1, 100, 10)
        + steady(hour, 1, 100, 40)  # the current, partial hour: rising
        + steady(hour + HOUR, 5, 100, 100)  # later (a clock skew): ignored
    }
    at_top = evaluate(history, now=hour)
    assert at_top == evaluate(history, now=NOW) == evaluate(history, now=hour + HOUR - 1e-6 * HOUR)
    [rising] = at_top
    assert (rising.began_at, rising.recent_decided, rising.recent_events) == (hour, 100, 40)
    assert evaluate(history, now=hour - timedelta(seconds=1)) == []
    with pytest.raises(ValueError, match="naive"):
        evaluate(history, now=NOW.replace(tzinfo=None))


def test_the_window_is_the_last_168_hours() -> None:
    rising_long_ago = steady(WINDOW_START - HOUR, 1, 100, 90)
    history = {OVERALL: steady(BASELINE_START, 10, 100, 10) + rising_long_ago}
    assert evaluate(history, now=NOW) == []  # in the baseline, not the window
    shorter = DriftConfig(window_hours=24, min_baseline_decided=50)
    history = {
        OVERALL: steady(CURRENT_HOUR - 24 * HOUR, 1, 100, 10) + steady(CURRENT_HOUR, 1, 100, 90)
    }
    [found] = evaluate(history, now=NOW, config=shorter)
    assert found.baseline_decided == 100


# --- 5. properties ---

counts = st.integers(min_value=0, max_value=300).flatmap(
    lambda decided: st.tuples(st.just(decided), st.integers(min_value=0, max_value=decided))
)


def window_of(pairs: Sequence[tuple[int, int]]) -> list[HourCounts]:
    return [
        HourCounts(WINDOW_START + hour * HOUR, decided, rejected, 0)
        for hour, (decided, rejected) in enumerate(pairs)
    ]


def rejection_statistic(history: dict[SeriesKey, list[HourCounts]]) -> float:
    found = [f for f in evaluate(history, now=NOW) if f.metric == "rejection"]
    return found[0].statistic if found else 0.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), max_size=200))
def test_the_statistic_is_never_negative(steps: list[float]) -> None:
    statistic, run_start = cusum(steps)
    assert statistic >= 0.0
    assert (run_start is None) == (statistic == 0.0)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=0, max_value=400),
    st.lists(counts, max_size=168),
)
def test_evaluated_statistics_are_positive(
    baseline_rejected: int, pairs: list[tuple[int, int]]
) -> None:
    history = {OVERALL: steady(BASELINE_START, 1, 400, baseline_rejected) + window_of(pairs)}
    assert all(found.statistic > 0 for found in evaluate(history, now=NOW))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=1, max_value=40).flatmap(
        lambda whole: st.tuples(st.integers(min_value=0, max_value=whole), st.just(whole))
    ),
    st.lists(st.integers(min_value=0, max_value=30), max_size=168),
)
def test_counts_exactly_at_the_baseline_rate_never_alarm(
    fraction: tuple[int, int], multiples: list[int]
) -> None:
    events, whole = fraction  # the baseline rate is events / whole
    baseline = steady(BASELINE_START, 20, 10 * whole, 10 * events)
    window = window_of([(multiple * whole, multiple * events) for multiple in multiples])
    assert evaluate({OVERALL: baseline + window}, now=NOW) == []


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=0, max_value=100),
    st.lists(counts, min_size=1, max_size=168),
    st.data(),
)
def test_more_rejections_never_lower_the_statistic(
    baseline_rejected: int, pairs: list[tuple[int, int]], data: st.DataObject
) -> None:
    baseline = steady(BASELINE_START, 1, 1000, baseline_rejected)
    hour = data.draw(st.integers(min_value=0, max_value=len(pairs) - 1))
    decided, rejected = pairs[hour]
    more = data.draw(st.integers(min_value=rejected, max_value=decided))
    worse = [*pairs[:hour], (decided, more), *pairs[hour + 1 :]]
    before = rejection_statistic({OVERALL: baseline + window_of(pairs)})
    after = rejection_statistic({OVERALL: baseline + window_of(worse)})
    assert after >= before


# --- the documentation's figures are the module's ---


def test_the_detection_table_in_the_docs_is_computed_by_this_module() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "drift.md").read_text()
    rows = re.findall(r"^\| (\d+)% → (\d+)% \| ([\d,]+) \| ([\d.]+) \| ([\d.]+) \|", text, re.M)
    assert len(rows) == 3
    for baseline, doubled, needed, at_100, at_400 in rows:
        decisions = decisions_to_detect(int(baseline) / 100)
        assert int(doubled) == 2 * int(baseline)
        assert int(needed.replace(",", "")) == round(decisions)
        assert float(at_100) == round(decisions / 100, 1)
        assert float(at_400) == round(decisions / 400, 1)
    assert "311" in text
