"""How `hitl rules replay` scales with the size of the record: time and peak RSS.

    .venv/bin/python -m benchmarks.replay_scale --backend sqlite --sizes 100000,1000000
    .venv/bin/python -m benchmarks.replay_scale --backend postgres --keep /tmp/hitl-scale

For each size: the digest benchmark's history (that many decided items over the 8 weeks
before a fixed Monday; `--keep` as there), then one `hitl rules replay NEW.yml` over all 8
weeks, so every item is replayed, and one over the last week only, the period a digest
covers (its budget), each as its own process. NEW.yml lowers the invoices
threshold and lengthens the contracts escalation step. Compare the time with
`benchmarks.digest_scale` on the same history (the digest's budget).
"""

import argparse
import json
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from benchmarks.digest_scale import HISTORY_RULES, MONDAY, history
from benchmarks.export_scale import measure

NEW_RULES = HISTORY_RULES.replace("auto_approve_at: 0.97", "auto_approve_at: 0.9").replace(
    "{after: 1h, to: [U0LEGALLEAD]}", "{after: 3h, to: [U0LEGALLEAD]}"
)


def run(backend: str, sizes: list[int], keep: Path | None) -> None:
    for size in sizes:
        with (
            tempfile.TemporaryDirectory(prefix="replay-scale-") as tmp,
            history(backend, size, Path(tmp), keep) as (url, setup),
        ):
            new = Path(tmp) / "new.yml"
            new.write_text(NEW_RULES)
            since = (MONDAY - timedelta(weeks=8)).isoformat()
            last_week = (MONDAY - timedelta(weeks=1)).isocalendar()
            periods = {
                "all": ["--since", since, "--until", MONDAY.isoformat()],
                "week": ["--week", f"{last_week.year}-W{last_week.week:02d}"],
            }
            for name, period in periods.items():
                arguments = ["rules", "replay", str(new), *period, "--format", "json"]
                result = measure(url, Path(tmp), arguments, "replay")
                line = f"backend={backend} items={size:,} {setup} period={name}"
                if result.exit_code != 0:
                    print(f"{line} replay=failed(exit {result.exit_code})", flush=True)
                    print(result.stderr[-2000:], file=sys.stderr)
                    continue
                replayed = json.loads(result.stdout_path.read_text())["items"]
                print(
                    f"{line} replay={result.seconds:.1f}s cpu={result.cpu_seconds:.1f}s "
                    f"peak_rss={result.peak_rss_kib / 1024:.0f}MiB items_replayed={replayed:,}",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--keep", type=Path, help="keep generated histories here (see digest)")
    args = parser.parse_args()
    run(args.backend, [int(size) for size in args.sizes.split(",")], args.keep)


if __name__ == "__main__":
    main()
