"""Feed bookkeeping: what one poll leaves on its feed's state, and what it reports.

Orchestration, for ``detect.poller``. After every poll ``FeedBookkeeper`` works out the next
poll (``schedule``), the validators (ETag, Last-Modified, body hash), the adaptive interval and
the feed's health (``health``), stores the new state, queues a ``feed.health`` alert on a
transition (``route.health_alerts``, in the same transaction), logs the poll and returns its
``PollOutcome``. A failure is recorded here and never raised: it stays with its feed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import structlog

from monitor.detect import health, schedule
from monitor.detect.route import health_alerts
from monitor.errors import FetchError, FetchHTTPStatus, ParseError
from monitor.models import Assessment, FeedSpec, FeedState, FetchResult, Story
from monitor.ports import PollerStore

log = structlog.get_logger("monitor.detect.poller")


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """The knobs of one poll, taken from the config by the caller."""

    max_story_age_s: float = 72 * 3600.0
    backoff_base_s: float = 60.0
    backoff_cap_s: float = 86_400.0
    failing_after: int = 3
    stale_factor: float = 10.0


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll did, for logs, metrics and the ``once`` summary."""

    feed_id: str
    ok: bool
    status: int | None = None
    skipped: bool = False
    unchanged: bool = False
    stories: int = 0
    new_stories: int = 0
    alerts_queued: int = 0
    error: str | None = None
    error_kind: str | None = None
    error_label: str | None = None  # the failure's ``outcome_label`` (metrics)
    next_poll_at: datetime | None = None
    health_before: str = "new"
    health_after: str = "new"
    elapsed_s: float = 0.0
    parse_elapsed_s: float = 0.0
    body_bytes: int = 0
    follow_ups: int = 0
    assessments: tuple[Assessment, ...] = ()


