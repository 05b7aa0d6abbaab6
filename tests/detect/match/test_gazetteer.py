"""The gazetteer: per-script boundaries, particles, inflection, weak aliases, overlaps."""

from __future__ import annotations

import random
from typing import Any

import pytest

from monitor.detect.assess import assess, confirm_hits
from monitor.detect.match import Pack, compile_pack, gazetteer
from monitor.detect.match.gazetteer import _run
from monitor.detect.match.normalise import CYRILLIC, HANGUL, fold, script_of, unfold
from monitor.models import Hit
from tests.detect_support import bundled_pack, story

WATCHLIST: dict[str, Any] = {
    "entities": [
        {
            "id": "kim-jong-un",
            "type": "person",
            "side": "dprk",
            "aliases": ["Kim Jong Un", "김정은", "Ким Чен Ын"],
            "weak": ["Kim"],
        },
        {
            "id": "north-korea",
            "type": "state",
            "side": "dprk",
            "aliases": ["North Korea", "DPRK", "북한", "КНДР", "Северная Корея"],
        },
        {
            "id": "russia",
            "type": "state",
            "side": "russia",
            "aliases": ["Russia", "러시아", "Россия", "российск*"],
        },
        {
            "id": "putin",
            "type": "person",
            "side": "russia",
            "aliases": ["Putin", "푸틴", "Владимир Путин", "Путин"],
        },
        {
            "id": "angara",
            "type": "vessel",
            "side": "russia",
            "aliases": ["Angara cargo ship"],
            "weak": ["Angara"],
            "confirmed_by": ["dprk"],
        },
        {"id": "moscow-times", "type": "media", "side": "other", "aliases": ["Moscow Times"]},
        {"id": "moscow", "type": "place", "side": "russia", "aliases": ["Moscow"]},
    ],
    "term_lists": {
        "supply": {"en": ["suppl*"], "ko": ["공급"], "ru": ["поставк*"]},
        "sanctions": {"en": ["sanctions", "UN sanctions"]},
    },
}


@pytest.fixture(scope="module")
def pack() -> Pack:
    return compile_pack(watchlists=[("w.yaml", WATCHLIST)], rules=[])


def found(pack: Pack, title: str) -> list[tuple[str, str]]:
    return [(h.text, h.ref) for h in pack.match(story(title))]


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Kim Jong-un meets PUTIN", [("Kim Jong-un", "kim-jong-un"), ("PUTIN", "putin")]),
        ("Kimberley Putinsky in Russiaville", []),  # Latin: whole words only
        ("D.P.R.K. and the DPRK", [("D.P.R.K", "north-korea"), ("DPRK", "north-korea")]),
        ("Moscow supplied oil", [("Moscow", "moscow"), ("supplied", "supply")]),
    ],
)
def test_latin_whole_words_and_wildcards(pack: Pack, title: str, expected: list[Any]) -> None:
    hits = [h for h in found(pack, title) if h[1] != "kim-jong-un" or h[0] != "Kim"]
    assert hits == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("김정은이 푸틴과 만났다", [("김정은", "kim-jong-un"), ("푸틴", "putin")]),
        ("북한의 러시아산 무기", [("북한", "north-korea"), ("러시아", "russia")]),
        ("북한군이 이동", [("북한", "north-korea")]),
        ("석유 공급 계획", [("공급", "supply")]),  # terms match inside compounds
        ("남북한 관계", []),  # a Hangul name needs a non-Hangul character before it
        ("북한산 등산로", [("북한", "north-korea")]),  # -산 (made in) is a suffix we accept
        ("북한대학원", []),  # not a particle: not North Korea the state
    ],
)
def test_hangul_particles(pack: Pack, title: str, expected: list[Any]) -> None:
    assert found(pack, title) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Путина и Ким Чен Ыну", [("Путина", "putin"), ("Ким Чен Ыну", "kim-jong-un")]),
        ("России и КНДР", [("России", "russia"), ("КНДР", "north-korea")]),
        ("Владимира Путина", [("Владимира Путина", "putin"), ("Путина", "putin")]),
        ("Северной Кореи", [("Северной Кореи", "north-korea")]),
        ("российские поставки", [("российские", "russia"), ("поставки", "supply")]),
        ("Путинизм", []),  # not an ending: another word
        ("Россиянка", []),
    ],
)
def test_russian_inflection(pack: Pack, title: str, expected: list[Any]) -> None:
    assert found(pack, title) == expected


