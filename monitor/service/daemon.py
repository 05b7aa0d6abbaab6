"""The long-running service: one APScheduler job per feed, the delivery worker, signals.

This is the only module that knows APScheduler (3.x). Its ``shutdown()`` does not wait for
asyncio jobs, so the daemon tracks its own in-flight polls and drains them within the grace
period; whatever is unfinished stays queued in the outbox for the next start.

Signals: SIGTERM/SIGINT stop (exit 0), SIGHUP reloads the config (``DaemonHooks.reload``).
What the daemon does is reported to one ``DaemonObserver`` (``service.metrics.Metrics``);
what happens around it (ops server, reload, housekeeping) is its ``DaemonHooks``
(``service.app.Runtime``).
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.deliver.outcomes import DeliveryStats
from monitor.detect.poller import FeedPoller, PollOutcome
from monitor.errors import MonitorError
from monitor.models import FeedSpec

log = structlog.get_logger(__name__)


class DaemonObserver(Protocol):
    """What the daemon reports as it runs (``service.metrics.Metrics`` fits)."""

    def observe_poll(self, outcome: PollOutcome) -> None: ...

    def observe_cycle(self) -> None: ...

    def observe_scheduler_skip(self, reason: str) -> None: ...


class DaemonHooks(Protocol):
    """What the daemon calls around ``run`` (``service.app.Runtime`` fits)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def reload(self) -> None: ...

    async def housekeep(self) -> object: ...


class _Unobserved:
    """The observer of a daemon nobody measures."""

    def observe_poll(self, outcome: PollOutcome) -> None:
        pass

    def observe_cycle(self) -> None:
        pass

    def observe_scheduler_skip(self, reason: str) -> None:
        pass


class DeliveryRunner(Protocol):
    """What the daemon needs of the delivery worker (``deliver.DeliveryWorker`` fits)."""

    async def deliver_due(self) -> DeliveryStats: ...

    async def run(self, stop: asyncio.Event, *, poll_interval_s: float = 1.0) -> None: ...

    def wake(self) -> None:
        """Deliver now: a poll has just committed alerts."""


# PollOutcome.error_kind of a poll that failed on the state store or on a bug (``once`` exit 1)
RUNTIME_ERROR_KINDS = frozenset({"StoreError", "internal"})


@dataclass
class CycleSummary:
    """Counts for one ``once`` run (printed by the CLI)."""

    feeds_ok: int = 0
    feeds_failed: int = 0
    stories_new: int = 0
    alerts_queued: int = 0
    alerts_sent: int = 0
    alerts_pending: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    runtime_errors: int = 0  # polls that failed on the store or a bug, not on the feed
    deliveries_failed: int = 0  # due rows tried in this run and not sent (retry or dead)

    def add(self, outcome: PollOutcome) -> None:
        if outcome.ok:
            self.feeds_ok += 1
        else:
            self.feeds_failed += 1
            self.failures.append((outcome.feed_id, outcome.error or "unknown error"))
            if outcome.error_kind in RUNTIME_ERROR_KINDS:
                self.runtime_errors += 1
        self.stories_new += outcome.new_stories
        self.alerts_queued += outcome.alerts_queued


