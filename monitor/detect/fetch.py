"""Fetch one feed over HTTP, politely and within bounds (an adapter; satisfies ``ports.Fetcher``).

For the pipeline, which hands over a ``FeedSpec`` and the feed's stored ``FeedState`` and gets back
a ``FetchResult`` (200 with a body, or 304 with none) or a ``FetchError`` naming the feed:

- conditional GET: ``If-None-Match`` / ``If-Modified-Since`` are the stored ``ETag`` and
  ``Last-Modified`` sent back byte for byte (RFC 9110 §13.1; a made-up date would make servers
  with clock skew answer 200 forever, or 304 wrongly);
- ``Accept-Encoding: gzip, deflate``; the body is read as RAW chunks and decompressed here with a
  bound, so the byte cap applies to the DECOMPRESSED size and a gzip bomb stops at the cap
  (``httpx``'s ``aiter_bytes()`` decodes whole chunks first and let a bomb reach 64 MiB);
- one total deadline around connect, redirects, headers and body (a trickling server cannot
  keep a slot by sending one byte a second under every per-read timeout);
- redirects followed by hand, at most ``max_redirects``, http/https targets only;
- a global and a per-host concurrency limit; waiting for a slot does not eat the deadline.

Errors (``monitor.errors``): ``FetchTimeout``, ``FetchTooLarge``, ``FetchHTTPStatus`` (with
``retry_after_s``), ``FetchRedirectError``, ``FetchConnectError``, ``FetchBlocked`` (the network
policy of ``detect.netpolicy`` refused an address, on the first request or a redirect), and
plain ``FetchError`` for a body whose compression is corrupt or unsupported. No ``httpx``
exception escapes.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx
import structlog

from monitor.detect.netpolicy import AddressRefused, GuardedTransport, NetworkPolicy
from monitor.errors import (
    FetchBlocked,
    FetchConnectError,
    FetchError,
    FetchHTTPStatus,
    FetchRedirectError,
    FetchTimeout,
    FetchTooLarge,
)
from monitor.models import FeedSpec, FeedState, FetchResult
from monitor.ports import Clock

log = structlog.get_logger(__name__)

ALLOWED_SCHEMES = frozenset({"http", "https"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


def build_client(
    *,
    user_agent: str,
    timeout_s: float,
    max_connections: int = 20,
    policy: NetworkPolicy | None = None,
) -> httpx.AsyncClient:
    """The shared feed ``AsyncClient`` (built only by the CLI, the composition root).

    With a ``policy`` every connection (first request, each redirect, through a proxy or not)
    goes only where the policy allows (``detect.netpolicy``); httpx's own reading of proxy
    variables is then off, as the guarded transport applies them itself after its check.

    Redirects are off (``FeedFetcher`` follows them itself, checking each target), per-operation
    timeouts are the fetch deadline (the fetcher adds the total one), and the pool is bounded.
    Few idle connections are kept: feeds sit on different hosts and come round every few
    minutes, so they rarely reuse one, while httpcore scans every pooled connection for each
    queued request (32 idle connections cost ~2x the CPU per request of 8 in bench_poll).
    """
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max(2, max_connections // 4),
        keepalive_expiry=30.0,
    )
    return httpx.AsyncClient(
        headers={"User-Agent": user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        limits=limits,
        follow_redirects=False,
        transport=GuardedTransport(policy, limits=limits) if policy is not None else None,
        trust_env=policy is None,
    )


class FeedFetcher:
    """Fetches feeds through a shared client with a deadline, a byte cap and concurrency limits.

    ``max_bytes`` caps the decompressed body; ``timeout_s`` is the total deadline of one fetch
    (all redirects included); ``per_host_limit`` bounds concurrent fetches to the feed's own host
    (a redirect target on another host is not counted, to avoid waiting on two hosts at once);
    ``global_limit`` bounds all fetches of this fetcher.
    """

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        clock: Clock,
        max_bytes: int = 5_000_000,
        timeout_s: float = 30.0,
        max_redirects: int = 5,
        per_host_limit: int = 2,
        global_limit: int = 16,
    ) -> None:
        self.client = client
        self.clock = clock
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_redirects = max_redirects
        self.per_host_limit = per_host_limit
        self.global_limit = global_limit
        self._loop: asyncio.AbstractEventLoop | None = None
        self._global: asyncio.Semaphore | None = None
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def fetch(self, feed: FeedSpec, state: FeedState) -> FetchResult:
        """Fetch ``feed`` conditionally; 304 → ``FetchResult(status=304, body=b"")``."""
        _check_scheme(feed, feed.url, first=True)
        async with self._slots(_host_key(feed.url)):
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.timeout_s):
                    result = await self._follow(feed, state)
            except TimeoutError as exc:
                raise FetchTimeout(
                    feed.id, f"no complete answer within {self.timeout_s:g} s"
                ).with_host(urlsplit(feed.url).hostname) from exc
            except FetchError as exc:
                raise exc.with_host(urlsplit(feed.url).hostname) from exc.__cause__
        elapsed_s = time.monotonic() - started
        return _with_elapsed(result, elapsed_s)

    # --- concurrency ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _slots(self, host: str) -> AsyncIterator[None]:
        """Hold one global slot and one slot of ``host`` (semaphores are made per event loop)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop or self._global is None:
            self._loop, self._global, self._hosts = loop, asyncio.Semaphore(self.global_limit), {}
        host_slot = self._hosts.setdefault(host, asyncio.Semaphore(self.per_host_limit))
        async with self._global, host_slot:
            yield

    # --- one fetch, hop by hop -----------------------------------------------------------------

    async def _follow(self, feed: FeedSpec, state: FeedState) -> FetchResult:
        url = feed.url
        headers = _conditional_headers(state)
        for hop in range(self.max_redirects + 1):
            outcome = await self._hop(feed, url, headers)
            if isinstance(outcome, FetchResult):
                return outcome
            url = outcome
            if hop < self.max_redirects:
                log.debug("feed_redirected", feed_id=feed.id, hop=hop + 1, location=url)
        raise FetchRedirectError(feed.id, f"more than {self.max_redirects} redirects")

    async def _hop(self, feed: FeedSpec, url: str, headers: dict[str, str]) -> FetchResult | str:
        """One request: a result, or the next URL to go to (already checked)."""
        try:
            request = self.client.build_request("GET", url, headers=headers)
        except httpx.InvalidURL as exc:
            raise FetchRedirectError(feed.id, f"unusable URL {_shown(url)!r} ({exc})") from exc
        try:
            response = await self.client.send(request, stream=True, follow_redirects=False)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            # httpx reads the Location of a redirect inside send(), even when not following it,
            # and fails there on "javascript:alert(1)" before we can look at it ourselves.
            raise FetchRedirectError(
                feed.id, f"redirect to a non-http(s) or malformed URL ({exc})"
            ) from exc
        except httpx.HTTPError as exc:
            raise _translate(feed, exc) from exc
        try:
            return await self._interpret(feed, response)
        except httpx.HTTPError as exc:
            raise _translate(feed, exc) from exc
        finally:
            await response.aclose()

    async def _interpret(self, feed: FeedSpec, response: httpx.Response) -> FetchResult | str:
        status = response.status_code
        if 200 <= status < 300:
            body = await self._read_body(feed, response)
            return self._result(feed, response, body)
        # Read the (small) rest so the connection goes back to the pool instead of closing.
        await _drain(response)
        if status in REDIRECT_STATUSES and "location" in response.headers:
            # Join with urllib first: httpx rejects "javascript:..." before we could name it.
            target = urljoin(str(response.url), response.headers["location"].strip())
            _check_scheme(feed, target, first=False)
            return target
        if status == 304:
            return self._result(feed, response, b"")
        retry_after_s = parse_retry_after(response.headers.get("retry-after"), now=self.clock.now())
        raise FetchHTTPStatus(feed.id, status, retry_after_s=retry_after_s)

    def _result(self, feed: FeedSpec, response: httpx.Response, body: bytes) -> FetchResult:
        h = response.headers
        return FetchResult(
            feed_id=feed.id,
            url=str(response.url),
            status=response.status_code,
            body=body,
            fetched_at=self.clock.now(),
            content_type=h.get("content-type"),
            content_location=h.get("content-location"),
            etag=h.get("etag"),
            last_modified=h.get("last-modified"),
            cache_control=h.get("cache-control"),
            expires=h.get("expires"),
        )

    # --- the body ------------------------------------------------------------------------------

    async def _read_body(self, feed: FeedSpec, response: httpx.Response) -> bytes:
        """Raw chunks → bounded decoder → at most ``max_bytes`` decompressed bytes."""
        declared = _content_length(response)
        codings = _content_codings(feed, response)
        if declared is not None and not codings and declared > self.max_bytes:
            raise FetchTooLarge(
                feed.id, f"body of {declared} bytes over the {self.max_bytes} byte cap"
            )
        decoder = BoundedDecoder(codings, max_bytes=self.max_bytes)
        parts: list[bytes] = []
        raw_bytes = 0
        try:
            async for chunk in response.aiter_raw():
                raw_bytes += len(chunk)
                if raw_bytes > self.max_bytes:
                    raise BodyTooLarge
                parts.append(decoder.feed(chunk))
            parts.append(decoder.flush())
        except BodyTooLarge as exc:
            raise FetchTooLarge(feed.id, f"body over the {self.max_bytes} byte cap") from exc
        except zlib.error as exc:
            raise FetchError(feed.id, f"corrupt {'+'.join(codings)} body ({exc})") from exc
        return b"".join(parts)


