"""Tables. Every state change of an item is a row somewhere, so nothing depends on memory."""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Table, Text, UniqueConstraint, text
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from rules.schema import Route
from storage.types import JsonColumn, UTCDateTime


class Status(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    EDITED = "edited"
    REJECTED = "rejected"
    EXPIRED = "expired"
    AUTO_APPROVED = "auto_approved"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset(Status) - {Status.PENDING}

# The one table of words for a status, in Slack texts and the digest.
STATUS_WORDS: dict[Status, str] = {
    Status.PENDING: "pending",
    Status.APPROVED: "approved",
    Status.EDITED: "approved with edits",
    Status.REJECTED: "rejected",
    Status.EXPIRED: "expired",
    Status.AUTO_APPROVED: "auto-approved",
    Status.CANCELLED: "cancelled",
}


class CallbackStatus(StrEnum):
    NONE = "none"  # no callback_url
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class OutboxKind(StrEnum):
    POST_ITEM = "post_item"  # first message in the owner's channel
    POST_ESCALATION = "post_escalation"  # the item again, to the people it is escalated to
    UPDATE_ITEM = "update_item"  # re-render every message of the item in place
    POST_DIGEST = "post_digest"  # the friction digest of one period, to the digest channel
    CALLBACK = "callback"  # POST the final item to the agent's callback_url
    POST_ALERT = "post_alert"  # tell people an item cannot be posted (undeliverable)
    POST_THREAD = "post_thread"  # a short reply in the item's thread (notes, reminders)
    PUBLISH_HOME = "publish_home"  # re-publish one person's App Home ({"user": id})
    POST_HANDOVER = "post_handover"  # DM an item to the person it was handed to
    POST_DRIFT = "post_drift"  # a drift alarm, to alerts.channel ({"alert_id": id})


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


# Like JsonColumn, but Python None is SQL NULL (queries ask `IS NULL`), not JSON null.
JsonValue = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, for statements that skip the unit of work (SQLModel
    sets `__table__` on table models but does not type it)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def _ts(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime, **kwargs))


def _json(**kwargs: Any) -> Any:
    return Field(sa_column=Column(JsonColumn, **kwargs))


def _enum(enum: type[StrEnum], default: StrEnum | None = None) -> Any:
    """A status column: VARCHAR(20) holding the enum's value (no database enum type, so no
    migration), read back as the enum."""
    column_type = SqlEnum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=20,
        values_callable=lambda members: [member.value for member in members],
    )
    if default is None:
        return Field(sa_column=Column(column_type, nullable=False))
    return Field(default=default, sa_column=Column(column_type, nullable=False))


