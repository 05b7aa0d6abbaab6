"""The detection half in one place: fetch → parse → dedup → match → assess → route → outbox.

``FeedPoller.poll`` runs the stages for one feed, in order; the stages never call each other.
A failure stays with its feed: it is recorded on the feed's state (last error, consecutive
failures, next attempt) and returned as a ``PollOutcome``; nothing is raised to the scheduler.

Idempotence: a story is marked seen in the same transaction that queues its alerts, and the
feed's validators (ETag, Last-Modified, body hash) advance only after that commit, so a crash
anywhere here costs at most one repeated poll, never a lost or doubled alert.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from monitor import dedup, schedule
from monitor.assess import assess
from monitor.errors import FetchError, FetchHTTPStatus, ParseError
from monitor.match import Pack
from monitor.models import (
    Alert,
    Assessment,
    DestinationSpec,
    FeedSpec,
    FeedState,
    FetchResult,
    Story,
)
from monitor.ports import Clock, Fetcher, Parser, Store
from monitor.route import route

log = structlog.get_logger(__name__)


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
    next_poll_at: datetime | None = None
    health_before: str = "new"
    health_after: str = "new"
    elapsed_s: float = 0.0
    body_bytes: int = 0
    assessments: tuple[Assessment, ...] = ()


class FeedPoller:
    """Polls one feed at a time through every detection stage."""

    def __init__(
        self,
        *,
        fetcher: Fetcher,
        parser: Parser,
        store: Store,
        pack: Pack,
        destinations: Sequence[DestinationSpec],
        clock: Clock,
        policy: PollPolicy = PollPolicy(),
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.fetcher = fetcher
        self.parser = parser
        self.store = store
        self.pack = pack
        self.destinations = tuple(destinations)
        self.clock = clock
        self.policy = policy
        self.rng = rng

    def reconfigure(self, *, pack: Pack, destinations: Sequence[DestinationSpec]) -> None:
        """Swap rules and destinations (hot reload); state and the outbox are untouched."""
        self.pack = pack
        self.destinations = tuple(destinations)

    async def poll(self, feed: FeedSpec, *, force: bool = False) -> PollOutcome:
        """Run every stage for ``feed`` unless its backoff says it is not due yet."""
        state = self.store.feed_state(feed.id)
        now = self.clock.now()
        if not force and state.next_poll_at is not None and now < state.next_poll_at:
            return PollOutcome(
                feed.id,
                ok=True,
                skipped=True,
                next_poll_at=state.next_poll_at,
                health_before=state.health,
                health_after=state.health,
            )
        try:
            result = await self.fetcher.fetch(feed, state)
        except FetchError as exc:
            return self._record_failure(feed, state, now, exc)
        if result.not_modified:
            return self._record_success(feed, state, result, now, parsed_ttl_s=None)
        body_hash = hashlib.sha256(result.body).hexdigest()
        if body_hash == state.body_hash:
            return self._record_success(feed, state, result, now, parsed_ttl_s=None, unchanged=True)
        try:
            parsed = await self.parser.parse(result, feed)
        except ParseError as exc:
            return self._record_failure(feed, state, now, exc, result=result)
        stories = [replace(s, key=dedup.story_key(s), tags=feed.tags) for s in parsed.stories]
        fresh = self.store.unseen(stories)
        alerts, assessments = self._detect(fresh, now)
        queued = self.store.commit_stories(fresh, alerts, now)
        return self._record_success(
            feed,
            state,
            result,
            now,
            parsed_ttl_s=parsed.ttl_s,
            body_hash=body_hash,
            stories=len(stories),
            new_stories=len(fresh),
            queued=queued,
            assessments=assessments,
        )

    # --- detection stages ---------------------------------------------------------------------

    def _detect(
        self, fresh: Sequence[Story], now: datetime
    ) -> tuple[list[Alert], tuple[Assessment, ...]]:
        """match → assess → route for each new story; old stories are recorded, never alerted."""
        alerts: list[Alert] = []
        assessments: list[Assessment] = []
        disabled = set(self.store.disabled_destinations())
        cutoff = now - timedelta(seconds=self.policy.max_story_age_s)
        for story in fresh:
            assessment = assess(story, self.pack.match(story), self.pack)
            if assessment.severity is None:
                continue
            assessments.append(assessment)
            if story.published_at is not None and story.published_at < cutoff:
                log.info(
                    "story_too_old",
                    feed_id=story.feed_id,
                    story_key=story.key,
                    published_at=story.published_at.isoformat(),
                )
                continue
            alerts.extend(route(story, assessment, self.destinations, now=now, disabled=disabled))
        return alerts, tuple(assessments)

    # --- feed state bookkeeping ---------------------------------------------------------------

    def _record_success(
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
    ) -> PollOutcome:
        next_at = schedule.next_poll_at(
            now=now,
            interval_s=feed.interval_s,
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
        )
        new_state = replace(
            new_state,
            health=schedule.health_after(
                new_state,
                now=now,
                interval_s=feed.interval_s,
                failing_after=self.policy.failing_after,
                stale_factor=self.policy.stale_factor,
            ),
        )
        self.store.save_feed_state(new_state)
        log.info(
            "feed_polled",
            feed_id=feed.id,
            status=result.status,
            unchanged=unchanged,
            stories=stories,
            new_stories=new_stories,
            alerts_queued=queued,
            elapsed_s=round(result.elapsed_s, 3),
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
            body_bytes=len(result.body),
            assessments=assessments,
        )

    def _record_failure(
        self,
        feed: FeedSpec,
        state: FeedState,
        now: datetime,
        exc: FetchError | ParseError,
        *,
        result: FetchResult | None = None,
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
        new_state = replace(
            new_state,
            health=schedule.health_after(
                new_state,
                now=now,
                interval_s=feed.interval_s,
                failing_after=self.policy.failing_after,
                stale_factor=self.policy.stale_factor,
            ),
        )
        self.store.save_feed_state(new_state)
        log.warning(
            "feed_failed",
            feed_id=feed.id,
            error=str(exc),
            error_kind=type(exc).__name__,
            consecutive_failures=failures,
            next_poll_at=next_at.isoformat(),
        )
        return PollOutcome(
            feed.id,
            ok=False,
            status=status,
            error=str(exc),
            error_kind=type(exc).__name__,
            next_poll_at=next_at,
            health_before=state.health,
            health_after=new_state.health,
        )
