"""What `hitl init` writes: a `.env` with fresh secrets and a `rules.yml` from the example."""

import base64
import os
import secrets
from pathlib import Path

ENV_FILE = ".env"
RULES_FILE = "rules.yml"


def new_api_token() -> str:
    """43 URL-safe characters: well over the 16 that HITL_API_TOKENS requires."""
    return secrets.token_urlsafe(32)


def new_webhook_secret() -> str:
    """`whsec_` and 32 random bytes in base64, as Standard Webhooks libraries expect."""
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def env_file_text(agent: str, api_token: str, webhook_secret: str) -> str:
    return f"""\
# hitl settings, written by `hitl init`. Every setting and its default: docs/settings.md
# This file holds secrets: keep it out of version control.

# From your Slack app (docs/slack-setup.md): OAuth & Permissions -> Bot User OAuth Token.
SLACK_BOT_TOKEN=
# Socket Mode (no public URL needed): Basic Information -> App-Level Tokens, with the
# connections:write scope. Leave it empty to receive Slack over HTTP instead, and then set
# SLACK_SIGNING_SECRET (Basic Information -> Signing Secret).
SLACK_APP_TOKEN=
SLACK_SIGNING_SECRET=

# The agents that may call the API, as agent:token pairs separated by commas. Give the
# agent its token; it sends `Authorization: Bearer <token>`.
HITL_API_TOKENS={agent}:{api_token}
# Signs the callbacks hitl sends; give the same value to the agent to verify them.
HITL_WEBHOOK_SECRET={webhook_secret}

# HITL_DATABASE_URL=sqlite:///hitl.db
# HITL_RULES=rules.yml
# HITL_HOST=127.0.0.1
# HITL_PORT=3000
"""


def example_rules_text() -> str:
    """The example rules file, shipped inside the package so a pip-installed hitl has it."""
    return (Path(__file__).parent / "rules.example.yml").read_text(encoding="utf-8")
