"""The agent API's boundary under hostile input and a failing database: every refusal is a
clear 4xx in the error shape with nothing stored or posted, never a 5xx; while the
database is down every /v1 route answers 503 with Retry-After."""

import json
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from bot import strict_json
from storage.models import OutboxMessage, ReviewItem
from tests import private_postgres
from tests.api_contract import assert_answer_documented
from tests.harness import BotHarness, invoice, make_settings
from tests.private_postgres import PrivatePostgres
from tests.slack_standin import SlackStandIn


def _count(bot: BotHarness, table: type) -> int:
    with bot.runtime.db.read() as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def _post_raw(bot: BotHarness, body: bytes) -> httpx.Response:
    return bot.api(
        "POST", "/v1/reviews", content=body, headers={"Content-Type": "application/json"}
    )


def _nested(depth: int) -> Any:
    """A value with `depth` levels of objects and arrays."""
    value: Any = "leaf"
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


def _invoice_json(**overrides: Any) -> bytes:
    return json.dumps(invoice(**overrides)).encode()


HOSTILE_BODIES: dict[str, bytes] = {
    "confidence true": _invoice_json(confidence=True),
    "confidence as a string": _invoice_json(confidence="0.7"),
    "confidence NaN": _invoice_json().replace(b"0.62", b"NaN"),
    "NaN in context": _invoice_json(context={"amount": float("nan")}),
    "Infinity in metadata": _invoice_json(metadata={"cost": float("inf")}),
    "-Infinity in metadata": _invoice_json(metadata={"cost": float("-inf")}),
    "a number too large for a float": _invoice_json().replace(b"0.62", b"1e400"),
    "NUL in the title": _invoice_json(title="Invoice\u0000 4471"),
    "NUL in a context key": _invoice_json(context={"ven\u0000dor": "ACME"}),
    "lone surrogate in context": _invoice_json(context={"vendor": "AC\ud800ME"}),
    "lone surrogate in metadata": _invoice_json(metadata={"notes": ["\udfff"]}),
    "lone surrogate in a link's text": _invoice_json(
        links=[{"text": "P\ud83dDF", "url": "https://files.example.com/4471.pdf"}]
    ),
    "metadata 33 levels deep": _invoice_json(metadata={"deep": _nested(31)}),
    "metadata 300 levels deep": _invoice_json(metadata={"deep": _nested(300)}),
    "metadata 100000 levels deep": b'{"metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "a key twice": b'{"workflow": "ap-invoices", "workflow": "payments"}',
    "not UTF-8": b'{"workflow": "\xff\xfe"}',
    "a bare string": b'"hello"',
    "truncated": _invoice_json()[:-5],
    "links not a list": _invoice_json(links={"text": "x"}),
    "callback_url a number": _invoice_json(callback_url=42),
    "external_id a number": _invoice_json(external_id=4471),
}


def test_hostile_bodies_are_422_with_nothing_stored_or_posted(bot: BotHarness) -> None:
    for case, hostile in HOSTILE_BODIES.items():
        response = _post_raw(bot, hostile)
        assert response.status_code == 422, (case, response.text)
        body = response.json()
        assert body["error"] == "invalid_request" and body["errors"], (case, body)
        assert _count(bot, ReviewItem) == 0 and _count(bot, OutboxMessage) == 0, case
    time.sleep(0.5)  # a post, had one been queued, would be on its way by now
    assert bot.standin.calls_to("chat.postMessage", ok=None) == []


def test_the_error_names_where_the_bad_value_is(bot: BotHarness) -> None:
    surrogate = _post_raw(bot, HOSTILE_BODIES["lone surrogate in context"]).json()
    assert surrogate["errors"][0]["field"] == "context.vendor"
    assert "surrogate" in surrogate["errors"][0]["message"]
    nan = _post_raw(bot, HOSTILE_BODIES["NaN in context"]).json()
    assert "NaN" in nan["errors"][0]["message"]
    confidence = _post_raw(bot, HOSTILE_BODIES["confidence true"]).json()
    assert [error["field"] for error in confidence["errors"]] == ["confidence"]


