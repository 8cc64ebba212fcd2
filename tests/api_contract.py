"""Checks real answers against the published OpenAPI document, as a client generator
would read it: the response schema of (method, path, status), $refs resolved in the
document itself, JSON Schema 2020-12 (what OpenAPI 3.1 uses), formats checked."""

import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def response_schema(document: dict[str, Any], method: str, path: str, status: int) -> dict:
    operation = document["paths"][path][method.lower()]
    responses = operation["responses"]
    assert str(status) in responses, f"{method} {path} does not document {status}"
    return responses[str(status)]["content"]["application/json"]["schema"]


def webhook_schema(document: dict[str, Any], name: str = "review-decided") -> dict:
    operation = document["webhooks"][name]["post"]
    return operation["requestBody"]["content"]["application/json"]["schema"]


def assert_valid(document: dict[str, Any], schema: dict[str, Any], body: Any) -> None:
    # Components sit beside the schema, so `#/components/schemas/X` resolves as published.
    rooted = {**schema, "components": document.get("components", {})}
    validator = Draft202012Validator(rooted, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def assert_answer_documented(
    document: dict[str, Any], method: str, path: str, response: httpx.Response
) -> None:
    """The answer's body fits the schema the document gives for its status code."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    schema = response_schema(document, method, path, response.status_code)
    assert_valid(document, schema, response.json())


class ContractCheck:
    """Checks every JSON answer of a documented /v1 operation against the document the
    server publishes, so each end-to-end test also tests the OpenAPI document."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.document: dict[str, Any] | None = None
        self.templates: list[tuple[re.Pattern[str], str]] = []

    def __call__(self, response: httpx.Response) -> None:
        request = response.request
        path = request.url.path
        is_json = response.headers.get("content-type", "").startswith("application/json")
        if not path.startswith("/v1/") or not is_json:
            return
        if self.document is None:
            self.document = self.http.get("/openapi.json").json()
            self.templates = [
                (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"), template)
                for template in self.document["paths"]
            ]
        method = request.method.lower()
        for pattern, template in self.templates:
            if pattern.match(path) and method in self.document["paths"][template]:
                assert_answer_documented(self.document, method, template, response)
                return
