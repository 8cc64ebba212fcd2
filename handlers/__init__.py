"""Slack listeners. Each kind registers itself with `register(app, deps)`. Every click
and modal submission reaches them already parsed into typed objects (`handlers.payloads`);
listeners decide first and acknowledge after the commit."""

from slack_bolt import App

from handlers import actions, views
from handlers.deps import HandlerDeps


def register_all(app: App, deps: HandlerDeps) -> None:
    actions.register(app, deps)
    views.register(app, deps)


__all__ = ["HandlerDeps", "register_all"]
