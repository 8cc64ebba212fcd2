"""The digest as a Slack message: the top friction and suggestions first, figures after,
within Block Kit's limits (50 blocks, 3,000 characters a section)."""

from typing import Any

from digest.field_edits import describe as describe_field_edit
from digest.markdown import drift_summary
from digest.model import Digest, GroupFigures, Suggestion
from handlers.blocks import mrkdwn
from handlers.text import cut, escape

Block = dict[str, Any]
MAX_BLOCKS = 50
MAX_SUGGESTIONS = 6  # a section each; the rest are counted, the Markdown lists them all
MAX_LINES = 8  # of the drift alerts' and field edits' sections


def _section(text: str) -> Block:
    return {"type": "section", "text": mrkdwn(cut(text, 3000))}


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _route_line(group: GroupFigures) -> str:
    now, change = group.current, group.change
    outcomes = now.outcomes
    delta = "" if change.volume_pct is None else f" ({change.volume_pct:+.0f}%)"
    median = (
        "–" if now.decision_minutes_median is None else f"{now.decision_minutes_median:.0f} min"
    )
    return (
        f"*{escape(group.name)}*: {now.volume}{delta} · auto {_pct(now.auto_approved_share)} · "
        f"✅ {outcomes.approved} ✏️ {outcomes.edited} ❌ {outcomes.rejected} "
        f"⌛ {outcomes.expired} · median {median} · escalated {now.escalated_items}"
    )


def _link(example: Any) -> str:
    title = escape(cut(example.title, 60))
    return f"<{example.link}|{title}>" if example.link else title


def _suggestion(suggestion: Suggestion) -> str:
    """The message, the rules change as a code block and the replay command."""
    text = f"• {escape(suggestion.message)}"
    if suggestion.rules_change:
        text += f"\n```{escape(suggestion.rules_change.rstrip())}```"
    if suggestion.replay_command:
        where = "" if suggestion.proposal_file else " on a copy of your rules with this change"
        text += f"\nTest it{where}: `{escape(suggestion.replay_command)}`"
    return text


def _more(count: int, what: str) -> Block:
    return {
        "type": "context",
        "elements": [mrkdwn(f"{count} more {what} in `hitl digest --format markdown`.")],
    }


def digest_message(digest: Digest) -> tuple[str, list[Block]]:
    period = digest.period
    totals = digest.totals.current
    text = f"Friction digest {period.label}: {totals.volume} items"
    blocks: list[Block] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": cut(f"Friction digest {period.label}", 150)},
        },
        {
            "type": "context",
            "elements": [
                mrkdwn(
                    f"{totals.volume} items · {_pct(totals.auto_approved_share)} auto-approved · "
                    f"{_pct(totals.rejection_rate)} of decisions rejected · "
                    f"{totals.escalated_items} escalated"
                )
            ],
        },
        _section(
            "*Top friction this week*\n"
            + (
                "\n".join(
                    f"{f.rank}. {escape(f.title)} _({f.rejections} rejected, "
                    f"{f.reworked} reworked, {f.escalations} escalated, "
                    f"{f.waiting_hours:g} h waited)_"
                    for f in digest.top_friction
                )
                or "Nothing recurring stands out this period."
            )
        ),
    ]
    for index, suggestion in enumerate(digest.suggestions[:MAX_SUGGESTIONS]):
        heading = "" if index else "*Suggested rule changes*\n"
        blocks.append(_section(heading + _suggestion(suggestion)))
    if len(digest.suggestions) > MAX_SUGGESTIONS:
        blocks.append(_more(len(digest.suggestions) - MAX_SUGGESTIONS, "suggestions"))
    if digest.drift_alerts:
        lines = [
            f"📈 *{escape(alert.workflow)}*: {escape(drift_summary(alert))}"
            for alert in digest.drift_alerts[:MAX_LINES]
        ]
        blocks.append(_section("*Drift alerts*\n" + "\n".join(lines)))
        if len(digest.drift_alerts) > MAX_LINES:
            blocks.append(_more(len(digest.drift_alerts) - MAX_LINES, "drift alerts"))
    blocks.append({"type": "divider"})
    for group in digest.rejections[:5]:
        examples = "\n".join(
            f"   ↳ {_link(e)}" + (f": “{escape(cut(e.note, 150))}”" if e.note else "")
            for e in group.examples
        )
        blocks.append(
            _section(
                f"❌ *{escape(group.route)} / {escape(group.reason)}*: {group.count} "
                f"({group.share_of_route_rejections:.0%} of the route's rejections, {group.trend})"
                + (f"\n{examples}" if examples else "")
            )
        )
    for edit in digest.recurring_edits[:5]:
        what = {
            "deleted": f"delete “{escape(edit.before or '')}”",
            "added": f"add “{escape(edit.after or '')}”",
            "replaced": f"change “{escape(edit.before or '')}” → “{escape(edit.after or '')}”",
        }[edit.kind]
        blocks.append(
            _section(
                f"✏️ *{escape(edit.workflow)}*: reviewers {what} in {edit.items} of "
                f"{edit.edited_items} edits"
            )
        )
    if digest.recurring_field_edits:
        lines = [
            f"🔢 *{escape(edit.workflow)}*: {escape(describe_field_edit(edit))}"
            for edit in digest.recurring_field_edits[:MAX_LINES]
        ]
        blocks.append(_section("*Fields reviewers keep changing*\n" + "\n".join(lines)))
    blocks.append({"type": "divider"})
    lines = [_route_line(group) for group in digest.routes]
    for start in range(0, len(lines), 10):
        blocks.append(_section("\n".join(lines[start : start + 10])))
    if len(blocks) > MAX_BLOCKS:
        blocks = blocks[: MAX_BLOCKS - 1]
        blocks.append(
            {"type": "context", "elements": [mrkdwn("More in `hitl digest --format markdown`.")]}
        )
    return text, blocks
