"""Folding for matching: case, punctuation, HTML, Unicode, and offsets back to the original."""

from __future__ import annotations

import html
import re
import unicodedata

import pytest

from monitor.detect.match.normalise import (
    _MARKUP,
    _UNICODE_PUNCTUATION,
    NormText,
    _strip_markup,
    char_after,
    char_before,
    fold,
    normalise,
    unfold,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Kim Jong-un", "KIM JONG UN"),
        ("Kim Jong-un", "Kim Jong Un"),
        ("D.P.R.K.", "d p r k"),
        ("People’s Republic", "People's Republic"),
        ("“Aurus”", '"aurus"'),
        ("ＫＣＮＡ", "KCNA"),  # full-width letters (NFKC)
        ("Straße", "STRASSE"),  # casefold, not lower
        ("Kim\u00a0Jong\u2011un", "kim jong un"),  # NBSP, non-breaking hyphen
        ("ПУТИН", "путин"),
        ("북·러", "북 러"),
    ],
)
def test_equivalent_spellings_fold_alike(a: str, b: str) -> None:
    assert fold(a) == fold(b)


def test_plain_ascii_keeps_offsets() -> None:
    text = "Putin met Kim Jong-un."
    norm = normalise(text)
    start = norm.text.index("kim jong un")
    assert norm.span(start, start + len("kim jong un")) == (10, 21)
    assert text[10:21] == "Kim Jong-un"


def test_html_is_stripped_and_offsets_point_into_the_raw_markup() -> None:
    raw = "<p>Seoul says <b>Kim&nbsp;Jong Un</b> got a car &amp; more</p>"
    norm = normalise(raw)
    assert "<" not in norm.text and "nbsp" not in norm.text
    start = norm.text.index("kim jong un")
    a, b = norm.span(start, start + len("kim jong un"))
    assert raw[a:b] == "Kim&nbsp;Jong Un"


def test_plain_text_with_ampersand_or_angle_is_not_mangled() -> None:
    raw = "AT&T and R&D grew < 5% in Pyongyang"
    norm = normalise(raw)
    start = norm.text.index("pyongyang")
    assert norm.span(start, start + 9) == (raw.index("Pyongyang"), len(raw))


@pytest.mark.parametrize(
    ("raw", "needle", "expected"),
    [
        ("북한의 김정은이 말했다", "김정은", "김정은"),
        ("Встреча Путина и Ким Чен Ына", "путин", "Путин"),
        ("ﬁne ＫＩＭ Jong Un", "kim jong un", "ＫＩＭ Jong Un"),
        ("Die Straße nach Pyongyang", "pyongyang", "Pyongyang"),
    ],
)
def test_non_ascii_offsets_map_back(raw: str, needle: str, expected: str) -> None:
    norm = normalise(raw)
    view_needle = fold(needle)
    start = norm.text.index(view_needle)
    a, b = norm.span(start, start + len(view_needle))
    assert raw[a:b] == expected


def test_view_is_utf8_bytes_and_decodes_around_a_position() -> None:
    view = fold("러시아 북한")
    assert unfold(view) == "러시아 북한"
    pos = view.index(fold("북한"))
    assert char_before(view, pos) == " "
    assert char_after(view, pos) == ("북", pos + 3)
    assert char_before(view, pos - 1) == "아"


def test_spans_map_back_in_any_order_in_non_ascii_text() -> None:
    # Hits are mapped one by one from a moving position; asking out of order must not drift.
    raw = "Встреча Путина — и «Ким Чен Ына» в 北京 с Путиным, 김정은이 말했다"
    norm = normalise(raw)
    needles = ["путин", "ким чен ын", "北京", "путин", "김정은"]
    spans = []
    pos = 0
    for needle in needles:
        start = norm.text.index(fold(needle), pos)
        spans.append((start, start + len(fold(needle))))
        pos = start + 1
    expected = ["Путин", "Ким Чен Ын", "北京", "Путин", "김정은"]
    for order in (range(5), reversed(range(5)), (2, 0, 4, 1, 3)):
        for i in order:
            a, b = norm.span(*spans[i])
            assert raw[a:b] == expected[i]


def test_view_bytes_match_the_view_text() -> None:
    for raw in ("Kim Jong-un", "Путин’s “visit”", "북한\u2012러시아", "<b>ＫＣＮＡ</b> says"):
        norm = normalise(raw)
        assert norm.data == norm.text.encode("latin-1")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("북한\u2012러시아", "북한 러시아"),  # figure dash: not among the common marks
        ("Путин\u3001Ким", "путин ким"),  # ideographic comma
        ("КНДР\u02bcs", "кндр s"),  # modifier letter apostrophe
        ("북한\u00a0군", "북한 군"),
    ],
)
def test_rare_punctuation_in_non_latin_text_folds_to_a_space(a: str, b: str) -> None:
    assert fold(a) == fold(b)


def test_non_latin_text_without_punctuation_is_only_case_folded() -> None:
    assert unfold(fold("ПОСТАВКИ Снарядов 북한")) == "поставки снарядов 북한"


