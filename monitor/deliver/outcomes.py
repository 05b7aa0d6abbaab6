"""What happened to an outbox row: written to the store, logged and handed to metrics.

Orchestration, shared by every delivery lane (``deliver.lane``). ``OutcomeRecorder`` is the
one place a row changes state after a send: ``sent``, ``retry`` (with the retry schedule and
the give-up window), ``dead`` and ``permanent`` (which may disable the destination). Each call
logs one event and reports one ``DeliveryOutcome`` to ``observe`` (``service.metrics``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog

from monitor.deliver.pacing import backoff_s
from monitor.errors import PermanentDelivery
from monitor.models import OutboxEntry
from monitor.ports import Clock, DeliveryStore

log = structlog.get_logger("monitor.deliver.worker")

Result = Literal["sent", "retry", "dead", "deferred"]


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
    store_errors: int = 0  # sends whose "sent" mark did not commit (the lane then holds)
    held: int = 0  # due rows not tried because their lane waits for the store to recover


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


@dataclass(frozen=True)
class RetryPolicy:
    """When a failed row is tried again, and when the news is too old to bother."""

    schedule_s: tuple[float, ...] = (0, 5, 60, 300, 1800, 7200)
    give_up_after_s: float = 6 * 3600
    jitter: float = 0.2
    max_pause_s: float = 60.0
    rng: Callable[[], float] = random.random

    def backoff_s(self, failures: int) -> float:
        """The delay after ``failures`` failed attempts (schedule step, +/- jitter)."""
        return backoff_s(self.schedule_s, failures, jitter=self.jitter, rng_value=self.rng())


def iso(value: datetime) -> str:
    """``2026-03-01T12:00:00Z`` for log lines and row notes."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class OutcomeRecorder:
    """Writes each row's outcome to the store, logs it and reports it to ``observe``."""

    def __init__(
        self,
        *,
        store: DeliveryStore,
        clock: Clock,
        policy: RetryPolicy,
        observe: Callable[[DeliveryOutcome], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self.observe = observe

    def sent(
        self,
        entry: OutboxEntry,
        stats: DeliveryStats,
        *,
        remote_ref: str | None = None,
        latency_s: float | None = None,
    ) -> Result:
        self.store.mark_sent(entry.id, self.clock.now(), remote_ref=remote_ref)
        stats.sent += 1
        return self._report("info", "alert_delivered", entry, "sent", latency_s)

    def retry(
        self,
        entry: OutboxEntry,
        error: str,
        retry_after_s: float | None,
        stats: DeliveryStats,
        *,
        latency_s: float | None = None,
    ) -> tuple[Result, datetime | None]:
        """Schedule the next attempt; returns the result and how long to pause the lane."""
        now = self.clock.now()
        age_s = (now - entry.created_at).total_seconds()
        if age_s >= self.policy.give_up_after_s:
            error = f"gave up after {age_s / 3600:.1f} h: {error}"
            return self.dead(entry, error, stats, latency_s=latency_s), None
        if retry_after_s is not None:  # the server's own wish: not a failure of ours
            next_at = pause = now + timedelta(seconds=retry_after_s)
        else:
            next_at = now + timedelta(seconds=self.policy.backoff_s(entry.attempts + 1))
            pause = min(next_at, now + timedelta(seconds=self.policy.max_pause_s))
        self.store.mark_retry(entry.id, error, next_at, count_attempt=retry_after_s is None)
        stats.retried += 1
        result = self._report(
            "warning",
            "alert_delivery_failed",
            entry,
            "retry",
            latency_s,
            error=error,
            next_attempt_at=iso(next_at),
            retry_after_s=retry_after_s,
        )
        return result, pause

    def permanent(
        self,
        entry: OutboxEntry,
        exc: PermanentDelivery,
        stats: DeliveryStats,
        *,
        latency_s: float | None = None,
    ) -> Result:
        """Dead-letter the row; with ``exc.disable`` also disable its destination."""
        result = self.dead(entry, str(exc), stats, latency_s=latency_s)
        if exc.disable:
            self.store.disable_destination(entry.destination_id, str(exc), self.clock.now())
            stats.disabled.append(entry.destination_id)
            log.error(
                "destination_disabled",
                destination=entry.destination_id,
                reason=str(exc),
                hint="fix it, then `sanctions-monitor outbox retry --dead`",
            )
        return result

    def dead(
        self,
        entry: OutboxEntry,
        error: str,
        stats: DeliveryStats,
        *,
        latency_s: float | None = None,
    ) -> Result:
        self.store.mark_dead(entry.id, error, self.clock.now())
        stats.dead += 1
        return self._report("error", "alert_dead_lettered", entry, "dead", latency_s, error=error)

    def hold(self, entry: OutboxEntry, note: str, until: datetime) -> None:
        """Leave the row for later without counting an attempt (pauses, digests, threads)."""
        self.store.mark_retry(entry.id, note, until, count_attempt=False)

    def _report(
        self,
        level: str,
        event: str,
        entry: OutboxEntry,
        result: Result,
        latency_s: float | None,
        *,
        error: str | None = None,
        **context: object,
    ) -> Result:
        """Log one row's outcome and hand it to ``observe`` (metrics)."""
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