class ReviewItem(SQLModel, table=True):
    __tablename__ = "review_item"
    __table_args__ = (
        UniqueConstraint("agent", "external_id", name="uq_review_item_agent_external_id"),
        # Covers every column the digest's period scans read (migration 0006).
        Index(
            "ix_review_item_digest",
            *("status", "created_at", "route", "workflow", "id", "escalation_level"),
            *("decided_at", "first_deadline", "confidence"),
        ),
        Index("ix_review_item_created", "created_at"),
        # A thread reply names its parent message: finds the item it discusses (0007).
        Index("ix_review_item_message", "channel", "message_ts"),
        # The hourly drift alarm reads the last five weeks of decisions (migration 0011).
        Index("ix_review_item_decided", "decided_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    agent: str = Field(max_length=100)
    external_id: str | None = Field(default=None, max_length=200)
    workflow: str = Field(max_length=200, index=True)
    route: str = Field(max_length=200, index=True)
    # The route as it was when the item arrived: editing rules.yml never changes a waiting item.
    route_snapshot: dict[str, Any] = _json(nullable=False)
    rules_version: str = Field(max_length=64)
    title: str = Field(sa_column=Column(Text, nullable=False))
    # A string (a text item) or a flat object (a structured item, issue 11), as JSON
    # (migration 0010); SQL NULL, never JSON null, when there is no final output yet.
    output: str | dict[str, Any] = Field(sa_column=Column(JsonValue, nullable=False))
    final_output: str | dict[str, Any] | None = Field(
        default=None, sa_column=Column(JsonValue, nullable=True)
    )
    # Structured items: the agent's schema (null without one), and the fields' order as
    # sent (JSONB keeps no key order).
    output_schema: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JsonValue, nullable=True)
    )
    field_order: list[str] | None = Field(default=None, sa_column=Column(JsonValue, nullable=True))
    confidence: float
    context: dict[str, Any] = _json(nullable=False)
    links: list[dict[str, Any]] = _json(nullable=False)
    callback_url: str | None = Field(default=None, max_length=2000)
    item_metadata: dict[str, Any] = Field(sa_column=Column("metadata", JsonColumn, nullable=False))
    status: Status = _enum(Status, Status.PENDING)
    channel: str = Field(max_length=40)
    message_ts: str | None = Field(default=None, max_length=40)
    escalation_level: int = 0
    # [{"level": 1, "to": ["U…"], "channel": "C…" | None, "at": iso}], newest last.
    escalations: list[dict[str, Any]] = _json(nullable=False, server_default="[]")
    # Four-eyes routes: an edit starts a new round, so earlier approvals of other text lapse.
    approval_round: int = 0
    created_at: datetime = _ts(nullable=False)
    deadline: datetime | None = _ts(nullable=True)
    # When the first escalation step was due: "waited past the first deadline" in the digest.
    first_deadline: datetime | None = _ts(nullable=True)
    decided_at: datetime | None = _ts(nullable=True)
    callback_status: CallbackStatus = _enum(CallbackStatus, CallbackStatus.NONE)
    callback_error: str | None = Field(default=None, sa_column=Column(Text))
    # Set when Slack refused the item's post for good (e.g. channel_not_found): the item is
    # shown as undeliverable instead of waiting in silence.
    delivery_error: str | None = Field(default=None, max_length=200)
    delivery_failed_at: datetime | None = _ts(nullable=True)
    # Who is on it ("Take it" / "Hand over"): shown on the message, never stops others.
    taken_by: str | None = Field(default=None, max_length=100)
    taken_at: datetime | None = _ts(nullable=True)

    def frozen_route(self) -> Route:
        """The route as it was when the item arrived (the one way to read `route_snapshot`)."""
        return Route.model_validate(self.route_snapshot)


class Decision(SQLModel, table=True):
    """The one final decision of an item; the unique item_id makes a second one impossible."""

    __tablename__ = "decision"
    # Covers every column the digest's join of a period's items with their decisions reads
    # (migration 0009).
    __table_args__ = (Index("ix_decision_digest", "item_id", "source", "by", "at", "reason"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="review_item.id", unique=True, max_length=40)
    status: Status = _enum(Status)
    by: str = Field(max_length=100)
    source: str = Field(max_length=20)  # slack | api | system
    reason: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, sa_column=Column(Text))
    at: datetime = _ts(nullable=False)


