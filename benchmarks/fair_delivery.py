"""Delay of a second channel's post while a first channel has a backlog Slack rate-limits.

    .venv/bin/python -m benchmarks.fair_delivery --backend sqlite
    .venv/bin/python -m benchmarks.fair_delivery --backend postgres --backlog 2000

The bot runs as its own `hitl serve` process. The stand-in answers every post to the busy
channel (C0APREVIEW) with `429 Retry-After: 1`; once the backlog is queued, items for
another channel (C0OPEN) are sent one at a time and the time from sending `POST
/v1/reviews` to the stand-in receiving their chat.postMessage is printed. Times are
CLOCK_MONOTONIC, shared by both processes on Linux.
"""

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx

from benchmarks.common import SlackStandIn, database, percentile, serve
from tests.harness import AGENT_TOKEN

BUSY, OTHER = "C0APREVIEW", "C0OPEN"


def _item(workflow: str, external_id: str) -> dict[str, object]:
    return {
        "workflow": workflow,
        "title": f"Item {external_id}",
        "output": "Booked to account 6300.",
        "confidence": 0.6,
        "external_id": external_id,
    }


def run(backend: str, backlog: int, probes: int) -> None:
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
        standin = SlackStandIn().start()
        standin.rate_limit_channel(BUSY, retry_after=1)
        try:
            with serve(url, standin, Path(tmp)) as base:
                started = time.monotonic()

                def submit_range(first: int) -> None:
                    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                        for n in range(first, min(first + 100, backlog)):
                            body = _item("ap-invoices", f"busy-{n}")
                            client.post("/v1/reviews", json=body).raise_for_status()

                with ThreadPoolExecutor(4) as pool:
                    list(pool.map(submit_range, range(0, backlog, 100)))
                print(f"queued {backlog} items for {BUSY} in {time.monotonic() - started:.1f}s")
                delays: list[float] = []
                with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                    for n in range(probes):
                        sent = time.monotonic()
                        response = client.post("/v1/reviews", json=_item("open-probe", f"p{n}"))
                        response.raise_for_status()
                        standin.wait_for(partial(_posted_to_other_more_than, count=n), timeout=600)
                        posted_at = [
                            c.at for c in standin.calls_to("chat.postMessage")
                            if c.args.get("channel") == OTHER
                        ][n]  # fmt: skip
                        delays.append((posted_at - sent) * 1000)
                limited = len(standin.calls_to("chat.postMessage", ok=False))
                busy_posted = _posts_to(standin, BUSY)
        finally:
            standin.stop()
    print(f"backend={backend} backlog={backlog} probes={probes}")
    print(f"busy channel: {busy_posted} posted, {limited} answers 429 so far")
    print(
        f"second channel post delay ms: median={statistics.median(delays):.1f} "
        f"p90={percentile(delays, 0.9):.1f} max={max(delays):.1f}"
    )


def _posts_to(standin: SlackStandIn, channel: str) -> int:
    return sum(1 for c in standin.calls_to("chat.postMessage") if c.args.get("channel") == channel)


def _posted_to_other_more_than(standin: SlackStandIn, count: int) -> bool:
    return _posts_to(standin, OTHER) > count


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--probes", type=int, default=10)
    args = parser.parse_args()
    run(args.backend, args.backlog, args.probes)
