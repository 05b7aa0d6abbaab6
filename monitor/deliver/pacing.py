"""The pure arithmetic of delivery: retry backoff, token buckets and digest periods.

Pure core (no I/O, no clock: times are arguments). ``deliver.DeliveryWorker`` applies these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.models import DestinationSpec, Severity


@dataclass(frozen=True, slots=True)
class DigestPolicy:
    """Batch alerts below ``immediate_from`` into one message every ``every_s`` seconds."""

    every_s: float
    immediate_from: Severity = Severity.HIGH


def backoff_s(
    schedule_s: Sequence[float], failures: int, *, jitter: float, rng_value: float
) -> float:
    """The wait after ``failures`` failed attempts: the schedule's step (the last one repeats),
    spread by +/- ``jitter`` (``rng_value`` in [0, 1)) so retries of many rows do not align."""
    step = schedule_s[min(failures, len(schedule_s) - 1)] if schedule_s else 0.0
    return max(0.0, step * (1 + jitter * (2 * rng_value - 1)))


class TokenBucket:
    """``rate_per_s`` tokens a second, at most ``burst`` saved; times are monotonic seconds."""

    def __init__(self, rate_per_s: float, burst: int, now_s: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = max(1, burst)
        self.tokens = float(self.burst)
        self.updated_s = now_s

    def wait_s(self, now_s: float) -> float:
        """Seconds until a token is available (0 when one is)."""
        self.tokens = min(self.burst, self.tokens + (now_s - self.updated_s) * self.rate_per_s)
        self.updated_s = now_s
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate_per_s

    def take(self, now_s: float) -> None:
        """Spend one token (the caller waited ``wait_s`` first)."""
        self.wait_s(now_s)
        self.tokens -= 1


def period_bounds(created_at: datetime, every_s: float) -> tuple[datetime, datetime]:
    """The digest period holding ``created_at``, aligned to the epoch (hourly = on the hour)."""
    start = math.floor(created_at.timestamp() / every_s) * every_s
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(start + every_s, UTC)


def period_label(start: datetime, end: datetime) -> str:
    """``2026-03-01 12:00–13:00 UTC`` (the end's date only when it differs)."""
    day = "" if start.date() == end.date() else f"{end:%Y-%m-%d} "
    return f"{start:%Y-%m-%d %H:%M}–{day}{end:%H:%M} UTC"


def rate_limits_for(destinations: Sequence[DestinationSpec]) -> dict[str, tuple[float, int]]:
    """``DeliveryWorker(rate_limits=...)`` from the configured destinations."""
    return {d.id: (d.rate_per_s, d.burst) for d in destinations if d.rate_per_s}


def digests_for(destinations: Sequence[DestinationSpec]) -> dict[str, DigestPolicy]:
    """``DeliveryWorker(digests=...)`` from the configured destinations (``digest: {every_s}``)."""
    return {d.id: DigestPolicy(every_s=d.digest_every_s) for d in destinations if d.digest_every_s}
