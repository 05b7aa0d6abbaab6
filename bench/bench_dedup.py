"""Benchmarks for story dedup: clustering quality on labeled pairs, lookup speed at scale.

For whoever tunes ``monitor.detect.dedup`` / ``monitor.state.clusters``. Two parts, both printed:

1. **Quality** (``--pairs``): the labeled pairs of ``bench/pairs`` (real 2022 feed items, see
   ``make_pairs.py``). Pair precision and recall of the signature alone over a range of
   thresholds, a two-fold check of the threshold choice, and of the clustering itself: every
   item of the set goes through a ``ClusterIndex`` in publication order and a pair counts as
   predicted positive when both items land in one cluster. ``--stream`` runs the whole 2022
   stream (115k items) through the index first, so pairs meet each other among all the others.
2. **Scale** (``--scale N``): N synthetic stories (words drawn with the frequencies of the pair
   set's text, 2% from daily templates) spread over 30 days, bulk-loaded; then ``assign`` is
   timed per story for new stories at the end of the span (half of them edited copies of stories
   in the 72 h window) against a baseline measured in the same run: a naive scan comparing each
   new story with every stored story of a small window.

    .venv/bin/python bench/bench_dedup.py --pairs bench/pairs/pairs-2022.jsonl --scale 0
    .venv/bin/python bench/bench_dedup.py --pairs bench/pairs/pairs-2022.jsonl \\
        --stream ../shared/eval/stream-2022.jsonl.gz --scale 0
    .venv/bin/python bench/bench_dedup.py --skip-pairs --scale 1000000 --db /tmp/dedup-1m.db
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import logging
import multiprocessing
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from monitor.detect import dedup, similar  # noqa: E402
from monitor.models import Story  # noqa: E402
from monitor.state.clusters import ClusterIndex, ensure_schema, new_cluster_id  # noqa: E402

DEFAULT_PAIRS = HERE / "pairs" / "pairs-2022.jsonl"
THRESHOLDS = (0.7, 0.75, 0.78, 0.8, 0.82, 0.84, 0.85, 0.86, 0.88, 0.9, 0.95)
DAY_S = 86400.0


# --- quality on labeled pairs -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pair:
    pair_id: str
    kind: str
    zone: str
    source: str
    a: dict[str, str]
    b: dict[str, str]

    @property
    def positive(self) -> bool:
        return self.kind == "copy"


def load_pairs(path: Path) -> list[Pair]:
    pairs = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            raw = json.loads(line)
            if raw["kind"] != "unsure":
                pairs.append(
                    Pair(raw["pair"], raw["kind"], raw["zone"], raw["source"], raw["a"], raw["b"])
                )
    return pairs


def item_story(item: dict[str, str]) -> Story:
    """A stream item as the parse stage would hand it over (one feed per outlet)."""
    published = parse_date(item["date"])
    return Story(
        feed_id=item["outlet"],
        title=item["title"],
        url=item.get("url") or None,
        fetched_at=published,
        summary=item["summary"],
        published_at=published,
        outlet=item["outlet"],
    )


def parse_date(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rates(predicted: Iterable[tuple[bool, bool]]) -> tuple[float, float, int, int, int]:
    """(precision, recall, true positives, false positives, false negatives)."""
    tp = fp = fn = 0
    for guess, truth in predicted:
        tp += guess and truth
        fp += guess and not truth
        fn += truth and not guess
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1), tp, fp, fn


def describe_set(pairs: Sequence[Pair], path: Path) -> None:
    kinds = collections.Counter(p.kind for p in pairs)
    sources = collections.Counter(p.source for p in pairs)
    print(f"labeled pairs: {path} ({len(pairs)} pairs, unsure ones left out)")
    print(f"  positives (copy): {kinds['copy']}; negatives: {len(pairs) - kinds['copy']}", end="")
    print(" (" + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()) if k != "copy") + ")")
    print(f"  labeled by hand: {sources['hand']}; by rule (audited samples): {sources['rule']}")


def pair_scores(pairs: Sequence[Pair]) -> list[tuple[Pair, float]]:
    """Similarity of each pair, 0 when the pair shares no index key (LSH would not compare)."""
    scored = []
    for pair in pairs:
        a, b = similar.signature(item_story(pair.a)), similar.signature(item_story(pair.b))
        shares_key = bool(set(similar.band_keys(a)) & set(similar.band_keys(b)))
        scored.append((pair, similar.similarity(a, b) if shares_key else 0.0))
    return scored


def report_signature(scored: Sequence[tuple[Pair, float]]) -> None:
    print("\nsignature alone (similarity >= threshold and a shared index key):")
    print("  threshold  precision  recall    tp    fp    fn")
    for threshold in THRESHOLDS:
        p, r, tp, fp, fn = rates((s >= threshold, pair.positive) for pair, s in scored)
        mark = "  <- default" if threshold == similar.DEFAULT_THRESHOLD else ""
        print(f"  {threshold:9.2f}  {p:9.3f}  {r:6.3f}  {tp:4d}  {fp:4d}  {fn:4d}{mark}")


def report_two_fold(scored: Sequence[tuple[Pair, float]]) -> None:
    """Pick the threshold on one half (best F1), measure it on the other half."""
    print("\ntwo-fold check (threshold chosen on one half by F1, measured on the other):")
    halves = [[x for x in scored if int(x[0].pair_id, 16) % 2 == k] for k in (0, 1)]
    for k, (tune, test) in enumerate(((halves[0], halves[1]), (halves[1], halves[0]))):
        best = max(THRESHOLDS, key=lambda t: f1(rates((s >= t, p.positive) for p, s in tune)))
        p, r, *_ = rates((s >= best, pair.positive) for pair, s in test)
        print(f"  fold {k}: chosen {best:.2f} -> held-out precision {p:.3f}, recall {r:.3f}")


def f1(result: tuple[float, float, int, int, int]) -> float:
    precision, recall = result[0], result[1]
    return 2 * precision * recall / max(precision + recall, 1e-9)


def cluster_items(
    items: Iterable[dict[str, str]], threshold: float
) -> tuple[dict[str, str], float, int]:
    """Run items through a fresh in-memory index in date order: item id -> cluster id."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    ensure_schema(conn)
    index = ClusterIndex(conn, threshold=threshold)
    ordered = sorted(items, key=lambda item: (item["date"], item["id"]))
    clusters: dict[str, str] = {}
    started = time.perf_counter()
    conn.execute("BEGIN")
    for n, item in enumerate(ordered, 1):
        story = item_story(item)
        clusters[item["id"]] = index.assign(story, now=story.fetched_at).cluster_id
        if n % 5000 == 0:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    count = index.counts()["clusters"]
    conn.close()
    return clusters, elapsed, count


