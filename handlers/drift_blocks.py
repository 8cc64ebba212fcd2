"""Block Kit of a drift alert: what rose, by how much against what, since when, where
else it shows, a few example items, and how to follow it up."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from handlers.escalation_blocks import SECTION_LIMIT, context
from handlers.text import cut, escape, slack_date
from storage.models import DriftAlert

Block = dict[str, Any]
BASELINE_DAYS = 28  # digest.drift.DriftConfig.baseline_days: what "previous" means
_METRIC_WORDS = {"rejection": "Rejections", "edit": "Edits"}
_TITLE_LIMIT = 80
_EVIDENCE_SHOWN = 8


@dataclass(frozen=True)
class Example:
    item_id: str
    title: str
    permalink: str | None  # its Slack message, when it was posted


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT)}}


def _rise(baseline_rate: float, recent_rate: float) -> str:
    """ "doubled", "tripled", "rose 2.5-fold": how people say a rate grew."""
    if baseline_rate <= 0:
        return "rose from none"
    ratio = recent_rate / baseline_rate
    if 1.9 <= ratio < 2.15:
        return "doubled"
    if 2.85 <= ratio < 3.2:
        return "tripled"
    return f"rose {ratio:.1f}-fold" if ratio >= 1.5 else "rose"


def series_name(workflow: str, dimension: str, value: str | None) -> str:
    if dimension == "overall" or value is None:
        return f"{workflow} overall"
    return f"{dimension} {value}"


def headline(alert: DriftAlert) -> str:
    """Like "Rejections in ap-invoices doubled since prompt_version v13" (plain text)."""
    metric = _METRIC_WORDS.get(alert.metric, alert.metric)
    rise = _rise(alert.baseline_rate, alert.recent_rate)
    where = f"{metric} in {alert.workflow}"
    if alert.dimension == "prompt_version":
        return f"{where} {rise} since prompt_version {alert.value}"
    if alert.dimension == "model":
        return f"{where} {rise} with model {alert.value}"
    return f"{where} {rise}"


def local_time(at: datetime, zone: tzinfo) -> str:
    """Like "Mon 23 Nov 09:00 UTC", in the rules' time zone."""
    moment = at.astimezone(zone)
    return f"{moment:%a} {moment.day} {moment:%b %H:%M} {moment.tzname() or ''}".rstrip()


def _rates(alert: DriftAlert, zone: tzinfo) -> str:
    baseline_events = round(alert.baseline_rate * alert.baseline_decided)
    own = next(
        (
            entry.get("own_baseline", True)
            for entry in alert.evidence
            if entry.get("dimension") == alert.dimension and entry.get("value") == alert.value
        ),
        True,
    )
    counts = f"{baseline_events:,} of {alert.baseline_decided:,}"
    if not own:  # tested against the whole workflow: the series has no history of its own
        counts += f" in all of {escape(alert.workflow)}; {escape(str(alert.value))} is new"
    return (
        f"*{alert.baseline_rate:.1%}* over the previous {BASELINE_DAYS} days ({counts}) "
        f"→ *{alert.recent_rate:.1%}* since {local_time(alert.began_at, zone)} "
        f"({alert.recent_events:,} of {alert.recent_decided:,})"
    )


def _evidence(alert: DriftAlert) -> str | None:
    others = [
        entry
        for entry in alert.evidence
        if (entry.get("dimension"), entry.get("value")) != (alert.dimension, alert.value)
    ]
    if not others:
        return None
    lines = [
        f"• {escape(series_name(alert.workflow, str(entry['dimension']), entry.get('value')))}: "
        f"{float(entry['baseline_rate']):.1%} → {float(entry['recent_rate']):.1%} "
        f"({int(entry['recent_events']):,} of {int(entry['recent_decided']):,})"
        for entry in others[:_EVIDENCE_SHOWN]
    ]
    if len(others) > _EVIDENCE_SHOWN:
        lines.append(f"…and {len(others) - _EVIDENCE_SHOWN} more")
    return "*Also rose:*\n" + "\n".join(lines)


def _example(example: Example) -> str:
    title = escape(cut(example.title, _TITLE_LIMIT)).replace("|", "¦")
    if example.permalink:
        return f"• <{example.permalink}|{title}>"
    return f"• {title} (`{example.item_id}`)"


def drift_alert_message(
    alert: DriftAlert, examples: Sequence[Example], zone: tzinfo = UTC
) -> tuple[str, list[Block]]:
    """The alert's text fallback and blocks."""
    title = headline(alert)
    metric = "rejected" if alert.metric == "rejection" else "edited"
    blocks: list[Block] = [
        _section(f":chart_with_upwards_trend: *{escape(title)}*"),
        _section(_rates(alert, zone)),
        context(
            f"The rise began {slack_date(alert.began_at)} and was detected "
            f"{slack_date(alert.detected_at)} (CUSUM {alert.statistic:.1f}, alarm at "
            f"{alert.threshold:.1f}: at most one false alarm in about a million decisions)."
        ),
    ]
    if (evidence := _evidence(alert)) is not None:
        blocks.append(_section(evidence))
    if examples:
        lines = "\n".join(_example(example) for example in examples)
        blocks.append(_section(f"*Recently {metric}:*\n{lines}"))
    blocks.append(
        context(
            f"Check it with `GET /v1/alerts?workflow={escape(alert.workflow)}` (alert "
            f"`{alert.id}`); it stays open until the rate is back down, and the next "
            "digest lists the week's alerts."
        )
    )
    fallback = (
        f"{title}: {alert.baseline_rate:.1%} over the previous {BASELINE_DAYS} days → "
        f"{alert.recent_rate:.1%} since {local_time(alert.began_at, zone)}"
    )
    return escape(cut(fallback, SECTION_LIMIT)), blocks
