"""The gazetteer: every alias and term in one Aho-Corasick automaton, with per-script boundaries.

For ``Pack.match``: ``Gazetteer.scan(field, text)`` folds the text once (``normalise``), runs one
multi-pattern pass over its UTF-8 bytes (ahocorasick_rs, overlapping matches included: about
three times faster than pyahocorasick on a 20,000-key watchlist; for a big watchlist, with an
automaton of only the keys the text's scripts can hold) and keeps a match only where its script
allows a word to end:

- Latin and digits: whole words (``Kim`` never matches inside ``Kimberley``); an entry ending
  in ``*`` may continue (``suppl*``);
- Hangul names: nothing Hangul before, and after them only a particle sequence (``김정은이``,
  ``북한과의``); Hangul terms match inside compounds (``대북제재``);
- Cyrillic: nothing Cyrillic before; the alias is compiled as a stem and the rest of the word
  must be a nominal ending (``Путина``, ``России``, ``Ким Чен Ыну``); an upper-case acronym
  (``КНДР``, ``СВО``) is a whole word in every script.

Watchlist files hold ``entities``: each has an ``id``, a ``type`` (person, organisation, state,
place, vessel, goods, ...), a ``side`` (``dprk``, ``russia`` or ``other``), a ``label`` and
``aliases``; ``weak`` aliases (``Kim``, ``Maria``) are reported with ``weak=True`` and count
only when confirmed by a strong hit of the same entity or of an entity on one of the sides in
``confirmed_by`` (default: the entity's own side; see ``assess``). A vessel's ``imo`` numbers
(check digit validated, see ``imo``) match as ``IMO 9074729`` and its written variants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import ahocorasick_rs

from monitor.detect.match import morph
from monitor.detect.match.imo import imo_aliases, valid_imo
from monitor.detect.match.normalise import (
    ASCII_TEXT,
    CYRILLIC,
    CYRILLIC_TEXT,
    HANGUL,
    HANGUL_TEXT,
    LATIN,
    MIXED,
    NormText,
    char_after,
    char_before,
    fold,
    normalise,
    script_of,
    unfold,
)
from monitor.detect.match.schema import Where, choice, ident, mapping, sequence, text
from monitor.detect.match.terms import TermList
from monitor.models import Field, Hit

SIDES = ("dprk", "russia", "other")
ENTITY_KEYS = (
    *("id", "type", "side", "label", "aliases", "weak", "confirmed_by", "imo"),
    *("description", "notes", "refs"),
)
_ACRONYM = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")


def is_acronym(word: str) -> bool:
    """An upper-case abbreviation in any script (``DPRK``, ``КНДР``, ``СВО``): a whole word.

    Cyrillic entries otherwise match with case endings; an acronym must not, or ``СВО`` (the
    "special military operation") would match ``своих`` ("one's own").
    """
    letters = word.replace("-", "")
    return 2 <= len(letters) <= 8 and letters.isupper() and letters.isalnum()


# Right-boundary modes of a compiled pattern.
_WORD, _ANY, _KO, _RU = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Entity:
    """A named thing to find in stories, on one side of a transfer."""

    id: str
    type: str
    side: str
    label: str
    aliases: tuple[str, ...]
    weak: tuple[str, ...] = ()
    confirmed_by: tuple[str, ...] = ()
    source: str = ""
    imo: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Pattern:
    """One automaton key's meaning: which entity or term list, and how to check its edges."""

    kind: Literal["entity", "term"]
    ref: str
    label: str
    side: str | None
    entity_type: str | None
    weak: bool
    left_check: bool
    right_mode: int
    first_script: str
    last_script: str


def parse_entities(value: Any, where: Where) -> list[Entity]:
    """Read the ``entities`` list of one watchlist file."""
    return [_parse_entity(spec, where.at(i)) for i, spec in enumerate(sequence(value, where))]


