"""A local stand-in for the Slack Web API, strict the way Slack is.

The implementation lives in the ``standin`` package next to this file; this module is the
stable import point: ``from slack_standin import SlackStandIn, Call``.
"""

if __package__:
    from .standin import Call, SlackStandIn
else:
    from standin import Call, SlackStandIn

__all__ = ["Call", "SlackStandIn"]
