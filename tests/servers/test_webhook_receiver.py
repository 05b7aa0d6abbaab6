"""The test receiver itself: a request cut short by a killed client is not recorded."""

from __future__ import annotations

import socket
import time

from tests.servers.webhook_receiver import WebhookReceiver


def _send_raw(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1024)  # wait until the receiver has handled (or dropped) it


def test_truncated_requests_are_not_recorded_and_complete_ones_are() -> None:
    receiver = WebhookReceiver().start()
    try:
        head = b"POST /hook HTTP/1.1\r\nHost: x\r\nwebhook-id: msg_1\r\n"
        _send_raw(receiver.port, head)  # headers cut before the blank line
        _send_raw(receiver.port, head + b"Content-Length: 10\r\n\r\n{}")  # body cut short
        _send_raw(receiver.port, head + b"Content-Length: 2\r\n\r\n{}")
        deadline = time.monotonic() + 5
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [(r.path, r.body) for r in receiver.requests] == [("/hook", b"{}")]
    finally:
        receiver.close()
