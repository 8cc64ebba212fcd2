"""Time from `POST /v1/reviews` answered to the Slack stand-in receiving chat.postMessage.

    .venv/bin/python benchmarks/post_latency.py --items 1000 --backend sqlite
    .venv/bin/python benchmarks/post_latency.py --items 1000 --backend postgres

The bot runs as its own `hitl serve` process; the agent sends one item at a time, so each
figure is the latency of one item, not of a queue. Times are CLOCK_MONOTONIC, shared by
both processes on Linux.
"""

import argparse
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import httpx

from benchmarks.common import SlackStandIn, database, percentile, serve
from tests.harness import AGENT_TOKEN


def _posted_more_than(standin: SlackStandIn, count: int) -> bool:
    return len(standin.calls_to("chat.postMessage")) > count


def run(backend: str, items: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        standin = SlackStandIn().start()
        try:
            with serve(url, standin, Path(tmp)) as base, httpx.Client(base_url=base) as client:
                headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
                sent: dict[str, float] = {}
                for n in range(items):
                    body = {
                        "workflow": "ap-invoices",
                        "title": f"Invoice {n}",
                        "output": "Booked to account 6300.",
                        "confidence": 0.6,
                        "external_id": f"bench-{n}",
                    }
                    started = time.monotonic()
                    response = client.post("/v1/reviews", json=body, headers=headers)
                    response.raise_for_status()
                    sent[response.json()["id"]] = started
                    # One at a time: wait for this post before sending the next.
                    standin.wait_for(partial(_posted_more_than, count=n), 10)
                posted = {
                    call.args["metadata"]["event_payload"]["item_id"]: call.at
                    for call in standin.calls_to("chat.postMessage")
                }
        finally:
            standin.stop()
    latencies = [(posted[item] - at) * 1000 for item, at in sent.items()]
    print(f"backend={backend} items={items} posted={len(posted)}")
    print(
        f"POST -> chat.postMessage latency ms: median={statistics.median(latencies):.1f} "
        f"p99={percentile(latencies, 0.99):.1f} max={max(latencies):.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    run(args.backend, args.items)