def test_hangul_syllables_need_no_case_or_nfkc_folding() -> None:
    # The Korean fast path skips casefold and the NFKC check for text whose non-ASCII
    # characters all sit in U+AC00-U+D7FF (what follows is surrogates, never in encoded text);
    # this is what makes that exact.
    for code in range(0xAC00, 0xD800):
        char = chr(code)
        assert char.casefold() == char
        assert unicodedata.is_normalized("NFKC", char)


def test_lowering_into_basic_cyrillic_is_the_whole_fold() -> None:
    # The Russian fast path lowers the text and keeps the result when every character is then
    # ASCII or U+0400-U+047F. Exact if, for every character that lowers into that set, lowering
    # gives what NFKC and casefold give; checked here for all of Unicode.
    for code in [*range(0xD800), *range(0xE000, 0x110000)]:
        char = chr(code)
        lowered = char.lower()
        if all(ord(c) < 0x80 or 0x0400 <= ord(c) < 0x0480 for c in lowered):
            assert lowered == unicodedata.normalize("NFKC", char).casefold(), hex(code)


def _general_fold(text: str) -> str:
    """The definition the fast paths must agree with: NFKC, casefold, punctuation, ASCII."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = re.sub("[" + re.escape(_UNICODE_PUNCTUATION) + "]", " ", folded)
    return "".join(c if c.isalnum() or not c.isascii() else " " for c in folded)


@pytest.mark.parametrize(
    "raw",
    [
        "북한이 러시아에 포탄을 보냈다",  # Hangul only: fast path
        "김정은 Putin 2024, ‘친선’",  # Hangul, ASCII and common quotes
        "\ud7a3\ud7b0 \uac00 끝",  # the last syllable, a jamo of the extended block
        "ＫＣＮＡ 북한",  # full width with Hangul: general path
        "ㄱ 북한",  # a compatibility jamo (NFKC changes it): general path
        "ПУТИН и Ким Чен Ын, ЁЖ Ѐ Ѳ",  # basic Cyrillic: fast path
        "Kelvin \u212a, ПУТИН",  # the one outside character that lowers into the fast path
        "Путин\u3001Ким ꙮ",  # ideographic comma and a Cyrillic extended letter: general path
        "Путин и 김정은",  # both scripts: general path
        "Straße Путин",  # a length-changing fold: general path
    ],
)
def test_every_path_folds_as_the_general_definition(raw: str) -> None:
    assert unfold(normalise(raw).text) == _general_fold(raw)


def _reference_offsets(text: str) -> tuple[str, list[int], list[int]]:
    """Strip markup keeping per-character offsets (the definition the lazy map must agree with)."""
    out, starts, ends, cursor = "", [], [], 0
    for match in _MARKUP.finditer(text):
        for i in range(cursor, match.start()):
            out, starts, ends = out + text[i], [*starts, i], [*ends, i + 1]
        token = match.group(0)
        decoded = html.unescape(token) if token.startswith("&") else " "
        out += decoded
        starts += [match.start()] * len(decoded)
        ends += [match.end()] * len(decoded)
        cursor = match.end()
    for i in range(cursor, len(text)):
        out, starts, ends = out + text[i], [*starts, i], [*ends, i + 1]
    return out, starts, ends


_MARKUP_SAMPLES = [
    "<p>Seoul says <b>Kim&nbsp;Jong Un</b> got a car &amp; more</p>",
    "&lt;b&gt;DPRK&lt;/b&gt;",
    "<br/>Kim<br/>",
    "Путин &laquo;и&raquo; <i>Ким</i>",
    "<p>북한&#44; 러시아</p><!-- note --><script>x()</script>tail",
    "ﬁne <b>ＫＩＭ</b> &amp; Straße",  # length-changing folds after stripping
    "<a href='x'>x</a>&#128512;end&ensp;",
]


@pytest.mark.parametrize("raw", _MARKUP_SAMPLES)
def test_markup_offsets_agree_with_per_character_offsets(raw: str) -> None:
    plain, offsets = _strip_markup(raw)
    expected_plain, starts, ends = _reference_offsets(raw)
    assert plain == expected_plain and offsets.length == len(plain)
    assert offsets.arrays() == (starts, ends)
    assert [offsets.source(i) for i in range(len(plain))] == list(zip(starts, ends, strict=True))


@pytest.mark.parametrize("raw", _MARKUP_SAMPLES)
def test_markup_spans_agree_with_per_character_offsets(raw: str) -> None:
    norm = normalise(raw)
    _plain, starts, ends = _reference_offsets(raw)
    if norm.starts is None:  # the lazy map was used: compare with the per-character one
        assert norm.markup is not None
        reference = NormText(raw, norm.text, norm.ascii_only, starts, ends, norm.data)
    else:  # a length-changing fold: per-character offsets either way
        reference = norm
    words = 0
    for match in re.finditer(r"[^ ]+", norm.text):
        assert norm.span(match.start(), match.end()) == reference.span(match.start(), match.end())
        words += 1
    assert words >= 1