def test_nesting_up_to_32_levels_is_accepted_and_returned_as_sent(bot: BotHarness) -> None:
    deepest = {"deep": _nested(30)}  # body (1) > metadata (2) > 30 more levels = 32
    response = bot.api("POST", "/v1/reviews", json=invoice(metadata=deepest))
    assert response.status_code == 201, response.text
    assert bot.item(response.json()["id"])["metadata"] == deepest


def test_a_confidence_of_true_never_auto_approves(bot: BotHarness) -> None:
    """The exploit: `true` was read as 1.0 and approved without a person."""
    response = _post_raw(bot, _invoice_json(workflow="auto-pay", confidence=True))
    assert response.status_code == 422
    assert _count(bot, ReviewItem) == 0


# Property: whatever the body, never a 5xx, and a refusal leaves no row and no post. ------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()  # NaN and ±Infinity included
    | st.text(st.characters(exclude_categories=()), max_size=12)  # NUL and surrogates too
)
_json_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=12,
)
_deep = st.integers(min_value=25, max_value=60).map(_nested)
_fields: dict[str, st.SearchStrategy[Any]] = {
    "workflow": st.sampled_from(["ap-invoices", "auto-pay", "open-desk", "nowhere"]) | _scalars,
    "title": st.just("Invoice 4471") | _scalars,
    "output": st.just("Booked to 6300.") | _scalars,
    "confidence": st.floats(min_value=0, max_value=1) | _scalars,
    "context": st.dictionaries(st.text(max_size=8), _scalars, max_size=3) | _json_values,
    "links": st.just([{"text": "PDF", "url": "https://files.example.com/1.pdf"}]) | _json_values,
    "external_id": st.sampled_from(["ext-1", "ext-2", None]) | _scalars,
    # Loopback only: a test never sends traffic to another address.
    "callback_url": st.sampled_from(["https://agent.example.com/hook", "http://127.0.0.1:9/"])
    | _scalars,
    "metadata": st.dictionaries(st.text(max_size=5), _json_values, max_size=3) | _deep,
}
_REQUIRED = ("workflow", "title", "output", "confidence")
_bodies = st.one_of(
    st.fixed_dictionaries(
        {name: _fields[name] for name in _REQUIRED},
        optional={name: _fields[name] for name in _fields if name not in _REQUIRED},
    ),
    _json_values,
).map(lambda value: json.dumps(value).encode())  # NaN, Infinity, "\ud800" as Python writes
_raw_bodies = _bodies | st.binary(max_size=64)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=_raw_bodies)
def test_no_body_ever_yields_a_5xx_or_a_partial_write(bot: BotHarness, body: bytes) -> None:
    items_before = _count(bot, ReviewItem)
    rows_before = _count(bot, OutboxMessage)
    response = _post_raw(bot, body)
    assert response.status_code < 500, response.text
    answer = response.json()
    if response.status_code in (200, 201):
        assert answer["id"].startswith("rv_")
        assert _count(bot, ReviewItem) == items_before + (response.status_code == 201)
    else:
        assert {"error", "message"} <= set(answer), answer
        assert _count(bot, ReviewItem) == items_before
        assert _count(bot, OutboxMessage) == rows_before
        assert bot.api("GET", "/v1/reviews/rv_nothing").status_code == 404


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(item_id=st.text(st.characters(exclude_categories=()), min_size=1, max_size=120))
def test_no_item_id_in_a_path_yields_a_5xx(bot: BotHarness, item_id: str) -> None:
    quoted = quote(item_id.encode("utf-8", "surrogatepass"), safe="")
    for method, path in (
        ("GET", f"/v1/reviews/{quoted}"),
        ("POST", f"/v1/reviews/{quoted}/cancel"),
    ):
        response = bot.api(method, path)
        assert response.status_code < 500, (path, response.text)
        if response.status_code >= 400:  # `/` and `..` may route elsewhere, or redirect
            assert {"error", "message"} <= set(response.json()), (path, response.text)


def test_posts_match_accepted_items_after_hostile_traffic(bot: BotHarness) -> None:
    """Refused bodies reach Slack neither: one post per item that needs a person."""
    for case in HOSTILE_BODIES:
        _post_raw(bot, HOSTILE_BODIES[case])
    accepted = [bot.submit(external_id=f"ok-{n}")["id"] for n in range(3)]
    for item_id in accepted:
        bot.wait_posted(item_id)
    time.sleep(0.5)
    posts = bot.standin.calls_to("chat.postMessage", ok=None)
    assert len(posts) == len(accepted)


