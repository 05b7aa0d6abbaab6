"""The log event catalogue: every event the code emits is snake_case and documented.

Event names are found in the source with ``ast``: calls like ``log.info("feed_polled", ...)``
on any receiver named ``log``/``logger``/``*_log``, and the delivery worker's
``self._report(level, "alert_delivered", ...)`` helper. docs/log-events.md lists each one as
a `` `name` `` in a table row; this test keeps the two in step.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = REPO / "docs" / "log-events.md"
LEVELS = frozenset({"debug", "info", "warning", "error", "exception", "critical", "msg"})
SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


def _receiver_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _event_of(call: ast.Call) -> str | None:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    if func.attr in LEVELS and _receiver_name(func.value).endswith(("log", "logger")):
        index = 0
    elif func.attr == "_report":
        index = 1  # deliver.DeliveryWorker._report(level, event, entry, result, ...)
    else:
        return None
    if len(call.args) > index:
        arg = call.args[index]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return arg.value
    return None


def events_in_code() -> dict[str, set[str]]:
    """event name → the files that emit it."""
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "monitor").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and (event := _event_of(node)) is not None:
                found.setdefault(event, set()).add(str(path.relative_to(REPO)))
    return found


def events_in_catalogue() -> set[str]:
    """Names in the first column of the catalogue's tables."""
    return set(_table_names(CATALOGUE.read_text(encoding="utf-8")))


def _table_names(text: str) -> Iterator[str]:
    """First-column names of the tables whose header starts with ``| event |``."""
    in_event_table = False
    for line in text.splitlines():
        if not line.startswith("|"):
            in_event_table = False
        elif re.match(r"^\|\s*event\s*\|", line):
            in_event_table = True
        elif in_event_table and (match := re.match(r"^\|\s*`([a-z0-9_]+)`\s*\|", line)):
            yield match.group(1)


def test_the_catalogue_parser_reads_only_event_tables() -> None:
    text = "| field | x |\n|---|---|\n| `level` | y |\n\n| event | x |\n|---|---|\n| `a_b` | y |\n"
    assert list(_table_names(text)) == ["a_b"]


def test_the_scanner_finds_known_events() -> None:
    found = events_in_code()
    # Emitted by this area's own module, so the scanner is known to work.
    assert "probe_failed" in found and "monitor/service/ops_server.py" in found["probe_failed"]


def test_event_names_are_snake_case() -> None:
    bad = {name: files for name, files in events_in_code().items() if not SNAKE.match(name)}
    assert not bad, f"event names must be snake_case: {bad}"


def test_every_event_is_documented() -> None:
    missing = {
        name: sorted(files)
        for name, files in events_in_code().items()
        if name not in events_in_catalogue()
    }
    assert not missing, f"add these to docs/log-events.md: {missing}"


def test_the_catalogue_lists_no_vanished_event() -> None:
    stale = events_in_catalogue() - set(events_in_code())
    assert not stale, f"docs/log-events.md lists events no code emits: {sorted(stale)}"
