"""Feed health: the state a feed is in after a poll, whether that is a transition worth telling,
and what the ``feed.health`` notice says about it.

Pure core, for the poller (which settles the health after every poll and stores it) and for
``route.health_alerts`` (which turns a transition into one alert per destination). Nothing here
reads a clock or a config object: ``now`` and the thresholds are arguments.

States: ``new`` (never succeeded), ``ok``, ``failing`` (``failing_after`` failures in a row,
or 410 Gone at once), ``stale`` (answers, but nothing new for ``stale_factor`` x its cadence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.models import FeedState, HealthState, Severity

DAY_S = 86_400.0


def health_after(
    state: FeedState,
    *,
    now: datetime,
    interval_s: float,
    failing_after: int = 3,
    stale_factor: float = 10.0,
    cadence_s: float | None = None,
    min_stale_s: float = DAY_S,
) -> HealthState:
    """The feed's health given its state AFTER this poll was recorded.

    ``failing``: at least ``failing_after`` consecutive failures, or at once on 410 Gone (the
    operator should hear about it; the feed is still polled daily). ``stale``: polled fine but no
    new item for ``stale_factor`` times its usual cadence (``cadence_s`` if known, else the
    poll interval), and never less than ``min_stale_s``. ``ok`` otherwise; a feed that has never
    succeeded stays ``new`` until it fails enough to be ``failing``. Fewer failures than the
    threshold keep the previous health (one blip does not flap the state).
    """
    failures = state.consecutive_failures
    if failures >= failing_after or (failures > 0 and state.last_status == 410):
        return "failing"
    if failures > 0:
        return state.health if state.health != "failing" else "ok"
    if state.last_success_at is None:
        return "new"
    if is_stale(
        state,
        now=now,
        interval_s=interval_s,
        stale_factor=stale_factor,
        cadence_s=cadence_s,
        min_stale_s=min_stale_s,
    ):
        return "stale"
    return "ok"


def is_stale(
    state: FeedState,
    *,
    now: datetime,
    interval_s: float,
    stale_factor: float = 10.0,
    cadence_s: float | None = None,
    min_stale_s: float = DAY_S,
) -> bool:
    """No new item for ``stale_factor`` x cadence (at least ``min_stale_s``)."""
    since = state.last_new_item_at
    if since is None:
        return False
    threshold_s = max(stale_factor * (cadence_s or interval_s), min_stale_s)
    return (now - since).total_seconds() > threshold_s


def health_changed(before: HealthState, after: HealthState) -> bool:
    """A transition worth one log line and one health alert (``new`` → ``ok`` is not)."""
    return before != after and not (before == "new" and after == "ok")


@dataclass(frozen=True, slots=True)
class HealthNotice:
    """What a ``feed.health`` alert says: a title, one line of detail, how loud."""

    title: str
    detail: str
    severity: Severity


def describe(label: str, before: FeedState, after: FeedState) -> HealthNotice:
    """The notice for the transition ``before`` → ``after`` of the feed called ``label``."""
    if after.health == "failing":
        return HealthNotice(
            f"Feed {label} is failing: {after.consecutive_failures} failures in a row",
            after.last_error or "unknown error",
            Severity.MEDIUM,
        )
    if after.health == "stale":
        last = after.last_new_item_at.isoformat() if after.last_new_item_at else "never"
        return HealthNotice(
            f"Feed {label} is stale: no new item since {last}",
            "the feed answers but publishes nothing new; check its URL",
            Severity.LOW,
        )
    return HealthNotice(
        f"Feed {label} has recovered ({before.health} → {after.health})",
        "polled successfully again",
        Severity.LOW,
    )
