"""A real loopback HTTP receiver for webhook and Slack delivery tests (and the delivery bench).

``WebhookReceiver`` listens on 127.0.0.1 (port 0 → a free port, kept across ``stop``/``start``
so a test can open a connection-refused window), records every request, verifies Standard
Webhooks signatures with the ``standardwebhooks`` library, and answers as told:

- webhook mode (default): 200 ``ok``; Slack mode (``slack=True``): 200 ``ok`` like an incoming
  webhook, and under ``/api/`` JSON ``{"ok": true}`` like ``chat.postMessage``;
- ``fail_next(n, status=500)``, ``rate_limit(retry_after_s=2)``, ``gone()`` (410 for good),
  ``slack_error("invalid_token")`` (the status Slack uses for that error), ``hang(seconds)``,
  ``script(Reply(...), ...)`` for anything else; ``heal()`` goes back to answering ok;
- ``stop()`` closes the port (clients get connection refused), ``start()`` reopens it.

Pytest fixtures (import them into a test module): ``webhook_receiver`` (verifies with
``TEST_SECRETS``) and ``slack_receiver``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

TEST_SECRETS = (
    "whsec_" + base64.b64encode(b"sanctions-monitor test secret 1").decode(),
    "whsec_" + base64.b64encode(b"sanctions-monitor test secret 2").decode(),
)

# The HTTP status Slack's incoming webhooks use for each error string.
SLACK_ERROR_STATUS = {
    "invalid_payload": 400,
    "invalid_blocks": 400,
    "no_text": 400,
    "user_not_found": 400,
    "invalid_token": 403,
    "action_prohibited": 403,
    "team_disabled": 403,
    "channel_not_found": 404,
    "no_service": 404,
    "no_team": 404,
    "channel_is_archived": 410,
    "rollup_error": 500,
}


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes = b"ok"
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0


@dataclass
class Recorded:
    """One request as received, with the answer it got and the signature check's verdict."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    status: int = 0
    verified: bool | None = None
    verify_error: str | None = None

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Plan:
    queue: deque[Reply] = field(default_factory=deque)
    forever: Reply | None = None


class WebhookReceiver:
    """Records requests on 127.0.0.1 and fails on command; thread-safe."""

    def __init__(
        self,
        *,
        secrets: Iterable[str] = (),
        slack: bool = False,
        keep_alive: bool = False,
        reject_unverified: bool = False,
    ) -> None:
        self.secrets = tuple(secrets)
        self.slack = slack
        self.keep_alive = keep_alive
        self.reject_unverified = reject_unverified
        self.port = 0
        self._lock = threading.Lock()
        self._records: list[Recorded] = []
        self._plan = _Plan()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> WebhookReceiver:
        """Listen (again) on the same port; the first start picks a free one."""
        server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_class(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"receiver-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port and every open connection: clients now get connection refused."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns, self._connections = set(self._connections), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    close = stop

    @property
    def running(self) -> bool:
        return self._server is not None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # --- commands -----------------------------------------------------------------------------

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order, then as before."""
        with self._lock:
            self._plan.queue.extend(replies)

    def fail_next(self, count: int, status: int = 500) -> None:
        self.script(*[Reply(status=status, body=b"server error")] * count)

    def rate_limit(self, retry_after_s: float = 2, *, times: int = 1, status: int = 429) -> None:
        header = (("Retry-After", f"{retry_after_s:g}"),)
        body = b"rate_limited" if self.slack else b"slow down"
        self.script(*[Reply(status=status, body=body, headers=header)] * times)

    def hang(self, delay_s: float, *, times: int = 1) -> None:
        self.script(*[Reply(delay_s=delay_s)] * times)

    def gone(self) -> None:
        """410 Gone for every request from now on."""
        with self._lock:
            self._plan.forever = Reply(status=410, body=b"gone")

    def slack_error(
        self, error: str, *, status: int | None = None, times: int | None = None
    ) -> None:
        """Answer with a Slack error string (``times=None``: until ``heal``)."""
        reply = Reply(status=status or SLACK_ERROR_STATUS.get(error, 400), body=error.encode())
        with self._lock:
            if times is None:
                self._plan.forever = reply
            else:
                self._plan.queue.extend([reply] * times)

    def heal(self) -> None:
        """Forget every scripted failure: answer ok from now on."""
        with self._lock:
            self._plan = _Plan()

    # --- what was received --------------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._records)

    def delivered(self) -> list[Recorded]:
        """Requests that were answered 2xx."""
        return [r for r in self.requests if 200 <= r.status < 300]

    def delivered_ids(self) -> list[str]:
        return [r.webhook_id or "" for r in self.delivered()]

    def wait_for(
        self, count: int, *, timeout_s: float = 10.0, delivered: bool = True
    ) -> list[Recorded]:
        """Block until ``count`` requests (answered 2xx when ``delivered``) arrived."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.delivered() if delivered else self.requests
            if len(got) >= count:
                return got
            time.sleep(0.01)
        raise AssertionError(f"receiver got {len(self.requests)} requests, wanted {count}")

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    # --- used by the handler ------------------------------------------------------------------

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            if self._plan.queue:
                return self._plan.queue.popleft()
            if self._plan.forever is not None:
                return self._plan.forever
        return Reply()

    def _verify(self, record: Recorded) -> None:
        if not self.secrets or "webhook-signature" not in record.headers:
            return
        errors = []
        for secret in self.secrets:
            key: str | bytes = secret if secret.startswith("whsec_") else secret.encode()
            try:
                Webhook(key).verify(record.body, record.headers)
            except Exception as exc:
                errors.append(str(exc))
                continue
            record.verified = True
            return
        record.verified = False
        record.verify_error = "; ".join(errors)

    def _answer_for(self, record: Recorded, reply: Reply) -> Reply:
        if self.reject_unverified and record.verified is False:
            return Reply(status=401, body=b"bad signature")
        if self.slack and record.path.startswith("/api/"):
            return _as_api(reply)
        return reply

    def _record(self, record: Recorded) -> None:
        with self._lock:
            self._records.append(record)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)


