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
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import structlog

from monitor.detect import dedup
from monitor.detect.assess import assess
from monitor.detect.bookkeeping import FeedBookkeeper, PollOutcome, PollPolicy
from monitor.detect.evidence import attach_evidence, with_article
from monitor.detect.match import Pack
from monitor.detect.route import follow_ups, route
from monitor.errors import FetchError, ParseError
from monitor.models import (
    Alert,
    Article,
    Assessment,
    ClusterAssignment,
    DestinationSpec,
    FeedSpec,
    Story,
)
from monitor.ports import Clock, Clusters, Enricher, EvidenceStore, Fetcher, Parser, PollerStore

__all__ = ["FeedPoller", "PollOutcome", "PollPolicy"]

log = structlog.get_logger(__name__)

DEFAULT_POLICY = PollPolicy()


@dataclass
class _Found:
    """What one poll's detection found, and each cluster's alerts so far (stored + this poll)."""

    disabled: set[str] = field(default_factory=set)
    cutoff: datetime | None = None
    alerts: list[Alert] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    follow_ups: int = 0
    alerted: dict[str, dict[str, Alert]] = field(default_factory=dict)

    def too_old(self, story: Story) -> bool:
        """Published before the cut-off: recorded, never alerted."""
        published = story.published_at
        return published is not None and self.cutoff is not None and published < self.cutoff


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
        policy: PollPolicy = DEFAULT_POLICY,
        rng: Callable[[], float] = random.random,
        enricher: Enricher | None = None,
        evidence: EvidenceStore | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.enricher = enricher
        self.evidence = evidence
        self.parser = parser
        self.store = store
        self.pack = pack
        self.destinations = tuple(destinations)
        self._destination_ids = frozenset(dest.id for dest in self.destinations)
        self.clock = clock
        self.clusters = clusters
        self.policy = policy
        self.books = FeedBookkeeper(
            store=store, policy=policy, health_destinations=health_destinations, rng=rng
        )

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
        self.books.health_destinations = tuple(health_destinations)

    async def poll(self, feed: FeedSpec, *, force: bool = False) -> PollOutcome:
        """Run every stage for ``feed`` unless its backoff says it is not due yet."""
        state = self.store.feed_state(feed.id)
        now = self.clock.now()
        if not force and state.next_poll_at is not None and now < state.next_poll_at:
            return self.books.skipped(feed, state)
        try:
            result = await self.fetcher.fetch(feed, state)
        except FetchError as exc:
            return self.books.failure(feed, state, now, exc)
        if result.not_modified:
            return self.books.success(feed, state, result, now, parsed_ttl_s=None)
        body_hash = hashlib.sha256(result.body).hexdigest()
        if body_hash == state.body_hash:
            return self.books.success(feed, state, result, now, parsed_ttl_s=None, unchanged=True)
        parse_started = time.perf_counter()
        try:
            parsed = await self.parser.parse(result, feed)
        except ParseError as exc:
            return self.books.failure(
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
        stories, articles = await self._enrich(feed, stories)
        # clusters, seen stories, alerts, evidence and the feed's validators: one commit
        with self.store.transaction():
            fresh, edited = self.store.triage(stories)
            found = self._detect(fresh, edited, now)
            alerts, snapshots = attach_evidence(found.alerts, found.assessments, articles, now=now)
            queued = self.store.commit_stories(fresh, alerts, now, edited=edited)
            if self.evidence is not None and snapshots:
                self.evidence.save_evidence(snapshots)
            return self.books.success(
                feed, state, result, now,
                parsed_ttl_s=parsed.ttl_s, body_hash=body_hash,
                stories=len(stories) + len(parsed.unchanged_published),
                interval_s=self.books.interval_s(feed, state, stories, parsed.unchanged_published),
                new_stories=len(fresh), queued=queued, assessments=tuple(found.assessments),
                parse_s=parse_s, follow_ups=found.follow_ups,
            )  # fmt: skip

    # --- detection: place → match → assess → route, story by story --------------------------

    async def _enrich(
        self, feed: FeedSpec, stories: list[Story]
    ) -> tuple[list[Story], dict[str, Article]]:
        """Thin new candidates judged on their article (``ports.Enricher``), before the commit.

        Runs outside the store's transaction (it waits on the network). Only stories never seen
        are asked about, and the enricher decides which of them are thin candidates.
        """
        if self.enricher is None or not stories:
            return stories, {}
        new, _ = self.store.triage(stories)
        wanted = [s for s in new if self.enricher.wants(s, self.pack.match(s))]
        articles = await self.enricher.enrich(feed, wanted) if wanted else {}
        if not articles:
            return stories, {}
        enriched = [with_article(s, articles[s.key]) if s.key in articles else s for s in stories]
        return enriched, articles

    def _detect(self, fresh: Sequence[Story], edited: Sequence[Story], now: datetime) -> _Found:
        """Judge this poll's new stories, then its edited ones; returns what was found.

        ``fresh`` stories are new; ``edited`` ones were seen before with another title or
        summary (only a follow-up, never a new alert). Known, unchanged stories never get
        here. Old stories (past ``max_story_age_s``) are recorded but never alerted.
        """
        if not fresh and not edited:
            return _Found()  # a body that changed only in dates or order: nothing to judge
        found = _Found(
            disabled=set(self.store.disabled_destinations()),
            cutoff=now - timedelta(seconds=self.policy.max_story_age_s),
        )
        for story in fresh:
            self._judge(story, now, found, is_fresh=True)
        for story in edited:
            self._judge(story, now, found, is_fresh=False)
        return found

    def _judge(self, story: Story, now: datetime, found: _Found, *, is_fresh: bool) -> None:
        """One story: place it in its cluster, match and assess it, route what it deserves."""
        placed = self._place(story, now)
        if not is_fresh and not (placed is not None and placed.is_update):
            return  # an edit dedup does not call an update: nothing to tell
        too_old = found.too_old(story)
        known = self._known(placed, found)
        assessment = assess(story, self.pack.match(story), self.pack)
        if known and placed is not None and not too_old:
            self._follow_up(story, assessment, placed, known, now, found)
        if not is_fresh or assessment.severity is None:
            return  # an edit of a known story gets only the follow-up above
        found.assessments.append(assessment)
        if too_old:
            log.info(
                "story_too_old",
                feed_id=story.feed_id,
                story_key=story.key,
                published_at=story.published_at.isoformat() if story.published_at else None,
            )
            return
        self._route(story, assessment, placed, known, now, found)

    def _place(self, story: Story, now: datetime) -> ClusterAssignment | None:
        if self.clusters is None:
            return None
        return self.clusters.assign(story, now=now, with_outlets=False)

    def _known(self, placed: ClusterAssignment | None, found: _Found) -> dict[str, Alert]:
        """The alerts of ``placed``'s cluster per destination: stored ones and this poll's."""
        if placed is None or placed.is_new_cluster:
            return {}
        if placed.cluster_id not in found.alerted:
            found.alerted[placed.cluster_id] = self.store.cluster_alerts(placed.cluster_id)
        return found.alerted[placed.cluster_id]

    def _follow_up(
        self,
        story: Story,
        assessment: Assessment,
        placed: ClusterAssignment,
        known: dict[str, Alert],
        now: datetime,
        found: _Found,
    ) -> None:
        """A later copy or an edit: one ``alert.updated`` per destination already alerted."""
        outlets = self.clusters.outlets(placed.cluster_id) if self.clusters else placed.outlets
        updates = follow_ups(
            story, assessment, placed, known, outlets=outlets, now=now,
            destination_ids=self._destination_ids, disabled=found.disabled,
        )  # fmt: skip
        found.follow_ups += len(updates)
        found.alerts.extend(updates)
        if updates:
            log.info(
                "story_follow_up",
                feed_id=story.feed_id,
                story_key=story.key,
                cluster_id=placed.cluster_id,
                update=placed.is_update,
                destinations=sorted(u.destination_id for u in updates),
            )

    def _route(
        self,
        story: Story,
        assessment: Assessment,
        placed: ClusterAssignment | None,
        known: dict[str, Alert],
        now: datetime,
        found: _Found,
    ) -> None:
        """A story that matched: its ``alert.created`` for each destination not yet alerted."""
        cluster_id = placed.cluster_id if placed is not None else None
        for alert in route(
            story, assessment, self.destinations, now=now, disabled=found.disabled,
            cluster_id=cluster_id,
        ):  # fmt: skip
            if alert.destination_id in known:
                continue  # the cluster already alerted there: the follow-up covers it
            found.alerts.append(alert)
            if cluster_id is not None:
                found.alerted.setdefault(cluster_id, {})[alert.destination_id] = alert
