"""A real loopback feed server for fetch/parse tests, end-to-end tests and the polling bench.

``FeedServer`` listens on 127.0.0.1 (port 0 → a free port), serves feeds registered by path,
honours conditional requests, records every request's headers, and misbehaves on command::

    server = FeedServer().start()            # or the ``feed_server`` pytest fixture
    server.set_feed("/nk.xml", rss_feed([item("Aurus for Kim")]), etag='"v1"')
    url = server.url("/nk.xml")              # http://127.0.0.1:PORT/nk.xml
    ...
    server.requests                          # [Recorded(method, path, headers, at), ...]
    server.max_in_flight                     # most answers under way at once (limits tests)
    server.requests_for("/nk.xml")[-1].headers["if-none-match"] == '"v1"'
    server.stop()

``set_feed(path, body=b"", *, etag=None, last_modified=None, content_type=RSS, behaviour="normal",
status=200, headers=(), gzip=False, **options)``. Conditional requests (any behaviour that
serves the feed): ``If-None-Match`` matching ``etag`` (or ``*``) → 304; without ``If-None-Match``,
``If-Modified-Since`` equal to ``last_modified`` → 304 (servers compare the string, as here).
The 304 carries the ETag (unless ``etag_on_304=False``) and Last-Modified.

Behaviours (``Behaviour`` names the strings):

=================  ============================================================================
``normal``          the body with validators; ``gzip=True`` compresses it when the client asks
``trickle``         headers, then the body one byte every ``interval_s`` (0.2 s)
``slow``            waits ``delay_s`` (5) before answering
``endless``         200 with an XML-looking body that never ends (no Content-Length)
``gzip_bomb``       ``Content-Encoding: gzip`` of ``bomb_bytes`` (10 GiB) of zeros, made on the fly
``status``          answers ``status`` with ``headers`` and ``body`` (429 + Retry-After, 500, 410)
``redirect``        ``status`` (302) to ``location``: another path, ``ftp://…``, ``javascript:…``
``redirect_loop``   302 to itself, forever
``etag_changing``   200 with a new ETag every time; never 304
``close``           closes the connection without answering
=================  ============================================================================

Bodies for tests: ``rss_feed``/``item``, ``atom_feed``, ``HTML_PAGE``, ``RECOVERABLE_XML``,
``dotted_author_feed(size)`` (feedparser's quadratic ``<author>`` case).

Pytest fixture: ``feed_server`` (import it into the test module, or list this module in
``pytest_plugins``). The bench uses ``FeedServer`` directly (optionally in a child process
through ``serve_synthetic``).
"""

from __future__ import annotations

import contextlib
import gzip as gzip_mod
import itertools
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from xml.sax.saxutils import escape

import pytest

Behaviour = Literal[
    "normal",
    "trickle",
    "slow",
    "endless",
    "gzip_bomb",
    "status",
    "redirect",
    "redirect_loop",
    "etag_changing",
    "close",
]
RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
_ZEROS = bytes(1 << 20)


@dataclass
class FeedRoute:
    """What one path serves and how."""

    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = RSS
    behaviour: Behaviour = "normal"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    gzip: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    _gzipped: bytes | None = None

    def gzipped(self) -> bytes:
        """The body gzip-compressed, made once (the bench serves it a thousand times)."""
        if self._gzipped is None:
            self._gzipped = gzip_mod.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped


@dataclass(frozen=True)
class Recorded:
    """One request as received (header names lower-cased)."""

    method: str
    path: str
    headers: dict[str, str]
    at: float


class _QuietServer(ThreadingHTTPServer):
    """Clients that hang up mid-answer are part of the tests: no tracebacks on stderr."""

    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class FeedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 serving feeds; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.routes: dict[str, FeedRoute] = {}
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self.stopping = threading.Event()
        self.record = True
        self.in_flight = 0
        self.max_in_flight = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> FeedServer:
        handler = type("Handler", (_Handler,), {"feed_server": self})
        self._httpd = _QuietServer((self.host, self.port), handler)
        self.port = self._httpd.server_address[1]
        self.stopping.clear()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; endless and trickling answers notice and end."""
        self.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- configuration ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def set_feed(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        content_type: str = RSS,
        behaviour: Behaviour = "normal",
        status: int = 200,
        headers: Sequence[tuple[str, str]] = (),
        gzip: bool = False,
        **options: Any,
    ) -> str:
        """Serve ``body`` at ``path`` as told; returns the full URL."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        route = FeedRoute(
            data,
            etag,
            last_modified,
            content_type,
            behaviour,
            status,
            tuple(headers),
            gzip,
            dict(options),
        )
        with self._lock:
            self.routes[path] = route
        return self.url(path)

    def route(self, path: str) -> FeedRoute | None:
        with self._lock:
            return self.routes.get(path)

    # --- what was asked --------------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    def _record(self, recorded: Recorded) -> None:
        if self.record:
            with self._lock:
                self._requests.append(recorded)

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def next_etag(self) -> str:
        return f'"gen-{next(self._counter)}"'