def report_clustering(pairs: Sequence[Pair], clusters: dict[str, str], label: str) -> None:
    verdicts = [(clusters[p.a["id"]] == clusters[p.b["id"]], p) for p in pairs]
    precision, recall, tp, fp, fn = rates((same, p.positive) for same, p in verdicts)
    print(f"\nclustering ({label}), threshold {similar.DEFAULT_THRESHOLD}:")
    print(
        f"  pair precision {precision:.3f}  pair recall {recall:.3f}  (tp {tp}, fp {fp}, fn {fn})"
    )
    by_kind: dict[str, list[bool]] = collections.defaultdict(list)
    for same, pair in verdicts:
        by_kind[pair.kind].append(same)
    for kind, values in sorted(by_kind.items()):
        word = "recall" if kind == "copy" else "put in one cluster"
        print(f"    {kind:16s} {len(values):5d} pairs  {word}: {sum(values) / len(values):.3f}")
    by_zone: dict[str, list[tuple[bool, bool]]] = collections.defaultdict(list)
    for same, pair in verdicts:
        by_zone[pair.zone].append((same, pair.positive))
    print("  by zone (how the pair was drawn):   pairs  precision  recall")
    for zone, values in sorted(by_zone.items()):
        p, r, tp, fp, fn = rates(values)
        recall = f"{r:.3f}" if tp + fn else "  -  "
        precision = f"{p:.3f}" if tp + fp else "  -  "
        print(f"    {zone:30s} {len(values):5d}  {precision:>9s}  {recall:>6s}")


