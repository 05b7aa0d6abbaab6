"""The operations endpoint against a real socket on 127.0.0.1 (port 0), and the probe CLI."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.cli import ops
from monitor.service.metrics import Metrics
from monitor.service.observability import add_secrets
from monitor.service.ops_server import OpsServer


class Probes:
    """Health and readiness the tests switch by hand."""

    def __init__(self) -> None:
        self.healthy = True
        self.ready = False
        self.raise_in_ready: Exception | None = None

    def health(self) -> tuple[bool, dict[str, Any]]:
        return self.healthy, {"scheduler_running": self.healthy}

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        if self.raise_in_ready is not None:
            raise self.raise_in_ready
        return self.ready, {"poll_cycles": 1 if self.ready else 0}


@pytest.fixture
def probes() -> Probes:
    return Probes()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(process_metrics=False)


@pytest.fixture
async def server(probes: Probes, metrics: Metrics) -> AsyncIterator[OpsServer]:
    srv = OpsServer(
        host="127.0.0.1", port=0, metrics=metrics, health=probes.health, ready=probes.readiness
    )
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def client(server: OpsServer) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{server.port}"
    async with httpx.AsyncClient(base_url=base, trust_env=False, timeout=5) as c:
        yield c


async def raw_request(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    return response


async def test_binds_an_ephemeral_port(server: OpsServer) -> None:
    assert server.port > 0


async def test_healthz(client: httpx.AsyncClient, probes: Probes) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "ok", "scheduler_running": True}
    probes.healthy = False
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"


async def test_readyz(client: httpx.AsyncClient, probes: Probes) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "not_ready", "poll_cycles": 0}
    probes.ready = True
    response = await client.get("/readyz?verbose=1")  # a query string does not change the route
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_a_probe_that_raises_answers_503_without_secrets(
    client: httpx.AsyncClient, probes: Probes
) -> None:
    add_secrets(["https://example.test/hook/probe-secret-5521"])
    probes.raise_in_ready = RuntimeError("cannot reach https://example.test/hook/probe-secret-5521")
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not_ready"
    assert "RuntimeError" in response.json()["error"]
    assert "probe-secret-5521" not in response.text


async def test_metrics_endpoint_serves_the_registry(
    client: httpx.AsyncClient, metrics: Metrics
) -> None:
    metrics.stories_new.inc(7)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    values = {
        s.name: s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert values["sanctions_monitor_stories_new_total"] == 7


async def test_head_has_headers_and_no_body(server: OpsServer) -> None:
    response = await raw_request(server.port, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Content-Length: " in head
    assert body == b""


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /nope HTTP/1.1\r\n\r\n", b"404"),
        (b"POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", b"405"),
        (b"garbage\r\n\r\n", b"400"),
        (b"GET / HTTP/1.1\r\n\r\n", b"200"),
        (b"GET /healthz HTTP/1.1\r\n" + b"X-Long: " + b"a" * 20_000 + b"\r\n\r\n", b"400"),
    ],
)
async def test_bad_requests(server: OpsServer, request_bytes: bytes, status: bytes) -> None:
    response = await raw_request(server.port, request_bytes)
    assert response.split(b" ", 2)[1] == status


async def test_a_client_that_goes_away_does_not_break_the_server(
    server: OpsServer, client: httpx.AsyncClient
) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /hea")
    writer.close()
    await writer.wait_closed()
    assert (await client.get("/healthz")).status_code == 200


async def test_stop_releases_the_port(probes: Probes, metrics: Metrics) -> None:
    srv = OpsServer(
        host="127.0.0.1", port=0, metrics=metrics, health=probes.health, ready=probes.readiness
    )
    await srv.start()
    port = srv.port
    # A slow client is mid-request when we stop: stop must not wait for it.
    _, idle_writer = await asyncio.open_connection("127.0.0.1", port)
    idle_writer.write(b"GET /healthz HTTP/1.1\r\n")
    await idle_writer.drain()
    await asyncio.sleep(0.05)
    await asyncio.wait_for(srv.stop(), timeout=3)
    idle_writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)
    await srv.stop()  # idempotent


# --- the healthcheck command -------------------------------------------------------------------


def run_healthcheck(url: str | None, config: str | None = None) -> int:
    args = argparse.Namespace(url=url, config=config, timeout_s=3.0)
    return ops.cmd_healthcheck(args)


async def test_healthcheck_command_exit_codes(server: OpsServer, probes: Probes) -> None:
    url = f"http://127.0.0.1:{server.port}/healthz"
    # The command blocks (it is what Docker runs); keep the loop free to answer it.
    assert await asyncio.to_thread(run_healthcheck, url) == 0
    probes.healthy = False
    assert await asyncio.to_thread(run_healthcheck, url) == 1


async def test_healthcheck_reads_the_port_from_the_config(
    server: OpsServer, tmp_path: Path
) -> None:
    config = tmp_path / "monitor.yaml"
    config.write_text(f"server:\n  host: 0.0.0.0\n  port: {server.port}\n", encoding="utf-8")
    assert await asyncio.to_thread(run_healthcheck, None, str(config)) == 0


def test_healthcheck_fails_when_nothing_listens(unused_port: int) -> None:
    assert run_healthcheck(f"http://127.0.0.1:{unused_port}/healthz") == 1


def test_healthcheck_rejects_a_non_http_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_healthcheck("file:///etc/passwd") == 1
    assert "not an http(s) URL" in capsys.readouterr().err


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("yaml_text", "env", "expected"),
    [
        ("server:\n  port: 9999\n", {}, "http://127.0.0.1:9999/healthz"),
        ("server:\n  host: '::'\n  port: 9000\n", {}, "http://127.0.0.1:9000/healthz"),
        ("server:\n  host: 10.1.2.3\n", {}, "http://10.1.2.3:9464/healthz"),
        ("server:\n  host: '::1'\n  port: 81\n", {}, "http://[::1]:81/healthz"),
        ("server:\n  port: ${OPS_PORT:-9100}\n", {}, "http://127.0.0.1:9100/healthz"),
        (
            "server:\n  port: ${OPS_PORT:-9100}\n",
            {"OPS_PORT": "9200"},
            "http://127.0.0.1:9200/healthz",
        ),
        (
            "server:\n  host: ${MONITOR_HTTP_HOST:-0.0.0.0}\n",
            {},
            "http://127.0.0.1:9464/healthz",
        ),
        ("feeds: []\n", {}, "http://127.0.0.1:9464/healthz"),
        ("server: [not, a, mapping]\n", {}, "http://127.0.0.1:9464/healthz"),
        ("server:\n  port: seventy\n", {}, "http://127.0.0.1:9464/healthz"),
        ("{{{ not yaml", {}, "http://127.0.0.1:9464/healthz"),
    ],
)
def test_default_url(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    yaml_text: str,
    env: dict[str, str],
    expected: str,
) -> None:
    for name in ("OPS_PORT", "MONITOR_HTTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "monitor.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    assert ops.default_url(config) == expected


def test_default_url_for_a_missing_file(tmp_path: Path) -> None:
    assert ops.default_url(tmp_path / "absent.yaml") == "http://127.0.0.1:9464/healthz"


def test_register_adds_the_subcommand() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    ops.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["healthcheck", "--url", "http://127.0.0.1:1/healthz"])
    assert args.func is ops.cmd_healthcheck
    assert args.timeout_s == 3.0
    assert json.dumps(vars(args), default=str)  # plain values only
