"""Changed polls (issue 16): loopback feeds that publish two new stories per poll, ours beside
a naive loop in the same run.

    .venv/bin/python bench/bench_changed.py                      # ~4 min: 300 feeds x 50 x 4.4 KB
    .venv/bin/python bench/bench_changed.py --feeds 60 --polls 1 # a quick look
    .venv/bin/python bench/bench_changed.py --tree today=/tmp/base --tree now=.   # two commits

For whoever tunes the poll path. A feed server in its own child process (its CPU is not
counted) serves ``--feeds`` RSS feeds of ``--items`` items of ``--item-bytes`` each; before each
measured poll round it "rolls" feeds: two new stories on top, the two oldest gone, a new ETag.

Runs, each in a fresh ``spawn`` child so its CPU time is its own (CPU = user + system of the
process and of its parser workers):

- **naive**: one shared ``httpx.AsyncClient``, ``feedparser.parse(bytes, sanitize_html=False,
  resolve_relative_uris=False)`` and a keyword test over every item (the issue's anchor);
- **naive conditional**: the same, sending ``If-None-Match`` / ``If-Modified-Since``;
- **ours** (per ``--tree``, per ``--parser``): the real ``FeedPoller`` with the bundled pack, a
  real SQLite store, clusters and the outbox. Its first round finds every story new (the
  "all new" figure); then ``--polls`` rounds with every feed rolled (the "changed" figure);
  then ``--polls`` rounds with 10 % of the feeds rolled and 90 % answering 304.

The naive loops poll the same rounds (every feed rolled; then 10 % rolled).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# The ProcessPoolExecutor experiment (issue 11 point 8) lives in commit 4e22056 only.
EXECUTOR = "monitor/detect/parse_executor.py"
KEYWORDS = ("north korea", "dprk", "pyongyang", "russia", "moscow", "sanctions", "putin")


def cpu_s(pid: int | None = None) -> float:
    """User + system CPU seconds of this process (all threads) or of ``pid``."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # a worker killed and replaced: its CPU is lost to the figure
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def feed_url(ports: list[int], n: int) -> str:
    return f"http://127.0.0.1:{ports[n % len(ports)]}/feed/{n}.xml"


def roll(commands: Any, feeds: list[int]) -> None:
    commands.send(("roll", feeds))
    assert commands.recv() == "rolled"


def rounds(feeds: int, polls: int) -> list[tuple[str, list[int]]]:
    """The measured rounds after the first: ``(label, feeds rolled before it)``."""
    everyone = list(range(feeds))
    tenth = everyone[::10]
    return [("changed", everyone)] * polls + [("90 % 304", tenth)] * polls


# --- naive -----------------------------------------------------------------------------------


def run_naive(
    ports: list[int], commands: Any, feeds: int, polls: int, conditional: bool, out: Any
) -> None:
    out.send(asyncio.run(_naive(ports, commands, feeds, polls, conditional)))


async def _naive(
    ports: list[int], commands: Any, feeds: int, polls: int, conditional: bool
) -> dict[str, Any]:
    import feedparser
    import httpx

    validators: dict[int, dict[str, str]] = {}
    counts = {"items": 0, "hits": 0, "304": 0, "errors": 0}

    async def poll(client: httpx.AsyncClient, n: int) -> None:
        headers = validators.get(n, {}) if conditional else {}
        try:
            response = await client.get(feed_url(ports, n), headers=headers)
        except httpx.HTTPError:  # a loaded host drops a connection now and then: count it
            counts["errors"] += 1
            return
        if response.status_code == 304:
            counts["304"] += 1
            return
        if conditional:
            validators[n] = {
                k: v
                for k, v in (
                    ("If-None-Match", response.headers.get("etag")),
                    ("If-Modified-Since", response.headers.get("last-modified")),
                )
                if v
            }
        parsed = feedparser.parse(
            response.content, sanitize_html=False, resolve_relative_uris=False
        )
        for entry in parsed.entries:
            text = f"{entry.get('title', '')} {entry.get('summary', '')}".lower()
            counts["items"] += 1
            counts["hits"] += any(word in text for word in KEYWORDS)

    results: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=32)) as client:
        await _round(lambda n: poll(client, n), feeds)  # warm: connections, validators
        for label, rolled in rounds(feeds, polls):
            roll(commands, rolled)
            cpu0 = cpu_s()
            await _round(lambda n: poll(client, n), feeds)
            _add(results, label, cpu_s() - cpu0, feeds)
    return {**results, **counts}


