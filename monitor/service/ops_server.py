"""The operations endpoint: ``/healthz``, ``/readyz`` and ``/metrics`` over plain HTTP/1.1.

For orchestrators and Prometheus, not for people: a few fixed GET routes, one request per
connection, answers built in memory. It runs on the daemon's own event loop, so ``/healthz``
answering at all proves the loop is not blocked; what else "healthy" and "ready" mean is
decided by the two callables the runtime passes in (they must be quick and must not reach
the network).

    GET /healthz   200 {"status": "ok", ...}  or 503 {"status": "unhealthy", ...}
    GET /readyz    200 {"status": "ready", ...} or 503 {"status": "not_ready", ...}
    GET /metrics   200 Prometheus text exposition
    HEAD           the same status and headers, no body

Built on asyncio streams from the standard library: three routes do not need a framework,
and keeping it small keeps the attack surface of a port that may face a cluster network small.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import structlog

from monitor.service.metrics import CONTENT_TYPE, Metrics
from monitor.service.observability import redact

log = structlog.get_logger(__name__)

Probe = Callable[[], tuple[bool, dict[str, Any]]]

#: A client gets this long to send its request line and headers.
REQUEST_TIMEOUT_S = 5.0
MAX_REQUEST_LINE_BYTES = 8192
MAX_HEADER_LINES = 100
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Response:
    """One answer, fully built before anything is written."""

    status: HTTPStatus
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


class OpsServer:
    """Serves the probes and the metrics on ``host:port`` until ``stop``."""

    def __init__(
        self,
        *,
        host: str = "0.0.0.0",
        port: int = 9464,
        metrics: Metrics,
        health: Probe,
        ready: Probe,
    ) -> None:
        self.host = host
        self.port = port  # replaced by the bound port on start (useful with port=0)
        self.metrics = metrics
        self.health = health
        self.ready = ready
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Bind and start accepting; raises ``OSError`` if the port is taken."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=MAX_REQUEST_LINE_BYTES
        )
        sockets = self._server.sockets
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting and drop connections still open (probes are cheap to retry)."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._server.wait_closed()
        self._server = None

    # --- one connection -------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            response, head_only = await self._answer(reader)
            await _write(writer, response, head_only=head_only)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to tell it
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            if task is not None:
                self._connections.discard(task)

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[Response, bool]:
        """Read one request and build its response; returns (response, HEAD?)."""
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                method, target = await _read_request(reader)
        except TimeoutError:
            return Response(HTTPStatus.REQUEST_TIMEOUT, b"request timeout\n"), False
        except _BadRequest as exc:
            return Response(HTTPStatus.BAD_REQUEST, f"{exc}\n".encode()), False
        if method not in ("GET", "HEAD"):
            return Response(HTTPStatus.METHOD_NOT_ALLOWED, b"only GET and HEAD\n"), False
        return self.route(target.split("?", 1)[0]), method == "HEAD"

    def route(self, path: str) -> Response:
        """The response for ``path`` (public so tests can call it without a socket)."""
        if path == "/healthz":
            return _probe(self.health, up="ok", down="unhealthy", name="health")
        if path == "/readyz":
            return _probe(self.ready, up="ready", down="not_ready", name="readiness")
        if path == "/metrics":
            return Response(HTTPStatus.OK, self.metrics.render(), CONTENT_TYPE)
        if path == "/":
            return Response(HTTPStatus.OK, b"sanctions-monitor: /healthz /readyz /metrics\n")
        return Response(HTTPStatus.NOT_FOUND, b"not found\n")


class _BadRequest(Exception):
    """The bytes received are not an HTTP/1.x request we can answer."""


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """Read the request line and skip the headers; returns (method, target)."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise _BadRequest("request line too long") from None
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest("malformed request line")
    for _ in range(MAX_HEADER_LINES):
        try:
            header = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise _BadRequest("header line too long") from None
        if header in (b"\r\n", b"\n"):
            return parts[0].upper(), parts[1]
    raise _BadRequest("too many header lines")


def _probe(check: Probe, *, up: str, down: str, name: str) -> Response:
    """Run one probe callable; a probe that raises counts as failing (and is logged)."""
    try:
        ok, details = check()
    except Exception as exc:
        log.warning("probe_failed", probe=name, error=str(exc), error_kind=type(exc).__name__)
        ok, details = False, {"error": f"{type(exc).__name__}: {exc}"}
    body = {"status": up if ok else down, **details}
    status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
    # Details may quote an error message; the port may face a cluster network, so redact.
    text = redact(json.dumps(body, default=str, sort_keys=True)) + "\n"
    return Response(status, text.encode(), _JSON)


async def _write(writer: asyncio.StreamWriter, response: Response, *, head_only: bool) -> None:
    head = (
        f"HTTP/1.1 {response.status.value} {response.status.phrase}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1"))
    if not head_only:
        writer.write(response.body)
    await writer.drain()


__all__ = ["OpsServer", "Probe", "Response"]
