"""One delivery lane per destination: order, pause, token bucket, disable, digest or fold.

Orchestration, run by ``deliver.worker``. A lane sends its destination's due rows oldest first,
up to ``concurrency`` at once (webhooks default to 4, everything else to 1), and starts no row
while the lane is paused, so a failing head is never overtaken by more than the sends already in
flight; a follow-up (``alert.updated``) never starts before its parent's send has finished:

- a failed send pauses the lane until the row's next attempt (at most ``max_pause_s``); a
  Retry-After pauses it for the whole wait; a token bucket paces sends (short waits inline,
  longer ones pause the lane);
- a permanent error that disables the destination dead-letters the lane's remaining rows;
- rows below the digest policy's severity, and follow-ups to a destination that folds them
  (``NotifierCapabilities.folds_updates``), wait for the end of their digest period and go out
  as one message (``send_digest``) or, without a digest form, one request each;
- a follow-up to a threading destination (``threads``) is posted in its parent's thread, and
  waits while the parent is still queued;
- when a send succeeded but its ``sent`` mark did not commit (a full disk, a failing
  database), the lane remembers the row and sends nothing more until that mark commits, so a
  failing store costs at most one duplicate per destination (the send in flight, if the
  process dies before the store recovers) instead of a resend on every pass.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from monitor.deliver import digest
from monitor.deliver.digest import UPDATE_DIGEST_S, DigestPolicy
from monitor.deliver.outcomes import DeliveryStats, OutcomeRecorder, Result, iso
from monitor.deliver.pacing import TokenBucket
from monitor.errors import (
    DeliveryError,
    MonitorError,
    PayloadRejected,
    PermanentDelivery,
    RetryableDelivery,
    StoreError,
)
from monitor.models import Alert, OutboxEntry
from monitor.ports import Clock, DeliveryStore, DigestNotifier, Notifier, sends_digests

log = structlog.get_logger("monitor.deliver.worker")

# How long a thread reply waits before looking again for its parent message's thread.
PARENT_WAIT_S = 30.0


class StopSignal:
    """The worker's stop request as its lanes see it: a flag, and a sleep it cuts short."""

    def __init__(self, sleep: Callable[[float], Awaitable[None]]) -> None:
        self.event: asyncio.Event | None = None  # set by ``DeliveryWorker.run``
        self.sleep = sleep

    def is_set(self) -> bool:
        return self.event is not None and self.event.is_set()

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake as soon as the worker is asked to stop."""
        if self.event is None:
            await self.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), timeout=seconds)


@dataclass(frozen=True)
class LaneContext:
    """What every lane shares: the store, the clock, the outcome recorder, the stop signal."""

    store: DeliveryStore
    clock: Clock
    recorder: OutcomeRecorder
    stop: StopSignal
    monotonic: Callable[[], float]
    max_inline_wait_s: float


class Lane:
    """Delivers one destination's rows in order, with its own pause, pacing and digest."""

    def __init__(
        self,
        notifier: Notifier,
        context: LaneContext,
        *,
        bucket: TokenBucket | None = None,
        digest_policy: DigestPolicy | None = None,
        paused_until: datetime | None = None,
        concurrency: int = 1,
    ) -> None:
        self.destination_id = notifier.destination_id
        self.concurrency = max(1, concurrency)
        self.notifier = notifier
        self.ctx = context
        self.record = context.recorder
        self.bucket = bucket
        self.digest_policy = digest_policy
        self.paused_until = paused_until
        self._disabled_now: str | None = None  # disabled by a send during this batch
        # A row that was sent but whose "sent" mark failed to commit, with its remote ref.
        self.unmarked: tuple[OutboxEntry, str | None] | None = None

    async def deliver(
        self, entries: Sequence[OutboxEntry], stats: DeliveryStats, *, push_deferred: bool
    ) -> int:
        """Deliver due rows in order; returns how many rows changed state."""
        self._disabled_now = None
        if self.unmarked is not None:
            settled = self._settle()
            if settled is None:
                stats.held += len(entries)
                return 0
            entries = [entry for entry in entries if entry.id != settled]
        immediate, batched = digest.split(
            entries, self.digest_policy, folds_updates=self.notifier.capabilities.folds_updates
        )
        changed, started = await self._send_in_order(immediate, stats, push=push_deferred)
        if self.unmarked is not None:  # the store failed: hold the rest of the lane
            stats.held += len(immediate) - started + len(batched)
            return changed
        if self._disabled_now is not None:
            reason = f"destination disabled: {self._disabled_now}"
            for later in [*immediate[started:], *batched]:
                self.record.dead(later, reason, stats)
            return len(entries)
        if batched and not self.ctx.stop.is_set():
            changed += await self._digest(batched, stats, push=push_deferred)
        return changed

    async def _send_in_order(
        self, rows: Sequence[OutboxEntry], stats: DeliveryStats, *, push: bool
    ) -> tuple[int, int]:
        """Start ``rows`` in order, up to ``concurrency`` sends in flight; wait for them all.

        Returns (rows that changed state, rows started). No row starts once the lane is
        paused (a failure among those in flight pauses it), disabled or stopping; so a kill or
        a failure can overtake or repeat at most the sends already in flight.
        """
        slots = asyncio.Semaphore(self.concurrency)
        in_flight: dict[str, asyncio.Task[Result]] = {}  # alert key -> its send
        changed = started = 0
        for index, entry in enumerate(rows):
            parent = in_flight.get(entry.alert.parent_alert_id or "")
            if parent is not None:
                await asyncio.wait({parent})  # a follow-up never goes out before its parent
            await slots.acquire()
            blocked = self._disabled_now is not None or self.unmarked is not None
            if self.ctx.stop.is_set() or blocked:
                slots.release()
                break
            if not await self._ready():
                slots.release()
                changed += self._defer(rows[index:], stats, push=push)
                break
            in_flight[entry.alert.key] = asyncio.create_task(self._in_slot(entry, stats, slots))
            changed += 1
            started += 1
        await asyncio.gather(*in_flight.values())
        return changed, started

    async def _in_slot(
        self, entry: OutboxEntry, stats: DeliveryStats, slots: asyncio.Semaphore
    ) -> Result:
        try:
            return await self._attempt(entry, stats)
        finally:
            slots.release()

    # --- pacing ---------------------------------------------------------------------------------

    async def _ready(self) -> bool:
        """True when the lane may send now: not paused, and a token is (or soon will be) there."""
        now = self.ctx.clock.now()
        if self.paused_until is not None and now < self.paused_until:
            return False
        if self.bucket is None:
            return True
        wait_s = self.bucket.wait_s(self.ctx.monotonic())
        if wait_s > self.ctx.max_inline_wait_s:
            self.paused_until = now + timedelta(seconds=wait_s)
            return False
        if wait_s > 0:
            await self.ctx.stop.pause(wait_s)
            if self.ctx.stop.is_set():
                return False
        self.bucket.take(self.ctx.monotonic())
        return True

    def _defer(self, entries: Sequence[OutboxEntry], stats: DeliveryStats, *, push: bool) -> int:
        """Leave rows for later; after a full batch, move them out of the way (no starvation)."""
        stats.deferred += len(entries)
        if not push:
            return 0
        now = self.ctx.clock.now()
        until = max(self.paused_until or now, now)
        for entry in entries:
            note = entry.last_error or f"deferred: {self.destination_id} is paused"
            self.record.hold(entry, note, until)
        return len(entries)

    def _pause_until(self, until: datetime | None) -> None:
        if until is not None:
            self.paused_until = until

    # --- one row --------------------------------------------------------------------------------

    async def _attempt(self, entry: OutboxEntry, stats: DeliveryStats) -> Result:
        """Send one row and record the outcome; never raises a delivery error."""
        alert = self._threaded(entry)
        if alert is None:
            return self._wait_for_parent(entry, stats)
        started_s = self.ctx.monotonic()
        try:
            remote_ref = await self.notifier.send(alert, plain=entry.fallback_sent)
        except Exception as exc:  # sorted out below; a notifier bug must not lose the row
            return await self._failed(entry, exc, self.ctx.monotonic() - started_s, stats)
        latency_s = self.ctx.monotonic() - started_s
        try:
            return self.record.sent(entry, stats, remote_ref=remote_ref, latency_s=latency_s)
        except StoreError as exc:
            self.unmarked = (entry, remote_ref)
            stats.store_errors += 1
            log.error("delivery_mark_failed", destination=self.destination_id,
                      entry_id=entry.id, alert_key=entry.alert.key, error=str(exc))  # fmt: skip
            return "sent"

    def _settle(self) -> int | None:
        """Commit the pending ``sent`` mark; its row id on success, None while the store fails.

        The row WAS delivered: it is marked, never sent again.
        """
        assert self.unmarked is not None
        entry, remote_ref = self.unmarked
        try:
            self.ctx.store.mark_sent(entry.id, self.ctx.clock.now(), remote_ref=remote_ref)
        except StoreError as exc:
            log.warning("delivery_held", destination=self.destination_id, entry_id=entry.id,
                        reason="the store cannot record the last send", error=str(exc))  # fmt: skip
            return None
        log.info("delivery_mark_recovered", destination=self.destination_id, entry_id=entry.id)
        self.unmarked = None
        return entry.id

    async def _failed(
        self, entry: OutboxEntry, exc: Exception, latency_s: float, stats: DeliveryStats
    ) -> Result:
        """The send raised ``exc`` (called inside the ``except``): fallback, dead or retry."""
        if isinstance(exc, PayloadRejected) and not entry.fallback_sent:
            return await self._fallback(entry, exc, stats)
        if isinstance(exc, PermanentDelivery):
            return self._permanent(entry, exc, stats, latency_s=latency_s)
        if isinstance(exc, MonitorError):  # any other DeliveryError: assume it may pass later
            wait = exc.retry_after_s if isinstance(exc, RetryableDelivery) else None
            return self._retry(entry, str(exc), wait, stats, latency_s=latency_s)
        log.exception("notifier_crashed", destination=entry.destination_id, entry_id=entry.id)
        return self._retry(entry, f"internal error: {type(exc).__name__}", None, stats)

    def _retry(
        self,
        entry: OutboxEntry,
        error: str,
        retry_after_s: float | None,
        stats: DeliveryStats,
        *,
        latency_s: float | None = None,
    ) -> Result:
        result, pause = self.record.retry(entry, error, retry_after_s, stats, latency_s=latency_s)
        self._pause_until(pause)
        return result

    def _permanent(
        self,
        entry: OutboxEntry,
        exc: PermanentDelivery,
        stats: DeliveryStats,
        *,
        latency_s: float | None = None,
    ) -> Result:
        result = self.record.permanent(entry, exc, stats, latency_s=latency_s)
        if exc.disable:
            self._disabled_now = str(exc)
        return result

    def _threaded(self, entry: OutboxEntry) -> Alert | None:
        """The alert to send; a follow-up for a threading notifier gets its parent's thread.

        None means "not yet": the parent alert is still queued, so its thread does not exist.
        A parent that was dead-lettered or purged leaves the follow-up to stand alone.
        """
        alert = entry.alert
        if alert.event != "alert.updated" or not self.notifier.capabilities.threads:
            return alert
        parent = alert.parent_alert_id
        found = self.ctx.store.delivery_of(parent, entry.destination_id) if parent else None
        if found is None:
            return alert
        status, remote_ref = found
        if status == "pending":
            return None
        return replace(alert, thread_ref=remote_ref) if remote_ref else alert

    def _wait_for_parent(self, entry: OutboxEntry, stats: DeliveryStats) -> Result:
        next_at = self.ctx.clock.now() + timedelta(seconds=PARENT_WAIT_S)
        self.record.hold(entry, "waiting for the original alert's thread", next_at)
        stats.deferred += 1
        return "deferred"

    async def _fallback(
        self, entry: OutboxEntry, exc: PayloadRejected, stats: DeliveryStats
    ) -> Result:
        """The blocks were refused: record the fallback first (so it happens once), then send it."""
        self.ctx.store.mark_fallback_sent(entry.id)
        stats.fallbacks += 1
        log.warning(
            "alert_fallback_sent",
            destination=entry.destination_id,
            entry_id=entry.id,
            error=str(exc),
        )
        return await self._attempt(replace(entry, fallback_sent=True), stats)

    # --- digests --------------------------------------------------------------------------------

    async def _digest(self, entries: list[OutboxEntry], stats: DeliveryStats, *, push: bool) -> int:
        """Hold rows until their period ends; then send every finished period's rows at once."""
        policy = self.digest_policy or DigestPolicy(every_s=UPDATE_DIGEST_S)
        ready, waiting = digest.due(entries, policy.every_s, self.ctx.clock.now())
        for entry, end in waiting:  # durable: the row itself says when it is due
            self.record.hold(entry, f"held for the digest at {iso(end)}", end)
        if not ready:
            return len(waiting)
        if not await self._ready():
            return len(waiting) + self._defer(ready, stats, push=push)
        if not sends_digests(self.notifier) or len(ready) == 1:
            for entry in ready:  # no batching form (webhooks): one request each, at period end
                await self._attempt(entry, stats)
        else:
            await self._send_digest(self.notifier, policy, ready, stats)
        return len(waiting) + len(ready)

    async def _send_digest(
        self,
        notifier: DigestNotifier,
        policy: DigestPolicy,
        ready: list[OutboxEntry],
        stats: DeliveryStats,
    ) -> None:
        label = digest.label_of(ready, policy.every_s)
        started_s = self.ctx.monotonic()
        try:
            await notifier.send_digest([e.alert for e in ready], period_label=label)
        except Exception as exc:  # sorted out below; a notifier bug must not leave rows spinning
            await self._digest_failed(ready, exc, stats)
            return
        latency_s = self.ctx.monotonic() - started_s
        for entry in ready:
            self.record.sent(entry, stats, latency_s=latency_s)
        stats.digests += 1
        log.info("digest_delivered", destination=self.destination_id, alerts=len(ready))

    async def _digest_failed(
        self, ready: list[OutboxEntry], exc: Exception, stats: DeliveryStats
    ) -> None:
        """The digest raised ``exc`` (called inside the ``except``): split, dead or retry."""
        if isinstance(exc, PayloadRejected):
            for entry in ready:  # the batch was refused: each alert alone, with its own fallback
                await self._attempt(entry, stats)
        elif isinstance(exc, PermanentDelivery):
            self._permanent(ready[0], exc, stats)
            for entry in ready[1:]:
                self.record.dead(entry, str(exc), stats)
        elif isinstance(exc, DeliveryError):
            wait = exc.retry_after_s if isinstance(exc, RetryableDelivery) else None
            for entry in ready:
                self._retry(entry, str(exc), wait, stats)
        else:
            log.exception("notifier_crashed", destination=self.destination_id, digest=True)
            for entry in ready:
                self._retry(entry, f"internal error: {type(exc).__name__}", None, stats)
