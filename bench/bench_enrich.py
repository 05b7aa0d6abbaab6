"""Article enrichment: the cost of one enriched story, and how many stories would be enriched.

    .venv/bin/python bench/bench_enrich.py [--stories 60] [--paragraphs 12] [STREAM.jsonl.gz]

1. Cost per enriched story, on loopback: the real ``ArticleEnricher`` (robots.txt cached per
   host, the real ``FeedFetcher`` with its limits, extraction by trafilatura in the real
   ``ProcessParser`` worker) over ``--stories`` thin candidates, one at a time, each article a
   news page of ``--paragraphs`` paragraphs with menus, a sidebar and a footer. Baselines in the
   same run, on the same pages: the fetch alone (``FeedFetcher.fetch``) and the extraction
   alone (a worker round trip with the page already in memory).
2. With a stream (e.g. ``../shared/eval/stream-2023-h1.jsonl.gz``): counts only, no fetching:
   how many items are thin (under ``enrich.min_summary_words`` words of summary, HTML
   stripped as the parser does), how many of those are candidates (a DPRK-side or Russia-side
   hit with the bundled pack, or a rule one part short) and would have been fetched, overall
   and among the labeled relevant items. The baseline is the share a monitor without the
   candidate test would fetch (every thin item).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.detect.enrich import ArticleEnricher, EnrichPolicy
from monitor.detect.evidence import is_candidate, is_partial_match, is_thin
from monitor.detect.fetch import FeedFetcher, build_client
from monitor.detect.parse import html_to_text
from monitor.detect.parse_pool import ProcessParser
from monitor.detect.robots import RobotsCache
from monitor.models import FeedSpec, FeedState, Story
from monitor.service.config import BUNDLED_CONFIG, load_config
from tests.servers.article_server import ArticleServer

UA = "sanctions-monitor-bench/1"
FEED = FeedSpec(id="bench", url="http://127.0.0.1/feed.xml")
SENTENCE = (
    "Officials said a Russian-flagged cargo ship carried containers from the port of Rajin to "
    "Vostochny in paragraph {i}, according to satellite images and shipping records."
)


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _pages(server: ArticleServer, count: int, paragraphs: int) -> list[str]:
    body = [SENTENCE.format(i=i) for i in range(paragraphs)]
    return [server.set_article(f"/news/{n}", f"Story {n}", body) for n in range(count)]


def _story(url: str, n: int) -> Story:
    return Story(feed_id="bench", title="North Korea and Russia", url=url,
                 fetched_at=datetime.now(UTC), key=f"k{n}")  # fmt: skip


def _ms(values: list[float]) -> str:
    median, mean = statistics.median(values) * 1e3, statistics.mean(values) * 1e3
    return f"median {median:6.2f} ms, mean {mean:6.2f} ms"


async def _cost(stories: int, paragraphs: int) -> None:
    server = ArticleServer()
    server.start()
    pool = ProcessParser(time_limit_s=10.0)
    try:
        urls = _pages(server, stories, paragraphs)
        page_bytes = len(server.route("/news/0").body)  # type: ignore[union-attr]
        async with build_client(user_agent=UA, timeout_s=10.0) as client:
            clock = _Clock()
            fetcher = FeedFetcher(client=client, clock=clock, timeout_s=10.0)
            enricher = ArticleEnricher(
                fetcher=fetcher, extractor=pool, clock=clock,
                robots=RobotsCache(fetcher=fetcher, clock=clock, user_agent=UA),
                policy=EnrichPolicy(max_per_poll=stories, max_per_host_per_hour=10 * stories),
            )  # fmt: skip
            await enricher.enrich(FEED, [_story(urls[0], -1)])  # warm: worker, robots, pool
            enriched, fetched, extracted = [], [], []
            for n, url in enumerate(urls):
                started = time.perf_counter()
                found = await enricher.enrich(FEED, [_story(url, n)])
                enriched.append(time.perf_counter() - started)
                assert found, f"story {n} was not enriched"
                started = time.perf_counter()
                result = await fetcher.fetch(FeedSpec(id="b", url=url), FeedState(feed_id="b"))
                fetched.append(time.perf_counter() - started)
                started = time.perf_counter()
                await pool.extract(result.body, url=url, subject="b", time_limit_s=10.0,
                                   max_chars=20_000)  # fmt: skip
                extracted.append(time.perf_counter() - started)
        print(f"cost per enriched story ({stories} stories, {page_bytes:,} B page, "
              f"{paragraphs} paragraphs, loopback):")  # fmt: skip
        print(f"  enriched (robots cached + fetch + extraction): {_ms(enriched)}")
        print(f"  baseline, fetch alone:                          {_ms(fetched)}")
        print(f"  baseline, extraction alone (worker round trip): {_ms(extracted)}")
        print(f"  worker CPU in extraction: {pool.article_cpu_s / (2 * stories + 1) * 1e3:.2f} ms"
              " per article")  # fmt: skip
    finally:
        pool.close()
        server.stop()


def _items(path: Path) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _candidates(path: Path, min_words: int) -> None:
    pack = load_config(BUNDLED_CONFIG).pack
    total = thin = candidates = relevant = relevant_thin = relevant_candidates = partial = 0
    partial_s = 0.0
    started = time.perf_counter()
    for n, item in enumerate(_items(path)):
        story = Story(feed_id="stream", title=str(item.get("title") or ""), url=item.get("url"),
                      fetched_at=datetime.now(UTC), key=str(n),
                      summary=html_to_text(str(item.get("summary") or "")))  # fmt: skip
        total += 1
        is_relevant = item.get("label") == "relevant" and not item.get("borderline")
        relevant += is_relevant
        if not is_thin(story, min_words=min_words):
            continue
        thin += 1
        relevant_thin += is_relevant
        hits = pack.match(story)
        if not is_candidate(hits):
            if not hits:
                continue
            asked = time.perf_counter()
            one_short = is_partial_match(story, hits, pack)
            partial_s += time.perf_counter() - asked
            if not one_short:
                continue
            partial += 1
        candidates += 1
        relevant_candidates += is_relevant
    elapsed = time.perf_counter() - started
    print(f"stream {path.name}: {total:,} items ({elapsed:.1f} s, counting only, no fetch)")
    print(f"  thin (< {min_words} words of summary): {thin:,} ({thin / total:.1%}) "
          "= baseline: fetched without the candidate test")  # fmt: skip
    print(f"  thin candidates, would be fetched:   {candidates:,} ({candidates / total:.2%} "
          f"of items, {candidates / max(thin, 1):.2%} of thin items)")  # fmt: skip
    print(f"  of which by a partial match only (no DPRK/Russia-side hit): {partial:,}; "
          f"partial-match test time {partial_s:.1f} s in all")  # fmt: skip
    print(f"  clear relevant items: {relevant}; thin: {relevant_thin}; "
          f"thin and candidate (enriched): {relevant_candidates}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stream", nargs="?", type=Path, help="a labeled stream (.jsonl[.gz])")
    parser.add_argument("--stories", type=int, default=60)
    parser.add_argument("--paragraphs", type=int, default=12)
    parser.add_argument("--min-words", type=int, default=EnrichPolicy().min_summary_words)
    args = parser.parse_args()
    asyncio.run(_cost(args.stories, args.paragraphs))
    if args.stream is not None:
        _candidates(args.stream, args.min_words)


if __name__ == "__main__":
    main()
