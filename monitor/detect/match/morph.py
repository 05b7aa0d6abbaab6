"""Just enough Korean and Russian morphology for whole-word matching of names and terms.

For the gazetteer: Korean attaches particles to the noun without a space (``김정은이``,
``푸틴과``, ``북한의``), so a Hangul alias may be followed by a Hangul run only if that run is
a particle sequence. Russian inflects the noun itself (``Путина``, ``России``, ``Ким Чен Ыну``),
so a Cyrillic alias is compiled as a stem and may be followed only by a nominal ending; the
non-final words of a multi-word alias get their inflected forms as extra variants
(``Владимира Путина``, ``Северной Кореи``).
"""

from __future__ import annotations

from itertools import product


def _words(text: str) -> list[str]:
    """Split a whitespace-separated word list (keeps the tables below readable)."""
    return text.split()


# Particles and light suffixes that follow a noun in Korean news prose. Compound forms
# (particle + particle, suffix + particle) are generated below.
_KO_PARTICLES = _words(
    """
    이 가 은 는 을 를 의 에 에서 에게 에게서 께 께서 과 와 도 만 로 으로 로서 으로서 로써 으로써
    부터 로부터 으로부터 까지 이나 나 이랑 랑 하고 처럼 보다 이다 였다 이었다 인 이라는 라는
    라고 이라고 이며 며 이자 엔 에선 서 간 께선 이고 고 이란 란 조차 마저 뿐 밖에 대로
    """
)
# Suffixes that make a derived noun and may themselves take a particle: 북한군 (DPRK troops),
# 러시아산 / 러시아제 (Russian-made), 러시아측 (the Russian side), 북한행 (bound for DPRK).
_KO_SUFFIXES = _words("측 군 산 제 행 내 인들 인 들 당국 정부 대사관 국적 선적")
_KO_LINKING = _words("과 와 에 에서 으로 로 에게 까지")

KO_FOLLOWERS: frozenset[str] = frozenset(
    [
        *_KO_PARTICLES,
        *_KO_SUFFIXES,
        *(a + b for a, b in product(_KO_SUFFIXES, _KO_PARTICLES)),
        *(a + b for a, b in product(_KO_LINKING, _KO_PARTICLES)),
    ]
)

# Nominal and adjectival endings of Russian (all cases, both numbers), up to three letters.
RU_ENDINGS: frozenset[str] = frozenset(
    [
        "",
        *_words(
            """
            а я о е ё у ю ы и ь й ом ем ём ой ей ою ею ам ям ах ях ами ями ов ев ёв ий ый ая
            яя ое ее ые ие ого его ому ему ым им ую юю ых их ыми ими ью ия ию ием ии иям иях
            иями
            """
        ),
    ]
)
_RU_ADJ_ENDINGS = ("ая", "яя", "ое", "ее", "ый", "ий", "ой", "ые", "ие")
_RU_VOWEL_ENDINGS = "аяоеёыиьйую"
# Case forms of a non-final word, by how its nominative ends (singular, the cases news uses).
_RU_FEMININE_ADJ_FORMS = _words("ой ую ою")  # северная -> северной, северную
_RU_MASCULINE_ADJ_FORMS = _words("ого ому ым ом")  # южный -> южного
_RU_NEUTER_ADJ_FORMS = _words("ого ому ым ом")
_RU_CONSONANT_FORMS = _words("а у ом е")  # владимир -> владимира
_RU_SOFT_FORMS = _words("я ю ем е")  # сергей -> сергея, игорь -> игоря
_RU_A_FORMS = _words("ы у ой е и")  # анна -> анны
_RU_YA_FORMS = _words("и ю ей")  # мария -> марии
_MAX_VARIANTS = 64


def ru_stem(word: str) -> str:
    """Cut the nominative ending off one folded Russian word (``россия`` → ``росси``)."""
    if len(word) >= 5 and word.endswith(_RU_ADJ_ENDINGS):
        return word[:-2]
    if len(word) >= 4 and word[-1] in _RU_VOWEL_ENDINGS:
        return word[:-1]
    return word


def ru_variants(folded: str) -> list[str]:
    """Every key for a folded Cyrillic alias: inner words inflected, the last word stemmed.

    The last word's ending is checked at match time against ``RU_ENDINGS``; the inner words
    must be spelled out because the automaton matches fixed strings.
    """
    words = folded.split(" ")
    options: list[list[str]] = []
    for word in words[:-1]:
        forms = [word]
        if len(word) >= 4 and _is_cyrillic_word(word):
            stem = ru_stem(word)
            forms += [stem + e for e in _inner_forms(word) if stem + e != word]
        options.append(forms)
    last = words[-1]
    options.append([ru_stem(last) if _is_cyrillic_word(last) else last])
    keys = [" ".join(combo) for combo in product(*options)]
    return keys[:_MAX_VARIANTS]


def _inner_forms(word: str) -> list[str]:
    """The endings a non-final word takes in the oblique cases, from its nominative ending."""
    if word.endswith(("ая", "яя")):
        return _RU_FEMININE_ADJ_FORMS
    if word.endswith(("ый", "ий", "ой")) and len(word) >= 5:
        return _RU_MASCULINE_ADJ_FORMS
    if word.endswith(("ое", "ее")):
        return _RU_NEUTER_ADJ_FORMS
    if word[-1] in "йь":
        return _RU_SOFT_FORMS
    if word[-1] == "а":
        return _RU_A_FORMS
    if word[-1] == "я":
        return _RU_YA_FORMS
    if word[-1] in "оеиыую":
        return []  # indeclinable or unusual: keep as written
    return _RU_CONSONANT_FORMS


def _is_cyrillic_word(word: str) -> bool:
    return all("\u0400" <= ch <= "\u052f" for ch in word)
