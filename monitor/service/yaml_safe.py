"""YAML for config, watchlist and rule files, bounded so no file can exhaust time or memory.

For ``service.config`` (the one reader of these files). ``yaml.safe_load`` builds an aliased
tree with shared nodes, so a "billion laughs" file is small in memory until something walks
it: the ``${VAR}`` substitution (or pydantic) then expands every alias and takes minutes and
gigabytes. Here, before anything walks the tree:

- the number of alias uses (``*name``) is at most ``MAX_ALIASES``;
- nesting, once aliases are expanded, is at most ``MAX_DEPTH`` levels (the substitution, the
  constructor and pydantic all recurse);
- the tree's EXPANDED size (every node counted once per path that reaches it, computed with
  memoisation, so without expanding) is at most ``MAX_NODES``; a recursive alias is refused.

Each limit raises ``YamlRefused`` with the line of the offending node where there is one, and so
does a scalar PyYAML cannot construct (``2001-12-45`` as a date, a 5000-digit integer, ``!!float
abc``: PyYAML raises a bare ``ValueError`` for those); the caller turns it into a ``ConfigError``
naming the file.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_ALIASES = 1_000
MAX_DEPTH = 64
MAX_NODES = 1_000_000


class YamlRefused(Exception):
    """The document passes a limit or holds an unreadable value; ``line`` is 1-based if known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(message)


# libyaml's parser where PyYAML has it (several times faster on large watchlists; it also stops
# at 1000 levels of flow nesting by itself), else the pure-Python one. Both compose the node
# graph first, which is where the limits below are checked.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str) -> Any:
    """Parse one YAML document within the limits (``yaml.YAMLError`` for bad syntax)."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded_size(node)
        try:
            return loader.construct_document(node)
        except (ValueError, OverflowError) as exc:
            raise YamlRefused(f"a value cannot be read ({exc})") from None
    finally:
        loader.dispose()


def expanded_size(root: Node) -> int:
    """Nodes in the tree once every alias is expanded; ``YamlRefused`` past ``MAX_NODES``, or
    deeper than ``MAX_DEPTH`` once expanded (aliases can nest documents in one another)."""
    memo: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, expanded height)
    on_path: set[int] = set()
    aliases = 0  # a node reached a second time is an alias use

    def measure(node: Node, depth: int) -> tuple[int, int]:
        nonlocal aliases
        line = node.start_mark.line + 1
        key = id(node)
        if key in on_path:
            raise YamlRefused("an alias refers to a node that contains it", line)
        found = memo.get(key)
        if found is not None:
            aliases += 1
            if aliases > MAX_ALIASES:
                raise YamlRefused(f"more than {MAX_ALIASES} aliases", line)
        if found is None:
            if depth > MAX_DEPTH:
                raise YamlRefused(f"nested more than {MAX_DEPTH} levels deep", line)
            on_path.add(key)
            found = _combine([measure(child, depth + 1) for child in _children(node)])
            on_path.discard(key)
            memo[key] = found
        total, height = found
        if total > MAX_NODES:
            raise YamlRefused(f"more than {MAX_NODES} values once aliases are expanded", line)
        if depth + height > MAX_DEPTH + 1:
            raise YamlRefused(f"nested more than {MAX_DEPTH} levels deep", line)
        return found

    return measure(root, 1)[0]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _combine(parts: list[tuple[int, int]]) -> tuple[int, int]:
    return 1 + sum(size for size, _ in parts), 1 + max((height for _, height in parts), default=0)
