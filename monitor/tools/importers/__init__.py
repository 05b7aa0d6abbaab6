"""Sanctions lists as watchlists: importers for the UN consolidated list and OpenSanctions.

For ``sanctions-monitor import-list``. Each importer reads one published format into
``ImportedEntity`` records; ``import_list`` filters them, turns them into a watchlist file
(YAML text, the same schema as ``config/watchlists``) and checks that the file compiles, so
what it writes always loads.
"""

from __future__ import annotations

from pathlib import Path

from monitor.errors import ConfigError
from monitor.tools.importers.common import ImportResult, to_watchlist
from monitor.tools.importers.opensanctions import read_opensanctions_csv
from monitor.tools.importers.un_xml import read_un_xml

FORMATS = ("un-xml", "opensanctions-csv")


def import_list(fmt: str, path: Path, *, regime: str = "KP", side: str = "auto") -> ImportResult:
    """Read ``path`` in format ``fmt`` and build a watchlist; raises ``ConfigError``."""
    if fmt == "un-xml":
        entities = read_un_xml(path, regime=regime)
        name = "un-sc-consolidated"
    elif fmt == "opensanctions-csv":
        entities = read_opensanctions_csv(path, regime=regime)
        name = "opensanctions"
    else:
        raise ConfigError(f"unknown list format {fmt!r} (choose one of: {', '.join(FORMATS)})")
    return to_watchlist(entities, name=name, source=f"{fmt}: {path.name}", side=side)


__all__ = ["FORMATS", "ImportResult", "import_list"]
