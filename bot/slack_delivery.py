"""Slack side effects of the outbox: post an item, post an escalation, update every message
of an item, post a digest. Each renders the current state, so a late delivery is never
stale, and skips what an earlier attempt already did."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import digest_publisher, user_groups
from bot.delivery import GiveUp
from commands.queue import home_state
from digest.model import Period
from handlers.blocks import SpotNotes, escalation_message, item_message
from handlers.drift_blocks import Example, drift_alert_message
from handlers.home_blocks import hand_over_dm, home_view
from handlers.text import cut, escape
from rules import LoadedRules
from storage import alerts, digests, escalations, queue, reviews
from storage.db import Database
from storage.models import Decision, ReviewItem, SpotCheck
from storage.rendering import Rendering, rendering_of

log = logging.getLogger(__name__)

# How far before the item's creation the history is read: clocks of hosts differ a little.
_HISTORY_MARGIN = timedelta(minutes=5)
_HISTORY_PAGES = 20  # at 200 messages a page; an earlier post is never further back


class SlackDelivery:
    def __init__(
        self,
        *,
        db: Database,
        slack: WebClient,
        now: Callable[[], datetime],
        current_rules: Callable[[], LoadedRules],
    ) -> None:
        self.db = db
        self.slack = slack
        self.now = now
        self.current_rules = current_rules
        self._team_url: str | None = None

    def item(self, item_id: str | None) -> ReviewItem:
        item = reviews.get_item(self.db, item_id) if item_id else None
        if item is None:
            raise GiveUp("item not found")
        return item

    def rendering(self, item_id: str | None) -> Rendering:
        """The item and all its messages show, from one read."""
        rendering = rendering_of(self.db, item_id) if item_id else None
        if rendering is None:
            raise GiveUp("item not found")
        return rendering

    def _rendered(
        self, item: ReviewItem, rendering: Rendering | None
    ) -> tuple[Decision | None, list[str], list[SpotCheck], SpotNotes]:
        if rendering is None or rendering.item is not item:
            rendering = self.rendering(item.id)
        return rendering.decision, rendering.approvers, rendering.spot_checks, rendering.spot_notes

    def find_earlier_post(
        self, channel: str, since: datetime, matches: Callable[[dict[str, Any]], bool]
    ) -> str | None:
        """The ts of a message in `channel` since `since` whose metadata `matches`: an
        earlier attempt that reached Slack before its process died. None when there is
        none, or when the bot may not read the channel (it then posts, as before)."""
        cursor: str | None = None
        oldest = f"{(since - _HISTORY_MARGIN).timestamp():.6f}"
        for _page in range(_HISTORY_PAGES):
            try:
                response = self.slack.conversations_history(
                    channel=channel,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            except SlackApiError as error:
                code = (
                    error.response.get("error") if isinstance(error.response.data, dict) else None
                )
                if code in ("not_in_channel", "channel_not_found", "missing_scope"):
                    log.warning("cannot read %s to look for an earlier post (%s)", channel, code)
                    return None
                raise
            for message in response.get("messages") or []:
                if matches(message.get("metadata") or {}):
                    return str(message["ts"])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                return None
        return None

    def post_item(
        self,
        item: ReviewItem,
        *,
        look_first: bool = False,
        rendering: Rendering | None = None,
    ) -> tuple[str, str] | None:
        """Posts the item; with `look_first` (an earlier attempt may have reached Slack)
        it first looks for that message and adopts it instead of posting twice. Returns
        the channel and ts to mark the item posted with (the caller records it, with the
        outbox row's completion), or None when it was posted already."""
        if item.message_ts:
            return None  # already posted: a retry after the post landed
        if look_first:
            ts = self.find_earlier_post(
                item.channel,
                item.created_at,
                _metadata_is("hitl_review", item_id=item.id),
            )
            if ts is not None:
                log.info("adopted the earlier post %s instead of posting again", ts,
                         extra={"item_id": item.id})  # fmt: skip
                return item.channel, ts
        text, blocks = item_message(item, *self._rendered(item, rendering))
        response = self.slack.chat_postMessage(
            channel=item.channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": "hitl_review", "event_payload": {"item_id": item.id}},
        )
        return str(response["channel"]), str(response["ts"])

    def post_escalation(
        self,
        item: ReviewItem,
        message_id: int,
        *,
        look_first: bool = False,
        rendering: Rendering | None = None,
    ) -> None:
        message = escalations.get_message(self.db, message_id)
        if message is None or message.ts:
            return
        channel = message.target
        # User groups (S…) are resolved now and recorded (bot.user_groups, issue 13).
        only = channel if channel[0] == "S" else None
        groups = user_groups.resolve(
            self.db, self.slack, item, message.level, now=self.now(), only=only
        )
        if only and groups and groups[0].error is None:
            return  # each member is sent it by DM: those posts are queued
        if groups:  # re-read: every message shows the members, or the warning
            item, rendering = self.item(item.id), None
        if only:  # unresolvable: to the step's channel (else the item's), with a warning
            channel = user_groups.fallback_channel(item, message.level)
        elif channel[0] in "UW":  # a person: by direct message
            channel = self.slack.conversations_open(users=channel)["channel"]["id"]
        if look_first:
            level = message.level
            ts = self.find_earlier_post(
                channel,
                message.at,
                _metadata_is("hitl_escalation", item_id=item.id, level=level),
            )
            if ts is not None:
                escalations.mark_message_posted(self.db, message_id, channel=channel, ts=ts)
                return
        decision, approvers, *_spot = self._rendered(item, rendering)
        text, blocks = escalation_message(
            item, decision, approvers, message.level, self.permalink(item)
        )
        response = self.slack.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata={
                "event_type": "hitl_escalation",
                "event_payload": {"item_id": item.id, "level": message.level},
            },
        )
        escalations.mark_message_posted(
            self.db, message_id, channel=response["channel"], ts=response["ts"]
        )

    def post_alert(self, item: ReviewItem, target: str, error: str) -> None:
        """Tells people an item cannot be posted, so it does not wait in silence."""
        channel = target
        if channel[0] in "UW":  # a person: by direct message
            channel = self.slack.conversations_open(users=channel)["channel"]["id"]
        text = (
            f":warning: hitl cannot post the item *{escape(cut(item.title, 200))}* "
            f"(`{item.id}`, route `{escape(item.route)}`) to <#{item.channel}>: Slack "
            f"answers `{escape(error)}`. It waits undecided until the channel is fixed "
            "(invite the bot, unarchive the channel or correct the rules); the agent was told."
        )
        self.slack.chat_postMessage(
            channel=channel,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": "hitl_alert", "event_payload": {"item_id": item.id}},
        )

    def post_in_thread(self, item: ReviewItem, text: str) -> None:
        """A short reply under the item's message (a note, a reminder); `text` is mrkdwn
        the caller built, with agent text already escaped."""
        if not item.message_ts:
            raise GiveUp("the item has no message to reply to")
        self.slack.chat_postMessage(
            channel=item.channel,
            thread_ts=item.message_ts,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
        )

    def update_item(self, item: ReviewItem, *, rendering: Rendering | None = None) -> None:
        """Every message of the item shows its current state: original and escalations."""
        decision, approvers, checks, notes = self._rendered(item, rendering)
        if item.message_ts:
            text, blocks = item_message(item, decision, approvers, checks, notes)
            self.slack.chat_update(
                channel=item.channel, ts=item.message_ts, text=text, blocks=blocks
            )
        for message in escalations.messages_of(self.db, item.id):
            if message.ts and message.channel:
                text, blocks = escalation_message(
                    item, decision, approvers, message.level, self.permalink(item)
                )
                self.slack.chat_update(
                    channel=message.channel, ts=message.ts, text=text, blocks=blocks
                )

    def publish_home(self, user: str) -> None:
        """Publishes the person's App Home as it is now: rendered at delivery, so a late
        delivery is never stale (a change during it queues the next publish)."""
        viewer = queue.start_home_publish(self.db, user, now=self.now())
        if viewer is None:
            raise GiveUp("that person never opened the Home")
        state = home_state(
            self.db, user, now=self.now(), offset=viewer.page_offset, size=viewer.page_size
        )
        self.slack.views_publish(user_id=user, view=home_view(state, self.permalink))

    def post_handover(self, rendering: Rendering, to: str, by: str) -> None:
        """The item, with its buttons, by DM to the person it was handed to."""
        item = rendering.item
        channel = self.slack.conversations_open(users=to)["channel"]["id"]
        text, blocks = hand_over_dm(item, rendering.decision, by, self.permalink(item))
        self.slack.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": "hitl_handover", "event_payload": {"item_id": item.id}},
        )

    def post_digest(self, run_id: int, *, look_first: bool = False) -> None:
        """Posts a claimed digest; each part is recorded, so a retry repeats none of it.
        With `look_first` (an attempt whose answer was lost may have posted it) it adopts
        that message instead of posting the digest twice."""
        run = digests.get_run(self.db, run_id)
        if run is None:
            raise GiveUp("digest run not found")
        rules = self.current_rules().rules
        if rules.digest is None:
            raise GiveUp("the rules no longer name a digest channel")
        period = Period(label=run.period, since=run.since, until=run.until, timezone=rules.timezone)
        digest = digest_publisher.build(
            self.db, rules, period, now=self.now(), team_url=self.team_url()
        )
        channel, ts = run.channel, run.message_ts
        if (not channel or not ts) and look_first:
            ts = self.find_earlier_post(
                rules.digest.channel,
                run.created_at,
                _metadata_is(digest_publisher.EVENT_TYPE, run_id=run_id),
            )
            if ts is not None:
                channel = rules.digest.channel
                log.info("adopted the earlier digest post %s instead of posting again", ts)
                digests.mark_message(self.db, run_id, channel=channel, ts=ts)
        if not channel or not ts:
            channel, ts = digest_publisher.post_message(
                self.slack, rules.digest.channel, digest, run_id=run_id
            )
            digests.mark_message(self.db, run_id, channel=channel, ts=ts)
        if not run.chart_posted:
            digest_publisher.post_chart(self.slack, channel, ts, digest)
            digests.mark_chart(self.db, run_id)

    def post_drift(self, alert_id: str, *, look_first: bool = False) -> None:
        """Posts a drift alert to the alerts channel as the rules name it now. An alert
        recorded as posted is not posted again; with `look_first` (an attempt whose answer
        was lost may have posted it) the message found in the channel is adopted."""
        alert = alerts.get_alert(self.db, alert_id)
        if alert is None:
            raise GiveUp("drift alert not found")
        if alert.channel:
            return
        rules = self.current_rules().rules
        channel = rules.alerts_channel
        if channel is None:
            raise GiveUp("the rules no longer name an alerts channel")
        if look_first and self.find_earlier_post(
            channel,
            alert.detected_at,
            _metadata_is("hitl_drift", alert_id=alert.id),
        ):
            log.info("adopted the earlier post of drift alert %s, not posting again", alert.id)
            alerts.mark_posted(self.db, alert.id, channel=channel)
            return
        examples = []
        for item_id in alert.examples:
            item = reviews.get_item(self.db, item_id)
            if item is not None:
                examples.append(Example(item.id, item.title, self.permalink(item)))
        text, blocks = drift_alert_message(alert, examples, rules.tzinfo)
        response = self.slack.chat_postMessage(
            channel=channel,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata={"event_type": "hitl_drift", "event_payload": {"alert_id": alert.id}},
        )
        alerts.mark_posted(self.db, alert.id, channel=str(response["channel"]))

    def permalink(self, item: ReviewItem) -> str | None:
        """Slack's documented permalink form, from the workspace URL auth.test gives."""
        team_url = self.team_url() if item.message_ts else None
        if not team_url or not item.message_ts:
            return None
        message_id = item.message_ts.replace(".", "")
        return f"{team_url.rstrip('/')}/archives/{item.channel}/p{message_id}"

    def team_url(self) -> str | None:
        if self._team_url is None:
            self._team_url = str(self.slack.auth_test().get("url") or "")
        return self._team_url or None


def _metadata_is(event_type: str, **payload: object) -> Callable[[dict[str, Any]], bool]:
    """Whether a message's metadata is of `event_type` with these payload values: how a
    retry recognises the post of an earlier attempt."""

    def matches(metadata: dict[str, Any]) -> bool:
        found = metadata.get("event_payload") or {}
        return metadata.get("event_type") == event_type and all(
            found.get(key) == value for key, value in payload.items()
        )

    return matches
