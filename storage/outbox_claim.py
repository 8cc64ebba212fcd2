"""The outbox's claim statement, built once per shape (storage.outbox.claim_due runs it).

Building and hashing this statement cost more than running it, so each shape (which
groups, which pauses, whether leases of dead workers count) is built once and its values
(the time, the limits, the paused channels) are bound at each claim.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, String, and_, bindparam, case, func, literal_column, or_
from sqlmodel import col, select

from storage import workers
from storage.models import OutboxKind, OutboxMessage, OutboxStatus, ReviewItem
from storage.types import UTCDateTime


@dataclass(frozen=True)
class ClaimShape:
    """What decides the claim statement's SQL; the values themselves are bound."""

    in_order: tuple[OutboxKind, ...]  # an item's rows of these kinds go one at a time
    posts: tuple[OutboxKind, ...]  # the kinds a pause of chat.postMessage holds back
    groups: tuple[tuple[OutboxKind, ...], ...] | None
    kinds: tuple[OutboxKind, ...] | None
    dead_before: bool
    me: bool
    all_posts: bool
    post_channels: bool
    all_updates: bool
    update_channels: bool
    per_channel: bool


def _kind_in(kinds: Sequence[OutboxKind]) -> Any:
    """`kind IN ('…', …)` with the values in the SQL: they are constants of the shape, and
    bound lists cost a rewrite of the statement at every execution."""
    return col(OutboxMessage.kind).in_([literal_column(f"'{OutboxKind(k).value}'") for k in kinds])


@functools.lru_cache(maxsize=64)
def claim_query(shape: ClaimShape) -> Any:
    """The claim statement of one shape, built once: building and hashing it cost more
    than running it."""
    now = cast(datetime, bindparam("claim_now", type_=UTCDateTime))
    # Slack rows of one item go in order: only each item's first pending Slack row is
    # eligible (one aggregate over the pending rows, not a probe per row).
    first_slack_row_of_item = (
        select(func.min(OutboxMessage.id))
        .where(OutboxMessage.status == OutboxStatus.PENDING, _kind_in(shape.in_order))
        .group_by(col(OutboxMessage.item_id))
    )
    channel = ReviewItem.channel
    conditions = [
        OutboxMessage.status == OutboxStatus.PENDING,
        col(OutboxMessage.due_at) <= now,
        workers.lease_is_free(
            col(OutboxMessage.lease_until),
            col(OutboxMessage.worker_id),
            now=now,
            dead_before=cast(datetime, bindparam("claim_dead_before", type_=UTCDateTime))
            if shape.dead_before
            else None,
            me=cast(str, bindparam("claim_me", type_=String)) if shape.me else None,
        ),
    ]
    if shape.kinds is not None:
        conditions.append(_kind_in(shape.kinds))
    # Checked again on the locked rows: PostgreSQL re-reads a row changed by a claim that
    # committed meanwhile and re-tests these, so two claimers never both take it.
    row_conditions = list(conditions)
    conditions.append(
        or_(
            ~_kind_in(shape.in_order),
            col(OutboxMessage.id).in_(first_slack_row_of_item),
        )
    )
    if shape.all_posts:
        conditions.append(~_kind_in(shape.posts))
    elif shape.post_channels:
        conditions.append(
            ~(
                _kind_in([OutboxKind.POST_ITEM])
                & col(channel).in_(bindparam("claim_post_channels", expanding=True))
            )
        )
    if shape.all_updates:
        conditions.append(~_kind_in([OutboxKind.UPDATE_ITEM]))
    elif shape.update_channels:
        conditions.append(
            ~(
                _kind_in([OutboxKind.UPDATE_ITEM])
                & col(channel).in_(bindparam("claim_update_channels", expanding=True))
            )
        )
    # Round robin across channels: number each channel's due rows, take the first of
    # every channel before the second of any.
    turn = (
        func.row_number()
        .over(partition_by=func.coalesce(channel, ""), order_by=col(OutboxMessage.id))
        .label("turn")
    )
    groups = shape.groups
    group_of = (
        case(
            *((_kind_in(group_kinds), index) for index, group_kinds in enumerate(groups)),
            else_=-1,
        )
        if groups is not None and len(groups) > 1
        else None
    )
    candidates = (
        select(
            col(OutboxMessage.id).label("id"),
            turn,
            *([group_of.label("grp")] if group_of is not None else []),
        )
        .select_from(OutboxMessage)
        .outerjoin(ReviewItem, col(ReviewItem.id) == col(OutboxMessage.item_id))
        .where(*conditions)
        .subquery()
    )
    per_channel = bindparam("claim_per_channel", type_=Integer)
    limit = bindparam("claim_limit", type_=Integer)
    if group_of is not None and groups is not None:
        # Each group's rows in the same order as below, numbered: a group takes its first
        # `size` rows and no more.
        ranked = (
            select(
                candidates.c.id,
                candidates.c.turn,
                candidates.c.grp,
                func.row_number()
                .over(
                    partition_by=candidates.c.grp,
                    order_by=(candidates.c.turn, candidates.c.id),
                )
                .label("rank"),
            )
            .where(*([candidates.c.turn <= per_channel] if shape.per_channel else []))
            .subquery()
        )
        chosen = (
            select(ranked.c.id)
            .where(
                or_(
                    *(
                        and_(
                            ranked.c.grp == index,
                            ranked.c.rank <= bindparam(f"claim_size_{index}", type_=Integer),
                        )
                        for index in range(len(groups))
                    )
                )
            )
            .order_by(ranked.c.turn, ranked.c.id)
            .limit(limit)
        )
    else:
        chosen = select(candidates.c.id)
        if shape.per_channel:
            chosen = chosen.where(candidates.c.turn <= per_channel)
        chosen = chosen.order_by(candidates.c.turn, candidates.c.id).limit(limit)
    return (
        select(OutboxMessage)
        .where(col(OutboxMessage.id).in_(chosen.scalar_subquery()), *row_conditions)
        .order_by(col(OutboxMessage.id))
        .with_for_update(skip_locked=True, of=OutboxMessage)
    )
