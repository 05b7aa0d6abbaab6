"""Routing: which destinations get an alert for an assessed story, and with which key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.detect.route import alert_key, follow_ups, route
from monitor.models import ClusterAssignment, DestinationSpec, Severity
from tests.fixtures.delivery.samples import NOW, assessment, match, story

HIGH = match("ru-dprk-vehicle-transfer", Severity.HIGH, 4.2, description="vehicle to DPRK")
MEDIUM = match("dprk-sanctions-breach", Severity.MEDIUM, 2.5)
CRITICAL_LOW_SCORE = match("ru-dprk-munitions", Severity.CRITICAL, 1.0)


def dest(dest_id: str = "hook", **kwargs: object) -> DestinationSpec:
    return DestinationSpec(id=dest_id, type="webhook", url="http://127.0.0.1:9/", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "wanted"),
    [
        (dest(), "ru-dprk-vehicle-transfer"),
        (dest(min_severity=Severity.LOW), "ru-dprk-vehicle-transfer"),
        (dest(min_severity=Severity.HIGH), "ru-dprk-vehicle-transfer"),
        (dest(min_severity=Severity.CRITICAL), None),
        (dest(rules=("dprk-sanctions-breach",)), "dprk-sanctions-breach"),
        (dest(rules=("dprk-sanctions-breach",), min_severity=Severity.HIGH), None),
        (dest(rules=("unknown-rule",)), None),
        (dest(tags=("dprk",)), "ru-dprk-vehicle-transfer"),
        (dest(tags=("russia", "en")), "ru-dprk-vehicle-transfer"),
        (dest(tags=("russia",)), None),
        (dest(feeds=("nknews", "tass")), "ru-dprk-vehicle-transfer"),
        (dest(feeds=("tass",)), None),
    ],
)
def test_filters_select_destination_and_best_accepted_rule(
    spec: DestinationSpec, wanted: str | None
) -> None:
    alerts = route(story(), assessment(HIGH, MEDIUM), [spec], now=NOW)
    assert [a.rule_id for a in alerts] == ([wanted] if wanted else [])


def test_one_alert_per_destination_with_all_rule_ids_best_first() -> None:
    alerts = route(story(), assessment(MEDIUM, HIGH), [dest("a"), dest("b")], now=NOW)
    assert [a.destination_id for a in alerts] == ["a", "b"]
    first = alerts[0]
    assert first.rule_ids == ("ru-dprk-vehicle-transfer", "dprk-sanctions-breach")
    assert first.severity is Severity.HIGH and first.score == 4.2
    assert first.event == "alert.created" and first.created_at == NOW
    assert first.rule_description == "vehicle to DPRK"
    assert first.hits and first.story.key == "story-aurus"


def test_best_rule_is_highest_severity_then_score() -> None:
    alerts = route(story(), assessment(HIGH, CRITICAL_LOW_SCORE), [dest()], now=NOW)
    assert alerts[0].rule_id == "ru-dprk-munitions"
    assert alerts[0].severity is Severity.CRITICAL


def test_disabled_destinations_get_nothing() -> None:
    alerts = route(story(), assessment(HIGH), [dest("a"), dest("b")], now=NOW, disabled={"a"})
    assert [a.destination_id for a in alerts] == ["b"]


def test_no_match_no_alert() -> None:
    assert route(story(), assessment(), [dest()], now=NOW) == []


def test_key_is_deterministic_and_depends_on_story_rule_destination() -> None:
    first = route(story(), assessment(HIGH), [dest()], now=NOW)[0]
    again = route(story(), assessment(HIGH), [dest()], now=NOW.replace(hour=13))[0]
    assert first.key == again.key == alert_key("story-aurus", "ru-dprk-vehicle-transfer", "hook")
    other_dest = route(story(), assessment(HIGH), [dest("other")], now=NOW)[0]
    other_story = route(story("story-2"), assessment(HIGH), [dest()], now=NOW)[0]
    other_rule = route(story(), assessment(MEDIUM), [dest()], now=NOW)[0]
    assert len({first.key, other_dest.key, other_story.key, other_rule.key}) == 4
    assert first.key.startswith("msg_") and len(first.key) == 36


def test_cluster_id_replaces_story_key_so_syndicated_copies_share_a_key() -> None:
    a = route(story("copy-1"), assessment(HIGH), [dest()], now=NOW, cluster_id="cluster-9")[0]
    b = route(
        story("copy-2", feed_id="tass"), assessment(HIGH), [dest()], now=NOW, cluster_id="cluster-9"
    )[0]
    assert a.key == b.key and a.cluster_id == "cluster-9"


def test_key_fields_cannot_be_shifted_into_each_other() -> None:
    assert alert_key("a_b", "c", "d") != alert_key("a", "b_c", "d")
    assert alert_key("a", "b", "c") != alert_key("a", "bc", "")


# --- follow-ups ---------------------------------------------------------------------------------


def _placed(*, is_update: bool = False) -> ClusterAssignment:
    return ClusterAssignment(
        cluster_id="c1", story_key="story-copy", is_new_cluster=False,
        is_new_story=not is_update, is_update=is_update,
    )  # fmt: skip


def test_follow_ups_keep_the_parents_verdict_and_carry_the_copys_evidence() -> None:
    parents = {d: route(story(), assessment(HIGH), [dest(d)], now=NOW)[0] for d in ("a", "b")}
    copy = story("story-copy", outlet="Yonhap")
    later = NOW + timedelta(minutes=5)
    updates = follow_ups(
        copy, assessment(key="story-copy", hits=()), _placed(), parents,
        outlets=("NK News", "Yonhap"), now=later, destination_ids={"a", "b"}, disabled={"b"},
    )  # fmt: skip
    [update] = updates
    parent = parents["a"]
    assert (update.event, update.destination_id, update.parent_alert_id) == (
        "alert.updated", "a", parent.key,
    )  # fmt: skip
    assert (update.rule_id, update.severity, update.rule_description) == (
        parent.rule_id, parent.severity, parent.rule_description,
    )  # fmt: skip
    assert update.story == copy and update.hits == () and update.created_at == later
    assert update.also_reported_by == ("NK News", "Yonhap") and update.key != parent.key


def test_each_edit_follows_up_once_under_its_own_key() -> None:
    parents = {"a": route(story(), assessment(HIGH), [dest("a")], now=NOW)[0]}

    def key(summary: str, *, is_update: bool) -> str:
        edited = story("story-copy", summary=summary)
        [update] = follow_ups(
            edited, assessment(HIGH), _placed(is_update=is_update), parents,
            outlets=(), now=NOW, destination_ids={"a"},
        )  # fmt: skip
        return update.key

    assert key("first wording", is_update=False) == key("second wording", is_update=False)
    assert key("first wording", is_update=True) != key("second wording", is_update=True)


def test_follow_ups_skip_destinations_no_longer_configured() -> None:
    parents = {"gone": route(story(), assessment(HIGH), [dest("gone")], now=NOW)[0]}
    assert follow_ups(
        story("story-copy"), assessment(HIGH), _placed(), parents,
        outlets=(), now=NOW, destination_ids={"a"},
    ) == []  # fmt: skip
