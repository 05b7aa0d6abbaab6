"""Metrics: names and units, the exposition parses, and each observer moves the right series."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from monitor.errors import (
    DeliveryError,
    FetchBlocked,
    FetchConnectError,
    FetchError,
    FetchHTTPStatus,
    FetchRedirectError,
    FetchTimeout,
    FetchTooLarge,
    MonitorError,
    ParseError,
    PayloadRejected,
    PermanentDelivery,
    RetryableDelivery,
    StoreError,
)
from monitor.models import Assessment, FeedState, RuleMatch, Severity
from monitor.service.metrics import CONTENT_TYPE, Metrics, delivery_reason, fetch_outcome

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

#: Every metric name starts with the prefix (issue 15: not the generic ``monitor_``).
P = "sanctions_monitor_"

REQUIRED = {
    # family name (as the parser reports it) → type
    P + "fetch_duration_seconds": "histogram",
    P + "fetches": "counter",
    P + "response_bytes": "histogram",
    P + "parse_duration_seconds": "histogram",
    P + "stories_new": "counter",
    P + "matches": "counter",
    P + "alerts_delivered": "counter",
    P + "alerts_failed": "counter",
    P + "outbox_pending": "gauge",
    P + "outbox_oldest_age_seconds": "gauge",
    P + "feeds": "gauge",
    P + "scheduler_skips": "counter",
    P + "poll_cycles": "counter",
    P + "last_poll_cycle_timestamp_seconds": "gauge",
    P + "build_info": "gauge",
}


@dataclass(frozen=True)
class Outcome:
    """Shaped like ``pipeline.PollOutcome`` (only what the metrics read)."""

    ok: bool = True
    status: int | None = 200
    skipped: bool = False
    new_stories: int = 0
    alerts_queued: int = 0
    error_label: str | None = None
    elapsed_s: float = 0.2
    body_bytes: int = 5000
    assessments: tuple[Assessment, ...] = ()
    parse_elapsed_s: float = 0.0


@dataclass
class FakeStore:
    counts: dict[str, int] = field(default_factory=lambda: {"pending": 0, "sent": 0, "dead": 0})
    oldest: datetime | None = None
    states: list[FeedState] = field(default_factory=list)

    def outbox_counts(self) -> dict[str, int]:
        return dict(self.counts)

    def oldest_pending_at(self) -> datetime | None:
        return self.oldest

    def feed_states(self) -> list[FeedState]:
        return list(self.states)


def families(metrics: Metrics) -> dict[str, object]:
    return {
        family.name: family for family in text_string_to_metric_families(metrics.render().decode())
    }


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    """The value of one sample, or None when the series does not exist."""
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None


def assessment(*rule_ids: str) -> Assessment:
    matches = tuple(
        RuleMatch(rule_id=r, topic="dprk", score=1.0, severity=Severity.HIGH) for r in rule_ids
    )
    return Assessment(story_key="k", matches=matches)


def test_required_families_exist_with_their_types() -> None:
    found = {name: fam.type for name, fam in families(Metrics()).items()}  # type: ignore[attr-defined]
    for name, kind in REQUIRED.items():
        assert found.get(name) == kind, f"{name}: {found.get(name)}"


def test_naming_conventions() -> None:
    for family in text_string_to_metric_families(Metrics().render().decode()):
        if family.name.startswith(("process_", "python_")):
            continue  # the standard process collectors
        assert family.name.startswith(P), family.name
        for s in family.samples:
            if family.type == "counter":
                assert s.name.endswith("_total"), s.name
            assert not s.name.endswith("_created"), s.name  # disabled: noise
        if family.type == "histogram":
            labels = {k for s in family.samples for k in s.labels} - {"le"}
            assert not labels & {"feed", "feed_id"}, f"{family.name} has a per-feed label"
        assert not family.name.endswith(("_milliseconds", "_ms", "_kb", "_kilobytes")), family.name


def test_render_and_content_type() -> None:
    body = Metrics().render()
    assert isinstance(body, bytes)
    assert CONTENT_TYPE.startswith("text/plain") and "version=0.0.4" in CONTENT_TYPE


def test_registry_is_private() -> None:
    first, second = Metrics(), Metrics()  # no "Duplicated timeseries" from a shared registry
    first.stories_new.inc(3)
    assert sample(second, P + "stories_new_total") == 0
    assert REGISTRY.get_sample_value(P + "stories_new_total") is None


def test_build_info_names_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_REVISION", "abc1234")
    metrics = Metrics(version="9.9.9", process_metrics=False)
    fam = families(metrics)[P + "build_info"]
    (s,) = fam.samples  # type: ignore[attr-defined]
    assert s.value == 1
    assert s.labels["version"] == "9.9.9" and s.labels["revision"] == "abc1234"


def test_known_series_start_at_zero() -> None:
    metrics = Metrics(process_metrics=False)
    assert sample(metrics, P + "fetches_total", outcome="timeout") == 0
    metrics.known_destinations({"hook": "webhook"})
    assert sample(metrics, P + "alerts_delivered_total", destination="hook",
                  destination_type="webhook") == 0  # fmt: skip
    assert sample(metrics, P + "feeds", state="failing") == 0
    assert sample(metrics, P + "scheduler_skips_total", reason="max_instances") == 0


def test_observe_poll_success() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.observe_poll(
        Outcome(
            new_stories=3,
            alerts_queued=2,
            body_bytes=70_000,
            elapsed_s=0.3,
            parse_elapsed_s=0.04,
            assessments=(
                assessment("transfer.vehicle", "breach.luxury"),
                assessment("transfer.vehicle"),
            ),
        )
    )
    assert sample(metrics, P + "fetches_total", outcome="ok") == 1
    assert sample(metrics, P + "fetch_duration_seconds_count", outcome="ok") == 1
    assert sample(metrics, P + "fetch_duration_seconds_sum", outcome="ok") == pytest.approx(0.3)
    assert sample(metrics, P + "response_bytes_bucket", le="262144.0") == 1
    assert sample(metrics, P + "response_bytes_bucket", le="65536.0") == 0
    assert sample(metrics, P + "parse_duration_seconds_count") == 1
    assert sample(metrics, P + "stories_new_total") == 3
    assert sample(metrics, P + "alerts_queued_total") == 2
    assert sample(metrics, P + "matches_total", rule="transfer.vehicle") == 2
    assert sample(metrics, P + "matches_total", rule="breach.luxury") == 1
    assert (sample(metrics, P + "last_poll_timestamp_seconds") or 0) > 0


def test_observe_poll_not_modified_counts_no_body() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.observe_poll(Outcome(status=304, body_bytes=0))
    assert sample(metrics, P + "fetches_total", outcome="not_modified") == 1
    assert sample(metrics, P + "response_bytes_count") == 0


@pytest.mark.parametrize(
    ("error", "label"),
    [
        (FetchTimeout("f", "slow"), "timeout"),
        (FetchTooLarge("f", "big"), "too_large"),
        (FetchHTTPStatus("f", 503), "http_status"),
        (FetchRedirectError("f", "loop"), "redirect"),
        (FetchConnectError("f", "refused"), "connect"),
        (FetchBlocked("f", "loopback"), "internal"),
        (FetchError("f", "other"), "fetch_error"),
        (ParseError("f", "not a feed"), "parse_error"),
        (StoreError("disk full"), "internal"),
        (None, "internal"),
    ],
)
def test_failure_outcome_labels(error: MonitorError | None, label: str) -> None:
    """The label comes from the error class's ``outcome_label``, not from its name."""
    error_label = error.outcome_label if error is not None else None
    outcome = Outcome(ok=False, status=None, error_label=error_label, elapsed_s=0.0, body_bytes=0)
    assert fetch_outcome(outcome) == label
    metrics = Metrics(process_metrics=False)
    metrics.observe_poll(outcome)
    assert sample(metrics, P + "fetches_total", outcome=label) == 1
    # A failure without a timing adds no misleading zero to the duration histogram.
    assert sample(metrics, P + "fetch_duration_seconds_count", outcome=label) in (None, 0)


