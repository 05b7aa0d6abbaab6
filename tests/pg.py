"""The test PostgreSQL server: databases of our own, created and dropped by the tests.

``MONITOR_TEST_PG_DSN`` names a server and a database we may connect to in order to run
``CREATE DATABASE`` (default: the local trust-auth server's ``postgres`` database).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_dsn() -> str:
    return os.environ.get("MONITOR_TEST_PG_DSN") or DEFAULT_DSN


def with_database(dsn: str, name: str) -> str:
    """``dsn`` pointing at database ``name`` instead."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(dsn)
    params["dbname"] = name
    host = params.get("host", "127.0.0.1")
    port = params.get("port", "5432")
    user = params.get("user", "postgres")
    password = params.get("password")
    auth = f"{user}:{password}" if password else f"{user}"
    if set(params) <= {"dbname", "host", "port", "user", "password"}:
        return f"postgresql://{auth}@{host}:{port}/{name}"
    return make_conninfo(**params)  # pragma: no cover - exotic DSNs keep their options


@dataclass
class PgServer:
    """One database of ours on the test server."""

    name: str
    url: str

    def drop(self) -> None:
        drop_database(self.name)


def create_database(prefix: str) -> PgServer:
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}".lower()
    with psycopg.connect(admin_dsn(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PgServer(name, with_database(admin_dsn(), name))


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_server_or_reason(worker_id: str) -> tuple[PgServer | None, str]:
    """A fresh database for this worker, or why there cannot be one."""
    try:
        import psycopg
    except ImportError:
        return None, "psycopg is not installed (pip install 'sanctions-monitor[postgres]')"
    try:
        return create_database(f"sm_test_{worker_id}"), ""
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"cannot reach {admin_dsn()}: {first}"


def reset_schema(url: str) -> None:
    """Drop every table of the database (a test starts from nothing)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