# --- bounded decompression ---------------------------------------------------------------------


class BodyTooLarge(Exception):
    """Internal signal: the decoded body passed the cap (translated to ``FetchTooLarge``)."""


class BoundedDecoder:
    """Undo ``Content-Encoding`` (gzip, deflate, or a chain) never holding more than the cap.

    Each ``zlib`` call is told to produce at most what is left under the cap plus one byte, so a
    bomb is detected after ``max_bytes + 1`` output bytes, whatever its ratio.
    """

    def __init__(self, codings: list[str], *, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        # Codings are listed in the order they were applied; undo the last one first.
        self.stages = [_Inflater(coding, max_bytes=max_bytes) for coding in reversed(codings)]
        self.total = 0

    def feed(self, data: bytes) -> bytes:
        for stage in self.stages:
            data = stage.feed(data)
        return self._count(data)

    def flush(self) -> bytes:
        data = b""
        for stage in self.stages:
            data = stage.feed(data) + stage.flush()
        return self._count(data)

    def _count(self, data: bytes) -> bytes:
        self.total += len(data)
        if self.total > self.max_bytes:
            raise BodyTooLarge
        return data


class _Inflater:
    """One gzip or deflate layer with bounded output; handles multi-member gzip and raw deflate."""

    def __init__(self, coding: str, *, max_bytes: int) -> None:
        self.coding = coding
        self.max_bytes = max_bytes
        self.produced = 0
        # 47 = 32 + 15: zlib detects a gzip or zlib header itself. Some servers send raw deflate
        # (no header) as "deflate"; we fall back to that on the first error.
        self.wbits = 47
        self.obj: zlib._Decompress | None = zlib.decompressobj(self.wbits)
        self.tail = b""  # bytes after a gzip member, too few to tell if another one starts
        self.started = False
        self.done = False

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        while data and not self.done:
            data = self._step(data, out)
        return b"".join(out)

    def _step(self, data: bytes, out: list[bytes]) -> bytes:
        """Inflate some of ``data``; return what is still to be inflated."""
        if self.obj is None:
            data, self.tail = self.tail + data, b""
            if len(data) < 2:
                self.tail = data
                return b""
            # Another gzip member (concatenation is legal, RFC 1952 §2.2); junk ends the body.
            if not data.startswith(b"\x1f\x8b"):
                self.done = True
                return b""
            self.obj = zlib.decompressobj(self.wbits)
        try:
            chunk = self.obj.decompress(data, self.max_bytes - self.produced + 1)
        except zlib.error:
            if self.started or self.coding != "deflate" or self.wbits < 0:
                raise
            self.wbits = -15
            self.obj = zlib.decompressobj(self.wbits)
            return data
        self.started = True
        self._count(chunk, out)
        if not self.obj.eof:
            return self.obj.unconsumed_tail
        rest = self.obj.unused_data
        self.obj = None
        self.done = self.coding == "deflate"
        return rest

    def _count(self, chunk: bytes, out: list[bytes]) -> None:
        self.produced += len(chunk)
        out.append(chunk)
        if self.produced > self.max_bytes:
            raise BodyTooLarge

    def flush(self) -> bytes:
        if self.done or self.obj is None:
            return b""
        out: list[bytes] = []
        self._count(self.obj.flush(), out)
        if self.started and not self.obj.eof:
            # The stream stopped before its end marker: a cut-off download, not a whole feed.
            raise zlib.error("truncated stream")
        return out[0]


# --- small helpers -----------------------------------------------------------------------------


async def _drain(response: httpx.Response, limit_bytes: int = 65_536) -> None:
    """Read what is left of a body we do not need, up to ``limit_bytes`` (then just close)."""
    seen = 0
    async for chunk in response.aiter_raw():
        seen += len(chunk)
        if seen > limit_bytes:
            return


def _conditional_headers(state: FeedState) -> dict[str, str]:
    """Validators exactly as the server gave them (never a date we made up)."""
    headers: dict[str, str] = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    return headers


def _check_scheme(feed: FeedSpec, url: str, *, first: bool) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme in ALLOWED_SCHEMES:
        return
    shown = _shown(url)
    if first:
        raise FetchError(feed.id, f"unsupported URL scheme {scheme!r} in {shown!r}")
    raise FetchRedirectError(feed.id, f"redirect to a non-http(s) URL {shown!r}")


def _shown(url: str) -> str:
    return url if len(url) <= 80 else url[:77] + "..."


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{parts.port or ''}"


def _content_length(response: httpx.Response) -> int | None:
    try:
        return int(response.headers["content-length"])
    except (KeyError, ValueError):
        return None


def _content_codings(feed: FeedSpec, response: httpx.Response) -> list[str]:
    """The ``Content-Encoding`` chain, ``identity`` dropped; unsupported codings are an error."""
    raw = response.headers.get("content-encoding", "")
    codings = [c.strip().lower() for c in raw.split(",") if c.strip()]
    codings = ["gzip" if c == "x-gzip" else c for c in codings if c != "identity"]
    unsupported = [c for c in codings if c not in ("gzip", "deflate")]
    if unsupported:
        raise FetchError(feed.id, f"unsupported content-encoding {', '.join(unsupported)}")
    return codings


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """``Retry-After`` (RFC 9110 §10.2.3) as seconds from ``now``: delay-seconds or an HTTP-date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _translate(feed: FeedSpec, exc: httpx.HTTPError) -> FetchError:
    """An ``httpx`` exception as one of ours (the caller chains it with ``from``)."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, AddressRefused):
        return FetchBlocked(feed.id, f"refused to connect: {detail}")
    if isinstance(exc, httpx.TimeoutException):
        return FetchTimeout(feed.id, f"timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        return FetchConnectError(feed.id, f"connection failed ({type(exc).__name__}: {detail})")
    return FetchError(feed.id, f"HTTP error ({type(exc).__name__}: {detail})")


def _with_elapsed(result: FetchResult, elapsed_s: float) -> FetchResult:
    return replace(result, elapsed_s=elapsed_s)
