"""The generic webhook body: plain JSON with raw text (the receiver escapes for its own medium).

Pure core. The schema is versioned and documented in ``docs/webhook.md``; the body of one alert
is identical on every retry, so a receiver can deduplicate on ``webhook-id``.
"""

from __future__ import annotations

from typing import Any

from monitor.deliver.render.text import FIELD_LABELS, entity_names, iso_z
from monitor.models import Alert, EvidenceRef, Hit

WEBHOOK_SCHEMA_VERSION = 1


def webhook_body(alert: Alert) -> dict[str, Any]:
    """The versioned JSON body (``docs/webhook.md``); identical on every retry of the alert."""
    story = alert.story
    return {
        "type": alert.event,
        "timestamp": iso_z(alert.created_at),
        "data": {
            "schema_version": WEBHOOK_SCHEMA_VERSION,
            "alert_id": alert.key,
            "destination_id": alert.destination_id,
            "severity": str(alert.severity),
            "score": alert.score,
            "topic": alert.topic,
            "rule_id": alert.rule_id,
            "rule_ids": list(alert.rule_ids or (alert.rule_id,)),
            "rule_description": alert.rule_description,
            "rule_path": list(alert.rule_path),
            "story": {
                "key": story.key,
                "title": story.title,
                "url": story.url,
                "feed_id": story.feed_id,
                "outlet": story.outlet,
                "published_at": iso_z(story.published_at) if story.published_at else None,
                "fetched_at": iso_z(story.fetched_at),
                "guid": story.guid,
                "summary": story.summary,
                "tags": list(story.tags),
            },
            "matches": [_hit_json(hit) for hit in alert.hits],
            "entities": entity_names(alert, limit=50),
            "cluster_id": alert.cluster_id or None,
            "also_reported_by": list(alert.also_reported_by),
            "evidence": _evidence_json(alert.evidence),
            "created_at": iso_z(alert.created_at),
            **_event_fields(alert),
        },
    }


def _evidence_json(evidence: EvidenceRef | None) -> dict[str, Any] | None:
    """What the alert's evidence snapshot holds (``sanctions-monitor evidence ALERT_ID``)."""
    if evidence is None:
        return None
    return {
        "text_sha256": evidence.text_sha256,
        "fetched_at": iso_z(evidence.fetched_at),
        "article_fetched": evidence.article_fetched,
        "quotes": [{"field": FIELD_LABELS[q.field], "text": q.text} for q in evidence.quotes],
    }


def _hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "kind": hit.kind,
        "ref": hit.ref,
        "label": hit.label,
        "text": hit.text,
        "field": hit.field,
        "start": hit.start,
        "end": hit.end,
        "side": hit.side,
        "entity_type": hit.entity_type,
        "weak": hit.weak,
    }


def _event_fields(alert: Alert) -> dict[str, Any]:
    """Fields only some event types carry (``docs/webhook.md``)."""
    if alert.event == "alert.updated":
        return {"parent_alert_id": alert.parent_alert_id}
    if alert.event == "alert.test":
        return {"test": True}
    if alert.event == "feed.health":
        return {
            "health": {
                "feed_id": alert.story.feed_id,
                "before": alert.health_before,
                "after": alert.health_after,
                "detail": alert.story.summary,
            }
        }
    return {}
