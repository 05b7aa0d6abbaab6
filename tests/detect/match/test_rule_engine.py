"""Engine capabilities of issue 12: story-wide parts, roundup units, anchored proximity,
enumerations, masking hits, whole-word acronyms in every script, and "why not"."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from monitor.detect.assess import assess, why_not
from monitor.detect.match import Pack, compile_pack
from monitor.errors import ConfigError
from monitor.models import Severity
from tests.detect_support import story

WATCHLIST: dict[str, Any] = {
    "entities": [
        {"id": "dprk", "type": "state", "side": "dprk", "aliases": ["North Korea", "КНДР"]},
        {"id": "russia", "type": "state", "side": "russia", "aliases": ["Russia"]},
        {"id": "china", "type": "state", "side": "other", "aliases": ["China"]},
        {"id": "iran", "type": "state", "side": "other", "aliases": ["Iran"]},
        {
            "id": "wpk",
            "type": "organisation",
            "side": "dprk",
            "aliases": ["Workers' Party of Korea"],
        },
    ],
    "term_lists": {
        "arms": ["shells", "missiles", "weapons"],
        "move": ["sent", "shipped", "sales"],
        "troops": ["troops", "войск*", "СВО"],
        "workers": ["workers"],
        "vehicles": ["aircraft"],
        "warships": {"masks": True, "terms": ["aircraft carrier"]},
    },
}


def build(*rules: dict[str, Any]) -> Pack:
    spec = {"topics": {"dprk": {}}, "topic": "dprk", "rules": list(rules)}
    return compile_pack(watchlists=[("w.yaml", WATCHLIST)], rules=[("r.yaml", spec)])


def fired(pack: Pack, title: str, summary: str = "") -> tuple[str, ...]:
    s = story(title, summary)
    return assess(s, pack.match(s), pack).rule_ids


TRANSFER: dict[str, Any] = {
    "id": "transfer",
    "all": [{"side": "dprk"}, {"side": "russia"}, {"terms": "arms"}, {"terms": "move"}],
    "scope": "sentence",
    "weight": 2,
}


def rule(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(TRANSFER)
    spec.update(changes)
    return spec


# --- 1. story scope for one part -------------------------------------------------------------


def test_an_anywhere_part_may_sit_in_the_headline_while_the_rest_share_a_sentence() -> None:
    parts = [{"side": "dprk", "anywhere": True}, {"side": "russia"}, {"terms": "arms"},
             {"terms": "move"}]  # fmt: skip
    pack = build(rule(all=parts))
    assert fired(pack, "North Korea back in business", "It shipped shells to Russia.") == (
        "transfer",
    )
    # The parts that are not 'anywhere' must still share one sentence.
    assert fired(pack, "North Korea back", "It shipped shells. Russia said nothing.") == ()
    # Without 'anywhere' the headline cannot supply the DPRK.
    assert fired(build(rule()), "North Korea back", "It shipped shells to Russia.") == ()


def test_part_flags_are_checked() -> None:
    with pytest.raises(ConfigError, match="near"):
        build(rule(all=[{"side": "dprk", "anchor": True}, {"terms": "arms"}]))
    with pytest.raises(ConfigError, match="true or false"):
        build(rule(all=[{"side": "dprk", "anywhere": "yes"}, {"terms": "arms"}]))
    with pytest.raises(ConfigError, match="scope: story"):
        build(rule(all=[{"side": "dprk", "anywhere": True}]))


# --- 2. roundup units ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "summary",
    [
        "<p>North Korea held a parade.</p><p>Russia shipped shells to its border</p>",
        "<ul><li>North Korea held a parade</li><li>Russia shipped shells</li></ul>",
        "North Korea held a parade\nRussia shipped shells to its border",
        "• North Korea held a parade • Russia shipped shells to its border",
    ],
)
def test_a_field_rule_does_not_combine_two_bullets(summary: str) -> None:
    pack = build(rule(scope="field"))
    assert fired(pack, "At a glance", summary) == ()
    assert fired(pack, "At a glance", "North Korea held a parade; Russia shipped shells") == (
        "transfer",
    )


# --- 3. anchored proximity -------------------------------------------------------------------


def test_anchor_measures_each_part_from_the_anchor() -> None:
    parts = [{"side": "dprk"}, {"terms": "troops", "anchor": True}, {"side": "russia"}]
    story_text = "North Korea sent thousands of its troops to fight alongside the army of Russia"
    anchored = build({"id": "troops", "all": parts, "near": 7, "scope": "field"})
    assert fired(anchored, story_text) == ("troops",)
    # The same parts without an anchor must all fit in a window of 7 words: they do not.
    plain = copy.deepcopy(parts)
    plain[1].pop("anchor")
    assert (
        fired(build({"id": "troops", "all": plain, "near": 7, "scope": "field"}), story_text) == ()
    )


# --- 4. enumerations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    [
        "US weighs curbs on weapons sales to China, North Korea, Iran and Russia",
        "Tensions with China, Russia and North Korea as weapons sales rise",
    ],
)
def test_names_in_one_list_are_not_the_two_sides(title: str) -> None:
    assert fired(build(rule(scope="field")), title) == ()


def test_two_names_joined_by_and_are_still_two_sides() -> None:
    title = "Russia and North Korea: weapons sales agreed"
    assert fired(build(rule(scope="field")), title) == ("transfer",)


# --- 5. an entity (or a masking term) hides the terms inside it ------------------------------


def test_entity_and_masking_hits_hide_inner_terms() -> None:
    workers = {"id": "w", "all": [{"side": "dprk"}, {"terms": "workers"}], "weight": 2}
    vehicles = {"id": "v", "all": [{"side": "dprk"}, {"terms": "vehicles"}], "weight": 2}
    pack = build(workers, vehicles)
    assert fired(pack, "The Workers' Party of Korea meets in plenary") == ()
    assert fired(pack, "North Korea sends workers abroad") == ("w",)
    assert fired(pack, "North Korea tracks a US aircraft carrier") == ()
    assert fired(pack, "North Korea buys aircraft") == ("v",)


# --- 6. acronyms are whole words in every script ---------------------------------------------


def test_cyrillic_acronym_does_not_match_inflected_common_words() -> None:
    pack = build({"id": "t", "all": [{"side": "dprk"}, {"terms": "troops"}], "weight": 2})
    s = story("КНДР провела учения своих кораблей")
    assert [h.text for h in pack.match(s) if h.ref == "troops"] == []
    assert fired(pack, "КНДР и СВО") == ("t",)
    assert fired(pack, "КНДР направила войска") == ("t",)


# --- 7. why not ------------------------------------------------------------------------------


def test_why_not_names_the_closest_rule_and_the_missing_part() -> None:
    pack = build(rule(), {"id": "troops", "all": [{"side": "dprk"}, {"terms": "troops"}],
                          "weight": 2})  # fmt: skip
    s = story("North Korea shipped shells to Ukraine")
    misses = why_not(s, pack.match(s), pack, min_severity=Severity.MEDIUM)
    assert misses[0].rule_id == "transfer"
    assert misses[0].missing == "lacks side=russia"
    assert (misses[0].met, misses[0].total) == (3, 5)


def test_why_not_reports_parts_too_far_apart_and_a_low_score() -> None:
    far = build(rule(scope="sentence"))
    s = story("North Korea shipped shells. Russia denied it.")
    (first, *_) = why_not(s, far.match(s), far, min_severity=Severity.MEDIUM)
    assert "not together in one sentence" in first.missing
    weak = build(rule(weight=1))
    s = story("North Korea shipped shells to Russia")
    assert why_not(s, weak.match(s), weak, min_severity=Severity.MEDIUM)[0].missing == (
        "scores low (score 1), under medium"
    )
    assert why_not(s, weak.match(s), weak, min_severity=Severity.LOW) == []


def test_a_listed_name_still_counts_against_a_side_outside_the_list() -> None:
    title = "Firms in China, Iran and North Korea shipped weapons to Russia, officials say"
    assert fired(build(rule(scope="field")), title) == ("transfer",)
