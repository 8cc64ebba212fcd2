"""The application layer: every change to an item goes through these commands, whoever
asks (the HTTP API, the Slack listeners, the escalation clock). Each commits through
`storage`, returns a typed result and publishes one `ItemChanged` after its commit.
Uses `rules` and `storage`; knows nothing of Slack or HTTP."""

from commands.escalation import fire_steps, first_step, plan_firing
from commands.events import ChangeKind, EventBus, ItemChanged
from commands.items import (
    ExternalIdConflict,
    NoRoute,
    SpotCheckOutcome,
    SpotCheckResult,
    approve,
    cancel,
    may_decide_item,
    reject,
    spot_check,
    submit,
)

__all__ = [
    "ChangeKind",
    "EventBus",
    "ExternalIdConflict",
    "ItemChanged",
    "NoRoute",
    "SpotCheckOutcome",
    "SpotCheckResult",
    "approve",
    "cancel",
    "fire_steps",
    "first_step",
    "may_decide_item",
    "plan_firing",
    "reject",
    "spot_check",
    "submit",
]
