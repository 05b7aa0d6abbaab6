"""Polling throughput: 1,000 loopback feeds x 50 items, at 0 %, 90 % and 100 % 304 answers.

    .venv/bin/python bench/bench_poll.py [--feeds 1000] [--items 50] [--workers 1]

Ours: the real ``FeedFetcher`` (shared client, conditional GET, bounded gzip, limits) and the
real ``ProcessParser`` (worker process, feedparser with sanitising off, plain-text stories),
plus stand-ins for the pipeline's later stages: a body-hash skip, the store's "seen" check
and an Aho-Corasick matcher over title + summary of NEW stories only. A last run polls with the
real ``pipeline.FeedPoller`` (triage, clusters, the bundled pack, routing into the outbox).

Baselines, in the same run, on the same server: the issue's naive loop (``httpx.get`` +
``feedparser.parse(bytes)`` + match every item, no validators) over a sample of feeds, and a
fairer "naive with one client" (shared ``httpx.Client``, same parse and match) over all feeds.
Baselines send no validators, so their cost does not depend on the 304 share.

Each run happens in a fresh child process (``spawn``) so its CPU time and peak RSS are its own;
the feed server runs in another child so its CPU is not counted. CPU = user + system time of
the run's process and of its parser worker. "per core" figures are feeds per CPU-minute.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TERMS = (
    "kim jong un",
    "kim jong-un",
    "putin",
    "north korea",
    "dprk",
    "pyongyang",
    "russia",
    "moscow",
    "kremlin",
    "aurus",
    "rosoboronexport",
    "vostochny",
    "rajin",
    "rason",
    "nampo",
    "tumen",
    "khasan",
    "vladivostok",
    "kursk",
    "shoigu",
    "lavrov",
    "choe son hui",
    "kcna",
    "sanctions",
    "embargo",
    "artillery shells",
    "ballistic missile",
    "kn-23",
    "hwasong",
    "ship-to-ship",
    "refined petroleum",
    "tanker",
    "munitions",
    "lazarus",
    "air koryo",
    "김정은",
    "푸틴",
    "북한",
    "러시아",
    "ким чен ын",
    "путин",
    "кндр",
    "россия",
    "санкции",
)


def feed_url(ports: list[int], n: int) -> str:
    return f"http://127.0.0.1:{ports[n % len(ports)]}/feed/{n}.xml"


def make_matcher() -> Callable[[str], int]:
    """Aho-Corasick over the terms (the detection stand-in): text → number of hits."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for term in TERMS:
        automaton.add_word(term, term)
    automaton.make_automaton()
    return lambda text: sum(1 for _ in automaton.iter(text.lower()))