def test_skipped_poll_is_a_skip_not_a_fetch() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.observe_poll(Outcome(skipped=True))
    assert sample(metrics, P + "scheduler_skips_total", reason="backoff") == 1
    assert sample(metrics, P + "fetches_total", outcome="ok") == 0
    assert sample(metrics, P + "last_poll_timestamp_seconds") == 0


def test_observe_delivery() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.observe_delivery("slack", destination="team", ok=True, duration_s=0.12)
    metrics.observe_delivery("webhook", destination="hook", ok=False, reason="retryable")
    metrics.observe_delivery_error("webhook", PermanentDelivery("hook", "HTTP 410", disable=True))
    team = {"destination": "team", "destination_type": "slack"}
    hook = {"destination": "hook", "destination_type": "webhook"}
    unknown = {"destination": "unknown", "destination_type": "webhook"}
    assert sample(metrics, P + "alerts_delivered_total", **team) == 1
    assert sample(metrics, P + "alerts_failed_total", **hook, reason="retryable") == 1
    assert sample(metrics, P + "alerts_failed_total", **unknown, reason="disabled") == 1
    assert sample(metrics, P + "delivery_duration_seconds_count", **team) == 1


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (RetryableDelivery("d", "HTTP 503"), "retryable"),
        (RetryableDelivery("d", "HTTP 429", retry_after_s=30), "rate_limited"),
        (PermanentDelivery("d", "channel_not_found"), "permanent"),
        (PermanentDelivery("d", "invalid_token", disable=True), "disabled"),
        (PayloadRejected("d", "invalid_blocks"), "rejected"),
        (DeliveryError("d", "odd"), "error"),
        (RuntimeError("bug"), "error"),
    ],
)
def test_delivery_reason(exc: BaseException, reason: str) -> None:
    assert delivery_reason(exc) == reason