def read_stream(path: Path) -> Iterator[dict[str, str]]:
    from make_pairs import clean  # the same cleaning as the pair set's items

    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            raw = json.loads(line)
            yield {
                "id": raw["id"],
                "outlet": raw["outlet"],
                "title": clean(raw["title"]),
                "summary": clean(raw["summary"]),
                "url": raw["url"],
                "date": raw["date"],
            }


def run_quality(args: argparse.Namespace) -> None:
    pairs = load_pairs(args.pairs)
    describe_set(pairs, args.pairs)
    scored = pair_scores(pairs)
    report_signature(scored)
    report_two_fold(scored)
    items = {p.a["id"]: p.a for p in pairs} | {p.b["id"]: p.b for p in pairs}
    clusters, elapsed, count = cluster_items(items.values(), similar.DEFAULT_THRESHOLD)
    report_clustering(pairs, clusters, f"the set's {len(items)} items alone")
    if args.stream:
        stream = list(read_stream(args.stream))
        clusters, elapsed, count = cluster_items(stream, similar.DEFAULT_THRESHOLD)
        rate = len(stream) / elapsed
        print(f"\nstream: {len(stream)} items in {elapsed:.1f} s ({rate:.0f} items/s), ", end="")
        print(f"{count} clusters")
        report_clustering(pairs, clusters, "within the whole 2022 stream")


# --- scale ------------------------------------------------------------------------------------


class TextSource:
    """Synthetic news-like text: words drawn with the pair set's word frequencies."""

    def __init__(self, pairs_path: Path, seed: int) -> None:
        # Every token of the set, repeats kept: a uniform draw from it follows the frequencies.
        self.tokens: list[str] = []
        with pairs_path.open(encoding="utf-8") as handle:
            for line in handle:
                raw = json.loads(line)
                for item in (raw["a"], raw["b"]):
                    self.tokens += f"{item['title']} {item['summary']}".split()
        self.seed = seed

    def story(self, number: int, when: datetime) -> Story:
        """Story ``number``, the same every time (its own seed), so any one can be rebuilt."""
        feed = f"feed-{number % 60:02d}"
        if number % 50 == 0:  # 2%: daily templates, the hot keys of a real index
            return template_story(number, feed, when)
        rng = random.Random(self.seed * 1_000_003 + number)
        return Story(
            feed_id=feed,
            title=" ".join(rng.choices(self.tokens, k=rng.randint(6, 14))),
            url=f"https://{feed}.example/{number}",
            fetched_at=when,
            summary=" ".join(rng.choices(self.tokens, k=rng.randint(12, 40))),
        )


def template_story(number: int, feed: str, when: datetime) -> Story:
    day = number // 1000
    kind = number % 3
    titles = (
        f"Lottery numbers for {feed} draw on day {day}",
        f"War in Ukraine: key events on day {day}",
        f"Morning briefing: what you need to know on day {day}",
    )
    summary = "The main developments of the last 24 hours, and what to watch today."
    return Story(feed, titles[kind], f"https://{feed}.example/t/{number}", when, summary=summary)


def edited_copy(story: Story, rng: random.Random, number: int) -> Story:
    """Another outlet's copy: one title word dropped, same summary, another feed and link."""
    words = story.title.split()
    if len(words) > 8:
        del words[rng.randrange(1, len(words) - 1)]
    return Story(
        feed_id=f"copy-feed-{number % 7}",
        title=" ".join(words),
        url=f"https://copies.example/{number}?utm_source=rss",
        fetched_at=story.fetched_at,
        summary=story.summary,
    )


