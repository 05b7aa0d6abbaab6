"""``outbox list/show/retry/purge/enable`` on a real state file; the dead-letter replay story."""

# ruff: noqa: F811 - the receiver fixtures are imported, then requested by name

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from monitor.cli import build_parser, outbox
from monitor.deliver.notifiers import SlackNotifier
from monitor.deliver.worker import DeliveryWorker
from monitor.models import DestinationSpec
from monitor.state.sqlite import SqliteStore
from tests.fixtures.delivery.samples import alert, story
from tests.servers.webhook_receiver import WebhookReceiver, slack_receiver  # noqa: F401
from tests.support import FakeClock


def run(db: Path, *argv: str) -> int:
    """``outbox ACTION … --state DB`` through the real parser (the global option last)."""
    args = build_parser().parse_args(["outbox", *argv, "--state", str(db)])
    code: int = args.func(args)
    return code


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state" / "monitor.db"


@pytest.fixture
def store(db: Path) -> SqliteStore:
    return SqliteStore(db)


def fill(store: SqliteStore) -> None:
    now = datetime.now(UTC)
    alerts = [
        alert(
            f"msg_{i}",
            destination_id="hook" if i % 2 else "slack",
            s=story(f"s{i}"),
            created_at=now,
        )
        for i in range(4)
    ]
    store.commit_stories([], alerts, now)
    store.mark_sent(1, now - timedelta(days=40))
    store.mark_sent(2, now)
    store.mark_dead(3, "deliver: slack refused the destination: invalid_token at slack", now)
    store.disable_destination("slack", "invalid_token", now)


def test_list_shows_counts_disabled_destinations_and_why(
    store: SqliteStore, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store)
    assert run(db, "list") == 0
    out = capsys.readouterr().out
    assert "outbox: pending 1  sent 2  dead 1" in out
    assert "DISABLED destination slack: invalid_token" in out
    header, *rows = [line for line in out.splitlines()[3:] if line.strip()]
    assert header.split()[:4] == ["ID", "STATUS", "DESTINATION", "SEV"]
    assert len(rows) == 4
    dead_row = next(r for r in rows if r.split()[1] == "dead")
    assert "invalid_token" in dead_row and "Putin gives Kim Jong Un" in dead_row


def test_list_filters_and_json(
    store: SqliteStore, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store)
    assert run(db, "list", "--status", "sent", "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == [2, 1] and all(r["status"] == "sent" for r in rows)
    assert run(db, "list", "--destination", "hook", "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["destination"] for r in rows} == {"hook"}


def test_show_prints_the_row_in_full(
    store: SqliteStore, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store)
    assert run(db, "show", "3") == 0
    out = capsys.readouterr().out
    assert "status: dead" in out and "DISABLED: invalid_token" in out
    assert "last error: deliver: slack refused the destination: invalid_token" in out
    assert run(db, "show", "3", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["payload"]["data"]["alert_id"] == "msg_2"
    assert run(db, "show", "99") == 1


def test_retry_requeues_and_re_enables(
    store: SqliteStore, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store)
    assert run(db, "retry", "3") == 0
    out = capsys.readouterr().out
    assert "re-enabled destination slack (was disabled: invalid_token)" in out
    assert "requeued 1 row(s)" in out
    entry = store.outbox_entry(3)
    assert entry is not None and entry.status == "pending" and entry.attempts == 0
    assert store.disabled_destinations() == {}
    assert run(db, "retry", "99") == 1
    assert run(db, "retry") == 2


def test_retry_dead_by_destination(store: SqliteStore, db: Path) -> None:
    fill(store)
    now = datetime.now(UTC)
    store.mark_dead(4, "HTTP 400", now)
    assert run(db, "retry", "--dead", "--destination", "hook") == 0
    assert [e.id for e in store.outbox("dead")] == [3]
    assert run(db, "retry", "--dead") == 0
    assert store.outbox("dead") == []


def test_purge_sent_older_than(
    store: SqliteStore, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store)
    assert run(db, "purge", "--sent", "--older-than", "30d") == 0
    assert "purged 1 sent row(s)" in capsys.readouterr().out
    assert store.outbox_entry(1) is None and store.outbox_entry(2) is not None
    assert store.outbox_entry(3) is not None  # dead rows are never purged


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 2_592_000), ("12h", 43_200), ("90m", 5400), ("2w", 1_209_600), ("45s", 45)],
)
def test_durations(text: str, seconds: int) -> None:
    assert outbox.parse_duration(text).total_seconds() == seconds


