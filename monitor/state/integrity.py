"""A damaged state file never looks like a new install; ``--reset-state`` moves one aside.

For ``SqliteStore`` (at open) and the CLI. Only a state file that does not exist is new. An
existing file that is empty, is not an SQLite database, has no schema, or fails
``PRAGMA quick_check`` raises ``DamagedState`` (exit 1) naming the file and the ways out:
restore a backup, move the file away, or ``--reset-state``. Starting afresh silently would
forget every story seen and alert all of them again.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from monitor.errors import StoreError

SQLITE_HEADER = b"SQLite format 3\x00"
REQUIRED_TABLES = frozenset({"feeds", "stories", "outbox"})


class DamagedState(StoreError):
    """The state file exists but cannot be trusted; the message says what to do."""

    def __init__(self, path: Path, problem: str) -> None:
        self.state_path = path
        super().__init__(
            f"state {path} {problem}. It is not treated as a new install (that would alert "
            "every story again): restore a backup, or move the file away, or run "
            "`sanctions-monitor run --reset-state` (or `once --reset-state`), which keeps it "
            f"as {path.name}.reset-<time> and starts with an empty state"
        )


def check_file(path: Path) -> bool:
    """Before connecting: True when ``path`` exists (so it must be a good database).

    Raises ``DamagedState`` for an empty or non-SQLite file, ``StoreError`` when unreadable.
    """
    if not path.exists():
        return False
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise DamagedState(path, f"cannot be read ({exc.strerror})") from exc
    if not header:
        raise DamagedState(path, "is empty (0 bytes)")
    if header != SQLITE_HEADER:
        raise DamagedState(path, "is not an SQLite database")
    return True


def check_database(conn: sqlite3.Connection, path: Path) -> None:
    """After connecting to an existing file: it has the schema and passes ``quick_check``."""
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        verdict = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        raise DamagedState(path, f"cannot be read as a database ({exc})") from exc
    if verdict != ["ok"]:
        raise DamagedState(path, f"failed its integrity check ({'; '.join(verdict)})")
    missing = REQUIRED_TABLES - tables
    if version == 0 or missing:
        detail = f"tables {', '.join(sorted(missing))} missing" if missing else "no version"
        raise DamagedState(path, f"has no monitor schema ({detail})")


def reset_state(path: Path, *, now: datetime | None = None) -> Path | None:
    """Move ``path`` (and its ``-wal``/``-shm``) aside as ``<name>.reset-<UTC time>``.

    Returns the new name of the main file, or None when there was nothing to move. The caller
    must hold the state lock (``state.lock.StateLock``).
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.reset-{stamp}")
    moved: Path | None = None
    try:
        for suffix in ("", "-wal", "-shm"):
            source = path.with_name(path.name + suffix)
            if source.exists():
                source.rename(target.with_name(target.name + suffix))
                moved = moved or target
    except OSError as exc:
        raise StoreError(f"store: cannot move {path} aside: {exc.strerror}") from exc
    return moved
