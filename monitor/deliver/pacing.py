"""The pure arithmetic of delivery pacing: retry backoff and token buckets.

Pure core (no I/O, no clock: times are arguments). ``deliver.worker`` applies these;
digest periods live in ``deliver.digest``.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.models import DestinationSpec


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


def concurrency_for(destinations: Sequence[DestinationSpec]) -> dict[str, int]:
    """``DeliveryWorker(concurrency=...)`` from the configured destinations."""
    return {d.id: d.concurrency for d in destinations}


def rate_limits_for(destinations: Sequence[DestinationSpec]) -> dict[str, tuple[float, int]]:
    """``DeliveryWorker(rate_limits=...)`` from the configured destinations."""
    return {d.id: (d.rate_per_s, d.burst) for d in destinations if d.rate_per_s}