class _Handler(BaseHTTPRequestHandler):
    """Answers one request from the routes of ``feed_server``."""

    feed_server: FeedServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read .requests
        pass

    def do_GET(self) -> None:
        server = self.feed_server
        path = self.path
        server._record(
            Recorded(
                self.command,
                path,
                {k.lower(): v for k, v in self.headers.items()},
                time.monotonic(),
            )
        )
        route = server.route(path)
        if route is None:
            self._plain(404, b"not found")
            return
        server._enter()
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, TimeoutError):
                _BEHAVIOURS[route.behaviour](self, route)
        finally:
            server._leave()

    do_HEAD = do_GET

    # --- building blocks ---------------------------------------------------------------------

    def _plain(
        self,
        status: int,
        body: bytes,
        headers: Sequence[tuple[str, str]] = (),
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _not_modified(self, route: FeedRoute, etag: str | None) -> bool:
        """Send 304 if the request's validators match; say whether it did."""
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if inm is not None:
            tags = [t.strip() for t in inm.split(",")]
            matched = etag is not None and (etag in tags or "*" in tags)
        else:
            matched = (
                ims is not None and route.last_modified is not None and ims == route.last_modified
            )
        if not matched:
            return False
        self.send_response(304)
        if etag and route.options.get("etag_on_304", True):
            self.send_header("ETag", etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        self.end_headers()
        return True

    def _validators(self, route: FeedRoute, etag: str | None) -> list[tuple[str, str]]:
        out = [("ETag", etag)] if etag else []
        if route.last_modified:
            out.append(("Last-Modified", route.last_modified))
        return out + list(route.headers)

    def _serve(self, route: FeedRoute, etag: str | None) -> None:
        if self._not_modified(route, etag):
            return
        body, headers = route.body, self._validators(route, etag)
        if route.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
            body = route.gzipped()
            headers.append(("Content-Encoding", "gzip"))
        self._plain(route.status, body, headers, route.content_type)

    def _stream_headers(self, route: FeedRoute, extra: Sequence[tuple[str, str]] = ()) -> None:
        """Headers of a close-delimited body (no Content-Length)."""
        self.send_response(200)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Connection", "close")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.close_connection = True


def _normal(h: _Handler, route: FeedRoute) -> None:
    h._serve(route, route.etag)


def _etag_changing(h: _Handler, route: FeedRoute) -> None:
    h._serve(route, h.feed_server.next_etag())


def _status(h: _Handler, route: FeedRoute) -> None:
    h._plain(route.status, route.body, route.headers, route.content_type)


def _redirect(h: _Handler, route: FeedRoute) -> None:
    status = route.status if 300 <= route.status < 400 else 302
    h._plain(status, b"moved", [("Location", str(route.options["location"])), *route.headers])


def _redirect_loop(h: _Handler, route: FeedRoute) -> None:
    h._plain(302, b"moved", [("Location", h.path)])


def _slow(h: _Handler, route: FeedRoute) -> None:
    h.feed_server.stopping.wait(float(route.options.get("delay_s", 5.0)))
    h._serve(route, route.etag)


def _close(h: _Handler, route: FeedRoute) -> None:
    h.close_connection = True
    h.connection.close()


def _trickle(h: _Handler, route: FeedRoute) -> None:
    """The whole body, honestly announced, one byte every ``interval_s``."""
    interval_s = float(route.options.get("interval_s", 0.2))
    h.send_response(200)
    h.send_header("Content-Type", route.content_type)
    h.send_header("Content-Length", str(len(route.body)))
    h.end_headers()
    for byte in route.body:
        if h.feed_server.stopping.wait(interval_s):
            return
        h.wfile.write(bytes([byte]))
        h.wfile.flush()


def _endless(h: _Handler, route: FeedRoute) -> None:
    h._stream_headers(route)
    h.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel><title>endless</title>')
    chunk = b"<item><title>again and again</title></item>" * 1000
    while not h.feed_server.stopping.is_set():
        h.wfile.write(chunk)


def _gzip_bomb(h: _Handler, route: FeedRoute) -> None:
    """Compress zeros as we go: ~1 KiB on the wire per MiB inflated, nothing held in memory."""
    bomb_bytes = int(route.options.get("bomb_bytes", 10 << 30))
    h._stream_headers(route, [("Content-Encoding", "gzip")])
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    sent = 0
    while sent < bomb_bytes and not h.feed_server.stopping.is_set():
        h.wfile.write(packer.compress(_ZEROS))
        sent += len(_ZEROS)
    h.wfile.write(packer.flush())


_BEHAVIOURS = {
    "normal": _normal,
    "trickle": _trickle,
    "slow": _slow,
    "endless": _endless,
    "gzip_bomb": _gzip_bomb,
    "status": _status,
    "redirect": _redirect,
    "redirect_loop": _redirect_loop,
    "etag_changing": _etag_changing,
    "close": _close,
}


# --- bodies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One RSS item for ``rss_feed``."""

    title: str
    link: str | None = None
    guid: str | None = None
    description: str = ""
    pub_date: datetime | None = None
    source: str | None = None
    author: str | None = None


def item(title: str, **kwargs: Any) -> Item:
    return Item(title, **kwargs)


def rss_feed(
    items: Sequence[Item],
    *,
    title: str = "Test feed",
    ttl_min: int | None = None,
    link: str = "https://example.org/",
) -> bytes:
    """An RSS 2.0 document (UTF-8) with ``items``; text is XML-escaped here."""
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{escape(link)}</link>"
        f"<description>test</description>"
    ]
    if ttl_min is not None:
        parts.append(f"<ttl>{ttl_min}</ttl>")
    parts += [_rss_item(i) for i in items]
    parts.append("</channel></rss>\n")
    return "".join(parts).encode("utf-8")


def _rss_item(i: Item) -> str:
    out = [f"<item><title>{escape(i.title)}</title>"]
    if i.link:
        out.append(f"<link>{escape(i.link)}</link>")
    if i.guid:
        out.append(f'<guid isPermaLink="false">{escape(i.guid)}</guid>')
    if i.description:
        out.append(f"<description>{escape(i.description)}</description>")
    if i.pub_date:
        out.append(f"<pubDate>{format_datetime(i.pub_date)}</pubDate>")
    if i.source:
        out.append(f'<source url="https://publisher.example/">{escape(i.source)}</source>')
    if i.author:
        out.append(f"<author>{escape(i.author)}</author>")
    out.append("</item>")
    return "".join(out)


_FILLER = (
    "<p>Officials said the talks covered customs procedures, insurance for cargo vessels and the "
    "timetable for a new freight service; a spokesperson described them as constructive.</p>"
)


def synthetic_feed(
    n: int,
    items: int = 50,
    *,
    start: datetime | None = None,
    item_bytes: int = 0,
    newest: int = 0,
) -> bytes:
    """Feed number ``n`` of the bench: ``items`` plausible news items.

    Each item is ~450 bytes of XML; ``item_bytes`` pads the description with paragraphs up to
    about that size (real news feeds carry 0.7 to 4.5 KB per item, ~2 KB typically).
    ``newest`` is the number of the top story (``newest - 1`` is newer): lowering it by two
    gives the same feed with two new stories on top and the two oldest gone.
    """
    base = start or datetime(2026, 3, 1, tzinfo=UTC)
    padding = _FILLER * max(0, round((item_bytes - 500) / 215))  # ~215 bytes once escaped
    return rss_feed(
        [
            item(
                f"Feed {n} story {k}: officials discuss regional trade and shipping routes",
                link=f"https://news{n % 50}.example/{n}/{k}",
                guid=f"feed-{n}-story-{k}",
                description=(
                    f"<p>Story {k} of feed {n}. Ministers met on Tuesday to discuss port fees, "
                    "rail links and grain exports; analysts expect talks to resume next month "
                    "after a round of consultations with <b>regional partners</b>.</p>"
                    + (" <p>Pyongyang and Moscow declined to comment.</p>" if k % 10 == 0 else "")
                    + padding
                ),
                pub_date=base - timedelta(minutes=17 * k + n),
            )
            for k in range(newest, newest + items)
        ],
        title=f"Synthetic feed {n}",
    )


def atom_feed(entries: Sequence[tuple[str, str]], *, title: str = "Atom test") -> bytes:
    """A minimal Atom 1.0 feed of ``(title, link)`` entries."""
    body = "".join(
        f"<entry><title>{escape(t)}</title><id>urn:test:{k}</id>"
        f'<link href="{escape(link)}"/><updated>2026-03-01T10:00:00Z</updated></entry>'
        for k, (t, link) in enumerate(entries)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{escape(title)}</title><id>urn:test</id>"
        f"<updated>2026-03-01T10:00:00Z</updated>{body}</feed>"
    ).encode()


HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head>"
    b"<body><h1>Service Unavailable</h1><p>Please try again later.</p></body></html>"
)

