"""PostgreSQL-only behaviour: migrations under the advisory lock, a newer schema refused,
timeouts per session, errors that name the store without its password."""

from __future__ import annotations

import multiprocessing

import pytest

from monitor.errors import StoreError
from monitor.state import pg_migrations
from monitor.state.open import open_store, parse_state_url, redact_url


def _open_and_close(url: str, replica: str) -> None:
    open_store(url, replica_id=replica).close()


def test_three_replicas_starting_at_once_migrate_once(pg_url: str) -> None:
    """Three processes open the same empty database together: each version applied once."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_open_and_close, args=(pg_url, f"r{n}")) for n in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    import psycopg

    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version, count(*) FROM monitor_schema GROUP BY version")
        counts = dict(rows.fetchall())
    assert counts == {v: 1 for v in range(1, len(pg_migrations.MIGRATIONS) + 1)}


def test_a_newer_schema_is_refused(pg_url: str) -> None:
    open_store(pg_url).close()
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO monitor_schema VALUES (999, 0, 'future')")
    with pytest.raises(StoreError, match="schema version 999, newer than this program"):
        open_store(pg_url)
    with pytest.raises(StoreError, match="newer than this program"):
        open_store(pg_url, migrate=False)


def test_sessions_carry_lock_and_statement_timeouts(pg_url: str) -> None:
    store = open_store(pg_url)
    try:
        with store.transaction() as conn:
            lock = conn.execute("SHOW lock_timeout").fetchone()[0]
            statement = conn.execute("SHOW statement_timeout").fetchone()[0]
    finally:
        store.close()
    assert lock == "10s" and statement == "1min"


def test_a_stuck_lock_fails_as_a_store_error_not_a_hang(pg_url: str) -> None:
    from monitor.state.postgres import PostgresStore

    holder = PostgresStore(pg_url)
    waiter = PostgresStore(pg_url, lock_timeout_s=0.2)
    try:
        with holder.transaction() as conn:
            conn.execute("LOCK TABLE feeds IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(StoreError, match="lock timeout"):
                waiter.feed_states()
    finally:
        holder.close()
        waiter.close()


def test_unreachable_server_is_a_store_error_without_the_password() -> None:
    url = "postgresql://monitor:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(StoreError) as caught:
        from monitor.state.postgres import PostgresStore

        PostgresStore(url, connect_timeout_s=1.0)
    assert "s3cret" not in str(caught.value)
    assert "postgresql://monitor:***@127.0.0.1:1/nowhere" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "kind", "target"),
    [
        ("sqlite:///state/monitor.db", "sqlite", "state/monitor.db"),
        ("sqlite:////var/lib/m.db", "sqlite", "/var/lib/m.db"),
        ("state/monitor.db", "sqlite", "state/monitor.db"),
        ("postgresql://u@h/db", "postgresql", "postgresql://u@h/db"),
        ("postgres://u@h/db", "postgresql", "postgres://u@h/db"),
    ],
)
def test_state_urls(text: str, kind: str, target: str) -> None:
    where = parse_state_url(text)
    assert (where.kind, where.target) == (kind, target)


@pytest.mark.parametrize("text", ["mysql://x/y", "sqlite://relative", "sqlite:///"])
def test_bad_state_urls_name_the_problem(text: str) -> None:
    with pytest.raises(StoreError, match="state: "):
        parse_state_url(text)


def test_redact_url() -> None:
    assert redact_url("postgresql://u:pw@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert redact_url("postgresql://u@h/d") == "postgresql://u@h/d"
