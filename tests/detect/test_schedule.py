"""schedule: next poll time, backoff, server wishes, adaptive interval, health (pure tables)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.detect.schedule import (
    adaptive_interval_s,
    backoff_s,
    cadence_s,
    next_poll_at,
    server_wish_s,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def delay(**kwargs: object) -> float:
    options: dict[str, object] = {"now": NOW, "interval_s": 900.0, "rng_value": 0.0, **kwargs}
    return (next_poll_at(**options) - NOW).total_seconds()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(0, 0.0), (1, 60.0), (2, 120.0), (5, 960.0), (11, 61_440.0), (12, 86_400.0), (500, 86_400.0)],
)
def test_backoff_doubles_up_to_the_cap(failures: int, expected: float) -> None:
    assert backoff_s(failures, base_s=60.0, cap_s=86_400.0) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected_s"),
    [
        ({}, 900.0),
        ({"rng_value": 1.0}, 840.0),  # default jitter: a tenth of the delay, at most 60 s
        ({"rng_value": 0.5, "jitter_s": 30.0}, 885.0),
        ({"cache_control": "public, max-age=3600"}, 3600.0),
        ({"cache_control": "max-age=60"}, 900.0),  # a shorter wish never speeds us up
        ({"cache_control": "no-cache, max-age=3600"}, 900.0),
        ({"cache_control": "max-age=31536000"}, 86_400.0),  # a year is capped at a day
        ({"expires": "Sun, 01 Mar 2026 14:00:00 GMT"}, 7200.0),
        ({"expires": "0"}, 900.0),
        ({"expires": "Sun, 01 Mar 2026 14:00:00 GMT", "cache_control": "max-age=1200"}, 1200.0),
        ({"ttl_s": 1800.0}, 1800.0),
        ({"ttl_s": 1800.0, "cache_control": "max-age=2400"}, 2400.0),
        ({"failures": 1}, 900.0),  # backoff (60 s) never polls a failing feed faster
        ({"failures": 6}, 1920.0),
        ({"failures": 40}, 86_400.0),
        ({"failures": 1, "retry_after_s": 7200.0}, 7200.0),
        ({"failures": 1, "retry_after_s": 10 * 86_400.0}, 86_400.0),
        ({"failures": 1, "gone": True}, 86_400.0),
        ({"failures": 1, "gone": True, "backoff_cap_s": 3600.0}, 3600.0),
        ({"interval_s": 2 * 86_400.0, "failures": 30}, 2 * 86_400.0),
    ],
)
def test_next_poll_at(kwargs: dict[str, object], expected_s: float) -> None:
    assert delay(**kwargs) == pytest.approx(expected_s)


def test_a_feed_failing_all_day_is_still_polled_at_least_daily() -> None:
    now, polls, failures = NOW, 0, 0
    while now < NOW + timedelta(days=3):
        failures += 1
        now = next_poll_at(now=now, interval_s=900.0, rng_value=0.99, failures=failures)
        polls += 1
        gap = next_poll_at(now=now, interval_s=900.0, rng_value=0.99, failures=failures + 1) - now
        assert gap <= timedelta(days=1)
    assert polls >= 3 + 10  # the early retries, then about one a day


def test_jitter_only_shortens_so_the_daemon_tick_never_skips() -> None:
    for rng in (0.0, 0.3, 0.999):
        assert delay(rng_value=rng, jitter_s=120.0) <= 900.0


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, None),
        ({"cache_control": "private"}, None),
        ({"cache_control": 'max-age="600"'}, 600.0),
        ({"expires": "Sun, 01 Mar 2026 11:00:00 GMT"}, None),  # already past
        ({"ttl_s": 60.0, "retry_after_s": 120.0}, 120.0),
    ],
)
def test_server_wish(kwargs: dict[str, object], expected: float | None) -> None:
    assert server_wish_s(now=NOW, **kwargs) == expected  # type: ignore[arg-type]


def test_cadence_and_adaptive_interval() -> None:
    hourly = [NOW - timedelta(hours=h) for h in range(6)] + [None]
    assert cadence_s(hourly) == 3600.0
    assert adaptive_interval_s(hourly, min_s=300.0, max_s=7200.0) == 1800.0
    assert adaptive_interval_s(hourly, min_s=2400.0, max_s=7200.0) == 2400.0
    assert adaptive_interval_s(hourly[:2], min_s=300.0, max_s=7200.0) is None
