"""The outbox's JSON form of an alert: hits stay objects, and it reads back exactly."""

from __future__ import annotations

import json

from monitor.models import Alert, Hit
from tests.fixtures.delivery.samples import alert


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