def story_time(number: int, n_stories: int, end: datetime) -> datetime:
    """Stories spread evenly over the 30 days that end at ``end``."""
    return end - timedelta(seconds=30 * DAY_S * (1 - number / n_stories))


_WORKER_SOURCE: TextSource | None = None


def _worker_init(pairs_path: Path) -> None:
    global _WORKER_SOURCE
    _WORKER_SOURCE = TextSource(pairs_path, seed=11)


def _worker_rows(job: tuple[int, int, int, float]) -> tuple[list[tuple[object, ...]], list[int]]:
    """Rows for stories ``first..last`` (runs in a worker process): story rows + flat keys."""
    first, last, n_stories, end_ts = job
    assert _WORKER_SOURCE is not None
    end = datetime.fromtimestamp(end_ts, UTC)
    story_rows: list[tuple[object, ...]] = []
    keys: list[int] = []  # band, seen_s, story_id, band, seen_s, ... (cheaper to pickle)
    for number in range(first, last):
        when = story_time(number, n_stories, end)
        story = _WORKER_SOURCE.story(number, when)
        key, sig, seen = f"url:{story.url}", similar.signature(story), when.timestamp()
        story_rows.append(
            (
                number + 1,
                key,
                new_cluster_id(key),
                story.feed_id,
                story.feed_id,
                story.url,
                story.title,
                seen,
                int(seen),
                dedup.content_hash(story),
                sig.to_bytes(),
            )
        )
        for band in similar.band_keys(sig):
            keys += (band, int(seen), number + 1)
    return story_rows, keys


def build_index(path: Path, n_stories: int, pairs_path: Path, end: datetime) -> None:
    """Bulk-load ``n_stories`` over the 30 days before ``end``.

    Signatures are computed in two worker processes; index keys go to a plain staging table
    first and are copied into the key B-tree in key order at the end (SQLite sorts in C, and
    sorted inserts fill pages instead of splitting them).
    """
    conn = sqlite3.connect(path, isolation_level=None)
    # Build-only settings: one writer, nothing to recover if the bench dies.
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    ensure_schema(conn)
    conn.execute("CREATE TEMP TABLE staged_keys (band INTEGER, seen_s INTEGER, story_id INTEGER)")
    chunk = 10000
    jobs = [
        (f, min(f + chunk, n_stories), n_stories, end.timestamp())
        for f in range(0, n_stories, chunk)
    ]
    started = time.perf_counter()
    with multiprocessing.Pool(2, initializer=_worker_init, initargs=(pairs_path,)) as pool:
        for done, (story_rows, keys) in enumerate(pool.imap(_worker_rows, jobs), 1):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO dedup_stories (id, story_key, cluster_id, feed_id, outlet, url, "
                "title, seen_at, indexed_s, content_hash, sig) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                story_rows,
            )
            conn.executemany(
                "INSERT INTO dedup_clusters (cluster_id, first_story_key, first_seen_at, "
                "last_seen_at, size) VALUES (?, ?, ?, ?, 1)",
                [(row[2], row[1], row[7], row[7]) for row in story_rows],
            )
            conn.executemany(
                "INSERT INTO staged_keys VALUES (?, ?, ?)",
                zip(keys[0::3], keys[1::3], keys[2::3], strict=True),
            )
            conn.execute("COMMIT")
            if (done * chunk) % 200000 == 0 or done == len(jobs):
                rate = min(done * chunk, n_stories) / (time.perf_counter() - started)
                print(f"  built {min(done * chunk, n_stories)} stories ({rate:.0f}/s)", flush=True)
    conn.execute(
        "INSERT OR IGNORE INTO dedup_keys SELECT band, seen_s, story_id FROM staged_keys "
        "ORDER BY band, seen_s, story_id"
    )
    conn.execute("DROP TABLE staged_keys")
    conn.execute("ANALYZE")
    conn.close()