def test_overlapping_hits_are_all_reported(pack: Pack) -> None:
    refs = found(pack, "New UN sanctions on the DPRK")
    assert ("UN sanctions", "sanctions") in refs and ("sanctions", "sanctions") in refs


def test_weak_alias_needs_a_strong_hit_on_its_side(pack: Pack) -> None:
    lone = story("Kim buys a car in Russia")
    assert all(h.ref != "kim-jong-un" for h in confirm_hits(pack.match(lone), pack))
    confirmed = story("Kim visits factories in North Korea")
    assert any(h.ref == "kim-jong-un" for h in confirm_hits(pack.match(confirmed), pack))


def test_weak_alias_confirmed_only_by_the_listed_sides(pack: Pack) -> None:
    rocket = story("Russia launches an Angara rocket")
    assert all(h.ref != "angara" for h in confirm_hits(pack.match(rocket), pack))
    ship = story("The Angara sailed from North Korea")
    assert any(h.ref == "angara" for h in confirm_hits(pack.match(ship), pack))


def test_longer_entity_hit_shadows_a_shorter_one(pack: Pack) -> None:
    hits = confirm_hits(pack.match(story("The Moscow Times reports")), pack)
    assert [h.ref for h in hits] == ["moscow-times"]


def test_hits_carry_side_type_label_and_field(pack: Pack) -> None:
    s = story("Putin speaks", summary="North Korea listens")
    by_ref = {h.ref: h for h in pack.match(s)}
    assert by_ref["putin"].side == "russia" and by_ref["putin"].field == "title"
    assert by_ref["north-korea"].entity_type == "state"
    assert by_ref["north-korea"].field == "summary"
    assert s.summary[by_ref["north-korea"].start : by_ref["north-korea"].end] == "North Korea"


@pytest.mark.parametrize(
    "title",
    [
        "김정은이 푸틴과 북한의 무기 거래를 논의했다",
        "Путин и Ким Чен Ын обсудили поставки снарядов КНДР в Россию",
    ],
)
def test_bundled_pack_reads_korean_and_russian(title: str) -> None:
    pack = bundled_pack()
    s = story(title)
    sides = {h.side for h in assess(s, pack.match(s), pack).hits if h.kind == "entity"}
    assert {"dprk", "russia"} <= sides


def _reference_run(text: str, script: str) -> str:
    """The characters of ``script`` at the start of ``text``, nine at most, one at a time."""
    run = ""
    for char in text:
        if script_of(char) != script or len(run) == 9:
            break
        run += char
    return run


# The edges of the ranges script_of calls Hangul or Cyrillic, and neighbours on both sides.
_EDGE_CHARS = [
    *("\u03ff", "\u0400", "\u04ff", "\u0500", "\u052f", "\u0530", "\u10ff", "\u1100"),
    *("\u11ff", "\u1200", "\u312f", "\u3130", "\u318f", "\u3190", "\uabff", "\uac00"),
    *("\ud7a3", "\ud7a4", "\ud7ff", "a", " ", "\u00e9", "北", "\uab70"),
]


@pytest.mark.parametrize("script", [HANGUL, CYRILLIC])
def test_script_runs_agree_with_script_of(script: str) -> None:
    rnd = random.Random(5)
    for _ in range(3000):
        text = "".join(rnd.choice(_EDGE_CHARS) for _ in range(rnd.randint(0, 12)))
        view = fold(text) if text.strip() else text
        run, end = _run(view, 0, script)
        expected = _reference_run(unfold(view), script)
        assert unfold(run) == expected
        assert end == len(expected.encode("utf-8"))