class FeedBookkeeper:
    """Records each poll's outcome on the feed's state (one per poller)."""

    def __init__(
        self,
        *,
        store: PollerStore,
        policy: PollPolicy,
        health_destinations: Sequence[str] = (),
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.policy = policy
        self.health_destinations = tuple(health_destinations)
        self.rng = rng

    def skipped(self, feed: FeedSpec, state: FeedState) -> PollOutcome:
        """Not due yet (backoff or the server's wish): nothing is fetched or written."""
        return PollOutcome(
            feed.id,
            ok=True,
            skipped=True,
            next_poll_at=state.next_poll_at,
            health_before=state.health,
            health_after=state.health,
        )

    def success(
        self,
        feed: FeedSpec,
        state: FeedState,
        result: FetchResult,
        now: datetime,
        *,
        parsed_ttl_s: float | None,
        body_hash: str | None = None,
        unchanged: bool = False,
        stories: int = 0,
        new_stories: int = 0,
        queued: int = 0,
        assessments: tuple[Assessment, ...] = (),
        parse_s: float = 0.0,
        follow_ups: int = 0,
        interval_s: float | None = None,
    ) -> PollOutcome:
        # an unchanged body keeps the adaptive interval chosen when it was last read
        interval_s = interval_s or state.interval_s or feed.interval_s
        next_at = schedule.next_poll_at(
            now=now,
            interval_s=interval_s,
            rng_value=self.rng(),
            failures=0,
            cache_control=result.cache_control,
            expires=result.expires,
            ttl_s=parsed_ttl_s,
        )
        new_state = replace(
            state,
            etag=result.etag or (None if result.status == 200 else state.etag),
            last_modified=result.last_modified
            or (None if result.status == 200 else state.last_modified),
            body_hash=body_hash or state.body_hash,
            last_status=result.status,
            last_error=None,
            consecutive_failures=0,
            last_attempt_at=now,
            last_success_at=now,
            last_new_item_at=now if new_stories else state.last_new_item_at,
            next_poll_at=next_at,
            items_seen=state.items_seen + new_stories,
            interval_s=interval_s if feed.adaptive_bounds_s else None,
        )
        new_state = self._save_state(feed, state, new_state, now)
        log.info(
            "feed_polled",
            feed_id=feed.id,
            status=result.status,
            unchanged=unchanged or result.not_modified,
            stories=stories,
            new_stories=new_stories,
            alerts_queued=queued,
            follow_ups=follow_ups,
            elapsed_s=round(result.elapsed_s, 3),
            parse_s=round(parse_s, 4),
        )
        return PollOutcome(
            feed.id,
            ok=True,
            status=result.status,
            unchanged=unchanged or result.not_modified,
            stories=stories,
            new_stories=new_stories,
            alerts_queued=queued,
            next_poll_at=next_at,
            health_before=state.health,
            health_after=new_state.health,
            elapsed_s=result.elapsed_s,
            parse_elapsed_s=parse_s,
            body_bytes=len(result.body),
            assessments=assessments,
            follow_ups=follow_ups,
        )

    def failure(
        self,
        feed: FeedSpec,
        state: FeedState,
        now: datetime,
        exc: FetchError | ParseError,
        *,
        result: FetchResult | None = None,
        parse_s: float = 0.0,
    ) -> PollOutcome:
        failures = state.consecutive_failures + 1
        status = (
            exc.status if isinstance(exc, FetchHTTPStatus) else (result.status if result else None)
        )
        retry_after_s = exc.retry_after_s if isinstance(exc, FetchHTTPStatus) else None
        next_at = schedule.next_poll_at(
            now=now,
            interval_s=feed.interval_s,
            rng_value=self.rng(),
            failures=failures,
            backoff_base_s=self.policy.backoff_base_s,
            backoff_cap_s=self.policy.backoff_cap_s,
            retry_after_s=retry_after_s,
            gone=status == 410,
        )
        new_state = replace(
            state,
            last_status=status,
            last_error=str(exc),
            consecutive_failures=failures,
            last_attempt_at=now,
            next_poll_at=next_at,
        )
        new_state = self._save_state(feed, state, new_state, now)
        log.warning(
            "feed_failed",
            feed_id=feed.id,
            error=str(exc),
            error_kind=type(exc).__name__,
            consecutive_failures=failures,
            next_poll_at=next_at.isoformat(),
        )
        elapsed_s = result.elapsed_s if result is not None else getattr(exc, "elapsed_s", 0.0)
        return PollOutcome(
            feed.id,
            ok=False,
            status=status,
            error=str(exc),
            error_kind=type(exc).__name__,
            error_label=exc.outcome_label,
            next_poll_at=next_at,
            health_before=state.health,
            health_after=new_state.health,
            elapsed_s=float(elapsed_s or 0.0),
            parse_elapsed_s=parse_s,
            body_bytes=len(result.body) if result is not None else 0,
        )

    def interval_s(
        self,
        feed: FeedSpec,
        state: FeedState,
        stories: Sequence[Story],
        unchanged_published: Sequence[datetime | None] = (),
    ) -> float:
        """The feed's interval: fixed, or adapted to its publishing rhythm within bounds.

        The rhythm reads every item of the body: the parsed stories and the dates of those
        the parser skipped as unchanged.
        """
        if feed.adaptive_bounds_s is None:
            return feed.interval_s
        low, high = feed.adaptive_bounds_s
        published = [*(s.published_at for s in stories), *unchanged_published]
        adapted = schedule.adaptive_interval_s(published, min_s=low, max_s=high)
        return adapted or state.interval_s or feed.interval_s

    # --- feed health ------------------------------------------------------------------------------

    def _save_state(
        self, feed: FeedSpec, before: FeedState, after: FeedState, now: datetime
    ) -> FeedState:
        """Settle the health, store the state, and queue a health alert on a transition.

        Both writes share one transaction, so a transition is alerted exactly once.
        """
        after = replace(
            after,
            health=health.health_after(
                after,
                now=now,
                interval_s=feed.interval_s,
                failing_after=self.policy.failing_after,
                stale_factor=self.policy.stale_factor,
            ),
        )
        changed = health.health_changed(before.health, after.health)
        with self.store.transaction():
            self.store.save_feed_state(after)
            if changed and self.health_destinations:
                self.store.enqueue(
                    health_alerts(feed, before, after, now, self.health_destinations), now
                )
        if changed:
            log.warning(
                "feed_health_changed",
                feed_id=feed.id,
                before=before.health,
                after=after.health,
                consecutive_failures=after.consecutive_failures,
                last_error=after.last_error,
            )
        return after