# Unescaped ampersand, an undeclared entity and a missing close tag: feedparser recovers
# (bozo=True) and still returns the items.
RECOVERABLE_XML = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Broken & co</title>'
    b"<item><title>Kim &nbsp; meets Putin</title><link>https://example.org/a?x=1&y=2</link>"
    b"<guid>broken-1</guid></item>"
    b"<item><title>Second story</title><link>https://example.org/b</link><guid>broken-2</guid>"
    b"</channel></rss>"
)


def dotted_author_feed(size: int = 30_000) -> bytes:
    """An item whose ``<author>`` is ``size`` bytes of ``a.a.a…``: quadratic in feedparser."""
    author = ("a." * (size // 2))[:size]
    return rss_feed([item("Author bomb", link="https://example.org/x", guid="ab-1", author=author)])


# --- the pytest fixture and the bench helper ---------------------------------------------------


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A started ``FeedServer`` on 127.0.0.1; stopped after the test."""
    server = FeedServer().start()
    try:
        yield server
    finally:
        server.stop()


def serve_synthetic(
    count: int, items: int, port_out: Any, stop: Any, hosts: int = 1, item_bytes: int = 0
) -> None:
    """Child-process entry for the bench: ``/feed/<n>.xml`` for n < count, ETag ``"f<n>"``.

    Feed ``n`` is served by server ``n % hosts`` (each on its own port, so a client sees
    ``hosts`` origins, as it would in the wild). Sends the list of ports through ``port_out``
    (a ``multiprocessing`` connection) and runs until the ``stop`` event is set, so the bench
    measures the client's CPU without the server's.
    """
    servers = [FeedServer() for _ in range(hosts)]
    for n in range(count):
        servers[n % hosts].set_feed(
            f"/feed/{n}.xml",
            synthetic_feed(n, items, item_bytes=item_bytes),
            etag=f'"f{n}"',
            last_modified="Sun, 01 Mar 2026 00:00:00 GMT",
            gzip=True,
        )
    for server in servers:
        server.record = False
        server.start()
    port_out.send([server.port for server in servers])
    stop.wait()
    for server in servers:
        server.stop()


def serve_rolling(
    count: int, items: int, commands: Any, hosts: int = 1, item_bytes: int = 0, new: int = 2
) -> None:
    """Child-process entry for the changed-poll bench: like ``serve_synthetic``, and on
    ``("roll", [n, ...])`` through ``commands`` (a ``multiprocessing`` connection) the listed
    feeds publish ``new`` stories each (the oldest ones drop off, the ETag changes); answers
    ``"rolled"``. Sends the ports first; ``("stop",)`` stops it.
    """
    servers = [FeedServer() for _ in range(hosts)]
    newest = [0] * count

    def publish(n: int) -> None:
        servers[n % hosts].set_feed(
            f"/feed/{n}.xml",
            synthetic_feed(n, items, item_bytes=item_bytes, newest=newest[n]),
            etag=f'"f{n}-{-newest[n]}"',
            last_modified=format_datetime(_EPOCH - newest[n] * _MINUTE, usegmt=True),
            gzip=True,
        )

    for n in range(count):
        publish(n)
    for server in servers:
        server.record = False
        server.start()
    commands.send([server.port for server in servers])
    while (command := commands.recv())[0] == "roll":
        for n in command[1]:
            newest[n] -= new
            publish(n)
        commands.send("rolled")
    for server in servers:
        server.stop()


_MINUTE = timedelta(minutes=1)
_EPOCH = datetime(2026, 3, 1, tzinfo=UTC)
