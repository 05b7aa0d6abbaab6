"""The detection half in one place: fetch → parse → dedup → match → assess → route → outbox.

``FeedPoller.poll`` runs the stages for one feed, in order; the stages never call each other.
A failure stays with its feed: it is recorded on the feed's state (last error, consecutive
failures, next attempt) and returned as a ``PollOutcome``; nothing is raised to the scheduler.

Dedup: every parsed story is assigned to a cross-feed cluster (``ports.Clusters``). The
cluster, not the story, alerts: the first story of a cluster is matched and routed as usual;
a later copy from another outlet, or an edit under the same key, becomes an ``alert.updated``
("also reported by") for each destination the cluster already alerted, never a second
top-level alert. A copy of a cluster that has not alerted anywhere is matched like a new story.

Idempotence: a story is marked seen in the same transaction that queues its alerts and
advances the feed's validators (ETag, Last-Modified, body hash), so a crash anywhere here
costs at most one repeated poll, never a lost or doubled alert.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import structlog

from monitor.detect import dedup, schedule
from monitor.detect.assess import assess
from monitor.detect.match import Pack
from monitor.detect.route import alert_key, route
from monitor.errors import FetchError, FetchHTTPStatus, ParseError
from monitor.models import (
    Alert,
    Assessment,
    ClusterAssignment,
    DestinationSpec,
    FeedSpec,
    FeedState,
    FetchResult,
    Severity,
    Story,
)
from monitor.ports import Clock, Clusters, Fetcher, Parser, PollerStore

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
    parse_elapsed_s: float = 0.0
    body_bytes: int = 0
    follow_ups: int = 0
    assessments: tuple[Assessment, ...] = ()


class FeedPoller:
    """Polls one feed at a time through every detection stage."""

    def __init__(
        self,
        *,
        fetcher: Fetcher,
        parser: Parser,
        store: PollerStore,
        pack: Pack,
        destinations: Sequence[DestinationSpec],
        clock: Clock,
        clusters: Clusters | None = None,
        health_destinations: Sequence[str] = (),
        policy: PollPolicy = PollPolicy(),
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.fetcher = fetcher
        self.parser = parser
        self.store = store
        self.pack = pack
        self.destinations = tuple(destinations)
        self._destination_ids = frozenset(dest.id for dest in self.destinations)
        self.clock = clock
        self.clusters = clusters
        self.health_destinations = tuple(health_destinations)
        self.policy = policy
        self.rng = rng

    def reconfigure(
        self,
        *,
        pack: Pack,
        destinations: Sequence[DestinationSpec],
        health_destinations: Sequence[str] = (),
    ) -> None:
        """Swap rules and destinations (hot reload); state and the outbox are untouched."""
        self.pack = pack
        self.destinations = tuple(destinations)
        self._destination_ids = frozenset(dest.id for dest in self.destinations)
        self.health_destinations = tuple(health_destinations)

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
        parse_started = time.perf_counter()
        try:
            parsed = await self.parser.parse(result, feed)
        except ParseError as exc:
            return self._record_failure(
                feed, state, now, exc, result=result,
                parse_s=time.perf_counter() - parse_started,
            )  # fmt: skip
        parse_s = time.perf_counter() - parse_started
        stories = [  # the parser worker keys stories; rebuild only what it left out
            s
            if s.key and s.tags == feed.tags
            else replace(s, key=s.key or dedup.story_key(s), tags=feed.tags)
            for s in parsed.stories
        ]
        # clusters, seen stories, alerts and the feed's validators: all or none, one commit
        with self.store.transaction():
            fresh, edited = self.store.triage(stories)
            alerts, assessments, follow_ups = self._detect(fresh, edited, now)
            queued = self.store.commit_stories(fresh, alerts, now, edited=edited)
            return self._record_success(
                feed, state, result, now,
                parsed_ttl_s=parsed.ttl_s, body_hash=body_hash,
                stories=len(stories) + len(parsed.unchanged_published),
                interval_s=self._interval_s(feed, state, stories, parsed.unchanged_published),
                new_stories=len(fresh), queued=queued, assessments=assessments,
                parse_s=parse_s, follow_ups=follow_ups,
            )  # fmt: skip

    # --- detection stages ---------------------------------------------------------------------

    def _detect(
        self, fresh: Sequence[Story], edited: Sequence[Story], now: datetime
    ) -> tuple[list[Alert], tuple[Assessment, ...], int]:
        """dedup → match → assess → route; returns alerts, assessments and follow-up count.

        ``fresh`` stories are new; ``edited`` ones were seen before with another title or
        summary (only a follow-up, never a new alert). Known, unchanged stories never get
        here. Old stories (past ``max_story_age_s``) are recorded but never alerted.
        """
        if not fresh and not edited:
            return [], (), 0  # a body that changed only in dates or order: nothing to judge
        alerts: list[Alert] = []
        assessments: list[Assessment] = []
        follow_ups = 0
        disabled = set(self.store.disabled_destinations())
        cutoff = now - timedelta(seconds=self.policy.max_story_age_s)
        # alerts of each cluster per destination: stored ones plus those made in this poll
        alerted: dict[str, dict[str, Alert]] = {}
        for story, is_fresh in [*((s, True) for s in fresh), *((s, False) for s in edited)]:
            placed = self._place(story, now)
            if not is_fresh and not (placed is not None and placed.is_update):
                continue
            too_old = story.published_at is not None and story.published_at < cutoff
            known: dict[str, Alert] = {}
            if placed is not None and not placed.is_new_cluster:
                known = alerted.setdefault(
                    placed.cluster_id, self.store.cluster_alerts(placed.cluster_id)
                )
            assessment = assess(story, self.pack.match(story), self.pack)
            if known and not too_old:
                updates = self._follow_ups(story, assessment, placed, known, now, disabled)
                follow_ups += len(updates)
                alerts.extend(updates)
            if not is_fresh:
                continue  # an edit of a known story: only the follow-up above
            if assessment.severity is None:
                continue
            assessments.append(assessment)
            if too_old:
                log.info(
                    "story_too_old",
                    feed_id=story.feed_id,
                    story_key=story.key,
                    published_at=story.published_at.isoformat() if story.published_at else None,
                )
                continue
            cluster_id = placed.cluster_id if placed is not None else None
            for alert in route(
                story, assessment, self.destinations, now=now, disabled=disabled,
                cluster_id=cluster_id,
            ):  # fmt: skip
                if alert.destination_id in known:
                    continue  # the cluster already alerted there: the follow-up covers it
                alerts.append(alert)
                if cluster_id is not None:
                    alerted.setdefault(cluster_id, {})[alert.destination_id] = alert
        return alerts, tuple(assessments), follow_ups

    def _place(self, story: Story, now: datetime) -> ClusterAssignment | None:
        if self.clusters is None:
            return None
        return self.clusters.assign(story, now=now, with_outlets=False)

    def _follow_ups(
        self,
        story: Story,
        assessment: Assessment,
        placed: ClusterAssignment | None,
        known: dict[str, Alert],
        now: datetime,
        disabled: set[str],
    ) -> list[Alert]:
        """One ``alert.updated`` per destination the cluster already alerted.

        It keeps the parent's rule and severity (the cluster's verdict) and carries this copy's
        own evidence: its matched spans index this copy's text (none when the copy's wording
        matches nothing on its own).
        """
        assert placed is not None
        outlets = self.clusters.outlets(placed.cluster_id) if self.clusters else placed.outlets
        revision = dedup.content_hash(story) if placed.is_update else ""
        updates = []
        for dest_id, parent in known.items():
            if dest_id in disabled or dest_id not in self._destination_ids:
                continue
            subject = f"{story.key}\x1f{revision}"
            updates.append(
                replace(
                    parent,
                    key=alert_key(subject, "alert.updated", dest_id),
                    event="alert.updated",
                    story=story,
                    hits=assessment.hits,
                    created_at=now,
                    also_reported_by=outlets,
                    parent_alert_id=parent.key,
                )
            )
        if updates:
            log.info(
                "story_follow_up",
                feed_id=story.feed_id,
                story_key=story.key,
                cluster_id=placed.cluster_id,
                update=placed.is_update,
                destinations=sorted(u.destination_id for u in updates),
            )
        return updates

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

    def _record_failure(
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
            next_poll_at=next_at,
            health_before=state.health,
            health_after=new_state.health,
            elapsed_s=float(elapsed_s or 0.0),
            parse_elapsed_s=parse_s,
            body_bytes=len(result.body) if result is not None else 0,
        )

    def _interval_s(
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

    # --- feed health --------------------------------------------------------------------------

    def _save_state(
        self, feed: FeedSpec, before: FeedState, after: FeedState, now: datetime
    ) -> FeedState:
        """Settle the health, store the state, and queue a health alert on a transition.

        Both writes share one transaction, so a transition is alerted exactly once.
        """
        after = replace(
            after,
            health=schedule.health_after(
                after,
                now=now,
                interval_s=feed.interval_s,
                failing_after=self.policy.failing_after,
                stale_factor=self.policy.stale_factor,
            ),
        )
        changed = schedule.health_changed(before.health, after.health)
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


def health_alerts(
    feed: FeedSpec,
    before: FeedState,
    after: FeedState,
    now: datetime,
    destinations: Sequence[str],
) -> list[Alert]:
    """One ``feed.health`` alert per destination for the transition ``before`` → ``after``."""
    label = f"{feed.name} ({feed.id})" if feed.name and feed.name != feed.id else feed.id
    if after.health == "failing":
        title = f"Feed {label} is failing: {after.consecutive_failures} failures in a row"
        detail = after.last_error or "unknown error"
        severity = Severity.MEDIUM
    elif after.health == "stale":
        last = after.last_new_item_at.isoformat() if after.last_new_item_at else "never"
        title = f"Feed {label} is stale: no new item since {last}"
        detail = "the feed answers but publishes nothing new; check its URL"
        severity = Severity.LOW
    else:
        title = f"Feed {label} has recovered ({before.health} → {after.health})"
        detail = "polled successfully again"
        severity = Severity.LOW
    story = Story(
        feed_id=feed.id,
        title=title,
        url=_public_url(feed.url),
        fetched_at=now,
        summary=detail,
        outlet=feed.name or feed.id,
        key=f"feed-health:{feed.id}",
        tags=feed.tags,
    )
    subject = f"{feed.id}\x1f{before.health}\x1f{after.health}\x1f{now.isoformat()}"
    return [
        Alert(
            key=alert_key(subject, "feed.health", dest_id),
            destination_id=dest_id,
            event="feed.health",
            rule_id="feed_health",
            topic="operations",
            severity=severity,
            score=0.0,
            story=story,
            hits=(),
            created_at=now,
            health_before=before.health,
            health_after=after.health,
        )
        for dest_id in destinations
    ]


def _public_url(url: str) -> str:
    """The feed URL without credentials or query (a token in a feed URL must not travel)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
