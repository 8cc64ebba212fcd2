"""A click is acknowledged only after its decision is committed, or the reviewer is told it
did not take: over HTTP and in Socket Mode, with a database that really goes away."""

import contextlib
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from handlers import blocks
from tests import private_postgres
from tests.harness import BotHarness, make_settings, reject_values
from tests.private_postgres import PrivatePostgres
from tests.slack_payloads import view_submission
from tests.slack_standin import SlackStandIn

# Every database here is migrated by the bot it is started for.
pytestmark = pytest.mark.migrated_database


@pytest.fixture(params=["http", "socket_mode"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _start(database_url: str, standin: SlackStandIn, rules_path: Path, mode: str) -> BotHarness:
    extra = {}
    if mode == "socket_mode":
        extra = {"slack_app_token": standin.app_token, "slack_signing_secret": None}
    harness = BotHarness(make_settings(database_url, standin, rules_path, **extra), standin)
    harness.start()
    if mode == "socket_mode":
        standin.wait_for(lambda s: s.socket_connected, timeout=10)
    return harness


@pytest.fixture
def running(
    database_url: str, standin: SlackStandIn, rules_path: Path, mode: str
) -> Iterator[BotHarness]:
    harness = _start(database_url, standin, rules_path, mode)
    try:
        yield harness
    finally:
        harness.stop()


def _approve(harness: BotHarness, item_id: str, user: str, mode: str) -> None:
    """Clicks Approve and returns once Slack got its acknowledgement."""
    if mode == "http":
        response = harness.click(item_id, blocks.APPROVE, user)
        assert response.status_code == 200, response.text
        return
    payload = harness.click_payload(item_id, blocks.APPROVE, user)
    envelope = harness.standin.send_socket_envelope("interactive", payload)
    assert harness.standin.wait_socket_ack(envelope, timeout=10)["envelope_id"] == envelope


def _reject(harness: BotHarness, item_id: str, user: str, reason: str, mode: str) -> Any:
    """Submits the Reject modal; returns what the acknowledgement asks Slack to show."""
    values = reject_values(reason)
    if mode == "http":
        response = harness.submit_view(blocks.REJECT_CALLBACK, item_id, user, values)
        assert response.status_code == 200, response.text
        return response.json() if response.text else {}
    payload = view_submission(
        user_id=user, callback_id=blocks.REJECT_CALLBACK, private_metadata=item_id,
        state_values=values,
    )  # fmt: skip
    envelope = harness.standin.send_socket_envelope("interactive", payload)
    return harness.standin.wait_socket_ack(envelope, timeout=10).get("payload") or {}


def test_the_acknowledgement_comes_after_the_commit(running: BotHarness, mode: str) -> None:
    item = running.submit()
    _approve(running, item["id"], "U0ALICE", mode)
    # No waiting: by the time Slack has its answer, the decision is in the database.
    decided = running.item(item["id"])
    assert decided["status"] == "approved" and decided["decision"]["by"] == "U0ALICE"
    if mode == "socket_mode":
        # HTTP mode's endpoint is not exposed: Socket Mode has no signatures to check.
        assert running.api("POST", "/slack/events", token=None).status_code in (404, 405)


def test_a_malformed_payload_in_socket_mode_is_acknowledged_and_decides_nothing(
    database_url: str,
    standin: SlackStandIn,
    rules_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = _start(database_url, standin, rules_path, "socket_mode")
    try:
        item = harness.submit(workflow="open-questions")  # anyone may decide here
        payload = harness.click_payload(item["id"], blocks.APPROVE, "U0ALICE")
        payload["user"]["id"] = ["U0ALICE"]
        with caplog.at_level(logging.WARNING):
            envelope = standin.send_socket_envelope("interactive", payload)
            assert standin.wait_socket_ack(envelope, timeout=10)["envelope_id"] == envelope
        assert "refused a malformed Slack payload: user.id" in caplog.text
        # No waiting: a listener acknowledges only after its decision is committed (above).
        assert harness.item(item["id"])["status"] == "pending"
        assert standin.calls_to("chat.update") == []
    finally:
        harness.stop()


def _status_once_back(harness: BotHarness, item_id: str, timeout: float = 30) -> str:
    """The item's status as soon as the API reaches the restarted database again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = harness.api("GET", f"/v1/reviews/{item_id}")
            if response.status_code == 200:
                return str(response.json()["status"])
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"the API did not recover within {timeout}s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    """One PostgreSQL server of this module's own, for both modes below (each test has its
    own database in it, and leaves the server running)."""
    if not private_postgres.available():
        pytest.skip("no PostgreSQL binaries")
    with PrivatePostgres() as pg:
        yield pg


def test_a_click_while_the_database_is_down_is_told_it_did_not_take(
    private_pg: PrivatePostgres, standin: SlackStandIn, rules_path: Path, mode: str
) -> None:
    pg = private_pg
    url = pg.create_database(f"hitl_{mode}")
    harness = _start(url, standin, rules_path, mode)
    try:
        item = harness.submit()
        harness.wait_posted(item["id"])
        # A clean stop: this private server runs with synchronous_commit=off, so an
        # immediate one could lose the item itself, which is not what is tested here.
        pg.stop(mode="fast")
        _approve(harness, item["id"], "U0ALICE", mode)  # acknowledged, not a Slack error
        standin.wait_for(
            lambda s: any("did not take" in t for t in harness.ephemerals_to("U0ALICE")),
            timeout=15,
        )
        told = next(t for t in harness.ephemerals_to("U0ALICE") if "did not take" in t)
        assert "Nothing was changed" in told and "try again" in told
        shown = _reject(harness, item["id"], "U0ALICE", "duplicate", mode)
        assert shown["response_action"] == "errors"  # shown in the modal, still open
        assert "did not take" in shown["errors"][blocks.REASON_BLOCK]
        pg.start()
        assert _status_once_back(harness, item["id"]) == "pending"
        assert standin.calls_to("chat.update") == []
        # Once the database is back, the same click decides.
        _approve(harness, item["id"], "U0ALICE", mode)
        assert harness.item(item["id"])["status"] == "approved"
    finally:
        harness.stop()
        with contextlib.suppress(subprocess.CalledProcessError):
            pg.start()  # for the next test, should this one have failed while it was down
