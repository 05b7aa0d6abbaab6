"""Prometheus metrics for the monitor, in a registry of its own (not the process-global one).

Who feeds what (one ``Metrics`` per running monitor, built by the CLI's composition root):

- ``observe_poll(outcome)``: the daemon, after every feed poll (fetch, parse, stories, matches);
- ``observe_delivery(...)`` / ``observe_delivery_error(...)``: the delivery worker, per attempt;
- ``observe_state(store, feed_ids=...)``: the runtime, every few seconds (outbox and feed gauges);
- ``observe_cycle()``, ``observe_scheduler_skip(reason)``, ``observe_reload(ok=...)``: the daemon.

``render()`` returns the text exposition that ``/metrics`` serves with ``CONTENT_TYPE``.

Naming follows Prometheus practice: ``sanctions_monitor_`` prefix, base units in the name
(``_seconds``, ``_bytes``), counters end in ``_total``. Histograms carry no per-feed label (a
feed list of hundreds would multiply every bucket); per-feed state is in two small gauges instead.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

from monitor import __version__
from monitor.errors import PayloadRejected, PermanentDelivery, RetryableDelivery
from monitor.models import Assessment, FeedState, HealthState

#: Every name here is a classic Prometheus name, for which the 0.0.4 text format and the
#: newer 1.0.0 one are byte-identical; announcing 0.0.4 lets Prometheus 2 scrapers read it too.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: Fetch outcomes (label ``outcome``); failures are named after the ``FetchError`` subclass.
FETCH_OUTCOMES = (
    "ok",
    "not_modified",
    "timeout",
    "too_large",
    "http_status",
    "redirect",
    "connect",
    "fetch_error",
    "parse_error",
    "internal",
)
#: Article series created at 0 (``observe_article`` adds others as they happen).
ARTICLE_SERIES = (
    ("fetched", "ok"),
    ("skipped", "robots"),
    ("skipped", "budget"),
    ("skipped", "policy"),
    ("failed", "timeout"),
    ("failed", "extraction"),
)
FEED_STATES: tuple[HealthState, ...] = ("new", "ok", "failing", "stale")
#: The ``destination`` label of a delivery whose id the config does not name (bounded labels).
UNKNOWN_DESTINATION = "unknown"
DESTINATION_TYPES = ("console", "slack", "slack_api", "webhook", "apprise")
DELIVERY_FAILURE_REASONS = (
    "retryable",
    "rate_limited",
    "permanent",
    "disabled",
    "rejected",
    "error",
)
_REASON_BY_RESULT = {"retry": "retryable", "dead": "dead_lettered"}
SKIP_REASONS = ("max_instances", "missed", "backoff")

_SECONDS_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_PARSE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BYTES_BUCKETS = tuple(float(2**n) for n in range(10, 24, 2))  # 1 KiB … 4 MiB


class PollObservation(Protocol):
    """What ``observe_poll`` reads from one poll (``pipeline.PollOutcome`` fits)."""

    @property
    def ok(self) -> bool: ...
    @property
    def status(self) -> int | None: ...
    @property
    def skipped(self) -> bool: ...
    @property
    def new_stories(self) -> int: ...
    @property
    def alerts_queued(self) -> int: ...
    @property
    def error_label(self) -> str | None: ...
    @property
    def parse_elapsed_s(self) -> float: ...
    @property
    def elapsed_s(self) -> float: ...
    @property
    def body_bytes(self) -> int: ...
    @property
    def assessments(self) -> tuple[Assessment, ...]: ...


class DeliveryObservation(Protocol):
    """One outbox row's fate in a delivery pass (``deliver.DeliveryOutcome`` fits)."""

    @property
    def destination_id(self) -> str: ...
    @property
    def result(self) -> str: ...
    @property
    def latency_s(self) -> float | None: ...


class StateSource(Protocol):
    """The read-only part of the store the gauges need (``store.SqliteStore`` fits)."""

    def outbox_counts(self) -> dict[str, int]: ...
    def oldest_pending_at(self) -> datetime | None: ...
    def feed_states(self) -> list[FeedState]: ...


