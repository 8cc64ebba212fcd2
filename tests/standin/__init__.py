"""A strict local stand-in for Slack (Web API, response URLs, uploads, Socket Mode)."""

from .server import Call, SlackStandIn

__all__ = ["Call", "SlackStandIn"]