def _as_api(reply: Reply) -> Reply:
    """The ``chat.postMessage`` form of a reply: HTTP 200 with ``{"ok": ..., "error": ...}``."""
    if reply.status == 429:
        return reply
    if 200 <= reply.status < 300:
        body = {"ok": True, "ts": "1700000000.000100"}
        return Reply(
            body=json.dumps(body).encode(),
            headers=(("Content-Type", "application/json"),),
            delay_s=reply.delay_s,
        )
    body = {"ok": False, "error": reply.body.decode()}
    status = reply.status if reply.status >= 500 else 200
    return Reply(
        status=status,
        body=json.dumps(body).encode(),
        headers=(("Content-Type", "application/json"), *reply.headers),
    )


def _handler_class(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if receiver.keep_alive else "HTTP/1.0"
        # Headers and body go out in two writes; without TCP_NODELAY a keep-alive client's
        # delayed ACK stalls every response by ~40 ms.
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            receiver._track(self.connection, add=True)

        def finish(self) -> None:
            receiver._track(self.connection, add=False)
            super().finish()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if "Content-Length" not in self.headers or len(body) < length:
                # A client killed mid-request (the crash tests SIGKILL the daemon) leaves a
                # truncated request, and http.server takes EOF for the end of the headers:
                # without this, half a request would be recorded and answered as delivered.
                self.close_connection = True
                return
            record = Recorded(
                method="POST",
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                received_at=time.monotonic(),
            )
            receiver._verify(record)
            reply = receiver._answer_for(record, receiver._next_reply(self.path))
            if reply.delay_s:
                time.sleep(reply.delay_s)
            record.status = reply.status
            receiver._record(record)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                if not any(name.lower() == "content-type" for name, _ in reply.headers):
                    self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                pass  # the client gave up (timeout test) or the receiver was stopped

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver that verifies signatures made with either of ``TEST_SECRETS``."""
    receiver = WebhookReceiver(secrets=TEST_SECRETS).start()
    yield receiver
    receiver.close()


@pytest.fixture
def slack_receiver() -> Iterator[WebhookReceiver]:
    """A Slack-compatible endpoint (incoming webhook at any path, Web API under ``/api/``)."""
    receiver = WebhookReceiver(slack=True).start()
    yield receiver
    receiver.close()
