"""Route: decide which destinations receive an assessed story, one ``Alert`` each.

Pure core (no I/O, no clock): the pipeline calls ``route`` once per new story that matched,
and writes the alerts to the outbox in the same transaction that marks the story seen.

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
from collections.abc import Collection, Sequence
from datetime import datetime

from monitor.models import Alert, Assessment, DestinationSpec, RuleMatch, Story

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
