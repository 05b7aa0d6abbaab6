"""Deliver: the worker that drains the outbox into notifiers, at least once, never losing a row.

Orchestration: it sees only ``ports.DeliveryStore``, ``ports.Notifier`` and ``ports.Clock``.
One pass (``deliver_due``) takes every row that is due, groups it by destination and runs the
destinations concurrently, each one alert at a time, oldest first.

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

A failed send pauses its destination until the row's next attempt (at most ``max_pause_s``) so
later rows do not overtake it; a Retry-After pauses it for the whole wait. Per-destination token
buckets pace sends (short waits happen inline). Digest destinations hold alerts below
``DigestPolicy.immediate_from`` until the end of their period, then send them as one message.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog

from monitor.deliver import digest
from monitor.deliver.digest import UPDATE_DIGEST_S, DigestPolicy
from monitor.deliver.pacing import TokenBucket, backoff_s
from monitor.errors import (
    DeliveryError,
    MonitorError,
    PayloadRejected,
    PermanentDelivery,
    RetryableDelivery,
)
from monitor.models import Alert, OutboxEntry
from monitor.ports import Clock, DeliveryStore, Notifier, sends_digests

__all__ = ["DeliveryOutcome", "DeliveryStats", "DeliveryWorker", "DigestPolicy"]

log = structlog.get_logger(__name__)

Result = Literal["sent", "retry", "dead", "deferred"]

# How long a thread reply waits before looking again for its parent message's thread.
PARENT_WAIT_S = 30.0


@dataclass
class DeliveryStats:
    """What one pass did (``sent`` and ``pending`` feed the ``once`` summary)."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    fallbacks: int = 0
    deferred: int = 0
    digests: int = 0
    disabled: list[str] = field(default_factory=list)
    pending: int = 0


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """One row's fate in a pass, for metrics (``observe`` callback).

    ``latency_s`` is how long the send attempt took (None when no request was made, e.g. a row
    dead-lettered for a disabled destination); ``age_s`` is the time since the row was queued.
    """

    destination_id: str
    entry_id: int
    result: Result
    error: str | None = None
    attempts: int = 0
    latency_s: float | None = None
    age_s: float = 0.0


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


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
        self.retry_schedule_s = tuple(retry_schedule_s) or (0.0,)
        self.give_up_after_s = give_up_after_s
        self.batch_size = batch_size
        self.jitter = jitter
        self.max_pause_s = max_pause_s
        self.max_inline_wait_s = max_inline_wait_s
        self.rng = rng
        self.monotonic = monotonic
        self.sleep = sleep
        self.observe = observe or (lambda outcome: None)
        self.paused_until: dict[str, datetime] = {}
        self._stop: asyncio.Event | None = None
        self._disabled_now: dict[str, str] = {}  # destinations disabled during this batch
        self._send_s: dict[int, float] = {}  # entry id -> duration of its last send attempt
        self._lock = asyncio.Lock()
        self.replace_notifiers(notifiers, rate_limits=rate_limits, digests=digests)

    def replace_notifiers(
        self,
        notifiers: Mapping[str, Notifier],
        *,
        rate_limits: Mapping[str, tuple[float, int]] | None = None,
        digests: Mapping[str, DigestPolicy] | None = None,
    ) -> None:
        """Swap destinations (hot reload); the outbox and pauses are kept."""
        self.notifiers = dict(notifiers)
        now_s = self.monotonic()
        self.buckets = {
            dest: TokenBucket(rate, burst, now_s)
            for dest, (rate, burst) in (rate_limits or {}).items()
        }
        self.digests = dict(digests or {})

    # --- the two entry points -------------------------------------------------------------------

    async def deliver_due(self) -> DeliveryStats:
        """One pass over everything due now; returns what it did."""
        stats = DeliveryStats()
        seen: set[int] = set()  # each row is tried at most once per pass
        async with self._lock:
            while not self._stopping():
                batch = self.store.due_deliveries(self.clock.now(), limit=self.batch_size)
                full = len(batch) >= self.batch_size
                groups: dict[str, list[OutboxEntry]] = {}
                for entry in batch:
                    if entry.id not in seen:
                        groups.setdefault(entry.destination_id, []).append(entry)
                        seen.add(entry.id)
                if not groups:
                    break
                disabled = self.store.disabled_destinations()
                self._disabled_now = {}
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
        self._stop = stop
        log.info("delivery_worker_started", destinations=sorted(self.notifiers))
        while not stop.is_set():
            try:
                await self.deliver_due()
            except MonitorError as exc:
                log.error("delivery_pass_failed", error=str(exc))
            except Exception:  # the worker must outlive a bug in one pass; rows stay queued
                log.exception("delivery_pass_crashed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_interval_s)
        log.info("delivery_worker_stopped")

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    # --- one destination --------------------------------------------------------------------------

    async def _destination(
        self,
        dest: str,
        entries: list[OutboxEntry],
        disabled: Mapping[str, str],
        stats: DeliveryStats,
        *,
        push_deferred: bool,
    ) -> int:
        """Deliver one destination's due rows in order; returns how many rows changed state."""
        notifier = self.notifiers.get(dest)
        if dest in disabled or notifier is None:
            reason = (
                f"destination disabled: {disabled[dest]}"
                if dest in disabled
                else ("destination is not configured (re-add it, then `outbox retry`)")
            )
            for entry in entries:
                self._dead(entry, reason, stats)
            return len(entries)
        policy = self.digests.get(dest)
        folds = notifier.capabilities.folds_updates
        immediate, batched = digest.split(entries, policy, folds_updates=folds)
        changed = 0
        for index, entry in enumerate(immediate):
            if self._stopping():
                break
            if not await self._ready(dest):
                changed += self._defer(dest, immediate[index:], stats, push=push_deferred)
                break
            await self._attempt(notifier, entry, stats)
            changed += 1
            if dest in self._disabled_now:
                reason = f"destination disabled: {self._disabled_now[dest]}"
                for later in [*immediate[index + 1 :], *batched]:
                    self._dead(later, reason, stats)
                return len(entries)
        if batched and not self._stopping():
            policy = policy or DigestPolicy(every_s=UPDATE_DIGEST_S)
            changed += await self._digest(notifier, policy, batched, stats, push=push_deferred)
        return changed

    async def _ready(self, dest: str) -> bool:
        """True when ``dest`` may send now: not paused, and a token is (or soon will be) there."""
        paused = self.paused_until.get(dest)
        if paused is not None and self.clock.now() < paused:
            return False
        bucket = self.buckets.get(dest)
        if bucket is None:
            return True
        wait_s = bucket.wait_s(self.monotonic())
        if wait_s > self.max_inline_wait_s:
            self.paused_until[dest] = self.clock.now() + timedelta(seconds=wait_s)
            return False
        if wait_s > 0:
            await self._pause(wait_s)
            if self._stopping():
                return False
        bucket.take(self.monotonic())
        return True

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake as soon as the worker is asked to stop."""
        if self._stop is None:
            await self.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    def _defer(
        self, dest: str, entries: Sequence[OutboxEntry], stats: DeliveryStats, *, push: bool
    ) -> int:
        """Leave rows for later; after a full batch, move them out of the way (no starvation)."""
        stats.deferred += len(entries)
        if not push:
            return 0
        until = max(self.paused_until.get(dest, self.clock.now()), self.clock.now())
        for entry in entries:
            self.store.mark_retry(
                entry.id,
                entry.last_error or f"deferred: {dest} is paused",
                until,
                count_attempt=False,
            )
        return len(entries)

    # --- one row ----------------------------------------------------------------------------------

    async def _attempt(
        self, notifier: Notifier, entry: OutboxEntry, stats: DeliveryStats
    ) -> Result:
        """Send one row and record the outcome; never raises a delivery error."""
        alert = self._threaded(notifier, entry)
        if alert is None:
            return self._wait_for_parent(entry, stats)
        started_s = self.monotonic()
        try:
            remote_ref = await notifier.send(alert, plain=entry.fallback_sent)
        except PayloadRejected as exc:
            self._send_s[entry.id] = self.monotonic() - started_s
            if entry.fallback_sent:
                return self._permanent(entry, exc, stats)
            return await self._fallback(notifier, entry, exc, stats)
        except PermanentDelivery as exc:
            self._send_s[entry.id] = self.monotonic() - started_s
            return self._permanent(entry, exc, stats)
        except RetryableDelivery as exc:
            self._send_s[entry.id] = self.monotonic() - started_s
            return self._retry(entry, str(exc), exc.retry_after_s, stats)
        except MonitorError as exc:  # any other DeliveryError: assume it may pass later
            self._send_s[entry.id] = self.monotonic() - started_s
            return self._retry(entry, str(exc), None, stats)
        except Exception as exc:  # a notifier bug must not lose the row
            log.exception("notifier_crashed", destination=entry.destination_id, entry_id=entry.id)
            return self._retry(entry, f"internal error: {type(exc).__name__}", None, stats)
        self._send_s[entry.id] = self.monotonic() - started_s
        return self._sent(entry, stats, remote_ref=remote_ref)

    def _threaded(self, notifier: Notifier, entry: OutboxEntry) -> Alert | None:
        """The alert to send; a follow-up for a threading notifier gets its parent's thread.

        None means "not yet": the parent alert is still queued, so its thread does not exist.
        A parent that was dead-lettered or purged leaves the follow-up to stand alone.
        """
        alert = entry.alert
        if alert.event != "alert.updated" or not notifier.capabilities.threads:
            return alert
        parent = alert.parent_alert_id
        found = self.store.delivery_of(parent, entry.destination_id) if parent else None
        if found is None:
            return alert
        status, remote_ref = found
        if status == "pending":
            return None
        if remote_ref:
            return replace(alert, thread_ref=remote_ref)
        return alert

    def _wait_for_parent(self, entry: OutboxEntry, stats: DeliveryStats) -> Result:
        next_at = self.clock.now() + timedelta(seconds=PARENT_WAIT_S)
        self.store.mark_retry(
            entry.id, "waiting for the original alert's thread", next_at, count_attempt=False
        )
        stats.deferred += 1
        return "deferred"

    async def _fallback(
        self, notifier: Notifier, entry: OutboxEntry, exc: PayloadRejected, stats: DeliveryStats
    ) -> Result:
        """The blocks were refused: record the fallback first (so it happens once), then send it."""
        self.store.mark_fallback_sent(entry.id)
        stats.fallbacks += 1
        log.warning(
            "alert_fallback_sent",
            destination=entry.destination_id,
            entry_id=entry.id,
            error=str(exc),
        )
        return await self._attempt(notifier, replace(entry, fallback_sent=True), stats)

    def _sent(
        self, entry: OutboxEntry, stats: DeliveryStats, *, remote_ref: str | None = None
    ) -> Result:
        now = self.clock.now()
        self.store.mark_sent(entry.id, now, remote_ref=remote_ref)
        stats.sent += 1
        return self._report("info", "alert_delivered", entry, "sent")

    def _retry(
        self, entry: OutboxEntry, error: str, retry_after_s: float | None, stats: DeliveryStats
    ) -> Result:
        now = self.clock.now()
        age_s = (now - entry.created_at).total_seconds()
        if age_s >= self.give_up_after_s:
            return self._dead(entry, f"gave up after {age_s / 3600:.1f} h: {error}", stats)
        if retry_after_s is not None:  # the server's own wish: not a failure of ours
            next_at = now + timedelta(seconds=retry_after_s)
            self.paused_until[entry.destination_id] = next_at
        else:
            next_at = now + timedelta(seconds=self.backoff_s(entry.attempts + 1))
            pause = min(next_at, now + timedelta(seconds=self.max_pause_s))
            self.paused_until[entry.destination_id] = pause
        self.store.mark_retry(entry.id, error, next_at, count_attempt=retry_after_s is None)
        stats.retried += 1
        return self._report(
            "warning",
            "alert_delivery_failed",
            entry,
            "retry",
            error=error,
            next_attempt_at=_iso(next_at),
            retry_after_s=retry_after_s,
        )

    def backoff_s(self, failures: int) -> float:
        """The delay after ``failures`` failed attempts (schedule step, +/- jitter)."""
        return backoff_s(self.retry_schedule_s, failures, jitter=self.jitter, rng_value=self.rng())

    def _permanent(
        self, entry: OutboxEntry, exc: PermanentDelivery, stats: DeliveryStats
    ) -> Result:
        result = self._dead(entry, str(exc), stats)
        if exc.disable:
            self._disabled_now[entry.destination_id] = str(exc)
            self.store.disable_destination(entry.destination_id, str(exc), self.clock.now())
            stats.disabled.append(entry.destination_id)
            log.error(
                "destination_disabled",
                destination=entry.destination_id,
                reason=str(exc),
                hint="fix it, then `sanctions-monitor outbox retry --dead`",
            )
        return result

    def _dead(self, entry: OutboxEntry, error: str, stats: DeliveryStats) -> Result:
        self.store.mark_dead(entry.id, error, self.clock.now())
        stats.dead += 1
        return self._report("error", "alert_dead_lettered", entry, "dead", error=error)

    def _report(
        self,
        level: str,
        event: str,
        entry: OutboxEntry,
        result: Result,
        *,
        error: str | None = None,
        **context: object,
    ) -> Result:
        """Log one row's outcome and hand it to ``observe`` (metrics)."""
        latency_s = self._send_s.pop(entry.id, None)
        age_s = (self.clock.now() - entry.created_at).total_seconds()
        outcome = DeliveryOutcome(
            entry.destination_id,
            entry.id,
            result,
            error=error,
            attempts=entry.attempts + 1,
            latency_s=latency_s,
            age_s=age_s,
        )
        getattr(log, level)(
            event,
            destination=entry.destination_id,
            entry_id=entry.id,
            alert_key=entry.alert.key,
            attempts=outcome.attempts,
            error=error,
            latency_s=None if latency_s is None else round(latency_s, 3),
            age_s=round(age_s, 3),
            **context,
        )
        self.observe(outcome)
        return result

    # --- digests ----------------------------------------------------------------------------------

    async def _digest(
        self,
        notifier: Notifier,
        policy: DigestPolicy,
        entries: list[OutboxEntry],
        stats: DeliveryStats,
        *,
        push: bool,
    ) -> int:
        """Hold rows until their period ends; then send every finished period's rows at once."""
        ready, waiting = digest.due(entries, policy.every_s, self.clock.now())
        for entry, end in waiting:  # durable: the row itself says when it is due
            self.store.mark_retry(
                entry.id, f"held for the digest at {_iso(end)}", end, count_attempt=False
            )
        held = len(waiting)
        if not ready:
            return held
        dest = notifier.destination_id
        if not await self._ready(dest):
            return held + self._defer(dest, ready, stats, push=push)
        return held + await self._send_digest(notifier, policy, ready, stats)

    async def _send_digest(
        self,
        notifier: Notifier,
        policy: DigestPolicy,
        ready: list[OutboxEntry],
        stats: DeliveryStats,
    ) -> int:
        if not sends_digests(notifier) or len(ready) == 1:
            for entry in ready:  # no batching form (webhooks): one request each, at period end
                await self._attempt(notifier, entry, stats)
            return len(ready)
        label = digest.label_of(ready, policy.every_s)
        started_s = self.monotonic()
        try:
            await notifier.send_digest([e.alert for e in ready], period_label=label)
        except PayloadRejected:
            for entry in ready:  # the batch was refused: each alert alone, with its own fallback
                await self._attempt(notifier, entry, stats)
            return len(ready)
        except PermanentDelivery as exc:
            self._permanent(ready[0], exc, stats)
            for entry in ready[1:]:
                self._dead(entry, str(exc), stats)
            return len(ready)
        except DeliveryError as exc:
            wait = exc.retry_after_s if isinstance(exc, RetryableDelivery) else None
            for entry in ready:
                self._retry(entry, str(exc), wait, stats)
            return len(ready)
        except Exception as exc:  # a notifier bug must not leave the rows spinning
            log.exception("notifier_crashed", destination=notifier.destination_id, digest=True)
            for entry in ready:
                self._retry(entry, f"internal error: {type(exc).__name__}", None, stats)
            return len(ready)
        for entry in ready:
            self._send_s[entry.id] = self.monotonic() - started_s
            self._sent(entry, stats)
        stats.digests += 1
        log.info("digest_delivered", destination=notifier.destination_id, alerts=len(ready))
        return len(ready)