class Metrics:
    """Every metric the monitor exports, registered in ``self.registry``."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        process_metrics: bool = True,
        version: str | None = None,
    ) -> None:
        # The *_created series double the exposition and no alert or graph here uses them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self._detection_metrics(self.registry)
        self._delivery_metrics(self.registry)
        self._feed_metrics(self.registry)
        self._build_info(self.registry, version=version or _package_version())
        if process_metrics:
            process_collector.ProcessCollector(registry=self.registry)
            platform_collector.PlatformCollector(registry=self.registry)
            gc_collector.GCCollector(registry=self.registry)
        self._initialise_labels()

    def _detection_metrics(self, r: CollectorRegistry) -> None:
        self.fetch_duration = Histogram(
            "sanctions_monitor_fetch_duration_seconds",
            "Time to fetch one feed, by outcome.",
            ["outcome"],
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self.fetches = Counter(
            "sanctions_monitor_fetches_total", "Feed fetches, by outcome.", ["outcome"], registry=r
        )
        self.response_bytes = Histogram(
            "sanctions_monitor_response_bytes",
            "Size of feed bodies received (after decompression).",
            buckets=_BYTES_BUCKETS,
            registry=r,
        )
        self.parse_duration = Histogram(
            "sanctions_monitor_parse_duration_seconds",
            "Time to parse one feed body.",
            buckets=_PARSE_BUCKETS,
            registry=r,
        )
        self.stories_new = Counter(
            "sanctions_monitor_stories_new_total", "Stories seen for the first time.", registry=r
        )
        self.matches = Counter(
            "sanctions_monitor_matches_total",
            "New stories a rule fired on, by rule.",
            ["rule"],
            registry=r,
        )
        self.alerts_queued = Counter(
            "sanctions_monitor_alerts_queued_total", "Alerts written to the outbox.", registry=r
        )
        self.articles = Counter(
            "sanctions_monitor_articles_total",
            "Article fetches for thin candidate stories, by outcome (fetched, skipped, failed) "
            "and reason (robots, budget, policy, domain, timeout, http_5xx, extraction …).",
            ["outcome", "reason"],
            registry=r,
        )
        self.article_extraction = Histogram(
            "sanctions_monitor_article_extraction_seconds",
            "Time to extract one article's main text in the parse worker.",
            buckets=_PARSE_BUCKETS,
            registry=r,
        )

    def _delivery_metrics(self, r: CollectorRegistry) -> None:
        self.alerts_delivered = Counter(
            "sanctions_monitor_alerts_delivered_total",
            "Alerts a destination accepted.",
            ["destination", "destination_type"],
            registry=r,
        )
        self.alerts_failed = Counter(
            "sanctions_monitor_alerts_failed_total",
            "Failed delivery attempts, by destination, its type and why.",
            ["destination", "destination_type", "reason"],
            registry=r,
        )
        self.delivery_duration = Histogram(
            "sanctions_monitor_delivery_duration_seconds",
            "Time of one delivery attempt.",
            ["destination", "destination_type"],
            buckets=_SECONDS_BUCKETS,
            registry=r,
        )
        self.outbox_pending = Gauge(
            "sanctions_monitor_outbox_pending", "Alerts queued and not yet delivered.", registry=r
        )
        self.outbox_dead = Gauge(
            "sanctions_monitor_outbox_dead", "Alerts dead-lettered (need an operator).", registry=r
        )
        self.outbox_oldest_age = Gauge(
            "sanctions_monitor_outbox_oldest_age_seconds",
            "Age of the oldest pending alert (0 when none).",
            registry=r,
        )

    def _feed_metrics(self, r: CollectorRegistry) -> None:
        self.feeds = Gauge(
            "sanctions_monitor_feeds", "Configured feeds, by health state.", ["state"], registry=r
        )
        self.feeds_ok = Gauge(
            "sanctions_monitor_feeds_ok",
            "Configured feeds whose last poll succeeded (also in /readyz).",
            registry=r,
        )
        self.feed_up = Gauge(
            "sanctions_monitor_feed_up",
            "1 if the feed's last poll succeeded, else 0.",
            ["feed"],
            registry=r,
        )
        self.feed_last_success = Gauge(
            "sanctions_monitor_feed_last_success_timestamp_seconds",
            "Unix time of the feed's last successful poll (absent until one succeeds).",
            ["feed"],
            registry=r,
        )
        self.scheduler_skips = Counter(
            "sanctions_monitor_scheduler_skips_total",
            "Polls not run when due, by reason.",
            ["reason"],
            registry=r,
        )
        self.poll_cycles = Counter(
            "sanctions_monitor_poll_cycles_total",
            "Completed cycles (every feed polled once).",
            registry=r,
        )
        self.last_poll_cycle = Gauge(
            "sanctions_monitor_last_poll_cycle_timestamp_seconds",
            "Unix time the last cycle completed.",
            registry=r,
        )
        self.last_poll = Gauge(
            "sanctions_monitor_last_poll_timestamp_seconds",
            "Unix time of the last feed poll of any feed.",
            registry=r,
        )
        self.config_reloads = Counter(
            "sanctions_monitor_config_reloads_total",
            "Config reloads, by result.",
            ["result"],
            registry=r,
        )

    def _build_info(self, r: CollectorRegistry, *, version: str) -> None:
        self.build_info = Gauge(
            "sanctions_monitor_build_info",
            "Always 1; labels name the running build.",
            ["version", "revision", "python"],
            registry=r,
        )
        self.build_info.labels(
            version=version,
            revision=os.environ.get("MONITOR_REVISION", "unknown"),
            python=platform.python_version(),
        ).set(1)

    def _initialise_labels(self) -> None:
        """Create every known series at 0, so ``rate()`` and ``absent()`` work from the start."""
        for outcome in FETCH_OUTCOMES:
            self.fetches.labels(outcome=outcome)
        for state in FEED_STATES:
            self.feeds.labels(state=state)
        for reason in SKIP_REASONS:
            self.scheduler_skips.labels(reason=reason)
        for result in ("ok", "failed"):
            self.config_reloads.labels(result=result)
        for outcome, reason in ARTICLE_SERIES:
            self.articles.labels(outcome=outcome, reason=reason)

    # --- the detection half ----------------------------------------------------------------------

    def observe_poll(self, outcome: PollObservation) -> None:
        """Count one poll: fetch outcome and time, body size, parse time, stories, matches."""
        if outcome.skipped:
            self.scheduler_skips.labels(reason="backoff").inc()
            return
        self.last_poll.set(time.time())
        label = fetch_outcome(outcome)
        self.fetches.labels(outcome=label).inc()
        if outcome.ok or outcome.elapsed_s > 0:  # a failure without a timing says nothing
            self.fetch_duration.labels(outcome=label).observe(outcome.elapsed_s)
        if outcome.status == 200 and outcome.body_bytes:
            self.response_bytes.observe(outcome.body_bytes)
        if outcome.parse_elapsed_s > 0:
            self.parse_duration.observe(outcome.parse_elapsed_s)
        self.stories_new.inc(outcome.new_stories)
        self.alerts_queued.inc(outcome.alerts_queued)
        for rule_id in _rule_ids(outcome.assessments):
            self.matches.labels(rule=rule_id).inc()

    def observe_article(self, outcome: str, reason: str) -> None:
        """Count one thin candidate's article: fetched, skipped or failed, and why."""
        self.articles.labels(outcome=outcome, reason=reason).inc()

    def observe_extraction(self, seconds: float) -> None:
        self.article_extraction.observe(seconds)

    # --- the delivery half -----------------------------------------------------------------------

    def observe_delivery(
        self,
        destination_type: str,
        *,
        destination: str = UNKNOWN_DESTINATION,
        ok: bool,
        reason: str | None = None,
        duration_s: float | None = None,
    ) -> None:
        """One delivery attempt: accepted, or failed for ``reason`` (see ``delivery_reason``).

        ``destination`` is a configured destination id (``delivery_observer`` maps any other
        to ``unknown``, so the label stays bounded by the config)."""
        labels = {"destination": destination, "destination_type": destination_type}
        if duration_s is not None:
            self.delivery_duration.labels(**labels).observe(duration_s)
        if ok:
            self.alerts_delivered.labels(**labels).inc()
        else:
            self.alerts_failed.labels(**labels, reason=reason or "error").inc()

    def known_destinations(self, destination_types: Mapping[str, str]) -> None:
        """Create the delivered series of each configured destination at 0 (for ``rate()``)."""
        for dest_id, dest_type in destination_types.items():
            self.alerts_delivered.labels(destination=dest_id, destination_type=dest_type)

    def delivery_observer(
        self, destination_types: Mapping[str, str]
    ) -> Callable[[DeliveryObservation], None]:
        """A callback for ``DeliveryWorker(observe=...)``.

        ``destination_types`` maps destination id → type; it is read at every call, so the
        runtime can update the same dict on reload. ``sent`` counts as delivered, ``retry``
        and ``dead`` as failures (``retryable`` / ``dead_lettered``), ``deferred`` (held for a
        digest or paused) as nothing.
        """

        self.known_destinations(destination_types)

        def observe(outcome: DeliveryObservation) -> None:
            known = outcome.destination_id in destination_types
            dest = outcome.destination_id if known else UNKNOWN_DESTINATION
            dest_type = destination_types.get(outcome.destination_id, "unknown")
            reason = _REASON_BY_RESULT.get(outcome.result)
            if outcome.result == "sent":
                self.observe_delivery(
                    dest_type, destination=dest, ok=True, duration_s=outcome.latency_s
                )
            elif reason is not None:
                self.observe_delivery(dest_type, destination=dest, ok=False, reason=reason)

        return observe

    def observe_delivery_error(
        self, destination_type: str, exc: BaseException, *, duration_s: float | None = None
    ) -> None:
        """A failed attempt, its reason taken from the exception's class."""
        self.observe_delivery(
            destination_type, ok=False, reason=delivery_reason(exc), duration_s=duration_s
        )

    # --- gauges and the scheduler ----------------------------------------------------------------

    def observe_state(
        self, store: StateSource, *, feed_ids: Iterable[str], now: datetime | None = None
    ) -> None:
        """Refresh the outbox and feed gauges from the store (for the configured feeds only)."""
        counts = store.outbox_counts()
        self.outbox_pending.set(counts.get("pending", 0))
        self.outbox_dead.set(counts.get("dead", 0))
        oldest = store.oldest_pending_at()
        current = now or datetime.now(UTC)
        self.outbox_oldest_age.set(max(0.0, (current - oldest).total_seconds()) if oldest else 0.0)
        self._set_feed_gauges(store.feed_states(), set(feed_ids))

    def _set_feed_gauges(self, states: Sequence[FeedState], wanted: set[str]) -> None:
        by_id = {state.feed_id: state for state in states if state.feed_id in wanted}
        tally = dict.fromkeys(FEED_STATES, 0)
        self.feed_up.clear()  # removed feeds must disappear, not freeze at their last value
        self.feed_last_success.clear()
        for feed_id in wanted:
            state = by_id.get(feed_id)
            health = state.health if state else "new"
            tally[health] = tally.get(health, 0) + 1
            if state is None or state.last_attempt_at is None:
                continue
            self.feed_up.labels(feed=feed_id).set(1 if state.consecutive_failures == 0 else 0)
            if state.last_success_at is not None:
                self.feed_last_success.labels(feed=feed_id).set(state.last_success_at.timestamp())
        for health, count in tally.items():
            self.feeds.labels(state=health).set(count)
        self.feeds_ok.set(
            sum(1 for s in by_id.values() if s.consecutive_failures == 0 and s.last_success_at)
        )

    def observe_cycle(self, *, timestamp_s: float | None = None) -> None:
        """Every configured feed has been polled once more."""
        self.poll_cycles.inc()
        self.last_poll_cycle.set(timestamp_s if timestamp_s is not None else time.time())

    def observe_scheduler_skip(self, reason: str) -> None:
        """A due poll did not run (``max_instances``: previous still running; ``missed``)."""
        self.scheduler_skips.labels(reason=reason).inc()

    def observe_reload(self, *, ok: bool) -> None:
        self.config_reloads.labels(result="ok" if ok else "failed").inc()

    # --- exposition ------------------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


