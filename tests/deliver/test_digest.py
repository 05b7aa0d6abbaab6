"""Digest selection: which rows wait for a digest, when they are due, what the period is called."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from monitor.deliver.digest import DigestPolicy, due, label_of, split
from monitor.models import Alert, OutboxEntry, Severity
from tests.fixtures.delivery.samples import NOW, alert, follow_up_alert


def row(entry_id: int, *, a: Alert | None = None, created_at: datetime = NOW) -> OutboxEntry:
    return OutboxEntry(
        id=entry_id,
        alert=a or alert(f"msg_{entry_id}", destination_id="slack"),
        status="pending",
        attempts=0,
        next_attempt_at=NOW,
        created_at=created_at,
    )


def test_split_batches_rows_below_the_policy_and_folded_follow_ups() -> None:
    low = row(1, a=replace(alert("low"), severity=Severity.LOW))
    high = row(2)
    update = row(3, a=follow_up_alert())
    policy = DigestPolicy(every_s=3600)
    assert split([low, high, update], policy, folds_updates=False) == ([high, update], [low])
    assert split([low, high, update], None, folds_updates=True) == ([low, high], [update])
    assert split([low, high, update], policy, folds_updates=True) == ([high], [low, update])


def test_due_holds_rows_until_their_epoch_aligned_period_ends() -> None:
    early = row(1, created_at=NOW - timedelta(minutes=30))  # 11:30, period ends 12:00
    late = row(2, created_at=NOW + timedelta(minutes=5))  # 12:05, period ends 13:00
    ready, held = due([early, late], 3600, NOW)
    assert ready == [early]
    assert held == [(late, NOW + timedelta(hours=1))]


def test_label_spans_from_the_first_period_to_the_last() -> None:
    rows = [row(1, created_at=NOW - timedelta(minutes=90)), row(2, created_at=NOW)]
    assert label_of(rows, 3600) == "2026-03-01 10:00–13:00 UTC"