def cpu_s(pid: int | None = None) -> float:
    """User + system CPU seconds of this process (all threads) or of ``pid``."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# --- ours ----------------------------------------------------------------------------------


async def measure_cycle(
    parser: Any, polls: Iterable[Awaitable[None]]
) -> tuple[float, float, float]:
    """Run ``polls`` concurrently: wall seconds, CPU seconds of this process and of the
    parser workers."""
    main0, workers0 = cpu_s(), sum(cpu_s(p) for p in parser.worker_pids)
    t0 = time.perf_counter()
    await asyncio.gather(*polls)
    wall = time.perf_counter() - t0
    main_cpu = cpu_s() - main0
    return wall, main_cpu, sum(cpu_s(p) for p in parser.worker_pids) - workers0


def run_ours(ports: list[int], feeds: int, share_304: float, workers: int, out: Any) -> None:
    out.send(asyncio.run(_ours(ports, feeds, share_304, workers)))


def run_pipeline(ports: list[int], feeds: int, workers: int, out: Any) -> None:
    out.send(asyncio.run(_pipeline(ports, feeds, workers)))


async def _pipeline(ports: list[int], feeds: int, workers: int) -> dict[str, Any]:
    """The real ``FeedPoller`` end to end, every feed changed (0 % 304): fetch, parse, store
    triage, clustering, the bundled detection pack and routing into the outbox."""
    import tempfile

    from monitor.clock import SystemClock
    from monitor.detect.fetch import FeedFetcher, build_client
    from monitor.detect.parse_pool import ProcessParser
    from monitor.detect.poller import FeedPoller
    from monitor.models import DestinationSpec, FeedSpec, Severity
    from monitor.service.config import load_config
    from monitor.state.clusters import ClusterIndex, ensure_schema
    from monitor.state.sqlite import SqliteStore

    settings = load_config(Path(__file__).resolve().parent.parent / "config" / "monitor.yaml")
    specs = [FeedSpec(f"f{n}", feed_url(ports, n)) for n in range(feeds)]
    tmp = tempfile.TemporaryDirectory(prefix="bench_poll-")
    store = SqliteStore(Path(tmp.name) / "state.db", extra_schema=[ensure_schema])
    # The store owns its index since issue 11; older commits (side-by-side runs) hand it a conn.
    index = getattr(store, "clusters", None) or ClusterIndex(store.conn)
    parser = ProcessParser(time_limit_s=30.0, workers=workers)
    counts = {"200": 0, "304": 0, "stories": 0, "new": 0, "hits": 0, "errors": 0}
    async with build_client(user_agent="bench/1", timeout_s=30.0, max_connections=32) as client:
        poller = FeedPoller(
            fetcher=FeedFetcher(client=client, clock=SystemClock()),
            parser=parser,
            store=store,
            pack=settings.pack,
            destinations=[DestinationSpec("hook", "webhook", min_severity=Severity.LOW)],
            clock=SystemClock(),
            clusters=index,
        )
        await poller.poll(specs[0], force=True)  # warm the worker; not counted
        in_flight = asyncio.Semaphore(32)

        async def poll(spec: FeedSpec) -> None:
            async with in_flight:
                outcome = await poller.poll(spec, force=True)
            counts["200" if outcome.status == 200 else "304"] += 1
            counts["errors"] += 0 if outcome.ok else 1
            counts["stories"] += outcome.stories
            counts["new"] += outcome.new_stories
            counts["hits"] += outcome.alerts_queued

        parse0 = parser.feedparser_cpu_s
        wall, main_cpu, worker_cpu = await measure_cycle(parser, (poll(s) for s in specs[1:]))
    peak = peak_rss_mb() + sum(peak_rss_mb(p) for p in parser.worker_pids)
    parser.close()
    store.close()
    tmp.cleanup()
    return {
        "wall_s": wall,
        "cpu_s": main_cpu + worker_cpu,
        "peak_mb": peak,
        "feeds": feeds - 1,
        **counts,
        "feedparser_cpu_s": parser.feedparser_cpu_s - parse0,
    }


async def _ours(ports: list[int], feeds: int, share_304: float, workers: int) -> dict[str, Any]:
    import tempfile
    from dataclasses import replace
    from datetime import UTC, datetime

    from monitor.clock import SystemClock
    from monitor.detect import dedup
    from monitor.detect.fetch import FeedFetcher, build_client
    from monitor.detect.parse_pool import ProcessParser
    from monitor.models import FeedSpec, FeedState, FetchResult
    from monitor.state.sqlite import SqliteStore

    match = make_matcher()
    specs = [FeedSpec(f"f{n}", feed_url(ports, n)) for n in range(feeds)]
    cut = round(feeds * share_304)
    tmp = tempfile.TemporaryDirectory(prefix="bench_poll-")
    store = SqliteStore(Path(tmp.name) / "state.db")
    for n, spec in enumerate(specs):
        store.save_feed_state(FeedState(spec.id, etag=f'"f{n}"' if n < cut else None))
    counts = {"200": 0, "304": 0, "same": 0, "stories": 0, "new": 0, "hits": 0, "errors": 0}
    # CPU of this thread inside the synchronous stages, timed around them (thread_time: the
    # resolver threads of asyncio cannot leak in).
    timed = {"store_s": 0.0, "keys_s": 0.0, "detect_s": 0.0}
    parser = ProcessParser(time_limit_s=30.0, workers=workers)
    warm = FetchResult(
        "warm",
        "http://x/",
        200,
        b"<rss version='2.0'><channel><item><title>w</title></item></channel></rss>",
        datetime.now(UTC),
    )
    await asyncio.gather(*(parser.parse(warm, specs[0]) for _ in range(workers)))
    parse0, extract0 = parser.feedparser_cpu_s, parser.extract_cpu_s
    async with build_client(user_agent="bench/1", timeout_s=30.0, max_connections=32) as client:
        fetcher = FeedFetcher(client=client, clock=SystemClock())  # default limits: 2 per host, 16

        # Polls in flight are bounded like a daemon's job pool: without it every fetched body
        # would wait in memory for the one parser worker (1,000 x 90 KB).
        in_flight = asyncio.Semaphore(32)

        async def poll(spec: FeedSpec) -> None:
            async with in_flight:
                await poll_one(spec)

        async def poll_one(spec: FeedSpec) -> None:
            # The stage order of ``pipeline.FeedPoller.poll``, with the real store and story
            # keys; detection (match → assess → route) is an Aho-Corasick stand-in.
            t0 = time.thread_time()
            state = store.feed_state(spec.id)
            timed["store_s"] += time.thread_time() - t0
            try:
                result = await fetcher.fetch(spec, state)
                if result.not_modified:
                    counts["304"] += 1
                    save(replace(state, last_status=304))
                    return
                counts["200"] += 1
                digest = hashlib.sha256(result.body).hexdigest()
                if digest == state.body_hash:
                    counts["same"] += 1
                    save(replace(state, last_status=200))
                    return
                parsed = await parser.parse(result, spec)
            except Exception:
                counts["errors"] += 1
                return
            now = result.fetched_at
            t0 = time.thread_time()
            # The pipeline's keying step: ProcessParser fills ``key`` in the worker, so a story
            # is rebuilt only when a key or tags are missing.
            stories = [
                s
                if s.key and s.tags == spec.tags
                else replace(s, key=s.key or dedup.story_key(s), tags=spec.tags)
                for s in parsed.stories
            ]
            t1 = time.thread_time()
            fresh = store.unseen(stories)
            t2 = time.thread_time()
            counts["hits"] += sum(match(f"{s.title} {s.summary}") for s in fresh)
            t3 = time.thread_time()
            store.commit_stories(fresh, [], now)
            timed["keys_s"] += t1 - t0
            timed["detect_s"] += t3 - t2
            timed["store_s"] += t2 - t1 + time.thread_time() - t3
            counts["stories"] += len(stories)
            counts["new"] += len(fresh)
            save(replace(state, etag=result.etag, body_hash=digest, last_status=200))

        def save(state: FeedState) -> None:
            t0 = time.thread_time()
            store.save_feed_state(state)
            timed["store_s"] += time.thread_time() - t0

        wall, main_cpu, worker_cpu = await measure_cycle(parser, (poll(s) for s in specs))
    peak = peak_rss_mb() + sum(peak_rss_mb(p) for p in parser.worker_pids)
    parser.close()
    store.close()
    tmp.cleanup()
    return {
        "wall_s": wall,
        "cpu_s": main_cpu + worker_cpu,
        "main_cpu_s": main_cpu,
        "worker_cpu_s": worker_cpu,
        "peak_mb": peak,
        "feeds": feeds,
        **counts,
        **timed,
        "feedparser_cpu_s": parser.feedparser_cpu_s - parse0,
        "extract_cpu_s": parser.extract_cpu_s - extract0,
    }


# --- baselines ---------------------------------------------------------------------------------


def run_naive(ports: list[int], feeds: int, shared_client: bool, out: Any) -> None:
    """The issue's naive loop: get, ``feedparser.parse(bytes)``, match every item."""
    import feedparser
    import httpx

    match = make_matcher()
    urls = [feed_url(ports, n) for n in range(feeds)]
    client = httpx.Client(timeout=30.0) if shared_client else None
    hits = stories = 0
    cpu0, t0 = cpu_s(), time.perf_counter()
    for url in urls:
        response = client.get(url) if client else httpx.get(url, timeout=30.0)
        parsed = feedparser.parse(response.content)
        for entry in parsed.entries:
            stories += 1
            hits += match(f"{entry.get('title', '')} {entry.get('summary', '')}")
    wall, cpu = time.perf_counter() - t0, cpu_s() - cpu0
    if client:
        client.close()
    out.send(
        {
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_mb": peak_rss_mb(),
            "feeds": feeds,
            "200": feeds,
            "304": 0,
            "stories": stories,
            "new": stories,
            "hits": hits,
        }
    )


