"""Run every benchmark in bench/, one after another, each printing its figures and its baseline.

    .venv/bin/python bench/run_all.py                 # everything, full size (~40 min)
    .venv/bin/python bench/run_all.py --quick         # small sizes, a smoke run (~5 min)
    .venv/bin/python bench/run_all.py --only poll changed   # some of them
    make bench                                        # the full run

For whoever changes a hot path and wants every figure of bench/README.md from one command.
Benchmarks that read data outside the repository take it from ``--shared`` (default
``../shared``); one whose data or tool (valgrind) is missing is reported as skipped, not failed.
The exit status is 1 when any benchmark failed. Benchmarks never run in the test suite.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent


@dataclass(frozen=True)
class Bench:
    """One script with its full and its quick arguments; ``needs`` are paths or tools."""

    name: str
    script: str
    full: tuple[str, ...] = ()
    quick: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


def benches(shared: Path) -> list[Bench]:
    feeds, pairs = str(shared / "feeds"), str(BENCH / "pairs" / "pairs-2022.jsonl")
    return [
        Bench("poll", "bench_poll.py", (), ("--feeds", "100", "--naive-sample", "20")),
        Bench("changed", "bench_changed.py", (), ("--feeds", "40", "--polls", "1")),
        Bench("once", "bench_once.py", (), ("--feeds", "100", "--aliases", "1000")),
        Bench("drain", "bench_drain.py", (), ("--alerts", "100")),
        Bench("latency", "bench_latency.py", (), ("--trials", "2")),
        Bench("deliver", "bench_deliver.py", (), ("--alerts", "500")),
        Bench("match", "bench_match.py", (), ("--aliases", "1000", "--seconds", "0.5")),
        Bench(
            "dedup",
            "bench_dedup.py",
            (),
            ("--scale", "0", "--lookups", "200"),
            needs=(pairs,),
        ),
        Bench("parse_files", "parse_files.py", (feeds,), (feeds,), needs=(feeds,)),
        Bench(
            "match_instructions",
            "match_instructions.py",
            (),
            ("--aliases", "1000", "--stories", "30", "--passes", "1"),
            needs=("valgrind",),
        ),
    ]


def missing(bench: Bench) -> str | None:
    for need in bench.needs:
        if "/" in need:
            if not Path(need).exists():
                return need
        elif shutil.which(need) is None:
            return need
    return None


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    args.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    opts = args.parse_args()
    chosen = [b for b in benches(opts.shared) if not opts.only or b.name in opts.only]
    if opts.only and len(chosen) != len(set(opts.only)):
        known = ", ".join(b.name for b in benches(opts.shared))
        print(f"run_all: unknown benchmark in {opts.only} (known: {known})", file=sys.stderr)
        return 2
    outcomes: list[tuple[str, str, float]] = []
    for bench in chosen:
        if (need := missing(bench)) is not None:
            outcomes.append((bench.name, f"skipped ({need} is missing)", 0.0))
            continue
        command = [
            sys.executable,
            str(BENCH / bench.script),
            *(bench.quick if opts.quick else bench.full),
        ]
        print(f"\n=== {bench.name}: {' '.join(command[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(command, cwd=REPO)
        outcomes.append(
            (
                bench.name,
                "ok" if code == 0 else f"FAILED (exit {code})",
                time.perf_counter() - started,
            )
        )
    print("\n=== summary")
    for name, outcome, seconds in outcomes:
        print(f"{name:<20} {outcome:<34} {seconds:7.1f} s")
    return 1 if any(o.startswith("FAILED") for _, o, _ in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
