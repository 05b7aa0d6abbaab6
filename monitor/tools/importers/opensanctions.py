"""Read OpenSanctions ``targets.simple.csv`` into imported entities.

Columns used: ``id``, ``schema`` (Person, Organization, Company, LegalEntity, Vessel ...),
``name``, ``aliases`` (semicolon-separated), ``countries`` (ISO codes, semicolon-separated),
``sanctions`` and ``dataset``. With ``regime="KP"`` only rows whose countries include ``kp``
(or whose sanctions name the DPRK) are kept; ``regime="all"`` keeps every row.
"""

from __future__ import annotations

import csv
from pathlib import Path

from monitor.detect.match.imo import imo_numbers
from monitor.errors import ConfigError
from monitor.tools.importers.common import ImportedEntity

_TYPES = {
    "person": "person",
    "organization": "organisation",
    "company": "organisation",
    "legalentity": "organisation",
    "publicbody": "organisation",
    "vessel": "vessel",
    "airplane": "aircraft",
}
_REQUIRED = ("id", "schema", "name")
_DPRK_WORDS = ("north korea", "dprk", "korea, north", "democratic people")


def read_opensanctions_csv(path: Path, *, regime: str = "KP") -> list[ImportedEntity]:
    """Rows of the CSV as entities, filtered by ``regime`` (a country code, or ``all``)."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in _REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError(f"not a targets.simple.csv: missing {missing}", file=str(path))
            return [e for row in reader if (e := _entity(row)) and _wanted(e, row, regime)]
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"unreadable CSV: {exc}", file=str(path)) from None


def _entity(row: dict[str, str]) -> ImportedEntity | None:
    ref, name = (row.get("id") or "").strip(), (row.get("name") or "").strip()
    if not ref or not name:
        return None
    return ImportedEntity(
        ref=ref,
        name=name,
        type=_TYPES.get((row.get("schema") or "").strip().lower(), "other"),
        aliases=_split(row.get("aliases")),
        countries=[c.lower() for c in _split(row.get("countries"))],
        imo=imo_numbers(row.get("identifiers") or ""),
    )


def _wanted(entity: ImportedEntity, row: dict[str, str], regime: str) -> bool:
    if regime.lower() == "all":
        return True
    code = regime.lower()
    if code in entity.countries:
        return True
    sanctions = (row.get("sanctions") or "").lower()
    return code == "kp" and any(word in sanctions for word in _DPRK_WORDS)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(";") if part.strip()]