def _parse_entity(spec: Any, where: Where) -> Entity:
    body = mapping(spec, where, ENTITY_KEYS)
    if "id" not in body:
        raise where.error("entity has no 'id'")
    entity_id = ident(body["id"], where.at("id"))
    where = Where(where.file, f"entities[{entity_id}]")
    aliases = tuple(text(a, where.at("aliases").at(i)) for i, a in _items(body, "aliases", where))
    weak = tuple(text(a, where.at("weak").at(i)) for i, a in _items(body, "weak", where))
    if not aliases:
        raise where.error(f"entity {entity_id!r} has no aliases")
    for alias in (*aliases, *weak):
        if not fold(alias.rstrip("*")):
            raise where.error(f"alias {alias!r} has no letters or digits")
    imo = tuple(_imo(v, where.at("imo").at(i)) for i, v in _items(body, "imo", where))
    side = choice(body.get("side", "other"), where.at("side"), SIDES)
    default_confirm = [side] if side != "other" else []
    confirmed_by = tuple(
        choice(v, where.at("confirmed_by"), SIDES)
        for v in sequence(body.get("confirmed_by", default_confirm), where.at("confirmed_by"))
    )
    return Entity(
        id=entity_id,
        type=ident(body.get("type", "other"), where.at("type")),
        side=side,
        label=text(body.get("label", aliases[0]), where.at("label")),
        aliases=aliases,
        weak=weak,
        confirmed_by=confirmed_by,
        source=where.file,
        imo=imo,
    )


def _imo(value: Any, where: Where) -> str:
    number = text(value, where).upper().removeprefix("IMO").strip()
    if not valid_imo(number):
        raise where.error(f"{value!r} is not an IMO number (seven digits, valid check digit)")
    return number


def _items(body: Any, key: str, where: Where) -> Iterable[tuple[int, Any]]:
    return enumerate(sequence(body.get(key), where.at(key)))


class Gazetteer:
    """All aliases and terms compiled into one automaton; ``scan`` is pure and cheap."""

    def __init__(self, entities: Sequence[Entity], term_lists: Sequence[TermList]) -> None:
        # Build tables: key → its patterns, and one instance of each distinct pattern (an
        # entity's keys mostly share one). Dropped once the automata hold the keys.
        self._keys: dict[str, list[_Pattern]] = {}
        self._patterns: dict[_Pattern, _Pattern] = {}
        self.alias_count = 0
        for entity in entities:
            for alias in entity.aliases:
                self._add(alias, self._entity_pattern(entity, weak=False))
            for alias in entity.weak:
                self._add(alias, self._entity_pattern(entity, weak=True))
            for number in entity.imo:
                for alias in imo_aliases(number):
                    self._add(alias, self._entity_pattern(entity, weak=False))
        for term_list in term_lists:
            for term in term_list.terms:
                self._add(term, _template("term", term_list.id, term_list.label, None, None))
        # Key i of an automaton means ``meanings[i]``. A text can only hold the keys made of
        # characters it has: an English story (ASCII once folded) only ASCII keys, a Korean one
        # (ASCII and Hangul syllables) only those. When all the keys are too many for a DFA,
        # each kind of text whose keys are few enough gets a DFA of those (faster than the NFA;
        # an NFA over a subset would scan no faster than the NFA over all keys).
        keys = list(self._keys)
        meanings = {key: tuple(patterns) for key, patterns in self._keys.items()}
        self._all = _Scanner(keys, [meanings[k] for k in keys], dfa=len(keys) <= _DFA_MAX_KEYS)
        self._scanners = dict.fromkeys((ASCII_TEXT, HANGUL_TEXT, CYRILLIC_TEXT, MIXED), self._all)
        if len(keys) > _DFA_MAX_KEYS:
            # A key can occur only in text that holds its characters; ``normalise`` sorts keys
            # as it sorts text, so an ASCII key fits any text and a Hangul one Korean text.
            held = [normalise(unfold(key)).script for key in keys]
            for script, dfa_max in _SCRIPT_DFA_MAX_KEYS.items():
                subset = [
                    key
                    for key, kind in zip(keys, held, strict=True)
                    if kind in (ASCII_TEXT, script)
                ]
                if len(subset) < len(keys) and len(subset) <= dfa_max:
                    self._scanners[script] = _Scanner(
                        subset, [meanings[k] for k in subset], dfa=True
                    )
        self.key_count = len(keys)
        del self._keys, self._patterns  # the scanners hold what matching needs

    @staticmethod
    def _entity_pattern(entity: Entity, *, weak: bool) -> _Pattern:
        return _template("entity", entity.id, entity.label, entity.side, entity.type, weak=weak)

    def _add(self, raw: str, template: _Pattern) -> None:
        self.alias_count += 1
        for key, right_mode in _keys_for(raw, template.kind):
            chars = unfold(key)
            first, last = script_of(chars[0]), script_of(chars[-1])
            left_check = not (template.kind == "term" and first == HANGUL)
            if right_mode == _WORD and last == HANGUL:
                right_mode = _KO if template.kind == "entity" else _ANY
            pattern = _Pattern(
                template.kind, template.ref, template.label, template.side,
                template.entity_type, template.weak, left_check, right_mode, first, last,
            )  # fmt: skip
            pattern = self._patterns.setdefault(pattern, pattern)
            bucket = self._keys.setdefault(key, [])
            if pattern not in bucket:
                bucket.append(pattern)

    def scan(self, field: Field, raw: str) -> list[Hit]:
        """Every boundary-respecting match in ``raw``, overlaps included, in text order."""
        if not raw or not self.key_count:
            return []
        norm = normalise(raw)
        scanner = self._scanners[norm.script]
        found = scanner.automaton.find_matches_as_indexes(norm.data, overlapping=True)
        if not found:
            return []
        view = norm.text
        meanings = scanner.meanings
        hits: list[Hit] = []
        for index, start, end in found:
            for pattern in meanings[index]:
                stop = _accept(pattern, view, start, end)
                if stop >= 0:
                    hits.append(_hit(pattern, field, norm, start, stop))
        if len(hits) > 1:
            hits.sort(key=_hit_order)
        return hits


