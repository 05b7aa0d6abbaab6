"""``robots.txt`` for article fetches, asked once per host and cached (an adapter).

For ``enrich``: ``await robots.allowed(feed, url)`` before any article request. The file is
fetched through the same ``Fetcher`` as feeds (same limits, network policy and User-Agent) and
matched with the stdlib ``urllib.robotparser`` against our product token (the User-Agent up to
its first ``/``). What an answer means follows RFC 9309 §2.3.1:

- 2xx: its rules apply;
- 4xx (404, 410 …): there are no rules, everything is allowed;
- 5xx, a timeout or a refused connection: the site is treated as disallowing everything, and
  asked again after ``error_ttl_s`` (shorter than ``ttl_s``).

Only the link's own host is asked: a redirect to another host is followed without asking that
host's robots.txt (the fetcher follows redirects itself; documented in the README).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import structlog

from monitor.errors import FetchError, FetchHTTPStatus
from monitor.models import FeedSpec, FeedState
from monitor.ports import Clock, Fetcher

log = structlog.get_logger(__name__)

MAX_ROBOTS_CHARS = 500_000  # Google's parser reads the first 500 KiB; so do we


@dataclass(frozen=True, slots=True)
class _Rules:
    parser: RobotFileParser | None  # None with ``allow_all`` deciding
    allow_all: bool
    expires_at: datetime


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, the key robots.txt rules are kept under."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme.lower()}://{host}{port}"


def product_token(user_agent: str) -> str:
    """``sanctions-monitor`` from ``sanctions-monitor/0.1 (+https://…)``."""
    return user_agent.split("/", 1)[0].split()[0] if user_agent.strip() else "*"


class RobotsCache:
    """Per-host robots.txt rules, fetched on first use and kept for ``ttl_s``."""

    def __init__(
        self,
        *,
        fetcher: Fetcher,
        clock: Clock,
        user_agent: str,
        ttl_s: float = 86_400.0,
        error_ttl_s: float = 600.0,
    ) -> None:
        self.fetcher = fetcher
        self.clock = clock
        self.agent = product_token(user_agent)
        self.ttl_s = ttl_s
        self.error_ttl_s = error_ttl_s
        self._rules: dict[str, _Rules] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.fetches = 0  # robots.txt requests made (tests and the bench read it)

    async def allowed(self, feed: FeedSpec, url: str) -> bool:
        """True when our product token may fetch ``url`` by its host's robots.txt."""
        origin = origin_of(url)
        rules = self._rules.get(origin)
        if rules is None or rules.expires_at <= self.clock.now():
            async with self._locks.setdefault(origin, asyncio.Lock()):
                rules = self._rules.get(origin)
                if rules is None or rules.expires_at <= self.clock.now():
                    rules = await self._load(feed, origin)
                    self._rules[origin] = rules
        if rules.parser is None:
            return rules.allow_all
        return rules.parser.can_fetch(self.agent, url)

    async def _load(self, feed: FeedSpec, origin: str) -> _Rules:
        spec = FeedSpec(id=f"{feed.id}/robots", url=f"{origin}/robots.txt")
        self.fetches += 1
        try:
            result = await self.fetcher.fetch(spec, FeedState(feed_id=spec.id))
        except FetchHTTPStatus as exc:
            if 400 <= exc.status < 500:
                return self._verdict(allow_all=True, ttl_s=self.ttl_s)
            log.info("robots_unavailable", feed_id=feed.id, origin=origin, error=str(exc))
            return self._verdict(allow_all=False, ttl_s=self.error_ttl_s)
        except FetchError as exc:
            log.info("robots_unavailable", feed_id=feed.id, origin=origin, error=str(exc))
            return self._verdict(allow_all=False, ttl_s=self.error_ttl_s)
        parser = RobotFileParser()
        text = result.body.decode("utf-8", errors="replace")[:MAX_ROBOTS_CHARS]
        parser.parse(text.splitlines())
        expires = self.clock.now() + timedelta(seconds=self.ttl_s)
        return _Rules(parser=parser, allow_all=False, expires_at=expires)

    def _verdict(self, *, allow_all: bool, ttl_s: float) -> _Rules:
        expires = self.clock.now() + timedelta(seconds=ttl_s)
        return _Rules(parser=None, allow_all=allow_all, expires_at=expires)
