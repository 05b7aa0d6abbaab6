"""Both stores end their migrations with the same tables and columns (``store copy`` and the
contract tests rely on it; a migration added to one list only fails here)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from monitor.state.open import open_store
from monitor.state.sqlite import SqliteStore


def _sqlite_columns(path: Path) -> dict[str, set[str]]:
    store = SqliteStore(path)
    try:
        tables = [
            r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {
            table: {row[1] for row in store.conn.execute(f"PRAGMA table_info({table})")}
            for table in tables
            if not table.startswith("sqlite_")
        }
    finally:
        store.close()


def _pg_columns(url: str) -> dict[str, set[str]]:
    open_store(url).close()
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        ).fetchall()
    found: dict[str, set[str]] = {}
    for table, column in rows:
        found.setdefault(table, set()).add(column)
    found.pop("monitor_schema")  # PostgreSQL's version table; SQLite keeps PRAGMA user_version
    return found


def test_both_stores_have_the_same_tables_and_columns(tmp_path: Path, pg_url: str) -> None:
    assert _pg_columns(pg_url) == _sqlite_columns(tmp_path / "m.db")
