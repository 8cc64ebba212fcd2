"""The agent API's contract: status codes, errors, idempotency, long-polling."""

import threading
import time
from typing import Any

import pytest

from handlers import blocks
from tests.api_contract import TIMESTAMP
from tests.harness import OTHER_AGENT_TOKEN, BotHarness, invoice


def _nothing_stored_or_posted(bot: BotHarness) -> None:
    from sqlmodel import func, select

    from storage.models import ReviewItem

    time.sleep(0.3)
    with bot.runtime.db.read() as session:
        assert session.exec(select(func.count()).select_from(ReviewItem)).one() == 0
    assert bot.standin.calls_to("chat.postMessage", ok=None) == []


def test_created_item_has_the_fields_agents_rely_on(bot: BotHarness) -> None:
    response = bot.api(
        "POST", "/v1/reviews", json=invoice(external_id="inv-4471", metadata={"model": "gpt-x"})
    )
    assert response.status_code == 201
    item = response.json()
    assert {
        "id",
        "status",
        "route",
        "channel",
        "deadline",
        "workflow",
        "agent",
        "confidence",
        "output",
        "final_output",
        "decision",
        "escalation_level",
        "created_at",
        "decided_at",
    } <= set(item)
    assert item["agent"] == "invoice-bot" and item["metadata"] == {"model": "gpt-x"}
    assert item["created_at"].endswith("Z")
    assert bot.item(item["id"])["id"] == item["id"]


def test_resubmitting_the_same_external_id_returns_the_item_without_posting_again(
    bot: BotHarness,
) -> None:
    first = bot.api("POST", "/v1/reviews", json=invoice(external_id="inv-1"))
    second = bot.api("POST", "/v1/reviews", json=invoice(external_id="inv-1"))
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    other = bot.api(
        "POST", "/v1/reviews", token=OTHER_AGENT_TOKEN, json=invoice(external_id="inv-1")
    )
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    bot.wait_posted(first.json()["id"])
    time.sleep(0.5)
    assert len(bot.posts_of(first.json()["id"])) == 1


def test_concurrent_retries_with_one_external_id_create_one_item(bot: BotHarness) -> None:
    results: list[int] = []
    barrier = threading.Barrier(6)

    def send() -> None:
        barrier.wait()
        results.append(bot.api("POST", "/v1/reviews", json=invoice(external_id="race")).status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] * 5 + [201]
    time.sleep(0.5)
    assert len(bot.standin.calls_to("chat.postMessage")) == 1


# Refused requests leave nothing behind, so the tests below share one bot per backend.
@pytest.mark.parametrize(
    ("headers", "token"),
    [({}, None), ({}, "wrong-token-0123456789"), ({"Authorization": "Basic abc"}, None)],
)
def test_missing_or_wrong_token_is_401(
    shared_bot: BotHarness, headers: dict, token: str | None
) -> None:
    bot = shared_bot
    response = bot.api("POST", "/v1/reviews", token=token, headers=headers, json=invoice())
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    _nothing_stored_or_posted(bot)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": "high"}, "confidence"),
        ({"title": ""}, "title"),
        ({"workflow": None}, "workflow"),
        ({"links": [{"text": "x", "url": "javascript:alert(1)"}]}, "links[0].url"),
        ({"callback_url": "ftp://agent.example/x"}, "callback_url"),
        ({"surprise": 1}, "surprise"),
        ({"context": {"nested": {"a": 1}}}, "context.nested"),
    ],
)
def test_bad_input_is_422_field_by_field(shared_bot: BotHarness, change: dict, field: str) -> None:
    bot = shared_bot
    response = bot.api("POST", "/v1/reviews", json=invoice(**change))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert any(error["field"].startswith(field) for error in body["errors"]), body
    _nothing_stored_or_posted(bot)


def test_missing_required_fields_are_each_named(shared_bot: BotHarness) -> None:
    bot = shared_bot
    response = bot.api("POST", "/v1/reviews", json={"title": "x"})
    assert response.status_code == 422
    named = {error["field"] for error in response.json()["errors"]}
    assert {"workflow", "output", "confidence"} <= named
    _nothing_stored_or_posted(bot)


