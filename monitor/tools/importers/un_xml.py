"""Read the UN Security Council consolidated sanctions list (XML) into imported entities.

The list has ``INDIVIDUALS/INDIVIDUAL`` and ``ENTITIES/ENTITY`` records with the name split
over ``FIRST_NAME`` .. ``FOURTH_NAME``, a ``REFERENCE_NUMBER`` whose prefix names the regime
(``KPi.`` / ``KPe.`` for the DPRK), ``NAME_ORIGINAL_SCRIPT`` and ``*_ALIAS`` elements with a
``QUALITY`` (``Good`` / ``a.k.a.`` are kept strong, ``Low`` becomes weak). Documents with a
DTD are refused: the list never has one and entity expansion is an attack surface.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from monitor.detect.match.imo import imo_numbers
from monitor.errors import ConfigError
from monitor.tools.importers.common import ImportedEntity

_NAME_PARTS = ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")
_LOW_QUALITY = {"low"}


def read_un_xml(path: Path, *, regime: str = "KP") -> list[ImportedEntity]:
    """Every individual and entity whose reference starts with ``regime`` (or all)."""
    root = _parse(path)
    found: list[ImportedEntity] = []
    for tag, kind in (("INDIVIDUAL", "person"), ("ENTITY", "organisation")):
        for element in root.iter(tag):
            entity = _entity(element, kind)
            if entity and (
                regime.lower() == "all" or entity.ref.upper().startswith(regime.upper())
            ):
                found.append(entity)
    return found


def _parse(path: Path) -> ET.Element:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise ConfigError("refusing an XML document with a DTD", file=str(path))
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise ConfigError(f"not well-formed XML: {exc}", file=str(path)) from None


def _entity(element: ET.Element, kind: str) -> ImportedEntity | None:
    ref = _text(element, "REFERENCE_NUMBER")
    name = " ".join(p for p in (_text(element, part) for part in _NAME_PARTS) if p)
    if not ref or not name:
        return None
    entity = ImportedEntity(ref=ref, name=_tidy(name), type=kind, programme=ref)
    # The UN list has no vessel section: designated ships are entities whose comments give
    # the IMO number ("IMO: 9074729"); they become vessels matched by that number too.
    entity.imo = imo_numbers(_text(element, "COMMENTS1"))
    if entity.imo:
        entity.type = "vessel"
    original = _text(element, "NAME_ORIGINAL_SCRIPT")
    if original:
        entity.aliases.extend(_tidy(o) for o in original.split(";") if o.strip())
    for alias in element:
        if not alias.tag.endswith("_ALIAS"):
            continue
        alias_name = _tidy(_text(alias, "ALIAS_NAME"))
        if not alias_name:
            continue
        quality = _text(alias, "QUALITY").lower()
        (entity.weak_aliases if quality in _LOW_QUALITY else entity.aliases).append(alias_name)
    if _text(element, "UN_LIST_TYPE").upper() == "DPRK" and not ref.upper().startswith("KP"):
        entity.programme = "KP"
    return entity


def _text(element: ET.Element, tag: str) -> str:
    child = element.find(tag)
    return (child.text or "").strip() if child is not None else ""


def _tidy(name: str) -> str:
    """Collapse whitespace; the list writes names in capitals, which matching ignores."""
    return " ".join(name.split())