def fetch_outcome(outcome: PollObservation) -> str:
    """The ``outcome`` label of one poll: ``ok``, ``not_modified`` or the failure's kind."""
    if outcome.ok:
        return "not_modified" if outcome.status == 304 else "ok"
    label = outcome.error_label or "internal"
    return label if label in FETCH_OUTCOMES else "internal"


def delivery_reason(exc: BaseException) -> str:
    """The ``reason`` label of a failed delivery, from the ``DeliveryError`` tree."""
    if isinstance(exc, PayloadRejected):
        return "rejected"
    if isinstance(exc, PermanentDelivery):
        return "disabled" if exc.disable else "permanent"
    if isinstance(exc, RetryableDelivery):
        return "rate_limited" if exc.retry_after_s is not None else "retryable"
    return "error"  # a DeliveryError without a kind, or a bug in a notifier


def _rule_ids(assessments: Iterable[Assessment]) -> Iterable[str]:
    for assessment in assessments:
        for rule_match in assessment.matches:
            yield rule_match.rule_id


def _package_version() -> str:
    return __version__


__all__ = [
    "CONTENT_TYPE",
    "DELIVERY_FAILURE_REASONS",
    "FETCH_OUTCOMES",
    "DeliveryObservation",
    "Metrics",
    "PollObservation",
    "StateSource",
    "delivery_reason",
    "fetch_outcome",
]
