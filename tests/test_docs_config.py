"""README.md's configuration reference stays true to the schema in ``monitor/service/config.py``.

The pydantic models are walked recursively into dotted key paths (``dedup.retention_days``,
``feeds[].adaptive.min_interval_s``, ``destinations[].digest.every_s``: ``[]`` marks an item of a
list, as the README writes them). Every path must be a row of a table in the README's
"Configuration reference" section, no row may name a key the schema does not have, and a row's
default must be the model's default, so adding, renaming or re-defaulting a key without
touching the README fails here.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from monitor.service.config import ConfigModel

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Configuration reference"
_ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|(.*)$")


# --- the schema side -------------------------------------------------------------------------


def _models_in(annotation: Any) -> Iterator[tuple[type[BaseModel], bool]]:
    """``(model, is_list_item)`` for each pydantic model inside an annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, False
        return
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        yield from _models_in(args[0])
    elif origin in (Union, types.UnionType):
        for arg in args:
            yield from _models_in(arg)
    elif origin in (tuple, list):
        for arg in args:
            if arg is not Ellipsis:
                yield from ((model, True) for model, _ in _models_in(arg))


def schema_fields(model: type[BaseModel], prefix: str = "") -> dict[str, FieldInfo]:
    """Every dotted key path of ``model`` (sections included) → its pydantic field."""
    found: dict[str, FieldInfo] = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        found[path] = info
        for inner, is_item in _models_in(info.annotation):
            found.update(schema_fields(inner, f"{path}[]." if is_item else f"{path}."))
    return found


def is_section(info: FieldInfo) -> bool:
    return any(True for _ in _models_in(info.annotation))


def default_of(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return info.default


# --- the README side -------------------------------------------------------------------------


def config_section(text: str) -> str:
    """The README text from the configuration heading to the next ``## `` heading."""
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end >= 0 else len(text)]


def documented_rows(section: str) -> dict[str, list[str]]:
    """First-column key of every table row → the row's other cells."""
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = _ROW.match(line.strip())
        if match:
            # ``\|`` inside a cell is an escaped pipe, not a column break
            cells = re.split(r"(?<!\\)\|", match.group(2))
            rows[match.group(1)] = [cell.strip() for cell in cells]
    return rows


def _plain(value: Any) -> Any:
    """Tuples as lists and ints as floats, so a YAML literal compares with a model default."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


@pytest.fixture(scope="module")
def rows() -> dict[str, list[str]]:
    return documented_rows(config_section(README.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def fields() -> dict[str, FieldInfo]:
    return schema_fields(ConfigModel)


# --- the tests -------------------------------------------------------------------------------


def test_the_walker_reaches_nested_sections_and_list_items(fields: dict[str, FieldInfo]) -> None:
    for key in (
        "state.path",
        "dedup.retention_days",
        "health_alerts.destinations",
        "feeds[].url",
        "destinations[].digest",
        "destinations[].digest.every_s",
        "destinations[].headers",
    ):
        assert key in fields, key
    assert "destinations.id" not in fields and "destinations[].digest[].every_s" not in fields
    assert is_section(fields["destinations[].digest"]) and not is_section(fields["dedup.threshold"])


def test_the_row_parser_reads_only_first_column_keys() -> None:
    text = (
        f"{SECTION}\n\n| key | type |\n|---|---|\n| `a.b` | `x` \\| `y` | `1` |\n"
        "| plain | no |\n\n## Next\n\n| `c` | outside |\n"
    )
    assert documented_rows(config_section(text)) == {"a.b": ["`x` \\| `y`", "`1`", ""]}


def test_every_config_key_is_documented(
    rows: dict[str, list[str]], fields: dict[str, FieldInfo]
) -> None:
    missing = sorted(set(fields) - set(rows))
    assert not missing, f"document these keys in README.md ({SECTION}): {missing}"


def test_no_documented_key_is_unknown_to_the_schema(
    rows: dict[str, list[str]], fields: dict[str, FieldInfo]
) -> None:
    stale = sorted(set(rows) - set(fields))
    assert not stale, f"README.md documents keys the schema does not have: {stale}"


def test_documented_defaults_match_the_models(
    rows: dict[str, list[str]], fields: dict[str, FieldInfo]
) -> None:
    """The default column: ``*required*`` for required keys, else the model's default value
    when the cell starts with a literal in backticks (``none …`` and references are skipped)."""
    wrong = []
    for key, info in fields.items():
        if key not in rows or is_section(info):
            continue
        cell = rows[key][1] if len(rows[key]) > 1 else ""
        if info.is_required():
            if "*required*" not in cell:
                wrong.append(f"{key}: required, README says {cell!r}")
            continue
        default = default_of(info)
        literal = re.match(r"^`([^`]*)`", cell)
        if default is None or literal is None or literal.group(1) in fields:
            continue  # no default, or a reference such as `defaults.interval_s`
        if _plain(yaml.safe_load(literal.group(1))) != _plain(default):
            wrong.append(f"{key}: default {default!r}, README says {cell!r}")
    assert not wrong, wrong