# --- driver ------------------------------------------------------------------------------------


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


def row(label: str, r: dict[str, Any]) -> str:
    per_min = r["feeds"] / r["wall_s"] * 60
    per_cpu_min = r["feeds"] / r["cpu_s"] * 60 if r["cpu_s"] else float("inf")
    return (
        f"{label:<34} {r['feeds']:>5} {r['200']:>5} {r['304']:>5} {r['wall_s']:>7.2f} "
        f"{per_min:>9.0f} {1000 * r['cpu_s'] / r['feeds']:>8.2f} {per_cpu_min:>10.0f} "
        f"{r['peak_mb']:>7.1f}"
    )


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--feeds", type=int, default=1000)
    args.add_argument("--items", type=int, default=50)
    args.add_argument("--workers", type=int, default=1, help="parser worker processes (ours)")
    args.add_argument("--hosts", type=int, default=50, help="loopback servers (origins)")
    args.add_argument(
        "--item-bytes",
        type=int,
        default=2000,
        help="approximate XML bytes per item (real feeds: 0.7-4.5 KB, ~2 KB)",
    )
    args.add_argument(
        "--naive-sample",
        type=int,
        default=250,
        help="feeds for the httpx.get-per-feed baseline (it is slow)",
    )
    opts = args.parse_args()

    from tests.servers.feed_server import serve_synthetic

    ctx = multiprocessing.get_context("spawn")
    port_in, port_out = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    server = ctx.Process(
        target=serve_synthetic,
        args=(opts.feeds, opts.items, port_out, stop, opts.hosts, opts.item_bytes),
    )
    server.start()
    ports = port_in.recv()
    try:
        results = {
            "naive": in_child(run_naive, ports, min(opts.naive_sample, opts.feeds), False),
            "naive1": in_child(run_naive, ports, opts.feeds, True),
            **{
                share: in_child(run_ours, ports, opts.feeds, share / 100, opts.workers)
                for share in (0, 90, 100)
            },
            "pipeline": in_child(run_pipeline, ports, opts.feeds, opts.workers),
        }
    finally:
        stop.set()
        server.join(timeout=10)
    report(results, opts)
    return 0