def test_hits_are_ordinary_immutable_hits(pack: Pack) -> None:
    (hit,) = [h for h in pack.match(story("Путина встретили")) if h.ref == "putin"]
    expected = Hit("entity", "putin", "Путина", "title", 0, 6, "russia", "person", False, "Putin")
    assert hit == expected
    assert type(hit) is Hit
    assert hash(hit) == hash(hit._replace())
    with pytest.raises(AttributeError):
        hit.start = 1  # type: ignore[misc]


def _reference_shadowed(hit: Hit, hits: list[Hit]) -> bool:
    """Shadowing by its definition: a strictly longer hit of the same kind (and list) covers it,
    or (for a term) a strictly longer entity hit does."""
    return any(
        (other.kind == hit.kind or (hit.kind == "term" and other.kind == "entity"))
        and other.field == hit.field
        and (other.kind == "entity" or other.ref == hit.ref)
        and other.start <= hit.start
        and other.end >= hit.end
        and other.end - other.start > hit.end - hit.start
        for other in hits
    )


def test_shadowing_sweep_agrees_with_the_pairwise_definition(pack: Pack) -> None:
    rnd = random.Random(11)
    for _ in range(2000):
        hits = []
        for _ in range(rnd.randint(0, 10)):
            start = rnd.randint(0, 15)
            kind = rnd.choice(("entity", "term"))
            ref = rnd.choice(("russia", "putin")) if kind == "entity" else "sanctions"
            ref = ref if kind == "entity" or rnd.random() < 0.5 else "supply"
            field = rnd.choice(("title", "summary"))
            hits.append(Hit(kind, ref, "x", field, start, start + rnd.randint(1, 6), "russia"))
        expected = tuple(h for h in hits if not _reference_shadowed(h, hits))
        assert confirm_hits(hits, pack) == expected


@pytest.mark.parametrize("script_dfa_max", [0, 10_000])
def test_large_watchlists_scan_each_script_with_its_keys_and_find_the_same_hits(
    pack: Pack, monkeypatch: pytest.MonkeyPatch, script_dfa_max: int
) -> None:
    texts = [
        "Kim Jong-un meets PUTIN; D.P.R.K. supplied oil",  # ASCII: the ASCII keys
        "Kim Jong-un and “Putin”, North Korea’s — supplies",  # folds to ASCII as well
        "김정은이 푸틴과 만났다, 북한의 러시아산 무기, 석유 공급",  # the Hangul keys
        "김정은이 푸틴과 ㄱ 만났다, 북한의 러시아산 무기",  # a compatibility jamo: all keys
        "Владимира Путина и Ким Чен Ыну, российские поставки КНДР",  # the Cyrillic keys
        "Путина и Ким Чен Ыну «КНДР» \u3001 поставки",  # rare punctuation: all keys
        "Putin, Путина и 김정은이: North Korea supplied",  # both scripts: all keys
    ]
    # As if the watchlist were huge: a contiguous NFA over all keys, and a DFA or an NFA over
    # the keys each kind of text can hold.
    monkeypatch.setattr(gazetteer, "_DFA_MAX_KEYS", 0)
    caps = dict.fromkeys(gazetteer._SCRIPT_DFA_MAX_KEYS, script_dfa_max)
    monkeypatch.setattr(gazetteer, "_SCRIPT_DFA_MAX_KEYS", caps)
    nfa_pack = compile_pack(watchlists=[("w.yaml", WATCHLIST)], rules=[])
    scanners = nfa_pack.gazetteer._scanners
    if script_dfa_max:  # a DFA of its own keys for each kind of text
        assert len({id(scanner) for scanner in scanners.values()}) == 4
        assert all(len(scanners[s].meanings) < len(scanners["mixed"].meanings) for s in caps)
    else:  # no subset is small enough: every text gets the NFA over all keys
        assert all(scanner is scanners["mixed"] for scanner in scanners.values())
    for text in texts:
        expected = pack.match(story(text))
        assert len(expected) >= 3
        assert nfa_pack.match(story(text)) == expected
