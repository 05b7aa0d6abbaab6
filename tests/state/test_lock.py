"""One writer per state file: the lock ``run``/``once`` hold, and ``state backup`` beside it.

The process-level tests start the real daemon on loopback servers and then try, as an operator
or a cron job would, a second ``run``, a ``once``, ``--reset-state``, ``outbox list`` and
``state backup`` against the same state file.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.state.lock import StateLock, StateLocked, lock_path_for
from tests.servers.feed_server import FeedServer, feed_server, rss_feed
from tests.servers.webhook_receiver import TEST_SECRETS, WebhookReceiver, webhook_receiver
from tests.support import REPO, daemon_process, run_cli, wait_for, write_config
from tests.test_e2e_once import AURUS  # the seed story: a Russia-DPRK transfer

__all__ = ["feed_server", "webhook_receiver"]


# --- the lock itself ---------------------------------------------------------------------------


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path: Path) -> None:
    state = tmp_path / "monitor.db"
    with StateLock(state):
        assert lock_path_for(state).read_text().strip() == str(os.getpid())
        with pytest.raises(StateLocked, match=rf"PID {os.getpid()}"):
            StateLock(state).acquire()
    with StateLock(state):  # released on exit: it can be taken again
        pass


def test_the_lock_dies_with_its_process_even_on_sigkill(tmp_path: Path) -> None:
    state = tmp_path / "monitor.db"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from monitor.state.lock import StateLock\n"
         f"StateLock({str(state)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, cwd=REPO, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert StateLock(state).held_elsewhere() == str(holder.pid)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    assert StateLock(state).held_elsewhere() is None


# --- the CLI beside a running daemon -----------------------------------------------------------


@pytest.mark.slow
def test_commands_beside_a_running_daemon(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
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
    with daemon_process(config, log_path=tmp_path / "daemon.log") as daemon:
        wait_for(lambda: len(webhook_receiver.delivered()) == 1, timeout_s=60)

        copy_to = str(tmp_path / "copy-target.db")
        for args in (
            ("once",), ("run",), ("once", "--reset-state"), ("run", "--reset-state"),
            ("migrate",), ("store", "copy", str(state), copy_to),
        ):  # fmt: skip
            second = run_cli(*args, config=config)
            assert second.returncode == 1, (args, second.stdout, second.stderr)
            [line] = second.stderr.strip().splitlines()
            assert f"is in use by another sanctions-monitor (PID {daemon.pid})" in line
            assert str(state) in line
        assert state.exists() and not list(state.parent.glob("*.reset-*"))

        listing = run_cli("outbox", "list", "--json", config=config)
        assert listing.returncode == 0, listing.stderr
        assert '"sent"' in listing.stdout

        copy = tmp_path / "backups" / "copy.db"
        backup = run_cli("state", "backup", str(copy), config=config)
        assert backup.returncode == 0, backup.stderr
        assert daemon.poll() is None  # the daemon was not disturbed
        with sqlite3.connect(copy) as conn:
            assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            assert conn.execute("SELECT count(*) FROM stories").fetchone()[0] == 1
            assert conn.execute("SELECT status FROM outbox").fetchall() == [("sent",)]

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0

    after = run_cli("once", config=config)  # the lock went with the daemon
    assert after.returncode == 0, after.stderr
    assert len(webhook_receiver.delivered()) == 1  # and nothing was sent twice


def test_backup_refuses_a_missing_state_and_its_own_file(tmp_path: Path) -> None:
    missing = run_cli("state", "--state", str(tmp_path / "none.db"), "backup", str(tmp_path / "b"))
    assert missing.returncode == 1 and "no state file" in missing.stderr
    state = tmp_path / "monitor.db"
    from monitor.state.sqlite import SqliteStore

    SqliteStore(state).close()
    same = run_cli("state", "--state", str(state), "backup", str(state))
    assert same.returncode == 1 and "overwrite the state itself" in same.stderr
