"""How `hitl export` scales with the size of the record: time and peak RSS.

    .venv/bin/python -m benchmarks.export_scale --backend sqlite --sizes 100000,1000000
    .venv/bin/python -m benchmarks.export_scale --backend postgres --keep /tmp/hitl-scale

For each size: a database of that many decided items over 8 weeks (the digest benchmark's
history, benchmarks.digest_scale.history, with its `--keep` handling), then one
`hitl export --format jsonl` of all of it, run as its own process with its output going to
a file. Reported: wall time, CPU time, peak RSS, lines written. Flat memory means the peak
RSS at 1,000,000 items is about the one at 100,000.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.digest_scale import _LAUNCHER, HISTORY_RULES, history
from tests.processes import HITL

TIMEOUT = 60 * 60


@dataclass(frozen=True)
class Measured:
    exit_code: int
    seconds: float
    peak_rss_kib: int
    cpu_seconds: float
    stdout_path: Path
    stderr: str


def measure(url: str, workdir: Path, arguments: list[str], name: str) -> Measured:
    """Runs `hitl ARGUMENTS` as a user would, measured by a small launcher process (see
    benchmarks.digest_scale: a child spawned from this fat process would inherit its RSS)."""
    rules = workdir / "rules.yml"
    if not rules.exists():
        rules.write_text(HISTORY_RULES)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "HITL_"))}
    env.update(HITL_DATABASE_URL=url, HITL_RULES=str(rules), HITL_LOG_LEVEL="WARNING")
    report = workdir / f"{name}.rusage"
    report.unlink(missing_ok=True)
    out_path, err_path = workdir / f"{name}.out", workdir / f"{name}.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        launcher = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER, str(report), HITL, *arguments],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=err,
        )
        launcher.wait(TIMEOUT)
    stderr = err_path.read_text("utf-8", "replace")
    if not report.exists():
        return Measured(launcher.returncode or -1, 0.0, 0, 0.0, out_path, stderr)
    code, seconds, rss, cpu = report.read_text().split()
    return Measured(int(code), float(seconds), int(rss), float(cpu), out_path, stderr)


def _lines(path: Path) -> int:
    with path.open("rb") as file:
        return sum(1 for _ in file)


def run(backend: str, sizes: list[int], keep: Path | None) -> None:
    for size in sizes:
        with (
            tempfile.TemporaryDirectory(prefix="export-scale-") as tmp,
            history(backend, size, Path(tmp), keep) as (url, setup),
        ):
            result = measure(url, Path(tmp), ["export", "--format", "jsonl"], "export")
            line = f"backend={backend} items={size:,} {setup}"
            if result.exit_code != 0:
                print(f"{line} export=failed(exit {result.exit_code})", flush=True)
                print(result.stderr[-2000:], file=sys.stderr)
                continue
            print(
                f"{line} export={result.seconds:.1f}s cpu={result.cpu_seconds:.1f}s "
                f"peak_rss={result.peak_rss_kib / 1024:.0f}MiB "
                f"records={_lines(result.stdout_path):,}",
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
