"""The outbox's JSON form of an alert: hits stay objects, and it reads back exactly."""

from __future__ import annotations

import json

from monitor.models import Alert, Hit
from tests.fixtures.delivery.samples import alert, follow_up_alert, health_alert


def test_alert_json_writes_hits_as_objects_and_reads_back_equal() -> None:
    original = alert()
    body = json.loads(original.to_json())
    assert body["hits"][0] == {
        "kind": "entity",
        "ref": "aurus",
        "text": "Aurus Senat",
        "field": "summary",
        "start": original.hits[0].start,
        "end": original.hits[0].start + len("Aurus Senat"),
        "side": "russia",
        "entity_type": None,
        "weak": False,
        "label": "Aurus",
    }
    restored = Alert.from_json(original.to_json())
    assert restored == original
    assert all(type(hit) is Hit for hit in restored.hits)


def test_follow_up_and_health_alerts_read_back_equal() -> None:
    for original in (follow_up_alert(), health_alert()):
        assert Alert.from_json(original.to_json()) == original


def test_rows_queued_with_the_old_extra_pairs_read_into_the_typed_fields() -> None:
    """An outbox written before the typed fields still delivers the same payloads."""
    typed = follow_up_alert()
    body = json.loads(typed.to_json())
    for name in ("rule_description", "rule_path", "parent_alert_id", "thread_ref"):
        del body[name]
    body["extra"] = [
        ["rule_description", typed.rule_description],
        ["rule_path", "transfer > vehicles"],
        ["parent_alert_id", "msg_aurus"],
        ["parent_alert_id", "ignored: the first pair wins, as extra_value read it"],
        ["thread_ts", typed.thread_ref],
    ]
    assert Alert.from_json(json.dumps(body)) == typed
    health = json.loads(health_alert().to_json())
    del health["health_before"], health["health_after"]
    health["extra"] = [["health_before", "ok"], ["health_after", "failing"]]
    assert Alert.from_json(json.dumps(health)) == health_alert()
