"""Term lists: named vocabularies (transfer verbs, goods by HS chapter, breach words) in any script.

For watchlist authors and the gazetteer. A term list sits under ``term_lists:`` in a watchlist
file, keyed by its id::

    term_lists:
      vehicles:
        label: vehicles (HS 86-89)
        en: [car, cars, limousine*, truck*]
        ko: [승용차, 차량]
        ru: [автомобиль, лимузин]

Languages are only for the reader (``terms:`` holds script-neutral entries); every entry is
folded like story text. A trailing ``*`` lets the word continue (``suppl*`` matches ``supplied``);
Cyrillic entries match their inflected forms and Hangul entries match inside compounds.
``masks: true`` makes the list's hits hide the terms of other lists inside them (a list of
warships holding ``aircraft carrier`` keeps ``aircraft`` from counting as a vehicle).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitor.detect.match.normalise import fold
from monitor.detect.match.schema import Where, ident, mapping, sequence, text

LANGUAGE_KEYS = ("terms", "en", "ko", "ru")


@dataclass(frozen=True, slots=True)
class TermList:
    """One named vocabulary; ``terms`` keep their spelling from the file."""

    id: str
    label: str
    terms: tuple[str, ...]
    description: str = ""
    source: str = ""
    masks: bool = False


def parse_term_lists(value: Any, where: Where) -> list[TermList]:
    """Read the ``term_lists`` mapping of one file."""
    lists: list[TermList] = []
    for key, spec in mapping(value, where).items():
        list_where = where.at(str(key))
        list_id = ident(key, list_where)
        lists.append(_parse_one(list_id, spec, list_where))
    return lists


def _parse_one(list_id: str, spec: Any, where: Where) -> TermList:
    if isinstance(spec, list):
        spec = {"terms": spec}
    body: Mapping[str, Any] = mapping(
        spec, where, ("label", "description", "masks", *LANGUAGE_KEYS)
    )
    terms: list[str] = []
    for lang in LANGUAGE_KEYS:
        for i, entry in enumerate(sequence(body.get(lang), where.at(lang))):
            term = text(entry, where.at(lang).at(i))
            if not fold(term.rstrip("*")):  # a bare "*" would compile to an empty key
                raise where.at(lang).at(i).error(f"term {term!r} has no letters or digits")
            terms.append(term)
    if not terms:
        raise where.error(f"term list {list_id!r} has no terms")
    label = text(body.get("label", list_id), where.at("label"))
    description = text(body.get("description", ""), where.at("description"), allow_empty=True)
    masks = body.get("masks", False)
    if not isinstance(masks, bool):
        raise where.at("masks").error(f"expected true or false, got {masks!r}")
    return TermList(list_id, label, tuple(terms), description, where.file, masks)