# A DFA scans 1.3-1.7x faster than a contiguous NFA but holds ~7 KB per key when the keys mix
# scripts (4.6 MB for the bundled pack's ~1,100 keys, 114 MB for 21,000), ~3.5 KB per key of
# ASCII and Hangul and ~2 KB per ASCII key; the NFA holds a few MB at any size.
_DFA_MAX_KEYS = 2000
_SCRIPT_DFA_MAX_KEYS = {ASCII_TEXT: 10_000, HANGUL_TEXT: 2_000, CYRILLIC_TEXT: 2_000}


class _Scanner:
    """One automaton over keys' UTF-8 bytes (a key is a byte view, see ``normalise``)."""

    def __init__(self, keys: list[str], meanings: list[tuple[_Pattern, ...]], *, dfa: bool) -> None:
        self.meanings = meanings
        self.automaton = ahocorasick_rs.BytesAhoCorasick(
            [key.encode("latin-1") for key in keys],
            implementation=(
                ahocorasick_rs.Implementation.DFA
                if dfa
                else ahocorasick_rs.Implementation.ContiguousNFA
            ),
        )


def _template(
    kind: Literal["entity", "term"],
    ref: str,
    label: str,
    side: str | None,
    entity_type: str | None,
    *,
    weak: bool = False,
) -> _Pattern:
    return _Pattern(kind, ref, label, side, entity_type, weak, True, _WORD, LATIN, LATIN)


def _keys_for(raw: str, kind: str) -> list[tuple[str, int]]:
    """The automaton keys (and right-boundary mode) one alias or term compiles to."""
    wildcard = raw.endswith("*")
    base = raw.rstrip("*").strip()
    folded = fold(base)
    forms = {folded}
    if _ACRONYM.match(base):
        forms.add(" ".join(folded))  # DPRK also as D.P.R.K. (folded: "d p r k")
    if "." in base:
        forms.add(folded.replace(" ", "") if all(len(w) == 1 for w in folded.split()) else folded)
    keys: list[tuple[str, int]] = []
    for form in sorted(forms):
        if wildcard:
            keys.append((form, _ANY))
        elif script_of(unfold(form)[-1]) == CYRILLIC and not is_acronym(base):
            variants = morph.ru_variants(unfold(form))
            keys.extend((_view(variant), _RU) for variant in variants)
        else:
            keys.append((form, _WORD))
    return keys


