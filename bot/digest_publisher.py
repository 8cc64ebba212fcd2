"""Building a period's digest and posting it to Slack: message first, chart in its thread."""

from datetime import datetime

from slack_sdk import WebClient

from digest.build import build_digest
from digest.model import Digest, Period
from handlers.digest_blocks import digest_message
from rules import RulesFile
from storage.db import Database


def build(
    db: Database, rules: RulesFile, period: Period, *, now: datetime, team_url: str | None
) -> Digest:
    return build_digest(db, rules, period, now=now, team_url=team_url)


# The metadata of a digest's message: a retry finds the post of an attempt whose answer
# was lost by it (`hitl digest --post` posts without a run).
EVENT_TYPE = "hitl_digest"


def post_message(
    slack: WebClient, channel: str, digest: Digest, *, run_id: int | None = None
) -> tuple[str, str]:
    text, blocks = digest_message(digest)
    payload: dict[str, object] = {"period": digest.period.label}
    if run_id is not None:
        payload["run_id"] = run_id
    response = slack.chat_postMessage(
        channel=channel,
        text=text,
        blocks=blocks,
        unfurl_links=False,
        unfurl_media=False,
        metadata={"event_type": EVENT_TYPE, "event_payload": payload},
    )
    return response["channel"], response["ts"]


def post_chart(slack: WebClient, channel: str, thread_ts: str, digest: Digest) -> bool:
    """Uploads the chart into the digest's thread; False when there is nothing to draw."""
    from digest.chart import outcomes_chart  # matplotlib is slow to import: only when drawing

    picture = outcomes_chart(digest)
    if picture is None:
        return False
    # files_upload_v2 is files.getUploadURLExternal + upload + files.completeUploadExternal.
    slack.files_upload_v2(
        channel=channel,
        thread_ts=thread_ts,
        content=picture,
        filename=f"friction-{digest.period.label}.png",
        title=f"How items ended, {digest.period.label}",
    )
    return True
