"""Slack listeners. Each kind registers itself with `register(app, deps)`; the listeners
acknowledge first and hand the work to plain functions in `handlers.decisions`."""

from slack_bolt import App

from handlers import actions, views
from handlers.deps import HandlerDeps


def register_all(app: App, deps: HandlerDeps) -> None:
    actions.register(app, deps)
    views.register(app, deps)


__all__ = ["HandlerDeps", "register_all"]