def test_bad_duration_is_a_usage_error(db: Path) -> None:
    with pytest.raises(SystemExit) as info:
        run(db, "purge", "--sent", "--older-than", "soon")
    assert info.value.code == 2


def test_enable(store: SqliteStore, db: Path) -> None:
    fill(store)
    assert run(db, "enable", "slack") == 0
    assert run(db, "enable", "slack") == 1


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


async def test_dead_letter_replay_after_the_receiver_is_fixed(
    store: SqliteStore,
    db: Path,
    client: httpx.AsyncClient,
    slack_receiver: WebhookReceiver,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Acceptance: permanent Slack error → dead + disabled → `outbox list` says why → fix →
    `outbox retry` → delivered."""
    clock = FakeClock(datetime.now(UTC))
    store.commit_stories(
        [], [alert("msg_replay", destination_id="slack", created_at=clock.now())], clock.now()
    )
    spec = DestinationSpec(id="slack", type="slack", url=slack_receiver.url("/services/x"))
    worker = DeliveryWorker(
        store=store, clock=clock, notifiers={"slack": SlackNotifier(spec=spec, client=client)}
    )
    slack_receiver.slack_error("channel_not_found")
    await worker.deliver_due()
    run(db, "list", "--status", "dead")
    out = capsys.readouterr().out
    assert "channel_not_found" in out and "DISABLED destination slack" in out
    slack_receiver.heal()
    assert run(db, "retry", "--dead") == 0
    clock.advance(1)  # the CLI requeues at wall-clock now; the worker's fake clock catches up
    stats = await worker.deliver_due()
    assert stats.sent == 1
    assert [r.status for r in slack_receiver.requests] == [404, 200]


def test_retry_makes_a_row_in_backoff_due_for_the_next_pass(
    store: SqliteStore, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store)
    now = datetime.now(UTC)
    store.mark_retry(4, "HTTP 503", now + timedelta(hours=2))  # backing off for two hours
    assert [e.id for e in store.due_deliveries(now)] == []
    assert run(db, "retry", "4") == 0
    assert "requeued 1 row(s)" in capsys.readouterr().out
    entry = store.outbox_entry(4)
    assert entry is not None and entry.status == "pending" and entry.attempts == 1
    assert [e.id for e in store.due_deliveries(datetime.now(UTC))] == [4]


def test_resend_as_new_queues_a_copy_with_a_counted_key(
    store: SqliteStore, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store)
    original = store.outbox_entry(2)
    assert original is not None and original.status == "sent"
    assert run(db, "resend", "--as-new", "2") == 0
    assert run(db, "resend", "2", "--as-new") == 0
    out = capsys.readouterr().out
    copies = [e for e in store.outbox("pending") if e.alert.key.startswith(original.alert.key)]
    keys = sorted(e.alert.key for e in copies)
    assert keys == [f"{original.alert.key}~resend-1", f"{original.alert.key}~resend-2"]
    assert all(e.destination_id == original.destination_id for e in copies)
    assert all(e.alert.story.title == original.alert.story.title for e in copies)
    assert f"(key {original.alert.key}~resend-1)" in out
    # a copy of a copy counts on from the original key, never ~resend-1~resend-1
    newest = max(copies, key=lambda e: e.id)
    assert run(db, "resend", "--as-new", str(newest.id)) == 0
    assert store.outbox(limit=1)[0].alert.key == f"{original.alert.key}~resend-3"
    assert run(db, "resend", "--as-new", "999") == 1


def test_resend_without_as_new_is_a_usage_error(db: Path) -> None:
    with pytest.raises(SystemExit) as info:
        run(db, "resend", "2")
    assert info.value.code == 2


def test_purge_needs_only_older_than(
    store: SqliteStore, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(store)
    assert run(db, "purge", "--older-than", "30d") == 0
    assert "purged 1 sent row(s)" in capsys.readouterr().out
    assert store.outbox_entry(1) is None and store.outbox_entry(3) is not None
