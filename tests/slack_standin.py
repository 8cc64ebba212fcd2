"""A local stand-in for the Slack Web API, strict the way Slack is.

The implementation lives in the ``standin`` package next to this file; this module is the
stable import point: ``from slack_standin import SlackStandIn, Call``.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING or __package__:
    from .standin import Call, SlackStandIn
else:  # imported as a top-level module, by a test folder that puts this one on sys.path
    from standin import Call, SlackStandIn

__all__ = ["Call", "SlackStandIn"]
