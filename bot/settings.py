"""Settings from the environment and `.env`, named as in SPEC."""

import base64
import binascii
from pathlib import Path

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


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


class Settings(StoreSettings):
    """Everything `hitl serve` needs."""

    slack_bot_token: str = Field(validation_alias="SLACK_BOT_TOKEN")  # type: ignore[assignment]
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
    log_level: str = Field("INFO", validation_alias=AliasChoices("HITL_LOG_LEVEL", "LOG_LEVEL"))

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: str) -> str:
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
        raw = value.removeprefix("whsec_")
        try:
            if not base64.b64decode(raw + "==", validate=True):
                raise ValueError("must not be empty")
        except binascii.Error:
            raise ValueError("must be whsec_ followed by base64") from None
        return value

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


def describe_error(error: ValidationError) -> str:
    """One line per bad setting, naming the environment variable."""
    lines = []
    for issue in error.errors():
        names = [str(part) for part in issue["loc"]]
        field = names[0] if names else ""
        alias = _alias_of(field) if field else ""
        message = issue["msg"].removeprefix("Value error, ")
        if issue["type"] == "missing":
            message = "is required but not set"
        lines.append(f"{alias} {message}".strip() if alias else message)
    return "; ".join(lines)


def _alias_of(field: str) -> str:
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [alias]
        if field == name or field in names:
            return str(names[0])
    return field