class StepStatus(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"  # the item was decided first


class EscalationStepRow(SQLModel, table=True):
    """A deadline: one row per step of an item's chain, inserted when the previous fires.

    Deadlines live here, not in the scheduler, so they survive restarts and are shared by
    replicas; the unique key makes firing a step twice impossible.
    """

    __tablename__ = "escalation_step"
    __table_args__ = (
        UniqueConstraint("item_id", "step", "repeat", name="uq_escalation_step_item_step_repeat"),
        Index("ix_escalation_step_status_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="review_item.id", index=True, max_length=40)
    step_index: int  # position in the flattened chain (repeats included)
    step: int  # position in the route's escalation list; len(list) for "chain exhausted"
    repeat: int = 0
    exhaust: bool = False
    due_at: datetime = _ts(nullable=False)
    status: StepStatus = _enum(StepStatus, StepStatus.PENDING)
    lease_until: datetime | None = _ts(nullable=True)
    # The process holding the lease: once it stops heartbeating the lease is free early.
    worker_id: str | None = Field(default=None, max_length=40)
    fired_at: datetime | None = _ts(nullable=True)


class ItemMessage(SQLModel, table=True):
    """A Slack message showing an item besides the original: one per escalation target."""

    __tablename__ = "item_message"
    __table_args__ = (
        UniqueConstraint("item_id", "level", "target", name="uq_item_message_item_level_target"),
        # A thread reply names its parent message: finds the item it discusses (0007).
        Index("ix_item_message_channel_ts", "channel", "ts"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="review_item.id", index=True, max_length=40)
    level: int  # the escalation level it announces
    target: str = Field(max_length=40)  # channel ID, or the user ID it was sent to by DM
    channel: str | None = Field(default=None, max_length=40)  # known once posted
    ts: str | None = Field(default=None, max_length=40)
    at: datetime = _ts(nullable=False)


class SpotCheck(SQLModel, table=True):
    """A person's verdict on an auto-approved item posted for a spot check (audit_sample).

    It never changes the item (a decided item never changes); the digest reads it to tell
    whether an auto-approve threshold is too low."""

    __tablename__ = "spot_check"
    __table_args__ = (UniqueConstraint("item_id", "user_id", name="uq_spot_check_item_user"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="review_item.id", index=True, max_length=40)
    user_id: str = Field(max_length=100)
    verdict: str = Field(max_length=10)  # ok | wrong
    at: datetime = _ts(nullable=False)


class DigestRun(SQLModel, table=True):
    """One digest per period: the unique key decides which replica posts it."""

    __tablename__ = "digest_run"
    __table_args__ = (UniqueConstraint("job", "period", name="uq_digest_run_job_period"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=40)
    period: str = Field(max_length=40)  # e.g. 2026-W47
    since: datetime = _ts(nullable=False)
    until: datetime = _ts(nullable=False)
    created_at: datetime = _ts(nullable=False)
    # Filled in as the post proceeds, so a retry after an outage repeats no part of it.
    channel: str | None = Field(default=None, max_length=40)
    message_ts: str | None = Field(default=None, max_length=40)
    chart_posted: bool = False


class Approval(SQLModel, table=True):
    """One person's approval on a route that needs several (approvals_required > 1)."""

    __tablename__ = "approval"
    __table_args__ = (
        UniqueConstraint("item_id", "round", "user_id", name="uq_approval_item_round_user"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="review_item.id", index=True, max_length=40)
    round: int = 0
    user_id: str = Field(max_length=100)
    at: datetime = _ts(nullable=False)


class AuditEvent(SQLModel, table=True):
    """Append-only trail: who did what to which item, when and from where."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="review_item.id", index=True, max_length=40)
    at: datetime = _ts(nullable=False)
    actor: str = Field(max_length=100)
    source: str = Field(max_length=20)  # api | slack | worker | scheduler
    action: str = Field(max_length=40)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)
    detail: dict[str, Any] = _json(nullable=False)


class OutboxMessage(SQLModel, table=True):
    """A side effect written in the same transaction as the change that causes it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    # Stable across retries: it is the `webhook-id` of a callback.
    delivery_id: str = Field(unique=True, max_length=40)
    # None for side effects of no single item (the weekly digest).
    item_id: str | None = Field(
        default=None, foreign_key="review_item.id", index=True, max_length=40
    )
    kind: OutboxKind = _enum(OutboxKind)
    payload: dict[str, Any] = _json(nullable=False)
    status: OutboxStatus = _enum(OutboxStatus, OutboxStatus.PENDING)
    attempts: int = 0
    created_at: datetime = _ts(nullable=False)
    due_at: datetime = _ts(nullable=False)
    lease_until: datetime | None = _ts(nullable=True)
    # The process holding the lease: once it stops heartbeating the lease is free early.
    worker_id: str | None = Field(default=None, max_length=40)
    give_up_at: datetime | None = _ts(nullable=True)
    done_at: datetime | None = _ts(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text))


class Worker(SQLModel, table=True):
    """A running process; its heartbeat tells others whether its leases still count."""

    __tablename__ = "worker"

    id: str = Field(primary_key=True, max_length=40)
    started_at: datetime = _ts(nullable=False)
    heartbeat_at: datetime = _ts(nullable=False)


__all__ = [
    "FINAL_STATUSES",
    "STATUS_WORDS",
    "Approval",
    "AuditEvent",
    "CallbackStatus",
    "Decision",
    "DigestRun",
    "EscalationStepRow",
    "ItemMessage",
    "OutboxKind",
    "OutboxMessage",
    "OutboxStatus",
    "ReviewItem",
    "SpotCheck",
    "Status",
    "StepStatus",
    "Worker",
]


# --- the reviewer's queue (issue 10) -------------------------------------------------


class ItemComment(SQLModel, table=True):
    """A reply in the thread of one of the item's messages: the discussion about it."""

    __tablename__ = "item_comment"
    __table_args__ = (UniqueConstraint("channel", "ts", name="uq_item_comment_channel_ts"),)

    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="review_item.id", index=True, max_length=40)
    user_id: str = Field(max_length=100)
    channel: str = Field(max_length=40)
    ts: str = Field(max_length=40)  # the reply's own ts: edits and deletions name it
    text: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime = _ts(nullable=False)
    edited_at: datetime | None = _ts(nullable=True)
    deleted_at: datetime | None = _ts(nullable=True)  # deleted in Slack: kept, not shown


class HomeViewer(SQLModel, table=True):
    """Someone who has opened hitl's App Home: only their Homes are kept up to date."""

    __tablename__ = "home_viewer"

    user_id: str = Field(primary_key=True, max_length=100)
    opened_at: datetime = _ts(nullable=False)
    published_at: datetime | None = _ts(nullable=True)
    # Set while a publish is queued: a change then adds nothing (one pending per person).
    publish_due_at: datetime | None = _ts(nullable=True)
    # The page of waiting items shown ("Show more" widens it, "Next" moves it).
    page_offset: int = 0
    page_size: int = 20


__all__ += ["HomeViewer", "ItemComment"]


class ReminderRow(SQLModel, table=True):
    """A reminder deadline (issue 13): reminder `seq` of escalation `level` of an item.

    Claimed and fired like escalation steps (storage.reminders), so each reminder is posted
    once across restarts and replicas; the unique key makes a second one impossible."""

    __tablename__ = "reminder"
    __table_args__ = (
        UniqueConstraint("item_id", "level", "seq", name="uq_reminder_item_level_seq"),
        Index("ix_reminder_status_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    item_id: str = Field(foreign_key="review_item.id", index=True, max_length=40)
    level: int  # the escalation level it reminds of (0: the route's owners)
    seq: int  # 1, 2, … within the level
    due_at: datetime = _ts(nullable=False)
    status: StepStatus = _enum(StepStatus, StepStatus.PENDING)
    lease_until: datetime | None = _ts(nullable=True)
    worker_id: str | None = Field(default=None, max_length=40)
    fired_at: datetime | None = _ts(nullable=True)


__all__ += ["ReminderRow"]


class AlertStatus(StrEnum):
    OPEN = "open"  # the rise is still going on: no second alert for it
    CLOSED = "closed"  # the rise ended; the next one is a new episode


class DriftAlert(SQLModel, table=True):
    """One drift episode: a significant rise of a workflow's rejection or edit rate.

    At most one open episode per workflow and metric (the partial unique index), so
    replicas racing on the same hour cannot raise it twice."""

    __tablename__ = "drift_alert"
    __table_args__ = (
        Index(
            "uq_drift_alert_open",
            "workflow",
            "metric",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_drift_alert_detected", "detected_at"),
    )

    id: str = Field(primary_key=True, max_length=40)  # al_<ULID>
    workflow: str = Field(max_length=200)
    metric: str = Field(max_length=20)  # rejection | edit
    # Where the rise shows most: the workflow overall, or one metadata.model /
    # metadata.prompt_version value (then `value` names it).
    dimension: str = Field(max_length=20)  # overall | model | prompt_version
    value: str | None = Field(default=None, max_length=200)
    status: AlertStatus = _enum(AlertStatus, AlertStatus.OPEN)
    began_at: datetime = _ts(nullable=False)  # the hour the rise began
    detected_at: datetime = _ts(nullable=False)
    closed_at: datetime | None = _ts(nullable=True)
    baseline_rate: float
    baseline_decided: int
    recent_rate: float
    recent_decided: int
    recent_events: int  # rejections or edits since began_at
    statistic: float  # the CUSUM when the alarm fired
    threshold: float
    # Every series that rose with it, and a few example item ids.
    evidence: list[dict[str, Any]] = _json(nullable=False)
    examples: list[str] = _json(nullable=False)
    channel: str | None = Field(default=None, max_length=40)
