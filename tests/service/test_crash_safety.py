"""Crash safety: SIGKILL the daemon again and again during a burst of 200 alerts.

A feed on 127.0.0.1 carries 200 different Russia-DPRK transfer stories (each flagged by the
bundled rules); one webhook destination receives them through a receiver that answers a little
slowly. The daemon runs as a subprocess and is killed with SIGKILL after 20, 90 and 160
deliveries, then restarted on the same state file. At the end every alert has arrived, and
none more than once except inside the documented window below.

The window: the outbox marks a row ``sent`` only after the receiver answered 2xx. A kill that
lands after the receiver has taken the request (it records the request before answering) but
before the daemon has committed ``sent`` leaves that row pending, and the next start sends it
again with the same ``webhook-id`` (receivers deduplicate on it). The worker has at most
``concurrency`` sends in flight per destination, so each kill can double at most that many
alerts: duplicates <= kills x concurrency. The test runs at concurrency 1 (one at a time) and 4
(the webhook default). Nothing can be lost: a story is marked seen in the same
transaction that queues its alerts, so a kill during the poll costs at most a repeated poll.
"""

from __future__ import annotations

import signal
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.detect.assess import assess
from tests.detect_support import bundled_pack, story
from tests.servers.feed_server import FeedServer, feed_server, item, rss_feed
from tests.servers.webhook_receiver import TEST_SECRETS, Reply, WebhookReceiver, webhook_receiver
from tests.support import daemon_process, events_named, transfer_stories, wait_for, write_config

__all__ = ["feed_server", "webhook_receiver"]

# Deadlines are generous (a loaded host with parallel tests can take 20 s to start a daemon);
# every wait ends as soon as its event happens, so a healthy run stays fast.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

TOTAL = 200
KILL_AFTER = (20, 90, 160)  # deliveries seen by the receiver before each SIGKILL
REPLY_DELAY_S = 0.02  # "a bit slow": each answer waits, so kills land mid-burst


def burst_feed() -> bytes:
    now = datetime.now(UTC).replace(microsecond=0)
    return rss_feed(
        [
            item(
                title,
                link=f"https://news.example/burst/{k}",
                guid=f"burst-{k}",
                description=summary,
                pub_date=now - timedelta(minutes=k),
            )
            for k, (title, summary) in enumerate(transfer_stories(TOTAL))
        ],
        title="Burst wire",
    )


def outbox_statuses(db: Path) -> Counter[str]:
    """Rows per outbox status, read straight from the state file (the daemon is stopped)."""
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "outbox" in tables, tables
        return Counter({status: n for status, n in conn.execute(
            "SELECT status, COUNT(*) FROM outbox GROUP BY status"
        )})  # fmt: skip


def test_every_burst_story_is_flagged_by_the_bundled_rules() -> None:
    """The premise of the burst: 200 stories, 200 alerts (checked in-process, quickly)."""
    pack = bundled_pack()
    unflagged = []
    for k, (title, summary) in enumerate(transfer_stories(TOTAL)):
        candidate = story(title, summary, key=f"burst-{k}")
        if assess(candidate, pack.match(candidate), pack).severity is None:
            unflagged.append(title)
    assert not unflagged, unflagged


@pytest.mark.parametrize("concurrency", [1, 4])
def test_sigkill_during_a_burst_loses_nothing_and_doubles_at_most_one_per_send_in_flight(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver, concurrency: int
) -> None:
    feed_url = feed_server.set_feed("/burst.xml", burst_feed(), etag='"burst-1"')
    log = tmp_path / "daemon.log"
    config = write_config(
        tmp_path,
        feeds=[{"id": "burst", "url": feed_url, "interval_s": 2}],
        destinations=[
            {
                "id": "hook",
                "type": "webhook",
                "url": webhook_receiver.url("/hooks/crash"),
                "secret": TEST_SECRETS[0],
                "min_severity": "low",
                "concurrency": concurrency,
            }
        ],
    )
    webhook_receiver.script(*[Reply(delay_s=REPLY_DELAY_S)] * (TOTAL + 50))

    kills = 0
    for threshold in KILL_AFTER:
        with daemon_process(config, log_path=log) as proc:
            webhook_receiver.wait_for(threshold, timeout_s=60)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
            kills += 1
        got = len(set(webhook_receiver.delivered_ids()))
        assert got < TOTAL, f"the burst ended before kill {kills}: nothing was interrupted"

    with daemon_process(config, log_path=log) as proc:
        wait_for(lambda: len(set(webhook_receiver.delivered_ids())) >= TOTAL, timeout_s=90)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0

    # Only this daemon's path: under parallel tests a port can be reused by this receiver while
    # another test's process still posts to it (those requests carry no signature).
    delivered = [r for r in webhook_receiver.delivered() if r.path == "/hooks/crash"]
    assert all(r.verified for r in delivered), [r.verify_error for r in delivered][:3]
    per_id = Counter(r.webhook_id for r in delivered)
    assert len(per_id) == TOTAL
    duplicates = sum(n - 1 for n in per_id.values())
    assert duplicates <= kills * concurrency, {i: n for i, n in per_id.items() if n > 1}
    titles = Counter(r.json()["data"]["story"]["title"] for r in delivered)
    assert set(titles) == {title for title, _ in transfer_stories(TOTAL)}
    # one poll queued everything; the restarts polled again but queued nothing twice
    queued = sum(e.get("alerts_queued", 0) for e in events_named(log, "feed_polled"))
    assert queued == TOTAL
    assert outbox_statuses(tmp_path / "state" / "monitor.db") == Counter(sent=TOTAL)