def test_observe_state_outbox_gauges() -> None:
    metrics = Metrics(process_metrics=False)
    store = FakeStore(
        counts={"pending": 4, "sent": 10, "dead": 1}, oldest=NOW - timedelta(minutes=12)
    )
    metrics.observe_state(store, feed_ids=[], now=NOW)
    assert sample(metrics, P + "outbox_pending") == 4
    assert sample(metrics, P + "outbox_dead") == 1
    assert sample(metrics, P + "outbox_oldest_age_seconds") == 720
    metrics.observe_state(FakeStore(), feed_ids=[], now=NOW)
    assert sample(metrics, P + "outbox_oldest_age_seconds") == 0


def test_observe_state_feed_gauges_follow_the_configured_feeds() -> None:
    metrics = Metrics(process_metrics=False)
    ok = FeedState("a", health="ok", last_attempt_at=NOW, last_success_at=NOW)
    failing = FeedState(
        "b", health="failing", consecutive_failures=4, last_attempt_at=NOW,
        last_success_at=NOW - timedelta(hours=2),
    )  # fmt: skip
    gone = FeedState("old", health="failing", consecutive_failures=9, last_attempt_at=NOW)
    probe = FeedState("__probe__")
    store = FakeStore(states=[ok, failing, gone, probe])
    metrics.observe_state(store, feed_ids=["a", "b", "c"], now=NOW)
    assert sample(metrics, P + "feeds", state="ok") == 1
    assert sample(metrics, P + "feeds", state="failing") == 1
    assert sample(metrics, P + "feeds", state="new") == 1  # "c" has never been polled
    assert sample(metrics, P + "feed_up", feed="a") == 1
    assert sample(metrics, P + "feed_up", feed="b") == 0
    assert sample(metrics, P + "feed_up", feed="c") is None
    assert sample(metrics, P + "feed_up", feed="old") is None  # not configured any more
    assert sample(metrics, P + "feed_last_success_timestamp_seconds", feed="b") == (
        (NOW - timedelta(hours=2)).timestamp()
    )
    # After a reload drops "b", its series disappear instead of freezing.
    metrics.observe_state(store, feed_ids=["a"], now=NOW)
    assert sample(metrics, P + "feed_up", feed="b") is None
    assert sample(metrics, P + "feeds", state="failing") == 0


def test_cycles_skips_and_reloads() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.observe_cycle(timestamp_s=1_700_000_000.0)
    metrics.observe_cycle(timestamp_s=1_700_000_900.0)
    metrics.observe_scheduler_skip("max_instances")
    metrics.observe_reload(ok=False)
    assert sample(metrics, P + "poll_cycles_total") == 2
    assert sample(metrics, P + "last_poll_cycle_timestamp_seconds") == 1_700_000_900.0
    assert sample(metrics, P + "scheduler_skips_total", reason="max_instances") == 1
    assert sample(metrics, P + "config_reloads_total", result="failed") == 1
    assert sample(metrics, P + "config_reloads_total", result="ok") == 0


@dataclass(frozen=True)
class Delivered:
    """Shaped like ``deliver.DeliveryOutcome``."""

    destination_id: str
    result: str
    latency_s: float | None = None


def test_delivery_observer_labels_by_configured_destination_and_type() -> None:
    metrics = Metrics(process_metrics=False)
    types = {"team-slack": "slack", "hook": "webhook", "hook-2": "webhook"}
    observe = metrics.delivery_observer(types)
    observe(Delivered("team-slack", "sent", latency_s=0.2))
    observe(Delivered("hook", "retry"))
    observe(Delivered("hook", "dead"))
    observe(Delivered("hook", "deferred"))  # held for a digest: neither delivered nor failed
    observe(Delivered("not-configured", "sent"))  # an id the config does not name
    types["late"] = "console"  # the runtime updates the same mapping on reload
    observe(Delivered("late", "sent"))
    delivered = P + "alerts_delivered_total"
    assert sample(metrics, delivered, destination="team-slack", destination_type="slack") == 1
    assert sample(metrics, delivered, destination="late", destination_type="console") == 1
    assert sample(metrics, delivered, destination="unknown", destination_type="unknown") == 1
    # two webhooks are told apart; a configured one starts at 0
    assert sample(metrics, delivered, destination="hook", destination_type="webhook") == 0
    assert sample(metrics, delivered, destination="hook-2", destination_type="webhook") == 0
    failed = P + "alerts_failed_total"
    hook = {"destination": "hook", "destination_type": "webhook"}
    assert sample(metrics, failed, **hook, reason="retryable") == 1
    assert sample(metrics, failed, **hook, reason="dead_lettered") == 1
    duration = P + "delivery_duration_seconds_count"
    assert sample(metrics, duration, destination="team-slack", destination_type="slack") == 1
    names = {f.name for f in text_string_to_metric_families(metrics.render().decode())}
    assert all(name.startswith(P) for name in names if not name.startswith(("process_", "python_")))