def recent_stories(source: TextSource, n_stories: int, end: datetime) -> list[Story]:
    """The stored synthetic stories of the last 72 h (regenerated: same seeds, same text)."""
    window_start = end - timedelta(hours=72)
    first = max(0, int(n_stories * (1 - 3 / 30)) - 2)
    recent = []
    for number in range(first, n_stories):
        when = story_time(number, n_stories, end)
        if when >= window_start:
            recent.append(source.story(number, when))
    return recent


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_scale(args: argparse.Namespace) -> None:
    end = datetime(2026, 3, 31, tzinfo=UTC)
    db = Path(args.db) if args.db else Path(os.environ.get("TMPDIR", "/tmp")) / "bench-dedup.db"
    source = TextSource(args.pairs, seed=11)
    print(f"\nscale: {args.scale} stored stories in {db}")
    if db.exists() and not args.rebuild:
        print("  reusing the database built before (--rebuild to build again)")
    else:
        db.unlink(missing_ok=True)
        started = time.perf_counter()
        build_index(db, args.scale, args.pairs, end)
        size_mib = db.stat().st_size / 2**20
        print(f"  build: {time.perf_counter() - started:.0f} s, {size_mib:.0f} MiB")
    report_disk(db, args.scale)
    recent = recent_stories(source, args.scale, end)
    for cache_mib in (None, args.cache_mib):
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")  # as the store runs it
        conn.execute("PRAGMA synchronous=NORMAL")
        if cache_mib:
            conn.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
        index = ClusterIndex(conn)
        if cache_mib is None:
            print(f"  stored: {index.counts()}; stories in the 72 h window: {len(recent)}")
        label = f"{cache_mib} MiB" if cache_mib else "default (2 MiB)"
        print(f"  SQLite page cache {label}:")
        measure_lookups(conn, index, recent, source, end, args.lookups)
        conn.close()
    conn = sqlite3.connect(db, isolation_level=None)
    measure_baseline(conn, recent, source, end, min(args.lookups, 100), args.baseline_window)
    measure_prune(conn, ClusterIndex(conn), end)
    conn.close()


def report_disk(db: Path, n_stories: int) -> None:
    """The index's size on disk, whole and per table, scaled to a million stories. The naive
    baseline needs the stories and their signatures only (``dedup_stories``), no key table."""
    conn = sqlite3.connect(db)
    per_million = 1_000_000 / max(n_stories, 1)
    total = db.stat().st_size
    print(f"  on disk: {total / 2**20:.0f} MiB, {total * per_million / 2**30:.2f} GiB per million")
    try:
        rows = conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    except sqlite3.Error:  # SQLite built without the dbstat table
        rows = []
    for name, size in rows[:6]:
        print(f"    {name}: {size * per_million / 2**20:.0f} MiB per million")
    conn.close()


