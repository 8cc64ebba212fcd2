"""Settings from the environment and `.env`, named as in SPEC."""

import base64
import binascii
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
# Settings whose values are secrets: an error names them but never echoes their value.
SECRET_ALIASES = frozenset(
    {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "HITL_API_TOKENS"}
    | {"HITL_WEBHOOK_SECRET"}
)


class StoreSettings(BaseSettings):
    """What commands that only read the record need (`hitl digest`)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    database_url: str = Field("sqlite:///hitl.db", validation_alias="HITL_DATABASE_URL")
    rules_path: Path = Field(Path("rules.yml"), validation_alias="HITL_RULES")
    slack_bot_token: str | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", validation_alias="SLACK_API_URL")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError as error:
            raise ValueError(f"is not a database URL ({error})") from None
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL like https://slack.com/api/")
        return value

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "api_tokens",
        "webhook_secret",
        mode="before",
        check_fields=False,
    )
    @classmethod
    def _plain_ascii(cls, value: object) -> object:
        # Slack and HTTP headers carry these as ASCII; a value copied from the README with
        # its `…` placeholder would otherwise fail deep inside an HTTP client.
        if isinstance(value, str):
            if "…" in value:
                raise ValueError(
                    "still holds the placeholder '…' from the example: replace it with the "
                    "real value"
                )
            odd = next(
                (char for char in value if not (char.isascii() and char.isprintable())), None
            )
            if odd is not None:
                raise ValueError(
                    f"contains the character {odd!r}: tokens and secrets are plain ASCII "
                    "(was it pasted with typographic quotes or a line break?)"
                )
        return value


class Settings(StoreSettings):
    """Everything `hitl serve` needs."""

    slack_bot_token: str = Field(validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    host: str = Field("127.0.0.1", validation_alias="HITL_HOST")
    port: int = Field(3000, ge=0, le=65535, validation_alias="HITL_PORT")
    api_tokens: str | None = Field(None, validation_alias="HITL_API_TOKENS")
    webhook_secret: str | None = Field(None, validation_alias="HITL_WEBHOOK_SECRET")

    # Beyond SPEC: knobs an operator may need; defaults suit production.
    max_body_bytes: int = Field(1_048_576, ge=1024, validation_alias="HITL_MAX_BODY_BYTES")
    callback_give_up_after_seconds: float = Field(
        86_400, gt=0, validation_alias="HITL_CALLBACK_GIVE_UP_AFTER"
    )
    outbox_poll_seconds: float = Field(1.0, gt=0, validation_alias="HITL_OUTBOX_POLL_SECONDS")
    # A crashed process's in-flight rows are retried once their lease runs out; the lease
    # must outlast one delivery (Slack calls time out after 30 s, callbacks after 10 s).
    outbox_lease_seconds: float = Field(60, ge=1, validation_alias="HITL_OUTBOX_LEASE_SECONDS")
    # How often every replica sweeps for due escalations it was not woken for.
    sweep_seconds: float = Field(15, gt=0, validation_alias="HITL_SWEEP_SECONDS")
    retry_base_seconds: float = Field(1.0, gt=0, validation_alias="HITL_RETRY_BASE_SECONDS")
    retry_max_seconds: float = Field(600, gt=0, validation_alias="HITL_RETRY_MAX_SECONDS")
    # Delivery engine: separate slot pools so slow callbacks never starve Slack posts.
    slack_concurrency: int = Field(4, ge=1, le=64, validation_alias="HITL_SLACK_CONCURRENCY")
    callback_concurrency: int = Field(8, ge=1, le=256, validation_alias="HITL_CALLBACK_CONCURRENCY")
    # A process that has not heartbeaten for this long is gone: its leases are taken over.
    worker_dead_after_seconds: float = Field(
        10, ge=1, validation_alias="HITL_WORKER_DEAD_AFTER_SECONDS"
    )
    # SQLite only: how long a write waits for another process's lock before it fails.
    sqlite_busy_timeout_seconds: float = Field(
        10, gt=0, validation_alias="HITL_SQLITE_BUSY_TIMEOUT_SECONDS"
    )
    log_level: str = Field("INFO", validation_alias=AliasChoices("HITL_LOG_LEVEL", "LOG_LEVEL"))
    log_format: Literal["text", "json"] = Field("text", validation_alias="HITL_LOG_FORMAT")
    # Callbacks go to public addresses only unless this is true (loopback, private,
    # link-local, multicast are refused at submission and again when sending).
    callback_allow_private: bool = Field(False, validation_alias="HITL_CALLBACK_ALLOW_PRIVATE")
    # The total time one callback attempt may take, however the receiver trickles.
    callback_timeout_seconds: float = Field(
        10.0, gt=0, le=300, validation_alias="HITL_CALLBACK_TIMEOUT_SECONDS"
    )

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: str) -> str:
        if not value:
            raise ValueError(
                "is empty: paste the Bot User OAuth Token (xoxb-…) from your Slack app's "
                "OAuth & Permissions page"
            )
        if not value.startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: str | None) -> str | None:
        if value and not value.startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value or None

    @field_validator("api_tokens")
    @classmethod
    def _api_tokens(cls, value: str | None) -> str | None:
        if value:
            parse_api_tokens(value)
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: str | None) -> str | None:
        if not value:
            return None
        if webhook_secret_bytes(value) is None:
            raise ValueError(
                "must be whsec_ followed by base64 (make one with `hitl init` or the command "
                "in docs/callbacks.md)"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
        return value.upper()

    @model_validator(mode="after")
    def _signing_secret_in_http_mode(self) -> "Settings":
        if not self.slack_app_token and not self.slack_signing_secret:
            raise ValueError(
                "SLACK_SIGNING_SECRET is required in HTTP mode (set it, or set SLACK_APP_TOKEN "
                "for Socket Mode)"
            )
        return self

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def agent_tokens(self) -> dict[str, str]:
        """token -> agent name."""
        return parse_api_tokens(self.api_tokens) if self.api_tokens else {}


def parse_api_tokens(value: str) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in value.split(","))):
        agent, sep, token = pair.partition(":")
        if not sep or not agent.strip() or not token.strip():
            raise ValueError(f"each entry must be agent:token, got {pair.split(':')[0]!r}…")
        if len(token.strip()) < 16:
            raise ValueError(f"the token of agent {agent.strip()!r} is shorter than 16 characters")
        tokens[token.strip()] = agent.strip()
    return tokens


def webhook_secret_bytes(value: str) -> bytes | None:
    """The key of a `whsec_` secret, or None when it is not one. Padded and unpadded base64
    are both accepted, as the `standardwebhooks` package accepts both."""
    raw = value.removeprefix("whsec_").rstrip("=")
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


_PLAIN_MESSAGES = {
    "int_parsing": "must be a whole number",
    "float_parsing": "must be a number",
    "bool_parsing": "must be true or false",
}


def describe_error(error: ValidationError) -> str:
    """One line per bad setting, naming the environment variable."""
    lines = []
    for issue in error.errors():
        names = [str(part) for part in issue["loc"]]
        field = names[0] if names else ""
        alias = _alias_of(field) if field else ""
        message = _PLAIN_MESSAGES.get(issue["type"]) or issue["msg"].removeprefix("Value error, ")
        if alias:
            message = message[:1].lower() + message[1:]  # it follows the variable's name
        if issue["type"] == "missing":
            message = "is required but not set"
        elif issue["type"] != "value_error" and alias not in SECRET_ALIASES:
            message += f", got {issue['input']!r}"
        lines.append(f"{alias} {message}".strip() if alias else message)
    return "; ".join(lines)


def _alias_of(field: str) -> str:
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [alias]
        if field == name or field in names:
            return str(names[0])
    return field
