"""`GET /v1/alerts` and the drift figures of /metrics: what the hourly drift job raised,
read by any agent, filtered, newest first, page by page; counted per workflow and metric.

The rows are inserted directly (the job that writes them is tested on its own)."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import select

from storage.models import AlertStatus, DriftAlert
from tests.harness import AGENT_TOKEN, OTHER_AGENT_TOKEN, make_settings
from tests.inprocess import InProcessBot
from tests.slack_standin import SlackStandIn

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class AlertFactory:
    """Writes drift_alert rows as the drift job does; ids count up so ties are predictable."""

    bot: InProcessBot
    made: int = 0

    def __call__(self, **overrides: Any) -> DriftAlert:
        self.made += 1
        detected = overrides.pop("detected_at", T0 + timedelta(hours=self.made))
        fields: dict[str, Any] = {
            "id": f"al_{self.made:026d}",
            "workflow": "ap-invoices",
            "metric": "rejection",
            "dimension": "prompt_version",
            "value": "v13",
            "status": AlertStatus.CLOSED,
            "began_at": detected - timedelta(hours=5),
            "detected_at": detected,
            "closed_at": detected + timedelta(hours=3),
            "baseline_rate": 0.08,
            "baseline_decided": 1240,
            "recent_rate": 0.21,
            "recent_decided": 340,
            "recent_events": 71,
            "statistic": 15.25,
            "threshold": 13.815510557964274,
            "evidence": [
                {
                    "dimension": "prompt_version",
                    "value": "v13",
                    "metric": "rejection",
                    "statistic": 15.25,
                    "baseline_rate": 0.08,
                    "recent_rate": 0.21,
                    "recent_decided": 340,
                    "recent_events": 71,
                    "began_at": (detected - timedelta(hours=5)).isoformat(),
                    "own_baseline": False,
                }
            ],
            "examples": ["rv_01JD3V6Z7W9X8Y7Z6A5B4C3D2E"],
            "channel": "C0DIGEST",
        }
        fields.update(overrides)
        if fields["status"] == AlertStatus.OPEN and "closed_at" not in overrides:
            fields["closed_at"] = None
        alert = DriftAlert(**fields)
        with self.bot.runtime.db.write() as session:
            session.add(alert)
        return alert

    def close(self, alert_id: str, at: datetime) -> None:
        with self.bot.runtime.db.write() as session:
            alert = session.exec(select(DriftAlert).where(DriftAlert.id == alert_id)).one()
            alert.status, alert.closed_at = AlertStatus.CLOSED, at
            session.add(alert)


def _list(bot: InProcessBot, token: str = AGENT_TOKEN, **params: Any) -> dict[str, Any]:
    response = bot.api("GET", "/v1/alerts", token=token, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _ids(page: dict[str, Any]) -> list[str]:
    return [alert["id"] for alert in page["alerts"]]


def _error(bot: InProcessBot, **params: Any) -> tuple[int, str, set[str]]:
    response = bot.api("GET", "/v1/alerts", params=params)
    body = response.json()
    return response.status_code, body["error"], {e["field"] for e in body.get("errors") or []}


def test_no_alerts_is_an_empty_last_page(hitl: InProcessBot) -> None:
    assert _list(hitl) == {"alerts": [], "next_cursor": None}


def test_an_alert_shows_what_rose_since_when_and_why(hitl: InProcessBot) -> None:
    alert = AlertFactory(hitl)(
        status=AlertStatus.OPEN,
        detected_at=datetime(2026, 11, 23, 13, 0, 2, 500000, tzinfo=UTC),
        began_at=datetime(2026, 11, 23, 8, tzinfo=UTC),
        examples=["rv_01JD3V6Z7W9X8Y7Z6A5B4C3D2E", "rv_01JD3V6Z7W9X8Y7Z6A5B4C3D2F"],
    )
    [shown] = _list(hitl)["alerts"]
    assert shown == {
        "id": alert.id,
        "workflow": "ap-invoices",
        "metric": "rejection",
        "dimension": "prompt_version",
        "value": "v13",
        "status": "open",
        "began_at": "2026-11-23T08:00:00.000Z",
        "detected_at": "2026-11-23T13:00:02.500Z",
        "closed_at": None,
        "baseline": {"rate": 0.08, "decided": 1240},
        "recent": {"rate": 0.21, "decided": 340, "events": 71},
        "statistic": 15.25,
        "threshold": 13.815510557964274,
        "evidence": [
            {
                "dimension": "prompt_version",
                "value": "v13",
                "metric": "rejection",
                "statistic": 15.25,
                "baseline_rate": 0.08,
                "recent_rate": 0.21,
                "recent_decided": 340,
                "recent_events": 71,
                "began_at": "2026-11-23T08:00:02.500Z",
                "own_baseline": False,
            }
        ],
        "examples": ["rv_01JD3V6Z7W9X8Y7Z6A5B4C3D2E", "rv_01JD3V6Z7W9X8Y7Z6A5B4C3D2F"],
        "channel": "C0DIGEST",
    }


def test_filters_by_workflow_status_and_since(hitl: InProcessBot) -> None:
    make = AlertFactory(hitl)
    old = make(detected_at=T0)
    forms = make(workflow="open-forms", metric="edit", detected_at=T0 + timedelta(days=1))
    current = make(status=AlertStatus.OPEN, detected_at=T0 + timedelta(days=2))
    edits = make(metric="edit", status=AlertStatus.OPEN, detected_at=T0 + timedelta(days=3))

    assert _ids(_list(hitl)) == [edits.id, current.id, forms.id, old.id]
    assert _ids(_list(hitl, workflow="ap-invoices")) == [edits.id, current.id, old.id]
    assert _ids(_list(hitl, workflow="no-such-workflow")) == []
    assert _ids(_list(hitl, status="open")) == [edits.id, current.id]
    assert _ids(_list(hitl, status="closed")) == [forms.id, old.id]
    since = (T0 + timedelta(days=1)).isoformat()
    assert _ids(_list(hitl, since=since)) == [edits.id, current.id, forms.id]
    # The same instant in another zone, and `Z`: at or after, whatever the notation.
    assert _ids(_list(hitl, since="2026-11-21T10:00:00+01:00")) == [edits.id, current.id, forms.id]
    assert _ids(_list(hitl, since="2026-11-21T09:00:00.001Z")) == [edits.id, current.id]
    assert _ids(_list(hitl, workflow="ap-invoices", status="closed", since=since)) == []


def test_any_agent_reads_every_workflows_alerts(hitl: InProcessBot) -> None:
    alert = AlertFactory(hitl)()
    assert _ids(_list(hitl)) == _ids(_list(hitl, token=OTHER_AGENT_TOKEN)) == [alert.id]


def test_pages_show_each_alert_exactly_once_newest_first(hitl: InProcessBot) -> None:
    make = AlertFactory(hitl)
    # Three alerts share each detection time (workflows alarm in the same hourly run):
    # the id orders them.
    alerts = [
        make(workflow=f"wf-{n % 3}", detected_at=T0 + timedelta(hours=n // 3)) for n in range(25)
    ]
    expected = [a.id for a in sorted(alerts, key=lambda a: (a.detected_at, a.id), reverse=True)]

    first = _list(hitl, limit=10)
    make(detected_at=T0 + timedelta(days=30))  # raised while paging: on a new first page
    second = _list(hitl, limit=10, cursor=first["next_cursor"])
    third = _list(hitl, limit=10, cursor=second["next_cursor"])
    assert [len(page["alerts"]) for page in (first, second, third)] == [10, 10, 5]
    assert _ids(first) + _ids(second) + _ids(third) == expected
    assert third["next_cursor"] is None

    wf1 = _list(hitl, workflow="wf-1", limit=4)
    rest = _list(hitl, workflow="wf-1", limit=4, cursor=wf1["next_cursor"])
    of_wf1 = {alert.id for alert in alerts if alert.workflow == "wf-1"}
    assert _ids(wf1) + _ids(rest) == [alert_id for alert_id in expected if alert_id in of_wf1]


def test_a_bad_tampered_or_other_listings_cursor_is_422(hitl: InProcessBot) -> None:
    make = AlertFactory(hitl)
    for _ in range(3):
        make()
    cursor = _list(hitl, limit=1)["next_cursor"]
    tampered = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]
    for bad in ("not-a-cursor", tampered, cursor[:-4], "%%%"):
        assert _error(hitl, limit=1, cursor=bad) == (422, "invalid_request", {"cursor"})
    # A cursor continues only the listing it came from.
    assert _error(hitl, limit=1, cursor=cursor, status="closed")[2] == {"cursor"}
    assert _error(hitl, limit=1, cursor=cursor, workflow="ap-invoices")[2] == {"cursor"}
    for n in range(2):
        hitl.submit(title=f"Invoice {n}")
    reviews = hitl.api("GET", "/v1/reviews", params={"limit": 1}).json()["next_cursor"]
    assert _error(hitl, limit=1, cursor=reviews) == (422, "invalid_request", {"cursor"})
    alerts_cursor = hitl.api("GET", "/v1/reviews", params={"limit": 1, "cursor": cursor})
    assert alerts_cursor.status_code == 422


def test_bad_parameters_are_422_naming_them(hitl: InProcessBot) -> None:
    for limit in (0, 201, -1, "ten"):
        assert _error(hitl, limit=limit) == (422, "invalid_request", {"limit"})
    assert _error(hitl, status="maybe") == (422, "invalid_request", {"status"})
    assert _error(hitl, workflow="w" * 201) == (422, "invalid_request", {"workflow"})
    # `since` must say its zone: a time without one is ambiguous.
    for since in ("yesterday", "2026-11-20T10:00:00", "2026-13-40T10:00:00Z"):
        assert _error(hitl, since=since) == (422, "invalid_request", {"since"})
    assert _ids(_list(hitl, limit=200)) == []


def test_no_token_or_a_wrong_one_is_401(hitl: InProcessBot) -> None:
    AlertFactory(hitl)()
    for token in (None, "not-a-valid-token-000000"):
        response = hitl.api("GET", "/v1/alerts", token=token)
        assert response.status_code == 401
        assert response.json()["error"] == "unauthorized"


@pytest.fixture
def sqlite_bot(tmp_path: Path, standin: SlackStandIn, rules_path: Path) -> Iterator[InProcessBot]:
    settings = make_settings(f"sqlite:///{tmp_path / 'hitl.db'}", standin, rules_path)
    harness = InProcessBot(settings, standin).start()
    try:
        yield harness
    finally:
        harness.stop()


def test_a_database_that_cannot_be_opened_is_503_not_500(
    sqlite_bot: InProcessBot, tmp_path: Path
) -> None:
    AlertFactory(sqlite_bot)()
    assert len(_list(sqlite_bot)["alerts"]) == 1
    sqlite_bot.runtime.db.dispose()
    for path in tmp_path.glob("hitl.db*"):
        path.unlink()
    (tmp_path / "hitl.db").mkdir()  # the file is gone and cannot be created again
    response = sqlite_bot.api("GET", "/v1/alerts")
    assert response.status_code == 503
    assert response.json()["error"] == "database_unavailable"
    assert response.headers["Retry-After"]


def _samples(bot: InProcessBot, name: str) -> dict[tuple[str, str], float]:
    response = bot.http.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.labels["workflow"], sample.labels["metric"]): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name
    }


def test_metrics_count_alerts_and_show_which_are_open(hitl: InProcessBot) -> None:
    assert _samples(hitl, "hitl_drift_alerts_total") == {}
    assert _samples(hitl, "hitl_drift_alerts_open") == {}

    make = AlertFactory(hitl)
    make()
    make()
    ongoing = make(status=AlertStatus.OPEN)
    make(metric="edit", status=AlertStatus.OPEN)
    make(workflow="open-forms")
    assert _samples(hitl, "hitl_drift_alerts_total") == {
        ("ap-invoices", "rejection"): 3.0,
        ("ap-invoices", "edit"): 1.0,
        ("open-forms", "rejection"): 1.0,
    }
    assert _samples(hitl, "hitl_drift_alerts_open") == {
        ("ap-invoices", "rejection"): 1.0,
        ("ap-invoices", "edit"): 1.0,
        ("open-forms", "rejection"): 0.0,
    }

    make.close(ongoing.id, at=T0 + timedelta(days=1))
    assert _samples(hitl, "hitl_drift_alerts_open")[("ap-invoices", "rejection")] == 0.0
    assert _samples(hitl, "hitl_drift_alerts_total")[("ap-invoices", "rejection")] == 3.0
    assert _ids(_list(hitl, status="open")) == [f"al_{4:026d}"]


def test_the_openapi_document_lists_the_route(hitl: InProcessBot) -> None:
    document = hitl.http.get("/openapi.json").json()
    operation = document["paths"]["/v1/alerts"]["get"]
    assert operation["operationId"] == "list_alerts"
    assert operation["security"] == [{"bearer": []}]
    parameters = {parameter["name"] for parameter in operation["parameters"]}
    assert parameters == {"workflow", "status", "since", "limit", "cursor"}
    assert {"401", "422", "503"} <= set(operation["responses"])
    for status in ("401", "422", "503"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorOut"}
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/AlertListOut"}
    # Every answer these tests get is also checked against this document (ContractCheck).
