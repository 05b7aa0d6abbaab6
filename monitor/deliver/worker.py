"""Deliver: the worker that drains the outbox into notifiers, at least once, never losing a row.

Orchestration: it sees only ``ports.DeliveryStore``, ``ports.Notifier`` and ``ports.Clock``.
One pass (``deliver_due``) takes every row that is due, groups it by destination and runs the
destinations' lanes (``deliver.lane``) concurrently, each one alert at a time, oldest first.

State transitions, chosen so a crash at any instant loses nothing:

- a row is marked ``sent`` only after the destination answered 2xx; a crash between the answer
  and that write re-sends the row on restart (at most the one in flight per destination; the
  receiver deduplicates on ``webhook-id``);
- a failure never deletes anything: ``RetryableDelivery`` moves ``next_attempt_at`` along the
  retry schedule (with jitter), or to ``Retry-After`` for 429/503 without counting an attempt;
  past ``give_up_after_s`` since the row was queued the row is dead (news goes stale);
- ``PermanentDelivery`` dead-letters the row; with ``disable`` it also disables the destination
  (its later rows are dead-lettered with the reason) while the others carry on;
- ``PayloadRejected`` (Slack ``invalid_blocks``) sends the plain-text fallback once (the flag is
  written before the attempt), then dead-letters.

Pauses, token buckets and digests are per lane (``deliver.lane``); the outcome of each row is
written, logged and measured in one place (``deliver.outcomes``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

import structlog

from monitor.deliver.digest import DigestPolicy
from monitor.deliver.lane import Lane, LaneContext, StopSignal
from monitor.deliver.outcomes import (
    DeliveryOutcome,
    DeliveryStats,
    OutcomeRecorder,
    RetryPolicy,
)
from monitor.deliver.pacing import TokenBucket
from monitor.errors import MonitorError
from monitor.models import OutboxEntry
from monitor.ports import Clock, DeliveryStore, Notifier

__all__ = ["DeliveryOutcome", "DeliveryStats", "DeliveryWorker", "DigestPolicy"]

log = structlog.get_logger(__name__)

NOT_CONFIGURED = "destination is not configured (re-add it, then `outbox retry`)"


class DeliveryWorker:
    """Drains the outbox into notifiers; ``deliver_due`` for one pass, ``run`` as a service."""

    def __init__(
        self,
        *,
        store: DeliveryStore,
        notifiers: Mapping[str, Notifier],
        clock: Clock,
        retry_schedule_s: Sequence[float] = (0, 5, 60, 300, 1800, 7200),
        give_up_after_s: float = 6 * 3600,
        rate_limits: Mapping[str, tuple[float, int]] | None = None,
        digests: Mapping[str, DigestPolicy] | None = None,
        concurrency: Mapping[str, int] | None = None,
        batch_size: int = 200,
        jitter: float = 0.2,
        max_pause_s: float = 60.0,
        max_inline_wait_s: float = 5.0,
        rng: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observe: Callable[[DeliveryOutcome], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.batch_size = batch_size
        self.monotonic = monotonic
        self.policy = RetryPolicy(
            schedule_s=tuple(retry_schedule_s) or (0.0,),
            give_up_after_s=give_up_after_s,
            jitter=jitter,
            max_pause_s=max_pause_s,
            rng=rng,
        )
        self.recorder = OutcomeRecorder(
            store=store, clock=clock, policy=self.policy, observe=observe or (lambda o: None)
        )
        self.stop = StopSignal(sleep)
        self.context = LaneContext(
            store=store,
            clock=clock,
            recorder=self.recorder,
            stop=self.stop,
            monotonic=monotonic,
            max_inline_wait_s=max_inline_wait_s,
        )
        self.lanes: dict[str, Lane] = {}
        self._pauses: dict[str, datetime] = {}  # kept across reloads, like the outbox
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()  # set by ``wake``: a poll committed alerts
        self.replace_notifiers(
            notifiers, rate_limits=rate_limits, digests=digests, concurrency=concurrency
        )

    def replace_notifiers(
        self,
        notifiers: Mapping[str, Notifier],
        *,
        rate_limits: Mapping[str, tuple[float, int]] | None = None,
        digests: Mapping[str, DigestPolicy] | None = None,
        concurrency: Mapping[str, int] | None = None,
    ) -> None:
        """Swap destinations (hot reload): one new lane each; the outbox and pauses are kept.

        ``concurrency``: sends in flight per destination (default 1; see ``concurrency_for``).
        """
        self._pauses.update(
            {dest: lane.paused_until for dest, lane in self.lanes.items() if lane.paused_until}
        )
        unmarked = {dest: lane.unmarked for dest, lane in self.lanes.items() if lane.unmarked}
        now_s = self.monotonic()
        limits, policies = rate_limits or {}, digests or {}
        self.lanes = {
            dest: Lane(
                notifier,
                self.context,
                bucket=TokenBucket(*limits[dest], now_s) if dest in limits else None,
                digest_policy=policies.get(dest),
                paused_until=self._pauses.get(dest),
                concurrency=(concurrency or {}).get(dest, 1),
            )
            for dest, notifier in notifiers.items()
        }
        for dest, pending_mark in unmarked.items():  # a reload must not forget a sent row
            if dest in self.lanes:
                self.lanes[dest].unmarked = pending_mark

    def backoff_s(self, failures: int) -> float:
        """The delay after ``failures`` failed attempts (schedule step, +/- jitter)."""
        return self.policy.backoff_s(failures)

    # --- the two entry points -------------------------------------------------------------------

    async def deliver_due(self) -> DeliveryStats:
        """One pass over everything due now; returns what it did."""
        stats = DeliveryStats()
        seen: set[int] = set()  # each row is tried at most once per pass
        async with self._lock:
            while not self.stop.is_set():
                batch = self.store.due_deliveries(self.clock.now(), limit=self.batch_size)
                full = len(batch) >= self.batch_size
                groups = _by_destination(batch, seen)
                if not groups:
                    break
                disabled = self.store.disabled_destinations()
                changed = await asyncio.gather(*(
                    self._destination(dest, rows, disabled, stats, push_deferred=full)
                    for dest, rows in groups.items()
                ))  # fmt: skip
                if not full or not any(changed):
                    break
        stats.pending = self.store.outbox_counts().get("pending", 0)
        return stats

    async def run(self, stop: asyncio.Event, *, poll_interval_s: float = 1.0) -> None:
        """Pass after pass until ``stop`` is set; the send in flight finishes, no new one starts."""
        self.stop.event = stop
        log.info("delivery_worker_started", destinations=sorted(self.lanes))
        while not stop.is_set():
            try:
                await self.deliver_due()
            except MonitorError as exc:
                log.error("delivery_pass_failed", error=str(exc))
            except Exception:  # the worker must outlive a bug in one pass; rows stay queued
                log.exception("delivery_pass_crashed")
            await self._idle(stop, poll_interval_s)
        log.info("delivery_worker_stopped")

    def wake(self) -> None:
        """Start the next pass now instead of at the next tick (the daemon calls it when a poll
        has committed alerts, so time to alert does not wait for ``poll_interval_s``)."""
        self._wake.set()

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        """Wait until ``stop``, ``wake`` or ``seconds``, whichever comes first."""
        if not self._wake.is_set():
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            _, pending = await asyncio.wait(
                waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
            )
            for waiting in pending:
                waiting.cancel()
        self._wake.clear()

    async def _destination(
        self,
        dest: str,
        rows: list[OutboxEntry],
        disabled: Mapping[str, str],
        stats: DeliveryStats,
        *,
        push_deferred: bool,
    ) -> int:
        """Run ``dest``'s lane over its rows; rows of a disabled or removed destination die."""
        lane = self.lanes.get(dest)
        if dest in disabled:
            reason = f"destination disabled: {disabled[dest]}"
        elif lane is None:
            reason = NOT_CONFIGURED
        else:
            return await lane.deliver(rows, stats, push_deferred=push_deferred)
        for entry in rows:
            self.recorder.dead(entry, reason, stats)
        return len(rows)


def _by_destination(batch: Sequence[OutboxEntry], seen: set[int]) -> dict[str, list[OutboxEntry]]:
    """The rows not tried yet in this pass, grouped by destination (oldest first in each)."""
    groups: dict[str, list[OutboxEntry]] = {}
    for entry in batch:
        if entry.id not in seen:
            groups.setdefault(entry.destination_id, []).append(entry)
            seen.add(entry.id)
    return groups