class Daemon:
    """Schedules polls, runs delivery, and shuts down cleanly."""

    def __init__(
        self,
        *,
        feeds: Sequence[FeedSpec],
        poller: FeedPoller,
        worker: DeliveryRunner,
        jitter_s: float = 30.0,
        grace_s: float = 8.0,
        delivery_poll_s: float = 1.0,
        observer: DaemonObserver | None = None,
        hooks: DaemonHooks | None = None,
        housekeeping_every_s: float = 3600.0,
        max_concurrent_polls: int = 32,
    ) -> None:
        self.feeds = {feed.id: feed for feed in feeds}
        self.poller = poller
        self.worker = worker
        self.jitter_s = jitter_s
        self.grace_s = grace_s
        self.delivery_poll_s = delivery_poll_s
        self.observer: DaemonObserver = observer or _Unobserved()
        self.hooks = hooks
        self.housekeeping_every_s = housekeeping_every_s
        # polls wait here, not in the HTTP pool: a slow host cannot hold every slot
        self._poll_slots = asyncio.Semaphore(max_concurrent_polls)
        self.stop_event = asyncio.Event()
        self.scheduler: AsyncIOScheduler | None = None
        self.cycles_done = 0
        self._in_flight: set[asyncio.Task[object]] = set()
        self._polled_once: set[str] = set()

    # --- polling ------------------------------------------------------------------------------

    async def poll(self, feed_id: str, *, force: bool = False) -> PollOutcome | None:
        """One scheduled poll; never raises (a bug in one feed must not kill its job)."""
        feed = self.feeds.get(feed_id)
        if feed is None:
            return None
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            async with self._poll_slots:
                outcome = await self.poller.poll(feed, force=force)
        except MonitorError as exc:
            log.error("feed_poll_error", feed_id=feed_id, error=str(exc))
            outcome = PollOutcome(
                feed_id,
                ok=False,
                error=str(exc),
                error_kind=type(exc).__name__,
                error_label=exc.outcome_label,
            )
        except Exception as exc:
            log.exception("feed_poll_crashed", feed_id=feed_id)
            outcome = PollOutcome(
                feed_id,
                ok=False,
                error=f"internal error: {exc!r}",
                error_kind="internal",
                error_label="internal",
            )
        finally:
            if task is not None:
                self._in_flight.discard(task)
        self._polled_once.add(feed_id)
        if len(self._polled_once) >= len(self.feeds):
            self.cycles_done += 1
            self._polled_once.clear()
            self.observer.observe_cycle()
        if outcome.alerts_queued:
            self.worker.wake()  # committed with the poll: deliver now, not at the next tick
        self.observer.observe_poll(outcome)
        return outcome

    async def poll_all(self, *, force: bool = True) -> list[PollOutcome]:
        """Every feed once, concurrently (the fetcher bounds concurrency per host and overall)."""
        results = await asyncio.gather(*(self.poll(fid, force=force) for fid in list(self.feeds)))
        return [r for r in results if r is not None]

    # --- the two modes ------------------------------------------------------------------------

    async def once(self) -> CycleSummary:
        """Poll every feed once, deliver everything due now, return the counts."""
        summary = CycleSummary()
        for outcome in await self.poll_all():
            summary.add(outcome)
        stats = await self.worker.deliver_due()
        summary.alerts_sent = stats.sent
        summary.alerts_pending = stats.pending
        # Rows held on purpose (digests, pacing, a reply waiting for its parent) are "deferred"
        # and do not count; a row that was due and failed (retry or dead letter) does.
        summary.deliveries_failed = stats.retried + stats.dead
        summary.runtime_errors += stats.store_errors + stats.held
        return summary

    async def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code (0 on a clean stop)."""
        loop = asyncio.get_running_loop()
        self._install_signals(loop)
        if self.hooks is not None:
            await self.hooks.start()
        self.scheduler = AsyncIOScheduler(timezone=UTC, event_loop=loop)
        self.scheduler.add_listener(self._on_job_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        for feed in self.feeds.values():
            self._add_job(feed, first_delay_s=random.uniform(0, min(5.0, feed.trigger_interval_s)))
        if self.hooks is not None:
            self.scheduler.add_job(
                self._housekeep,
                IntervalTrigger(seconds=self.housekeeping_every_s),
                id="__housekeeping__",
                name="housekeeping",
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(UTC) + timedelta(seconds=60),
            )
        self.scheduler.start()
        worker_task = asyncio.create_task(
            self.worker.run(self.stop_event, poll_interval_s=self.delivery_poll_s)
        )
        log.info("daemon_started", feeds=len(self.feeds))
        await self.stop_event.wait()
        await self._drain(worker_task)
        return 0

    def _on_job_event(self, event: JobEvent) -> None:
        reason = "max_instances" if event.code == EVENT_JOB_MAX_INSTANCES else "missed"
        log.info("poll_skipped", feed_id=event.job_id, reason=reason)
        self.observer.observe_scheduler_skip(reason)

    async def _housekeep(self) -> None:
        """Prune old stories and clusters; never raises into the scheduler."""
        assert self.hooks is not None
        try:
            await self.hooks.housekeep()
        except Exception:
            log.exception("housekeeping_failed")

    def request_stop(self) -> None:
        self.stop_event.set()

    # --- schedule management (also used by hot reload) -----------------------------------------

    def _add_job(self, feed: FeedSpec, *, first_delay_s: float) -> None:
        assert self.scheduler is not None
        self.scheduler.add_job(
            self.poll,
            IntervalTrigger(
                seconds=feed.trigger_interval_s,
                jitter=min(self.jitter_s, feed.trigger_interval_s / 4),
            ),
            args=[feed.id],
            id=feed.id,
            name=f"poll {feed.id}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(max(1, feed.trigger_interval_s)),
            next_run_time=datetime.now(UTC) + timedelta(seconds=first_delay_s),
            replace_existing=True,
        )

    def replace_feeds(self, feeds: Sequence[FeedSpec]) -> tuple[list[str], list[str], list[str]]:
        """Add, remove and reschedule jobs to match ``feeds``; returns (added, removed, changed)."""
        new = {feed.id: feed for feed in feeds}
        added = [fid for fid in new if fid not in self.feeds]
        removed = [fid for fid in self.feeds if fid not in new]
        changed = [fid for fid in new if fid in self.feeds and new[fid] != self.feeds[fid]]
        self.feeds = new
        if self.scheduler is not None:
            for fid in removed:
                if self.scheduler.get_job(fid) is not None:
                    self.scheduler.remove_job(fid)
            for fid in added + changed:
                self._add_job(new[fid], first_delay_s=random.uniform(0, 2.0))
        return added, removed, changed

    # --- signals and shutdown ----------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        if self.hooks is not None:
            loop.add_signal_handler(signal.SIGHUP, self._on_reload_signal)

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        log.info("shutdown_requested", signal=sig.name)
        self.stop_event.set()

    def _on_reload_signal(self) -> None:
        assert self.hooks is not None
        log.info("reload_requested", signal="SIGHUP")
        asyncio.get_running_loop().create_task(self.hooks.reload())

    async def _drain(self, worker_task: asyncio.Task[None]) -> None:
        """Stop scheduling, let in-flight polls and the current send finish within the grace."""
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        pending: set[asyncio.Task[object]] = set(self._in_flight)
        pending.add(worker_task)
        done, still = await asyncio.wait(pending, timeout=self.grace_s)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still, timeout=1.0)
        log.info("daemon_stopped", unfinished=len(still), drained=len(done))
        if self.hooks is not None:
            await self.hooks.stop()
