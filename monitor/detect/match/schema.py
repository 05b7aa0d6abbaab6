"""Small validators for watchlist and rule YAML, raising ``ConfigError`` with file and key path.

For the compilers in ``gazetteer``, ``terms`` and ``rules``: each helper checks one value's
shape and names where it sits (``rules[3].all[0].side``) so an operator can fix the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from monitor.errors import ConfigError

_IDENT = re.compile(r"^[a-z0-9][a-z0-9_.:-]*$")


@dataclass(frozen=True, slots=True)
class Where:
    """A place in a YAML file: the file and the key path inside it."""

    file: str
    path: str

    def at(self, key: str | int) -> Where:
        if isinstance(key, int):
            return Where(self.file, f"{self.path}[{key}]")
        return Where(self.file, f"{self.path}.{key}" if self.path else key)

    def error(self, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, key_path=self.path or None)


def mapping(value: Any, where: Where, allowed: Iterable[str] | None = None) -> Mapping[str, Any]:
    """``value`` as a mapping with string keys, rejecting keys outside ``allowed``."""
    if not isinstance(value, Mapping):
        raise where.error(f"expected a mapping, got {_kind(value)}")
    if allowed is not None:
        known = set(allowed)
        for key in value:
            if key not in known:
                choices = ", ".join(sorted(known))
                raise where.at(str(key)).error(f"unknown key {key!r} (expected one of: {choices})")
    return value


def sequence(value: Any, where: Where) -> list[Any]:
    """``value`` as a list (a lone scalar counts as a one-item list)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str | int | float):
        return [value]
    raise where.error(f"expected a list, got {_kind(value)}")


def text(value: Any, where: Where, *, allow_empty: bool = False) -> str:
    """``value`` as a non-empty string (numbers are accepted and turned into text)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise where.error(f"expected a string, got {_kind(value)}")
    result = str(value).strip()
    if not result and not allow_empty:
        raise where.error("must not be empty")
    return result


def ident(value: Any, where: Where) -> str:
    """An identifier: lower-case letters, digits and ``_ . : -``."""
    result = text(value, where)
    if not _IDENT.match(result):
        raise where.error(
            f"{result!r} is not a valid id (use lower-case letters, digits, '-', '_', '.', ':')"
        )
    return result


def number(value: Any, where: Where, *, minimum: float | None = None) -> float:
    """A number, optionally at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(f"expected a number, got {_kind(value)}")
    if minimum is not None and value < minimum:
        raise where.error(f"must be >= {minimum:g}, got {value!r}")
    return float(value)


def choice(value: Any, where: Where, choices: Iterable[str]) -> str:
    """One of ``choices``."""
    result = text(value, where)
    options = tuple(choices)
    if result not in options:
        raise where.error(f"{result!r} is not one of: {', '.join(options)}")
    return result


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )
