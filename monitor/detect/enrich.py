"""Full text for thin candidates: fetch a story's article and extract its main text (an adapter).

For the poller (``ports.Enricher``): ``wants(story, hits)`` says whether a new story is thin (its
feed text is short) and a candidate (it already has a DPRK-side or Russia-side hit);
``enrich(feed, stories)`` fetches those stories' links and returns ``{story key: Article}``.
A story missing from the answer is judged on what the feed gave: no failure here ever blocks
a story or the poll.

The article goes through the SAME ``FeedFetcher`` as feeds, so it has the same per-host
concurrency, byte cap (decompressed), total deadline, redirect checks, network policy and
User-Agent. On top of that:

- ``robots.txt`` is honoured, cached per host (``RobotsCache``; RFC 9309: a 4xx means no rules,
  an unreachable or 5xx robots.txt means "fetch nothing" until it is asked again);
- budgets: at most ``max_per_poll`` articles per poll, ``max_per_host_per_hour`` per host, and
  all of a poll's articles within ``poll_budget_s`` (so enrichment fits inside a feed lease);
- ``domains_skip`` (paywalled or hostile hosts, subdomains included) is never fetched;
- Google News items link to a redirect page: a plain HTTP redirect to the publisher is followed
  (by the fetcher); a page that stays on Google (a JavaScript redirect) is skipped;
- the HTML is untrusted: extraction runs in the parse worker process with a time limit
  (``Extractor``, which ``ProcessParser`` satisfies).

Every outcome is counted through ``observe.observe_article(outcome, reason)`` (and each
extraction's time through ``observe_extraction``): ``fetched``,
``skipped`` (robots, budget, domain, policy, google_news, not_html) or ``failed`` (the fetch
error kind, extraction, no_text).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

import structlog

from monitor.detect.evidence import is_candidate, is_thin
from monitor.detect.robots import RobotsCache, origin_of
from monitor.errors import FetchBlocked, FetchError, FetchHTTPStatus, ParseError
from monitor.models import Article, FeedSpec, FeedState, FetchResult, Hit, Story
from monitor.ports import Clock, Fetcher

log = structlog.get_logger(__name__)


class EnrichObserver(Protocol):
    """Counts enrichment outcomes (``service.metrics.Metrics`` fits)."""

    def observe_article(self, outcome: str, reason: str) -> None: ...

    def observe_extraction(self, seconds: float) -> None: ...


class Extractor(Protocol):
    """Extracts an article's main text in a worker with a time limit (``ProcessParser``)."""

    async def extract(
        self, html: bytes, *, url: str, subject: str, time_limit_s: float, max_chars: int
    ) -> str | None: ...


@dataclass(frozen=True, slots=True)
class EnrichPolicy:
    """The knobs of enrichment, taken from the config (``enrich.*``) by the composition root."""

    min_summary_words: int = 40
    max_per_poll: int = 5
    max_per_host_per_hour: int = 30
    poll_budget_s: float = 60.0
    extract_time_limit_s: float = 10.0
    max_text_chars: int = 20_000
    domains_skip: tuple[str, ...] = ()
    redirect_hosts: tuple[str, ...] = ("news.google.com",)  # links that are redirect pages


class Skip(Exception):
    """Internal: this story's article is not fetched (``reason`` is the metric label)."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


class ArticleEnricher:
    """Fetches and extracts the articles of thin candidate stories, within budgets."""

    def __init__(
        self,
        *,
        fetcher: Fetcher,
        extractor: Extractor,
        clock: Clock,
        robots: RobotsCache,
        policy: EnrichPolicy = EnrichPolicy(),
        observe: EnrichObserver | None = None,
        partial: Callable[[Story, Sequence[Hit]], bool] | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.extractor = extractor
        self.clock = clock
        self.robots = robots
        self.policy = policy
        self.observe = observe
        self.partial = partial  # the closest rule lacks one part (``evidence.is_partial_match``)
        self._host_fetches: dict[str, deque[datetime]] = {}

    def wants(self, story: Story, hits: Sequence[Hit]) -> bool:
        """A thin story with an http(s) link and a DPRK-side or Russia-side hit, or a rule
        that lacks one part only (``partial``, asked last: it tries every rule)."""
        if not (
            _is_web_link(story.url) and is_thin(story, min_words=self.policy.min_summary_words)
        ):
            return False
        if is_candidate(hits):
            return True
        return bool(hits) and self.partial is not None and self.partial(story, hits)

    async def enrich(self, feed: FeedSpec, stories: Sequence[Story]) -> dict[str, Article]:
        """``{story key: Article}`` for the stories whose article could be fetched and read."""
        planned: list[Story] = []
        for story in stories:
            if self._admit(feed, story, admitted=len(planned)):
                planned.append(story)
        if not planned:
            return {}
        tasks = [asyncio.create_task(self._one(feed, story)) for story in planned]
        try:
            done, pending = await asyncio.wait(tasks, timeout=self.policy.poll_budget_s)
        finally:  # the budget ran out, or the poll itself was cancelled (shutdown)
            for task in tasks:
                if not task.done():
                    task.cancel()
        for story, task in zip(planned, tasks, strict=True):
            if task in pending:
                self._count(feed, story, "skipped", "budget")
        if pending:
            await asyncio.wait(pending)
        found = (task.result() for task in tasks if task in done)
        return {story_key: article for story_key, article in found if article is not None}

    # --- one story ---------------------------------------------------------------------------

    def _admit(self, feed: FeedSpec, story: Story, *, admitted: int) -> bool:
        """Apply the cheap gates (skip list, budgets) before any request; count the skips."""
        host = _host(story.url)
        if _listed(host, self.policy.domains_skip):
            self._count(feed, story, "skipped", "domain")
            return False
        window = self._host_fetches.setdefault(host, deque())
        now = self.clock.now()
        while window and window[0] <= now - timedelta(hours=1):
            window.popleft()
        if len(window) >= self.policy.max_per_host_per_hour or admitted >= self.policy.max_per_poll:
            self._count(feed, story, "skipped", "budget")
            return False
        window.append(now)
        return True

    async def _one(self, feed: FeedSpec, story: Story) -> tuple[str, Article | None]:
        started = time.perf_counter()
        try:
            article = await self._fetch_and_extract(feed, story)
        except Skip as skip:
            self._count(feed, story, skip.outcome, skip.reason)
            return story.key, None
        self._count(feed, story, "fetched", "ok", time.perf_counter() - started)
        return story.key, article

    async def _fetch_and_extract(self, feed: FeedSpec, story: Story) -> Article:
        url = story.url or ""
        if not await self.robots.allowed(feed, url):
            raise Skip("skipped", "robots")
        result = await self._fetch(feed, url)
        hosts = self.policy.redirect_hosts
        if _host(url) in hosts and _host(result.url) in hosts:
            raise Skip("skipped", "google_news")  # no plain HTTP redirect to the publisher
        ctype = (result.content_type or "text/html").split(";")[0].strip().lower()
        if "html" not in ctype:
            raise Skip("skipped", "not_html")
        text = await self._extract(feed, story, result)
        return Article(
            url=result.url,
            status=result.status,
            fetched_at=result.fetched_at,
            body_sha256=hashlib.sha256(result.body).hexdigest(),
            text=text,
        )

    async def _fetch(self, feed: FeedSpec, url: str) -> FetchResult:
        article_feed = FeedSpec(id=f"{feed.id}/article", url=url, name=feed.name, tags=feed.tags)
        try:
            return await self.fetcher.fetch(article_feed, FeedState(feed_id=article_feed.id))
        except FetchError as exc:
            log.info("article_fetch_failed", feed_id=feed.id, url=url, error=str(exc))
            kind = _error_kind(exc)
            raise Skip("skipped" if kind == "policy" else "failed", kind) from exc

    async def _extract(self, feed: FeedSpec, story: Story, result: FetchResult) -> str:
        started = time.perf_counter()
        try:
            text = await self.extractor.extract(
                result.body,
                url=result.url,
                subject=f"{feed.id}/{story.key}",
                time_limit_s=self.policy.extract_time_limit_s,
                max_chars=self.policy.max_text_chars,
            )
        except ParseError as exc:
            log.info("article_extraction_failed", feed_id=feed.id, url=result.url, error=str(exc))
            raise Skip("failed", "extraction") from exc
        finally:
            if self.observe is not None:
                self.observe.observe_extraction(time.perf_counter() - started)
        if not text:
            raise Skip("failed", "no_text")
        return text

    def _count(
        self, feed: FeedSpec, story: Story, outcome: str, reason: str, elapsed_s: float = 0.0
    ) -> None:
        log.info(
            "article_enrichment",
            feed_id=feed.id,
            story_key=story.key,
            outcome=outcome,
            reason=reason,
            elapsed_s=round(elapsed_s, 3),
        )
        if self.observe is not None:
            self.observe.observe_article(outcome, reason)


# --- helpers -------------------------------------------------------------------------------------


def _is_web_link(url: str | None) -> bool:
    return bool(url) and urlsplit(url or "").scheme.lower() in ("http", "https")


def _host(url: str | None) -> str:
    return (urlsplit(url or "").hostname or "").lower()


def _listed(host: str, domains: Sequence[str]) -> bool:
    """``host`` is one of ``domains`` or a subdomain of one (``www.ft.com`` under ``ft.com``)."""
    return any(host == d or host.endswith("." + d) for d in domains)


def _error_kind(exc: FetchError) -> str:
    """The metric label of a fetch error: ``timeout``, ``too_large``, ``http_5xx``, ``policy`` …"""
    if isinstance(exc, FetchHTTPStatus):
        return f"http_{exc.status // 100}xx"
    if isinstance(exc, FetchBlocked):
        return "policy"  # the network policy refused the address (SSRF guard)
    return {
        "FetchTimeout": "timeout",
        "FetchTooLarge": "too_large",
        "FetchRedirectError": "redirect",
        "FetchConnectError": "connect",
    }.get(type(exc).__name__, "error")


__all__ = ["ArticleEnricher", "EnrichPolicy", "Extractor", "RobotsCache", "origin_of"]
