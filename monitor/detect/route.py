"""Route: build every alert, as pure functions (no I/O, no clock: ``now`` is an argument).

- ``route``: the ``alert.created`` of a new story that matched, one per destination that wants
  it; the poller writes them to the outbox in the transaction that marks the story seen.
- ``follow_ups``: the ``alert.updated`` of a later copy (or an edit) of a story whose cluster
  already alerted, one per destination it alerted.
- ``health_alerts``: the ``feed.health`` notice of a feed's health transition
  (``detect.health`` decides the transition and its wording).

Per destination the filters are, in order: disabled destinations get nothing; ``feeds`` (feed
ids) and ``tags`` (feed tags, any-of) select the story; ``min_severity`` and ``rules`` select the
rule matches the destination accepts. A destination that accepts at least one match gets ONE
alert carrying the best accepted match (highest severity, then score), whatever the number of
rules that fired, so a story never pages a channel twice.

The alert's ``key`` is the idempotency key sent as ``webhook-id``/``Idempotency-Key``: a hash of
(story cluster or story key, rule id, destination id), so re-running detection on the same
story gives the same key and the outbox's UNIQUE constraint drops the repeat.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from monitor.detect import dedup, health
from monitor.models import (
    Alert,
    Assessment,
    ClusterAssignment,
    DestinationSpec,
    FeedSpec,
    FeedState,
    RuleMatch,
    Story,
)

KEY_PREFIX = "msg_"
_KEY_VERSION = "v1"


def alert_key(subject: str, rule_id: str, destination_id: str) -> str:
    """The deterministic idempotency key of one (story or cluster, rule, destination)."""
    # The unit separator cannot appear in ids, so ("a_b", "c") and ("a", "b_c") never collide.
    material = "\x1f".join((_KEY_VERSION, subject, rule_id, destination_id))
    return KEY_PREFIX + hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


def accepted_matches(assessment: Assessment, dest: DestinationSpec) -> list[RuleMatch]:
    """The rule matches ``dest`` subscribes to: at or above its severity, in its rule list."""
    return [
        match
        for match in assessment.matches
        if match.severity >= dest.min_severity and (not dest.rules or match.rule_id in dest.rules)
    ]


def selects_story(dest: DestinationSpec, story: Story) -> bool:
    """True when the destination's ``feeds`` and ``tags`` filters let ``story`` through."""
    if dest.feeds and story.feed_id not in dest.feeds:
        return False
    return not dest.tags or bool(set(dest.tags) & set(story.tags))


def route(
    story: Story,
    assessment: Assessment,
    destinations: Sequence[DestinationSpec],
    *,
    now: datetime,
    disabled: Collection[str] = (),
    cluster_id: str | None = None,
) -> list[Alert]:
    """One ``alert.created`` per destination that wants ``story``, in destination order."""
    alerts: list[Alert] = []
    for dest in destinations:
        if dest.id in disabled or not selects_story(dest, story):
            continue
        accepted = accepted_matches(assessment, dest)
        if accepted:
            alerts.append(_alert(story, assessment, dest, accepted, now, cluster_id))
    return alerts


def _alert(
    story: Story,
    assessment: Assessment,
    dest: DestinationSpec,
    accepted: Sequence[RuleMatch],
    now: datetime,
    cluster_id: str | None,
) -> Alert:
    best = max(accepted, key=lambda m: (m.severity, m.score))
    # The best accepted rule first, then every other rule that fired, as evidence.
    rule_ids = (best.rule_id, *(rid for rid in assessment.rule_ids if rid != best.rule_id))
    return Alert(
        key=alert_key(cluster_id or story.key, best.rule_id, dest.id),
        destination_id=dest.id,
        event="alert.created",
        rule_id=best.rule_id,
        topic=best.topic,
        severity=best.severity,
        score=best.score,
        story=story,
        hits=assessment.hits or best.hits,
        created_at=now,
        rule_ids=tuple(dict.fromkeys(rule_ids)),
        cluster_id=cluster_id or "",
        rule_description=best.description or None,
        rule_path=tuple(best.path),
    )


# --- follow-ups ---------------------------------------------------------------------------------


def follow_ups(
    story: Story,
    assessment: Assessment,
    placed: ClusterAssignment,
    known: Mapping[str, Alert],
    *,
    outlets: tuple[str, ...],
    now: datetime,
    destination_ids: Collection[str],
    disabled: Collection[str] = (),
) -> list[Alert]:
    """One ``alert.updated`` per destination the cluster already alerted (``known``).

    It keeps the parent's rule and severity (the cluster's verdict) and carries this copy's
    own evidence: its matched spans index this copy's text (none when the copy's wording
    matches nothing on its own). Its key covers the story and, for an edit, the new content,
    so each copy and each edit follows up once.
    """
    revision = dedup.content_hash(story) if placed.is_update else ""
    subject = f"{story.key}\x1f{revision}"
    return [
        replace(
            parent,
            key=alert_key(subject, "alert.updated", dest_id),
            event="alert.updated",
            story=story,
            hits=assessment.hits,
            created_at=now,
            also_reported_by=outlets,
            parent_alert_id=parent.key,
            evidence=None,  # the snapshot belongs to the parent (its alert id finds it)
        )
        for dest_id, parent in known.items()
        if dest_id not in disabled and dest_id in destination_ids
    ]


# --- feed health --------------------------------------------------------------------------------


def health_alerts(
    feed: FeedSpec,
    before: FeedState,
    after: FeedState,
    now: datetime,
    destinations: Sequence[str],
) -> list[Alert]:
    """One ``feed.health`` alert per destination for the transition ``before`` → ``after``."""
    label = f"{feed.name} ({feed.id})" if feed.name and feed.name != feed.id else feed.id
    notice = health.describe(label, before, after)
    story = Story(
        feed_id=feed.id,
        title=notice.title,
        url=_public_url(feed.url),
        fetched_at=now,
        summary=notice.detail,
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
            severity=notice.severity,
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
