"""The published OpenAPI document is valid 3.1, usable by a client generator and Swagger's
"Try it out", and true: real answers from an end-to-end run satisfy it."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import validate

from handlers import blocks
from tests.api_contract import (
    TIMESTAMP,
    assert_answer_documented,
    assert_valid,
    webhook_schema,
)
from tests.callback_receiver import CallbackReceiver
from tests.harness import BotHarness, invoice

V1_OPERATIONS = [
    ("post", "/v1/reviews"),
    ("get", "/v1/reviews/{item_id}"),
    ("post", "/v1/reviews/{item_id}/cancel"),
    ("get", "/v1/reviews"),
    ("get", "/v1/alerts"),
]


@pytest.fixture
def document(bot: BotHarness) -> dict[str, Any]:
    response = bot.api("GET", "/openapi.json", token=None)
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver().start()
    yield server
    server.stop()


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on any violation of the OpenAPI 3.1 schema


def test_v1_routes_need_a_bearer_token(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    for method, path in V1_OPERATIONS:
        assert document["paths"][path][method]["security"] == [{"bearer": []}], path
    operation_ids = {
        document["paths"][path][method]["operationId"] for method, path in V1_OPERATIONS
    }
    assert operation_ids == {
        "submit_review",
        "get_review",
        "cancel_review",
        "list_reviews",
        "list_alerts",
    }  # for generators
    assert "security" not in document["paths"]["/healthz"]["get"]


def test_every_error_answer_has_the_error_shape(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    assert "HTTPValidationError" not in text and '"detail"' not in text
    expected = {
        ("post", "/v1/reviews"): {"401", "409", "413", "422", "503"},
        ("get", "/v1/reviews/{item_id}"): {"401", "404", "422", "503"},
        ("post", "/v1/reviews/{item_id}/cancel"): {"401", "404", "409", "422", "503"},
        ("get", "/v1/reviews"): {"401", "422", "503"},
        ("get", "/v1/alerts"): {"401", "422", "503"},
    }
    for method, path in V1_OPERATIONS:
        responses = document["paths"][path][method]["responses"]
        errors = {status for status in responses if status.startswith(("4", "5"))}
        assert expected[method, path] <= errors, (path, errors)
        for status in errors:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (path, status)
        assert "Retry-After" in responses["503"]["headers"]


def _has_example(schema: dict[str, Any]) -> bool:
    """An example on the field, on its type, or on what it refers to or holds."""
    if {"examples", "example", "$ref"} & set(schema):
        return True
    variants = [*schema.get("anyOf", []), *schema.get("oneOf", []), *schema.get("allOf", [])]
    if "items" in schema:
        variants.append(schema["items"])
    return any(_has_example(variant) for variant in variants)


def test_every_field_has_a_description_and_an_example(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert {"ReviewRequest", "ReviewOut", "ErrorOut", "FieldError", "DecisionOut"} <= set(schemas)
    for name, schema in schemas.items():
        for field, field_schema in schema.get("properties", {}).items():
            assert field_schema.get("description"), f"{name}.{field} has no description"
            assert _has_example(field_schema), f"{name}.{field} has no example"


def test_the_callback_is_described_under_webhooks(document: dict[str, Any]) -> None:
    operation = document["webhooks"]["review-decided"]["post"]
    headers = {
        parameter["name"]: parameter
        for parameter in operation["parameters"]
        if parameter["in"] == "header"
    }
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert all(header["description"] for header in headers.values())
    assert headers["webhook-id"]["required"] and headers["webhook-timestamp"]["required"]
    schema = webhook_schema(document)
    assert (
        schema
        == document["paths"]["/v1/reviews/{item_id}"]["get"]["responses"]["200"]["content"][
            "application/json"
        ]["schema"]
    )


def test_docs_work_without_internet(bot: BotHarness) -> None:
    page = bot.api("GET", "/docs", token=None)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "cdn." not in page.text and "https://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        url = f"/docs/assets/{asset}"
        assert url in page.text
        served = bot.api("GET", url, token=None)
        assert served.status_code == 200 and len(served.content) > 10_000, asset


def test_real_answers_satisfy_the_document(
    bot: BotHarness, document: dict[str, Any], receiver: CallbackReceiver
) -> None:
    def check(method: str, template: str, path: str, status: int, **kwargs: Any) -> dict:
        response = bot.api(method, path, **kwargs)
        assert response.status_code == status, response.text
        assert_answer_documented(document, method, template, response)
        return response.json()

    reviews, one, cancel = "/v1/reviews", "/v1/reviews/{item_id}", "/v1/reviews/{item_id}/cancel"
    body = invoice(external_id="inv-1", callback_url=receiver.url, metadata={"model": "x"})
    item = check("POST", reviews, reviews, 201, json=body)
    check("POST", reviews, reviews, 200, json=body)
    check("POST", reviews, reviews, 409, json={**body, "title": "Another invoice"})
    check("POST", reviews, reviews, 201, json=invoice(workflow="auto-pay", confidence=0.95))
    check("POST", reviews, reviews, 401, json=body, token="not-a-valid-token-000000")
    check("POST", reviews, reviews, 422, json=invoice(confidence="0.7"))
    check("POST", reviews, reviews, 422, content=b'{"confidence": NaN}')
    check("POST", reviews, reviews, 422, json=invoice(workflow="unrouted"))
    check("POST", reviews, reviews, 413, json=invoice(metadata={"blob": "z" * 1_100_000}))
    path = f"/v1/reviews/{item['id']}"
    check("GET", one, path, 200)
    check("GET", one, path, 200, params={"wait": 0.5})
    check("GET", one, path, 422, params={"wait": 3600})
    check("GET", one, "/v1/reviews/rv_unknown", 404)
    bot.click(item["id"], blocks.APPROVE, "U0ALICE")
    decided = check("GET", one, path, 200, params={"wait": 10})
    assert decided["status"] == "approved"
    check("POST", cancel, f"{path}/cancel", 409, json={"reason": "too late"})
    check("POST", cancel, f"{path}/cancel", 422, json={"reason": 5})
    pending = check("POST", reviews, reviews, 201, json=invoice())
    cancel_path = f"/v1/reviews/{pending['id']}/cancel"
    check("POST", cancel, cancel_path, 200, json={"reason": "withdrawn"})
    check("POST", cancel, cancel_path, 200)
    bot.standin.wait_for(lambda _s: bool(receiver.successful()), timeout=15)
    callback = receiver.successful()[0]
    assert_valid(document, webhook_schema(document), callback.json)
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(callback.headers)
    assert TIMESTAMP.match(callback.json["decision"]["at"])
