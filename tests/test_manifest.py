"""The manifest a user pastes into Slack must be one Slack accepts."""

import json
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parent.parent
# Vendored (MIT, licence beside it): the tests read nothing outside the repository.
SCHEMA = ROOT / "tests" / "schemas" / "manifest.schema.1.0.0.json"


def _manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_validates_against_slacks_schema() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(_manifest(), schema)


def test_manifest_has_what_the_bot_uses() -> None:
    manifest = _manifest()
    assert manifest["_metadata"]["major_version"] == 1
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "im:write"} <= scopes
    assert manifest["features"]["bot_user"]["display_name"]


def test_schema_rejects_a_broken_manifest() -> None:
    # Guards the test above: the schema really is strict about unknown keys.
    broken = _manifest() | {"unknown_section": {}}
    schema = json.loads(SCHEMA.read_text())
    try:
        jsonschema.validate(broken, schema)
    except jsonschema.ValidationError:
        return
    raise AssertionError("an unknown top-level key was accepted")


def test_manifest_declares_the_reviewers_queue() -> None:
    """The Home tab, `/hitl`, the events the queue listens to and their scopes."""
    manifest = _manifest()
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    commands = {entry["command"] for entry in manifest["features"]["slash_commands"]}
    assert "/hitl" in commands
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_home_opened", "message.channels", "message.groups", "message.im"} <= events
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # `commands` for /hitl; each message.* event needs its history scope.
    assert {"commands", "channels:history", "groups:history", "im:history"} <= scopes
