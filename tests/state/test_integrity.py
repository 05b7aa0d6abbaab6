"""A damaged state file never looks new: ``once`` and ``run`` exit 1 naming it and the way out,
nothing is (re-)alerted, and ``--reset-state`` is the documented fresh start."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.state.integrity import DamagedState
from monitor.state.sqlite import SqliteStore
from tests.servers.feed_server import FeedServer, feed_server, rss_feed
from tests.servers.webhook_receiver import TEST_SECRETS, WebhookReceiver, webhook_receiver
from tests.support import run_cli, write_config
from tests.test_e2e_once import AURUS  # the seed story: a Russia-DPRK transfer

__all__ = ["feed_server", "webhook_receiver"]


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a database at all\n" * 200)


def _no_schema(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE unrelated (x)")
        conn.execute("INSERT INTO unrelated VALUES (1)")


def _corrupt(path: Path) -> None:
    """A real store whose b-tree pages were overwritten (a bad disk, a torn copy)."""
    store = SqliteStore(path)
    with store.transaction() as conn:
        for i in range(3000):
            conn.execute(
                "INSERT INTO stories (key, feed_id, title, first_seen_at) VALUES (?, 'f', ?, 0)",
                (f"k{i:05d}", "a title long enough to fill pages " * 3),
            )
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(3 * page, min(len(data), 12 * page), page):
        data[offset : offset + 200] = b"\xa5" * 200
    path.write_bytes(bytes(data))


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "empty": (_empty, r"is empty \(0 bytes\)"),
    "garbage": (_garbage, "is not an SQLite database"),
    "no_schema": (_no_schema, "has no monitor schema"),
    "corrupt": (_corrupt, "integrity check|cannot be read as a database"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_the_store_refuses_a_damaged_file(tmp_path: Path, damage: str) -> None:
    make, message = DAMAGES[damage]
    path = tmp_path / "monitor.db"
    make(path)
    before = path.read_bytes()
    with pytest.raises(DamagedState, match=message) as caught:
        SqliteStore(path)
    assert str(path) in str(caught.value) and "--reset-state" in str(caught.value)
    assert path.read_bytes() == before  # untouched: nothing was "repaired" into a new state


def test_a_missing_file_is_a_new_install_and_a_good_one_reopens(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "monitor.db"
    SqliteStore(path).close()
    SqliteStore(path).close()
    assert path.stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["empty", "corrupt"])
def test_once_and_run_exit_1_on_a_damaged_state_and_reset_state_starts_afresh(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver, damage: str
) -> None:
    feed_url = feed_server.set_feed("/world.xml", rss_feed([AURUS]))
    config = write_config(
        tmp_path,
        feeds=[{"id": "world", "url": feed_url}],
        destinations=[
            {"id": "hook", "type": "webhook", "url": webhook_receiver.url("/h"),
             "secret": TEST_SECRETS[0], "min_severity": "low"}
        ],
    )  # fmt: skip
    state = tmp_path / "state" / "monitor.db"
    state.parent.mkdir()
    DAMAGES[damage][0](state)

    for command in ("once", "run"):
        refused = run_cli(command, config=config)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        said = refused.stdout + refused.stderr
        assert str(state) in said and "--reset-state" in said
        assert "Traceback" not in said
    assert feed_server.requests == [] and webhook_receiver.requests == []

    fresh = run_cli("once", "--reset-state", config=config)
    assert fresh.returncode == 0, fresh.stderr
    [kept] = state.parent.glob("monitor.db.reset-*")
    assert f"moved to {kept}" in fresh.stderr
    assert len(webhook_receiver.delivered()) == 1