def new_stories(
    recent: Sequence[Story], source: TextSource, end: datetime, n: int, seed: int = 5
) -> list[tuple[Story, bool]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append((edited_copy(rng.choice(recent), rng, i), True))
        else:
            fresh = source.story(10_000_000 + i, end)
            out.append(
                (
                    Story(
                        f"new-{i % 9}",
                        fresh.title,
                        f"https://new.example/{i}",
                        end,
                        summary=fresh.summary,
                    ),
                    False,
                )
            )
    return out


def measure_lookups(
    conn: sqlite3.Connection,
    index: ClusterIndex,
    recent: Sequence[Story],
    source: TextSource,
    end: datetime,
    n: int,
) -> None:
    batch = new_stories(recent, source, end, n)
    for story, _ in new_stories(recent, source, end, 200, seed=99):
        index.peek(story, now=end)  # warm-up: a running daemon has its pages cached
    peeks, peek_cpu = [], []
    for story, _ in batch:
        started, cpu = time.perf_counter(), time.thread_time()
        index.peek(story, now=end)
        peeks.append(time.perf_counter() - started)
        peek_cpu.append(time.thread_time() - cpu)
    print(f"    lookup (peek: find and compare, no writes), {n} new stories: ", end="")
    print(
        f"mean {statistics.mean(peeks) * 1e3:.3f} ms, p50 {percentile(peeks, 0.5) * 1e3:.3f} ms, ",
        end="",
    )
    print(f"p99 {percentile(peeks, 0.99) * 1e3:.3f} ms")
    print_cpu("lookup", peek_cpu)
    timings, found, assign_cpu = [], 0, []
    conn.execute("BEGIN")
    for story, is_copy in batch:
        started, cpu = time.perf_counter(), time.thread_time()
        assignment = index.assign(story, now=end)
        timings.append(time.perf_counter() - started)
        assign_cpu.append(time.thread_time() - cpu)
        found += is_copy and not assignment.is_new_cluster
    conn.execute("ROLLBACK")  # leave the database as built
    print_cpu("assign", assign_cpu)
    copies = sum(1 for _, is_copy in batch if is_copy)
    mean, p50, p99 = (
        statistics.mean(timings) * 1e3,
        percentile(timings, 0.5) * 1e3,
        percentile(timings, 0.99) * 1e3,
    )
    print(
        f"    assign() per story, {n} new stories (half edited copies): mean {mean:.3f} ms, ",
        end="",
    )
    print(f"p50 {p50:.3f} ms, p99 {p99:.3f} ms; copies found {found}/{copies}")


def print_cpu(label: str, seconds: Sequence[float]) -> None:
    """CPU time of this thread per story: on a host shared with other work, wall-clock
    percentiles measure the scheduler; this measures the work (I/O from the OS cache)."""
    mean, p99 = statistics.mean(seconds) * 1e3, percentile(seconds, 0.99) * 1e3
    print(f"      {label} CPU time per story: mean {mean:.3f} ms, p99 {p99:.3f} ms")


def measure_baseline(
    conn: sqlite3.Connection,
    recent: Sequence[Story],
    source: TextSource,
    end: datetime,
    n: int,
    window: int,
) -> None:
    """Naive scan: signature of the new story against every stored story of the newest
    ``window`` (signatures already in memory, so this is pure comparison time)."""
    rows = conn.execute(
        "SELECT feed_id, sig FROM dedup_stories ORDER BY id DESC LIMIT ?", (window,)
    ).fetchall()
    stored = [similar.Signature.from_bytes(blob, feed) for feed, blob in rows]
    timings = []
    for story, _ in new_stories(recent, source, end, n):
        started = time.perf_counter()
        sig = similar.signature(story)
        max((similar.similarity(sig, other) for other in stored), default=0.0)
        timings.append(time.perf_counter() - started)
    mean_ms = statistics.mean(timings) * 1e3
    full = mean_ms * len(recent) / max(len(stored), 1)
    print(
        f"  baseline, naive scan over the newest {len(stored)} stories: mean {mean_ms:.2f} ms "
        f"per story (the whole 72 h window of {len(recent)} would be ~{full:.0f} ms)"
    )


def measure_prune(conn: sqlite3.Connection, index: ClusterIndex, end: datetime) -> None:
    first = conn.execute("SELECT min(seen_at) FROM dedup_stories").fetchone()[0]
    cutoff = datetime.fromtimestamp(first, UTC) + timedelta(days=1)
    conn.execute("BEGIN")
    started = time.perf_counter()
    removed = index.prune(older_than=cutoff)
    elapsed = time.perf_counter() - started
    conn.execute("ROLLBACK")
    print(f"  prune of the oldest day: {removed} stories in {elapsed:.2f} s (rolled back)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS)
    parser.add_argument("--stream", type=Path, help="also cluster the whole stream (jsonl.gz)")
    parser.add_argument("--skip-pairs", action="store_true")
    parser.add_argument("--scale", type=int, default=1_000_000, help="stored stories; 0 skips")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--baseline-window", type=int, default=5000)
    parser.add_argument("--db", help="database file for the scale part (reused if present)")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--cache-mib", type=int, default=256, help="second run's page cache")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if not args.skip_pairs:
        run_quality(args)
    if args.scale > 0:
        run_scale(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
