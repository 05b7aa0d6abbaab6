"""Fixtures shared by the store contract tests: one state store per backend.

``state_store`` is parametrised over SQLite (a file in ``tmp_path``) and PostgreSQL (the server
named by ``MONITOR_TEST_PG_DSN``, default ``postgresql://postgres@127.0.0.1:5432/postgres``).
Each xdist worker creates a database of its own (``sm_test_<worker>_<pid>``) and every test
starts from an empty schema in it. Without a reachable server the PostgreSQL cases are skipped
with the reason shown; ``MONITOR_REQUIRE_PG=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.ports import StateStore
from tests.pg import PgServer, pg_server_or_reason, reset_schema

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def pg_server(worker_id: str) -> Iterator[PgServer]:
    """A database of this worker's own on the test server (dropped at the end)."""
    server, reason = pg_server_or_reason(worker_id)
    if server is None:
        if os.environ.get("MONITOR_REQUIRE_PG") == "1":
            pytest.fail(f"PostgreSQL required (MONITOR_REQUIRE_PG=1) but {reason}")
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    try:
        yield server
    finally:
        server.drop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """The worker's database, emptied for this test."""
    reset_schema(pg_server.url)
    return pg_server.url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def state_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty state location for ``backend``."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'monitor.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def state_store(state_url: str) -> Iterator[StateStore]:
    """An open, migrated, empty store of each backend (closed after the test)."""
    from monitor.state.open import open_store

    store = open_store(state_url)
    try:
        yield store
    finally:
        store.close()