async def _round(poll: Callable[[int], Any], feeds: int) -> None:
    in_flight = asyncio.Semaphore(32)

    async def one(n: int) -> None:
        async with in_flight:
            await poll(n)

    await asyncio.gather(*(one(n) for n in range(feeds)))


def _add(results: dict[str, Any], label: str, cpu: float, feeds: int) -> None:
    """Accumulate CPU ms per feed over the rounds of one label (their mean)."""
    total, count = results.get(f"_{label}", (0.0, 0))
    results[f"_{label}"] = (total + cpu, count + feeds)
    results[label] = 1000 * (total + cpu) / (count + feeds)


# --- ours ------------------------------------------------------------------------------------


def run_ours(
    tree: str, parser_kind: str, ports: list[int], commands: Any, feeds: int, polls: int, out: Any
) -> None:
    import logging

    import structlog

    sys.path.insert(0, str(Path(tree).resolve()))
    os.chdir(tree)  # parser workers run ``python -m``, which imports from the working directory
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    out.send(asyncio.run(_ours(parser_kind, ports, commands, feeds, polls)))


def _make_parser(kind: str, store: Any) -> Any:
    from monitor.detect import parse_pool

    extra: dict[str, Any] = {}
    if hasattr(store, "stored_digests"):  # the pre-scan's question to the store (issue 16)
        extra["known"] = store.stored_digests
    if kind == "process":
        return parse_pool.ProcessParser(time_limit_s=30.0, **extra)
    from monitor.detect.parse_executor import ExecutorParser

    return ExecutorParser(time_limit_s=30.0, **extra)


def _worker_cpu(parser: Any) -> float:
    return sum(cpu_s(pid) for pid in parser.worker_pids)


async def _ours(
    parser_kind: str, ports: list[int], commands: Any, feeds: int, polls: int
) -> dict[str, Any]:
    import tempfile

    import monitor
    from monitor.clock import SystemClock
    from monitor.detect.fetch import FeedFetcher, build_client
    from monitor.detect.poller import FeedPoller
    from monitor.models import DestinationSpec, FeedSpec, Severity
    from monitor.service.config import load_config
    from monitor.state.clusters import ClusterIndex, ensure_schema
    from monitor.state.sqlite import SqliteStore

    root = Path(monitor.__file__).resolve().parent.parent
    settings = load_config(root / "config" / "monitor.yaml")
    specs = [FeedSpec(f"f{n}", feed_url(ports, n)) for n in range(feeds)]
    tmp = tempfile.TemporaryDirectory(prefix="bench_changed-")
    store = SqliteStore(Path(tmp.name) / "state.db", extra_schema=[ensure_schema])
    parser = _make_parser(parser_kind, store)
    counts = {"new": 0, "alerts": 0, "errors": 0, "304": 0}
    results: dict[str, Any] = {"tree": str(root)}
    async with build_client(user_agent="bench/1", timeout_s=30.0, max_connections=32) as client:
        clusters = getattr(store, "clusters", None) or ClusterIndex(store.conn)  # old commits
        poller = FeedPoller(
            fetcher=FeedFetcher(client=client, clock=SystemClock()),
            parser=parser,
            store=store,
            pack=settings.pack,
            destinations=[DestinationSpec("hook", "webhook", min_severity=Severity.LOW)],
            clock=SystemClock(),
            clusters=clusters,
        )

        async def poll(n: int) -> None:
            outcome = await poller.poll(specs[n], force=True)
            counts["errors"] += 0 if outcome.ok else 1
            counts["304"] += outcome.status == 304
            counts["new"] += outcome.new_stories
            counts["alerts"] += outcome.alerts_queued

        async def measured(label: str) -> None:
            main0, workers0 = cpu_s(), _worker_cpu(parser)
            await _round(poll, feeds)
            _add(results, label, cpu_s() - main0 + _worker_cpu(parser) - workers0, feeds)

        await poller.poll(FeedSpec("warm", feed_url(ports, 0)), force=True)  # start a worker
        await measured("all new")
        for label, rolled in rounds(feeds, polls):
            roll(commands, rolled)
            await measured(label)
    parser.close()
    store.close()
    tmp.cleanup()
    return {**results, **counts}