def test_malformed_json_is_422(shared_bot: BotHarness) -> None:
    bot = shared_bot
    response = bot.api(
        "POST", "/v1/reviews", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    _nothing_stored_or_posted(bot)


def test_body_over_the_limit_is_413(shared_bot: BotHarness) -> None:
    bot = shared_bot
    huge = invoice(metadata={"blob": "z" * 1_100_000})  # the default limit is 1 MiB
    response = bot.api("POST", "/v1/reviews", json=huge)
    assert response.status_code == 413 and response.json()["error"] == "body_too_large"

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b'{"workflow": "ap-invoices", "title": "t", "confidence": 0.5, "output": "'
        for _ in range(300):
            yield b"y" * 4096
        yield b'"}'

    streamed = bot.api(
        "POST", "/v1/reviews", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    _nothing_stored_or_posted(bot)


def test_no_matching_route_is_422(shared_bot: BotHarness) -> None:
    bot = shared_bot
    response = bot.api("POST", "/v1/reviews", json=invoice(workflow="unknown-flow"))
    assert response.status_code == 422
    assert response.json()["error"] == "no_route"
    assert "unknown-flow" in response.json()["message"]
    _nothing_stored_or_posted(bot)


def test_agents_see_only_their_own_items(bot: BotHarness) -> None:
    item = bot.submit()
    other = bot.api("GET", f"/v1/reviews/{item['id']}", token=OTHER_AGENT_TOKEN)
    assert other.status_code == 404
    cancel = bot.api("POST", f"/v1/reviews/{item['id']}/cancel", token=OTHER_AGENT_TOKEN)
    assert cancel.status_code == 404
    assert bot.api("GET", "/v1/reviews/rv_nope").status_code == 404
    assert bot.item(item["id"])["status"] == "pending"


def test_long_poll_returns_as_soon_as_the_item_is_decided(bot: BotHarness) -> None:
    item = bot.submit()
    bot.wait_posted(item["id"])
    decided_at: list[float] = []

    def decide_soon() -> None:
        time.sleep(1.0)
        decided_at.append(time.monotonic())
        bot.click(item["id"], blocks.APPROVE, "U0ALICE")

    threading.Thread(target=decide_soon).start()
    result = bot.item(item["id"], wait=25)
    returned = time.monotonic()
    # A long-poll that ran out would answer "pending": "approved" means it woke on the
    # decision, however long the busy machine took to deliver the click.
    assert result["status"] == "approved"
    assert returned >= decided_at[0]


def test_long_poll_times_out_with_the_pending_item(bot: BotHarness) -> None:
    item = bot.submit()
    started = time.monotonic()
    result = bot.item(item["id"], wait=1)
    assert result["status"] == "pending" and time.monotonic() - started >= 1
    too_long = bot.api("GET", f"/v1/reviews/{item['id']}", params={"wait": 3600})
    assert too_long.status_code == 422


def test_health_metrics_and_openapi(bot: BotHarness) -> None:
    health = bot.api("GET", "/healthz", token=None)
    assert health.status_code == 200 and health.json()["database"] == "ok"
    bot.submit()
    metrics = bot.api("GET", "/metrics", token=None)
    assert metrics.status_code == 200
    assert 'hitl_items_submitted_total{route="invoices",status="pending"} 1.0' in metrics.text
    assert "hitl_items_pending 1.0" in metrics.text
    spec = bot.api("GET", "/openapi.json", token=None).json()
    assert {"/v1/reviews", "/v1/reviews/{item_id}", "/v1/reviews/{item_id}/cancel"} <= set(
        spec["paths"]
    )
    assert "/slack/events" not in spec["paths"]


def test_the_same_external_id_with_a_different_body_is_409_with_the_existing_item(
    bot: BotHarness,
) -> None:
    first = bot.api("POST", "/v1/reviews", json=invoice(external_id="inv-9", confidence=0.5))
    assert first.status_code == 201
    changes: list[dict[str, Any]] = [
        {"confidence": 0.51},
        {"title": "Invoice 9, corrected"},
        {"context": {}},
    ]
    for change in changes:
        again = bot.api("POST", "/v1/reviews", json=invoice(external_id="inv-9", **change))
        assert again.status_code == 409, again.text
        body = again.json()
        assert body["error"] == "external_id_conflict"
        assert "inv-9" in body["message"] and next(iter(change)) in body["message"]
        assert body["item"]["id"] == first.json()["id"]
        assert body["item"]["confidence"] == 0.5
    same = bot.api("POST", "/v1/reviews", json=invoice(external_id="inv-9", confidence=0.5))
    assert same.status_code == 200 and same.json()["id"] == first.json()["id"]
    bot.wait_posted(first.json()["id"])
    time.sleep(0.5)
    assert len(bot.standin.calls_to("chat.postMessage")) == 1


def test_cancelling_twice_answers_200_with_the_item_both_times(bot: BotHarness) -> None:
    item = bot.submit()
    first = bot.api("POST", f"/v1/reviews/{item['id']}/cancel", json={"reason": "withdrawn"})
    second = bot.api("POST", f"/v1/reviews/{item['id']}/cancel", json={"reason": "withdrawn"})
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert second.json()["status"] == "cancelled"
    assert second.json()["decision"] == first.json()["decision"]


def test_cancelling_an_item_decided_otherwise_stays_409(bot: BotHarness) -> None:
    item = bot.submit()
    bot.click(item["id"], blocks.APPROVE, "U0ALICE")
    bot.item(item["id"], wait=10)
    response = bot.api("POST", f"/v1/reviews/{item['id']}/cancel")
    assert response.status_code == 409
    assert response.json()["error"] == "already_decided"
    assert response.json()["item"]["status"] == "approved"


def test_every_timestamp_is_utc_with_milliseconds_and_z(bot: BotHarness) -> None:
    item = bot.submit()
    bot.click(item["id"], blocks.APPROVE, "U0ALICE")
    decided = bot.item(item["id"], wait=10)
    stamps = [item["created_at"], decided["created_at"], decided["decided_at"]]
    stamps.append(decided["decision"]["at"])
    assert all(TIMESTAMP.match(stamp) for stamp in stamps), stamps
    assert decided["created_at"] == item["created_at"]
