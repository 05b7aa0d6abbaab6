"""Open the state store a URL names: ``sqlite:///path`` or ``postgresql://…`` (for the
composition root and the CLI's ``--state``).

``sqlite:///state/monitor.db`` is a relative path, ``sqlite:////var/lib/monitor.db`` an
absolute one; a plain path (no scheme) means SQLite too. ``postgresql://`` (or
``postgres://``) needs the optional extra ``sanctions-monitor[postgres]``; without it the
error says how to install it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from monitor.detect import similar
from monitor.errors import StoreError
from monitor.ports import StateStore
from monitor.state import clusters as clusters_mod

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True, slots=True)
class StateUrl:
    """A parsed state location: which store, and its path or DSN."""

    kind: Literal["sqlite", "postgresql"]
    target: str

    @property
    def path(self) -> Path:
        """The SQLite file (only for ``kind == "sqlite"``)."""
        return Path(self.target)


def parse_state_url(text: str) -> StateUrl:
    """``sqlite:///x`` → SQLite file ``x``; ``postgresql://…`` → that DSN; a path → SQLite."""
    if text.startswith(POSTGRES_SCHEMES):
        return StateUrl("postgresql", text)
    if text.startswith("sqlite://"):
        rest = text.removeprefix("sqlite://")
        if not rest.startswith("/") or rest == "/":
            raise StoreError(f"state: {text!r} is not sqlite:///PATH (three slashes, then a path)")
        return StateUrl("sqlite", rest[1:])
    if "://" in text:
        scheme = text.split("://", 1)[0]
        raise StoreError(f"state: unknown scheme {scheme!r} in {text!r} (sqlite or postgresql)")
    return StateUrl("sqlite", text)


def open_store(
    url: str | StateUrl,
    *,
    cluster_threshold: float = similar.DEFAULT_THRESHOLD,
    cluster_window_s: float = clusters_mod.DEFAULT_WINDOW_S,
    migrate: bool = True,
    replica_id: str | None = None,
) -> StateStore:
    """The store at ``url``, schema migrated (``migrate=False``: only refuse a newer one)."""
    where = url if isinstance(url, StateUrl) else parse_state_url(url)
    if where.kind == "sqlite":
        from monitor.state.sqlite import SqliteStore

        return SqliteStore(
            where.path, cluster_threshold=cluster_threshold, cluster_window_s=cluster_window_s
        )
    try:
        from monitor.state.postgres import PostgresStore
    except ImportError as exc:
        raise StoreError(
            f"state: {where.target.split('://')[0]}:// needs psycopg: "
            "pip install 'sanctions-monitor[postgres]'"
        ) from exc
    return PostgresStore(
        where.target,
        cluster_threshold=cluster_threshold,
        cluster_window_s=cluster_window_s,
        migrate=migrate,
        replica_id=replica_id,
    )


def redact_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
