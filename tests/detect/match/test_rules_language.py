"""The rule language: all/any/none, near, scope, fields, also/unless, weights and severity."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from monitor.detect.assess import assess
from monitor.detect.match import Pack, compile_pack
from monitor.errors import ConfigError
from monitor.models import Severity
from tests.detect_support import story

WATCHLIST: dict[str, Any] = {
    "entities": [
        {"id": "dprk", "type": "state", "side": "dprk", "aliases": ["North Korea", "Pyongyang"]},
        {"id": "russia", "type": "state", "side": "russia", "aliases": ["Russia", "Moscow"]},
        {"id": "seoul", "type": "state", "side": "other", "aliases": ["Seoul"]},
    ],
    "term_lists": {
        "arms": ["shells", "missiles"],
        "move": ["sent", "shipped"],
        "sanctions": ["sanctions"],
        "test": ["test"],
    },
}


def rules_file(*rules: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "topics": {"dprk": {}, "general": {"max_severity": "low"}},
        "topic": "dprk",
        "rules": list(rules),
        **extra,
    }


BASE_RULE: dict[str, Any] = {
    "id": "transfer",
    "all": [{"side": "dprk"}, {"side": "russia"}, {"terms": "arms"}],
    "weight": 2,
}


def build(*rules: dict[str, Any], **extra: Any) -> Pack:
    return compile_pack(
        watchlists=[("w.yaml", WATCHLIST)], rules=[("r.yaml", rules_file(*rules, **extra))]
    )


def judge(pack: Pack, title: str, summary: str = "") -> tuple[Severity | None, tuple[str, ...]]:
    s = story(title, summary)
    a = assess(s, pack.match(s), pack)
    return a.severity, a.rule_ids


def rule(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(BASE_RULE)
    spec.update(changes)
    return spec


def test_all_needs_every_part() -> None:
    pack = build(rule())
    assert judge(pack, "North Korea sent shells to Russia") == (Severity.MEDIUM, ("transfer",))
    assert judge(pack, "North Korea sent shells to Seoul") == (None, ())


def test_any_needs_one_of_its_parts() -> None:
    pack = build(rule(any=[{"terms": "move"}]))
    assert judge(pack, "North Korea shipped shells to Russia")[1] == ("transfer",)
    assert judge(pack, "North Korea and Russia discuss shells")[1] == ()


def test_none_excludes_within_the_unit() -> None:
    pack = build(rule(none=[{"terms": "test"}], scope="sentence"))
    assert judge(pack, "North Korea shells test. Russia")[1] == ()
    assert judge(pack, "x", "A test happened. North Korea sent shells to Russia.")[1] == (
        "transfer",
    )


def test_near_counts_words_within_one_field() -> None:
    pack = build(rule(near=5, scope="field"))
    assert judge(pack, "North Korea sent shells to Russia")[1] == ("transfer",)
    far = "North Korea " + "word " * 10 + "sent shells to Russia"
    assert judge(pack, far)[1] == ()
    # parts split over title and summary do not count for a near rule
    assert judge(pack, "North Korea shells", "Russia")[1] == ()


def test_sentence_scope() -> None:
    pack = build(rule(scope="sentence"))
    assert judge(pack, "x", "North Korea sent shells to Russia. Seoul said so.")[1] == ("transfer",)
    assert judge(pack, "x", "North Korea sent shells. Russia said so.")[1] == ()
    # an abbreviation's dot does not end the sentence
    assert judge(pack, "x", "North Korea sent U.S. shells to Russia.")[1] == ("transfer",)


def test_fields_limit_where_a_rule_looks() -> None:
    pack = build(rule(fields=["title"]))
    assert judge(pack, "North Korea sent shells to Russia")[1] == ("transfer",)
    assert judge(pack, "Nothing here", "North Korea sent shells to Russia")[1] == ()


def test_boosts_raise_score_and_severity() -> None:
    pack = build(rule(boost=[{"terms": "sanctions", "weight": 1}]))
    assert judge(pack, "North Korea sent shells to Russia despite sanctions")[0] == Severity.HIGH


def test_unless_vetoes_and_also_requires() -> None:
    pack = build(
        rule(id="a", unless=[{"entity": "seoul"}]),
        rule(id="b", also=[{"any": [{"terms": "sanctions"}]}]),
    )
    assert judge(pack, "North Korea sent shells to Russia")[1] == ("a",)
    assert judge(pack, "North Korea sent shells to Russia, sanctions")[1] == ("a", "b")
    assert judge(pack, "North Korea sent shells to Russia, Seoul says")[1] == ()


def test_topic_caps_severity_and_thresholds_apply() -> None:
    pack = build(rule(topic="general", weight=3.5), thresholds={"medium": 1.5, "high": 3})
    assert judge(pack, "North Korea sent shells to Russia")[0] == Severity.LOW
    pack = build(rule(weight=1.6), thresholds={"medium": 1.5, "high": 3})
    assert judge(pack, "North Korea sent shells to Russia")[0] == Severity.MEDIUM


def test_rule_match_carries_path_hits_and_description() -> None:
    pack = build(rule(description="DPRK arms to Russia", near=10, scope="field"))
    s = story("North Korea sent shells to Russia")
    match = assess(s, pack.match(s), pack).matches[0]
    assert match.path[:2] == ("dprk", "transfer")
    assert any('"shells"' in step for step in match.path)
    assert match.description == "DPRK arms to Russia"
    assert {h.ref for h in match.hits} == {"dprk", "russia", "arms"}


def test_disabled_topic_removes_its_rules() -> None:
    pack = compile_pack(
        watchlists=[("w.yaml", WATCHLIST)],
        rules=[("r.yaml", rules_file(rule(topic="general")))],
        disabled_topics=frozenset({"general"}),
    )
    assert pack.topics == ("dprk",) and not pack.rules
    assert pack.summary()["rules"] == 0


# --- invalid files: ConfigError names the file, the entry and the problem ------------------


@pytest.mark.parametrize(
    ("spec", "key_path", "words"),
    [
        (rule(all=[{"side": "north"}]), "rules[transfer].all[0].side", "north"),
        (rule(all=[{"terms": "nukes"}]), "rules[transfer].all[0].terms", "unknown term list"),
        (rule(all=[{"entity": "kim"}]), "rules[transfer].all[0].entity", "unknown entity"),
        (rule(all=[{"colour": "red"}]), "rules[transfer].all[0].colour", "unknown key"),
        (rule(near=0), "rules[transfer].near", ">= 1"),
        (rule(scope="page"), "rules[transfer].scope", "page"),
        (rule(topic="nope"), "rules[transfer].topic", "unknown topic"),
        (rule(all=[], any=[]), "rules[transfer]", "needs at least one"),
        (rule(weight="heavy"), "rules[transfer].weight", "number"),
        ({"all": [{"side": "dprk"}]}, "rules[0]", "no 'id'"),
        (rule(boost=[{"terms": "arms"}]), "rules[transfer].boost[0]", "weight"),
        (rule(all=[{"terms": "arms", "side": "dprk"}]), "rules[transfer].all[0]", "cannot"),
    ],
)
def test_invalid_rule_names_file_rule_and_problem(
    spec: dict[str, Any], key_path: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build(spec)
    assert info.value.file == "r.yaml"
    assert info.value.key_path == key_path
    assert words in str(info.value)


def test_duplicate_rule_id() -> None:
    with pytest.raises(ConfigError, match="duplicate rule id 'transfer'"):
        build(rule(), rule())


@pytest.mark.parametrize(
    ("watchlist", "key_path", "words"),
    [
        ({"entities": [{"id": "x", "aliases": []}]}, "entities[x]", "no aliases"),
        (
            {"entities": [{"id": "x", "aliases": ["X"], "side": "north"}]},
            "entities[x].side",
            "north",
        ),
        ({"entities": [{"id": "Bad Id", "aliases": ["X"]}]}, "entities[0].id", "valid id"),
        ({"entities": [{"id": "x", "aliases": ["--"]}]}, "entities[x]", "no letters"),
        ({"entities": [{"aliases": ["X"]}]}, "entities[0]", "no 'id'"),
        ({"term_lists": {"t": {"en": []}}}, "term_lists.t", "no terms"),
        ({"persons": []}, "persons", "unknown key"),
    ],
)
def test_invalid_watchlist_names_file_entry_and_problem(
    watchlist: dict[str, Any], key_path: str, words: str
) -> None:
    with pytest.raises(ConfigError) as info:
        compile_pack(watchlists=[("bad.yaml", watchlist)], rules=[])
    assert info.value.file == "bad.yaml"
    assert info.value.key_path == key_path
    assert words in str(info.value)


def test_duplicate_entity_across_files_and_empty_file() -> None:
    one = {"entities": [{"id": "x", "aliases": ["X"]}]}
    with pytest.raises(ConfigError, match="duplicate entity id 'x'"):
        compile_pack(watchlists=[("a.yaml", one), ("b.yaml", one)], rules=[])
    with pytest.raises(ConfigError, match="empty"):
        compile_pack(watchlists=[("a.yaml", None)], rules=[])


def test_unknown_disabled_topic() -> None:
    with pytest.raises(ConfigError, match="unknown topic 'iran'"):
        compile_pack(watchlists=[], rules=[], disabled_topics=frozenset({"iran"}))


def test_thresholds_must_rise() -> None:
    with pytest.raises(ConfigError, match="rise"):
        build(rule(), thresholds={"medium": 5, "high": 3})
