"""`GET /v1/reviews`: an agent lists its own items, filtered, newest first, page by page."""

from typing import Any

import pytest

from tests.harness import OTHER_AGENT_TOKEN, BotHarness


def _list(bot: BotHarness, token: str | None = None, **params: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"params": params}
    if token is not None:
        kwargs["token"] = token
    response = bot.api("GET", "/v1/reviews", **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def _ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["items"]]


def _error_fields(bot: BotHarness, **params: Any) -> tuple[int, str, set[str]]:
    response = bot.api("GET", "/v1/reviews", params=params)
    body = response.json()
    return response.status_code, body["error"], {e["field"] for e in body.get("errors") or []}


def test_an_agent_sees_only_its_own_items_newest_first(bot: BotHarness) -> None:
    mine = [bot.submit(title=f"Invoice {n}")["id"] for n in range(3)]
    theirs = bot.submit(token=OTHER_AGENT_TOKEN)["id"]

    page = _list(bot)
    assert _ids(page) == mine[::-1]
    assert page["next_cursor"] is None
    assert page["items"][0]["title"] == "Invoice 2" and page["items"][0]["status"] == "pending"
    assert _ids(_list(bot, token=OTHER_AGENT_TOKEN)) == [theirs]


def test_filters_by_status_workflow_route_and_since(bot: BotHarness) -> None:
    first = bot.submit()
    second = bot.submit(workflow="open-forms", title="A form")
    third = bot.submit()
    cancelled = bot.api("POST", f"/v1/reviews/{third['id']}/cancel", json={"reason": "paid"})
    assert cancelled.status_code == 200

    assert _ids(_list(bot, status="cancelled")) == [third["id"]]
    assert _ids(_list(bot, status="pending")) == [second["id"], first["id"]]
    assert _ids(_list(bot, workflow="open-forms")) == [second["id"]]
    assert _ids(_list(bot, route="invoices")) == [third["id"], first["id"]]
    assert _ids(_list(bot, route="invoices", status="pending")) == [first["id"]]
    assert _ids(_list(bot, since=second["created_at"])) == [third["id"], second["id"]]
    listed = _list(bot, status="cancelled")["items"][0]
    assert listed["decision"]["action"] == "cancel" and listed["decision"]["note"] == "paid"


def test_pages_follow_the_cursor_and_items_added_meanwhile_shift_nothing(
    bot: BotHarness,
) -> None:
    ids = [bot.submit(title=f"Invoice {n}")["id"] for n in range(5)]
    first = _list(bot, limit=2)
    assert _ids(first) == [ids[4], ids[3]] and first["next_cursor"]

    newer = bot.submit(title="Arrived while paging")["id"]
    second = _list(bot, limit=2, cursor=first["next_cursor"])
    assert _ids(second) == [ids[2], ids[1]]
    third = _list(bot, limit=2, cursor=second["next_cursor"])
    assert _ids(third) == [ids[0]] and third["next_cursor"] is None
    assert _ids(_list(bot, limit=1)) == [newer]


def test_paging_keeps_its_filters(bot: BotHarness) -> None:
    forms = [bot.submit(workflow="open-forms", title=f"Form {n}")["id"] for n in range(3)]
    bot.submit()
    first = _list(bot, workflow="open-forms", limit=2)
    second = _list(bot, workflow="open-forms", limit=2, cursor=first["next_cursor"])
    assert _ids(first) + _ids(second) == forms[::-1]


@pytest.mark.parametrize("limit", [0, 201, -1])
def test_limit_outside_1_to_200_is_422(bot: BotHarness, limit: int) -> None:
    assert _error_fields(bot, limit=limit) == (422, "invalid_request", {"limit"})


def test_limit_of_200_is_accepted(bot: BotHarness) -> None:
    item = bot.submit()
    assert _ids(_list(bot, limit=200)) == [item["id"]]


def test_a_bad_or_tampered_cursor_is_422(bot: BotHarness) -> None:
    for n in range(3):
        bot.submit(title=f"Invoice {n}")
    cursor = _list(bot, limit=1)["next_cursor"]
    tampered = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]
    for bad in ("not-a-cursor", tampered, cursor[:-4], "%%%"):
        assert _error_fields(bot, limit=1, cursor=bad) == (422, "invalid_request", {"cursor"})
    # A cursor continues only the listing it came from: other filters, or another agent.
    assert _error_fields(bot, limit=1, cursor=cursor, workflow="open-forms")[2] == {"cursor"}
    other = bot.api(
        "GET", "/v1/reviews", token=OTHER_AGENT_TOKEN, params={"limit": 1, "cursor": cursor}
    )
    assert other.status_code == 422


def test_unknown_status_is_422_and_no_token_is_401(bot: BotHarness) -> None:
    assert _error_fields(bot, status="maybe") == (422, "invalid_request", {"status"})
    assert bot.api("GET", "/v1/reviews", token=None).status_code == 401
