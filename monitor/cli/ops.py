"""``sanctions-monitor healthcheck``: the probe Docker's HEALTHCHECK (and any script) runs.

Exit 0 when ``/healthz`` answers 200 within the timeout, else 1. The URL defaults to the
running config's ``server.port`` on 127.0.0.1 (or on ``server.host`` when it names one
address). Only the ``server`` block is read, not the whole config: a config being edited (and
not yet reloaded) must not make a healthy daemon look sick, and the probe runs every 30 s so
it stays cheap (no watchlists compiled, no httpx imported).
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

DEFAULT_PORT = 9464
DEFAULT_TIMEOUT_S = 3.0
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]", "*"})
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``healthcheck`` to the CLI."""
    check = sub.add_parser(
        "healthcheck",
        help="exit 0 if the running daemon's /healthz answers 200 (for Docker HEALTHCHECK)",
    )
    check.add_argument(
        "--url", help="probe URL (default: http://127.0.0.1:<server.port>/healthz from the config)"
    )
    check.add_argument(
        "--timeout-s", type=float, default=DEFAULT_TIMEOUT_S, help="give up after this many seconds"
    )
    check.set_defaults(func=cmd_healthcheck)


def cmd_healthcheck(args: argparse.Namespace) -> int:
    url = args.url
    if not url:
        from monitor.service.config import resolve_config_path  # late: not needed with --url

        url = default_url(resolve_config_path(args.config))
    ok, detail = probe(url, timeout_s=args.timeout_s)
    print(f"healthcheck {url}: {detail}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def probe(url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[bool, str]:
    """GET ``url``; (True, summary) on a 200, (False, why) otherwise. Never raises.

    ``http.client`` rather than urllib: it ignores ``$HTTP_PROXY``, which must never see
    a probe of 127.0.0.1.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False, f"not an http(s) URL: {url!r}"
    conn_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = conn_class(parts.hostname, parts.port, timeout=timeout_s)
    try:
        conn.request(
            "GET", parts.path or "/", headers={"User-Agent": "sanctions-monitor-healthcheck"}
        )
        response = conn.getresponse()
        body = response.read(2048).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    return response.status == 200, f"HTTP {response.status} {body}"


def default_url(config_path: Path) -> str:
    """``http://127.0.0.1:<port>/healthz`` from the config's ``server`` block.

    An unreadable file or value falls back to the defaults (port 9464): the probe then fails
    or succeeds on what is really listening, which is the honest answer.
    """
    server = _server_block(config_path)
    port = _as_int(_expand(server.get("port", DEFAULT_PORT)), DEFAULT_PORT)
    host = str(_expand(server.get("host", "")) or "").strip()
    if host in _WILDCARD_HOSTS:
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{port}/healthz"


def _server_block(config_path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    server = data.get("server") if isinstance(data, dict) else None
    return server if isinstance(server, dict) else {}


def _expand(value: Any) -> Any:
    """``${VAR}`` / ``${VAR:-default}`` in a string, as the config loader does."""
    if not isinstance(value, str):
        return value
    return _VAR.sub(lambda m: os.environ.get(m.group(1), m.group(2) or ""), value)


def _as_int(value: Any, default: int) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        return default
    return port if 0 < port < 65536 else default