def _accept(pattern: _Pattern, view: str, start: int, end: int) -> int:
    """Where the accepted match ends (past a Russian ending or a ``*`` tail), or -1."""
    if pattern.left_check and start > 0:
        prev = view[start - 1]
        script = _ASCII_SCRIPTS[ord(prev)] if prev < "\x80" else script_of(char_before(view, start))
        if script == pattern.first_script:
            return -1
    mode = pattern.right_mode
    if end >= len(view):
        return end
    if mode == _WORD:
        after = view[end]
        script = (
            _ASCII_SCRIPTS[ord(after)] if after < "\x80" else script_of(char_after(view, end)[0])
        )
        return end if script != pattern.last_script else -1
    if mode == _ANY:
        return end if pattern.last_script == HANGUL else _word_end(view, end)
    run, run_end = _run(view, end, HANGUL if mode == _KO else CYRILLIC)
    if run and run not in (_KO_FOLLOWERS if mode == _KO else _RU_ENDINGS):
        return -1
    return run_end if mode == _RU else end


# Script class of every ASCII character, so most boundary checks are one string index.
_ASCII_SCRIPTS = "".join(script_of(chr(code)) for code in range(128))


def _word_end(view: str, start: int) -> int:
    space = view.find(" ", start)
    return len(view) if space < 0 else space


def _run(view: str, start: int, script: str) -> tuple[str, int]:
    """The Hangul or Cyrillic characters from ``start``, as a view, and where they stop.

    At most nine characters: no particle sequence or ending is longer than eight, so a longer
    run never qualifies.
    """
    run = (_HANGUL_RUN if script == HANGUL else _CYRILLIC_RUN).match(view, start)
    assert run is not None  # both patterns match the empty string
    return run.group(), run.end()


# One character of a script, as the UTF-8 bytes of the view (``script_of``'s ranges):
# Hangul syllables U+AC00-U+D7A3, jamo U+1100-U+11FF and U+3130-U+318F; Cyrillic U+0400-U+052F.
_HANGUL_RUN = re.compile(
    "(?:\xea[\xb0-\xbf][\x80-\xbf]|[\xeb\xec][\x80-\xbf]{2}|\xed[\x80-\x9d][\x80-\xbf]"
    "|\xed\x9e[\x80-\xa3]|\xe1[\x84-\x87][\x80-\xbf]"
    "|\xe3\x84[\xb0-\xbf]|\xe3\x85[\x80-\xbf]|\xe3\x86[\x80-\x8f]){0,9}"
)
_CYRILLIC_RUN = re.compile("(?:[\xd0-\xd3][\x80-\xbf]|\xd4[\x80-\xaf]){0,9}")


def _view(chars: str) -> str:
    return chars.encode("utf-8").decode("latin-1")


# The particle sequences and endings as views, so a run is looked up without decoding it.
_KO_FOLLOWERS = frozenset(map(_view, morph.KO_FOLLOWERS))
_RU_ENDINGS = frozenset(map(_view, morph.RU_ENDINGS))


def _hit(pattern: _Pattern, field: Field, norm: NormText, start: int, end: int) -> Hit:
    orig_start, orig_end = norm.span(start, end)
    return _new_tuple(
        Hit,
        (
            pattern.kind, pattern.ref, norm.original[orig_start:orig_end], field,
            orig_start, orig_end, pattern.side, pattern.entity_type, pattern.weak, pattern.label,
        ),
    )  # fmt: skip


def _hit_order(hit: Hit) -> tuple[int, int]:
    return hit.start, -hit.end


# ``Hit`` is a named tuple: ``_hit`` builds it with ``tuple.__new__`` (no keyword handling),
# so the check below fails at import if ``Hit`` gains, loses or reorders a field.
_HIT_FIELDS = (
    *("kind", "ref", "text", "field", "start", "end"),
    *("side", "entity_type", "weak", "label"),
)
if Hit._fields != _HIT_FIELDS:  # pragma: no cover - a models.py change
    raise ImportError("monitor.models.Hit changed: update gazetteer._hit and _HIT_FIELDS")
_new_tuple = tuple.__new__