def report(results: dict[Any, dict[str, Any]], opts: argparse.Namespace) -> None:
    print(
        f"bench_poll: {opts.feeds} loopback feeds x {opts.items} items of ~{opts.item_bytes} "
        f"bytes, parser workers "
        f"{opts.workers}, {opts.hosts} hosts, {os.cpu_count()} CPUs\n"
    )
    print(
        f"{'run':<34} {'feeds':>5} {'200':>5} {'304':>5} {'wall s':>7} {'feeds/min':>9} "
        f"{'CPU ms/f':>8} {'feeds/CPUm':>10} {'peak MB':>7}"
    )
    print(row("naive: httpx.get per feed", results["naive"]))
    print(row("naive, one shared httpx.Client", results["naive1"]))
    for share in (0, 90, 100):
        print(row(f"ours, {share:>3} % 304", results[share]))

    def per_cpu_min(r: dict[str, Any]) -> float:
        return r["feeds"] / r["cpu_s"] * 60

    strongest = max(per_cpu_min(results["naive"]), per_cpu_min(results["naive1"]))
    ratio_90 = per_cpu_min(results[90]) / strongest
    changed = results[0]
    parse_s, detect_s = changed["feedparser_cpu_s"], changed["detect_s"]
    overhead = (changed["cpu_s"] - parse_s - detect_s) / parse_s
    overhead_all = (changed["cpu_s"] - parse_s) / parse_s
    peak = max(r["peak_mb"] for k, r in results.items() if k in (0, 90, 100))
    print()
    print(
        f"at 90 % 304: {ratio_90:.1f}x the stronger baseline's feeds per CPU-minute "
        f"(target >= 1.5x): {'PASS' if ratio_90 >= 1.5 else 'FAIL'}"
    )
    print(
        f"peak memory (ours, process + parser worker): {peak:.0f} MB (target < 200 MB): "
        f"{'PASS' if peak < 200 else 'FAIL'}"
    )
    n = changed["feeds"]

    def ms(seconds: float) -> str:
        return f"{1000 * seconds / n:5.2f} ms  {100 * seconds / parse_s:4.0f} %"

    worker_rest = changed["worker_cpu_s"] - parse_s - changed["extract_cpu_s"]
    main_rest = changed["main_cpu_s"] - changed["keys_s"] - changed["store_s"] - detect_s
    print(
        f"\nchanged feed (0 % 304), CPU per feed and as a share of feedparser's parse:\n"
        f"  parse: feedparser.parse, timed in the worker        {ms(parse_s)}\n"
        f"  overhead:\n"
        f"    worker: feedparser output to plain-text stories   {ms(changed['extract_cpu_s'])}\n"
        f"    worker: the rest (reading the job, pickling)      {ms(worker_rest)}\n"
        f"    main: story keys (missing ones; worker fills them) {ms(changed['keys_s'])}\n"
        f"    main: store (feed state, unseen, commit)          {ms(changed['store_s'])}\n"
        f"    main: fetch, hash, hand-off, event loop (rest)    {ms(main_rest)}\n"
        f"  not counted: detection stand-in (matcher)           {ms(detect_s)}"
    )
    print(
        f"  our overhead: {100 * overhead:.0f} % of the parse (target < 20 %): "
        f"{'PASS' if overhead < 0.2 else 'FAIL'}; with the detection stand-in "
        f"{100 * overhead_all:.0f} %"
    )
    real = results["pipeline"]
    real_parse = real["feedparser_cpu_s"]
    print(
        f"\nthe real FeedPoller, every feed changed (triage, clusters, the bundled pack, "
        f"routing to the outbox):\n{row('ours, real pipeline, 0 % 304', real)}\n"
        f"  everything but feedparser's parse: "
        f"{100 * (real['cpu_s'] - real_parse) / real_parse:.0f} % of the parse "
        f"({1000 * (real['cpu_s'] - real_parse) / real['feeds']:.1f} ms per feed; "
        f"{real['new']} new stories, {real['hits']} alerts queued)"
    )
    print(
        f"stories: {changed['stories']} parsed, {changed['new']} new, matcher hits "
        f"{changed['hits']}; errors {sum(r.get('errors', 0) for r in results.values())}"
    )


if __name__ == "__main__":
    sys.exit(main())