# --- driver ----------------------------------------------------------------------------------


def in_child(target: Callable[..., None], *args: Any) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, send))
    proc.start()
    while not receive.poll(1.0):  # a child that crashed sends nothing: fail, do not hang
        if not proc.is_alive():
            raise SystemExit(f"{target.__name__} failed (exit code {proc.exitcode}); see above")
    result: dict[str, Any] = receive.recv()
    proc.join()
    return result


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--feeds", type=int, default=300)
    args.add_argument("--items", type=int, default=50)
    args.add_argument("--item-bytes", type=int, default=4400)
    args.add_argument("--hosts", type=int, default=30)
    args.add_argument("--polls", type=int, default=2, help="measured rounds per scenario")
    args.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="a source tree to run 'ours' from (repeat to compare commits); default: this one",
    )
    args.add_argument(
        "--parser",
        action="append",
        default=[],
        choices=("process", "executor"),
        help="parse pool(s) to run ours with (repeat for both; 'executor' needs a tree of "
        "commit 4e22056); default: process",
    )
    opts = args.parse_args()
    trees = [t.split("=", 1) for t in opts.tree] or [["ours", str(REPO)]]
    parsers = opts.parser or ["process"]

    from tests.servers.feed_server import serve_rolling

    ctx = multiprocessing.get_context("spawn")
    ours_end, server_end = ctx.Pipe()
    server = ctx.Process(
        target=serve_rolling,
        args=(opts.feeds, opts.items, server_end, opts.hosts, opts.item_bytes),
    )
    server.start()
    ports = ours_end.recv()
    common = (ports, ours_end, opts.feeds, opts.polls)
    try:
        results = {
            "naive": in_child(run_naive, *common, False),
            "naive conditional": in_child(run_naive, *common, True),
        }
        for label, tree in trees:
            for kind in parsers:
                if kind == "executor" and not (Path(tree) / EXECUTOR).exists():
                    continue  # that commit has no executor-based pool
                name = f"{label} ({kind})" if len(parsers) > 1 else label
                results[name] = in_child(run_ours, tree, kind, *common)
                print(f"{name}: {results[name]}", file=sys.stderr, flush=True)
    finally:
        ours_end.send(("stop",))
        server.join(timeout=10)
    report(results, opts)
    return 0


def report(results: dict[str, dict[str, Any]], opts: argparse.Namespace) -> None:
    print(
        f"bench_changed: {opts.feeds} loopback feeds x {opts.items} items of ~{opts.item_bytes} "
        f"bytes, 2 new stories per rolled feed, {opts.polls} rounds each, {os.cpu_count()} CPUs\n"
    )
    print(f"{'CPU ms per feed':<28} {'all new':>8} {'changed':>8} {'90 % 304':>9}")
    for name, r in results.items():
        print(
            f"{name:<28} {r.get('all new', float('nan')):>8.2f} {r['changed']:>8.2f} "
            f"{r['90 % 304']:>9.2f}"
        )
    naive, conditional = results["naive"], results["naive conditional"]
    print()
    for name, r in results.items():
        if name.startswith("naive"):
            continue
        changed = naive["changed"] / r["changed"]
        cond = conditional["90 % 304"] / r["90 % 304"]
        print(
            f"{name}: changed poll {changed:.2f}x the naive loop's feeds per CPU-second "
            f"(target >= 1.5x: {'PASS' if changed >= 1.5 else 'FAIL'}); 90 % 304 {cond:.2f}x "
            f"the naive conditional loop (target >= 3x: {'PASS' if cond >= 3 else 'FAIL'}); "
            f"new {r['new']}, alerts {r['alerts']}, errors {r['errors']}"
        )


if __name__ == "__main__":
    sys.exit(main())
