"""How long a reviewer's App Home takes when 1,000 items wait for them.

    .venv/bin/python -m benchmarks.home_render --items 1000 --backend sqlite
    .venv/bin/python -m benchmarks.home_render --items 1000 --backend postgres

A database holds `--items` pending items the reviewers may decide and half as many of a
route they may not (the Home must leave those out), each posted to the Slack stand-in by
a real `hitl serve`. Reported:

- render: reading the person's queue and building the Home (commands.queue.home_state +
  handlers.home_blocks.home_view), in this process, `--repeats` times, for the first page
  (20 items) and the widest (40); with the view's block count and JSON size, and whether
  the stand-in's Block Kit checks (Slack's limits: 100 blocks, text lengths) accept it;
- open to publish: a signed `app_home_opened` sent to `hitl serve` until its
  `views.publish` for that person reaches the stand-in, once for each of `--viewers`
  people (each opens once: a person's publishes are throttled to one every 3 s).

Slack wants an event acknowledged within 3 seconds; hitl acknowledges at once and
publishes through its outbox, so the figure to hold against that window is open to publish.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from functools import partial
from pathlib import Path

from benchmarks.common import database, percentile, serve
from commands import EventBus, submit
from commands.queue import home_state
from handlers.home_blocks import home_view
from rules import load_rules_text
from storage.db import Database
from storage.migrate import migrate
from storage.models import ReviewItem
from storage.reviews import NewItem
from storage.types import utcnow
from tests.harness import SIGNING_SECRET
from tests.slack_payloads import app_home_opened, event_callback, post_event
from tests.slack_standin import SlackStandIn
from tests.standin.blockkit import check_view

VIEWERS = [f"U0REVIEW{n:02d}" for n in range(10)]
RULES = f"""\
timezone: UTC
routes:
  - name: queue
    match: {{workflow: queue}}
    owner: {{channel: C0QUEUE, users: [{", ".join(VIEWERS)}]}}
    escalation:
      - {{after: 4h, to: [U0MANAGER], channel: C0ESC}}
  - name: elsewhere
    match: {{workflow: elsewhere}}
    owner: {{channel: C0ELSEWHERE, users: [U0SOMEONEELSE]}}
"""


def load(url: str, items: int) -> float:
    db = Database(url)
    try:
        migrate(db)
        loaded = load_rules_text(RULES)
        events = EventBus()
        started = time.monotonic()
        now = utcnow()
        for n in range(items + items // 2):
            workflow = "queue" if n < items else "elsewhere"
            new = NewItem(
                agent="invoice-bot",
                workflow=workflow,
                title=f"Invoice {n} from ACME, {n * 10:,} EUR",
                output="Booked to account 6300, cost centre 41. " * 20,
                confidence=0.6,
                context={"vendor": "ACME GmbH"},
            )
            submit(db, loaded, new, now=now - timedelta(seconds=items - n), events=events)
        return time.monotonic() - started
    finally:
        db.dispose()


def render(url: str, user: str, size: int, repeats: int, team_url: str) -> dict[str, object]:
    db = Database(url)

    def link_of(item: ReviewItem) -> str | None:
        if not item.message_ts:
            return None
        return f"{team_url}archives/{item.channel}/p{item.message_ts.replace('.', '')}"

    try:
        times: list[float] = []
        view: dict[str, object] = {}
        for _ in range(repeats):
            started = time.perf_counter()
            state = home_state(db, user, now=utcnow(), offset=0, size=size)
            view = home_view(state, link_of)
            times.append(time.perf_counter() - started)
        blocks = view["blocks"]
        assert isinstance(blocks, list)
        return {
            "page": size,
            "median_ms": round(statistics.median(times) * 1000, 1),
            "p95_ms": round(percentile(times, 0.95) * 1000, 1),
            "max_ms": round(max(times) * 1000, 1),
            "blocks": len(blocks),
            "json_bytes": len(json.dumps(view)),
            "slack_limits_ok": not check_view(view),
            "waiting_total": state.waiting_total,
        }
    finally:
        db.dispose()


def open_to_publish(base: str, standin: SlackStandIn, viewers: list[str]) -> list[float]:
    took: list[float] = []
    for user in viewers:
        before = len(standin.calls_to("views.publish"))
        started = time.monotonic()
        event = event_callback(app_home_opened(user))
        response = post_event(f"{base}/slack/events", event, SIGNING_SECRET)
        assert response.status_code == 200, response.text
        standin.wait_for(partial(_published, user=user, after=before), timeout=60)
        took.append(time.monotonic() - started)
        view = standin.home_view(user)
        assert view is not None and len(view["blocks"]) <= 100
    return took


def _published(standin: SlackStandIn, user: str, after: int) -> bool:
    return any(
        call.args.get("user_id") == user for call in standin.calls_to("views.publish")[after:]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--viewers", type=int, default=10)
    args = parser.parse_args()
    viewers = VIEWERS[: max(1, min(args.viewers, len(VIEWERS)))]
    with tempfile.TemporaryDirectory() as tmp, database(args.backend, Path(tmp)) as url:
        workdir = Path(tmp)
        (workdir / "rules.yml").write_text(RULES)
        loaded_in = load(url, args.items)
        print(f"backend {args.backend}: {args.items} waiting items for each reviewer "
              f"(+{args.items // 2} of another route), loaded in {loaded_in:.1f} s")  # fmt: skip
        with SlackStandIn() as standin, serve(url, standin, workdir) as base:
            total = args.items + args.items // 2
            standin.wait_for(lambda s: len(s.calls_to("chat.postMessage")) >= total, timeout=900)
            team_url = "https://example.slack.com/"
            for size in (20, 40):
                figures = render(url, viewers[0], size, args.repeats, team_url)
                print("render", json.dumps(figures))
            took = open_to_publish(base, standin, viewers)
            print(
                "open to publish",
                json.dumps(
                    {
                        "viewers": len(took),
                        "median_ms": round(statistics.median(took) * 1000, 1),
                        "max_ms": round(max(took) * 1000, 1),
                    }
                ),
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