# The database down -------------------------------------------------------------------


pytestmark_pg = pytest.mark.skipif(
    not private_postgres.available(), reason="no PostgreSQL binaries for a private server"
)


@pytestmark_pg
@pytest.mark.postgres
def test_every_v1_route_answers_503_with_retry_after_while_the_database_is_down(
    standin: SlackStandIn, rules_path: Path
) -> None:
    with PrivatePostgres() as pg:
        url = pg.create_database("hitl_api_down")
        bot = BotHarness(make_settings(url, standin, rules_path), standin).start()
        try:
            item = bot.submit()
            document = bot.api("GET", "/openapi.json", token=None).json()
            # "fast": the private server runs with synchronous_commit=off, so an immediate
            # stop may lose the last commits, which is not what this test is about.
            pg.stop("fast")
            calls: list[tuple[str, str, str, dict[str, Any]]] = [
                ("POST", "/v1/reviews", "/v1/reviews", {"json": invoice(external_id="x")}),
                ("GET", f"/v1/reviews/{item['id']}", "/v1/reviews/{item_id}", {}),
                (
                    "GET",
                    f"/v1/reviews/{item['id']}",
                    "/v1/reviews/{item_id}",
                    {"params": {"wait": 2}},
                ),
                (
                    "POST",
                    f"/v1/reviews/{item['id']}/cancel",
                    "/v1/reviews/{item_id}/cancel",
                    {},
                ),
            ]
            for method, path, template, kwargs in calls:
                response = bot.api(method, path, **kwargs)
                assert response.status_code == 503, (method, path, response.text)
                assert response.json()["error"] == "database_unavailable"
                assert int(response.headers["retry-after"]) > 0
                assert_answer_documented(document, method, template, response)
            # Bad input is still told as bad input, with the database down.
            assert bot.api("POST", "/v1/reviews", json=invoice(title="")).status_code == 422
            pg.start()
            again = _wait_for_status(bot, 201, json=invoice(external_id="after"))
            assert bot.item(again["id"])["status"] == "pending"
            assert bot.item(item["id"])["status"] == "pending"
        finally:
            bot.stop()


def _wait_for_status(bot: BotHarness, status: int, **kwargs: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        response = bot.api("POST", "/v1/reviews", **kwargs)
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            return response.json()
        assert response.status_code == 503, response.text
        time.sleep(0.2)


# The strict parser on its own (no server) ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"emoji": "\\ud83d\\ude00"}',  # a surrogate pair is one character: fine
        '{"path": "C:\\\\u0000dir"}',  # an escaped backslash, then the letters u0000
        '{"brackets": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',  # text, not nesting
        '{"quote": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
        '{"big": 1e308, "small": -1e-320, "int": 123456789012345678901234567890}',
    ],
)
def test_the_strict_parser_accepts_what_only_looks_hostile(text: str) -> None:
    value, problem = strict_json.parse(text.encode())
    assert problem is None and value == json.loads(text)


def test_the_strict_parser_counts_nesting_from_the_body() -> None:
    for depth in (31, 32, 33, 34, 900):
        _value, problem = strict_json.parse(json.dumps(_nested(depth)).encode())
        assert (problem is None) == (depth <= strict_json.MAX_DEPTH), depth


def test_a_locked_sqlite_database_is_503_then_recovers(
    standin: SlackStandIn, rules_path: Path, tmp_path: Path
) -> None:
    """Another process holds SQLite's write lock longer than the busy timeout."""
    path = tmp_path / "locked.db"
    settings = make_settings(
        f"sqlite:///{path}", standin, rules_path, sqlite_busy_timeout_seconds=1
    )
    bot = BotHarness(settings, standin).start()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        response = bot.api("POST", "/v1/reviews", json=invoice())
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "database_unavailable"
        assert int(response.headers["retry-after"]) > 0
        holder.execute("ROLLBACK")
        created = _wait_for_status(bot, 201, json=invoice())
        bot.wait_posted(created["id"])
    finally:
        holder.close()
        bot.stop()
