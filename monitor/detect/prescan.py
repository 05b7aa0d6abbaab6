"""Find a feed's items without parsing them (pure core), so only new or edited ones are parsed.

For the parser pool (``parse_pool.ProcessParser``): a changed feed usually brings one to three
new items among fifty, and feedparser's cost grows with the whole body. This module splits the
body at its ``<item>`` / ``<entry>`` elements with a linear byte scan and fingerprints each item
together with everything around it; ``without`` then cuts the items already known out of the
body, leaving a smaller document (the channel head, the new items, the tail) that feedparser
parses exactly as it would the whole: an item's story depends only on its own bytes and on its
context (prolog, namespaces, ``xml:base``, the channel title, the HTTP content type), and the
fingerprint covers both.

``scan`` answers ``None`` for whatever it cannot split with certainty: a ``<!DOCTYPE>`` (its
entities could change any item's text), a prefixed or upper-case item element, nested or
unclosed items, an empty ``<item/>``, an unclosed comment or CDATA section. The caller then
parses the whole body, as it always did. feedparser stays the only parser that turns an item
into a story.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass
from itertools import pairwise

# What the scan stops at: the start of a CDATA section or comment (skipped whole, so an item
# tag in a summary's markup is never taken for one), a DOCTYPE, and item / entry tags in any
# case and with any prefix (which are then refused unless they are plain lower-case).
_TOKEN = re.compile(
    rb"<!\[CDATA\[|<!--|<!doctype|<(/?)([A-Za-z_][\w.-]*:)?(item|entry)(?=[\s/>])", re.I
)
# The channel's own dates change on every build of most feeds and no story reads them;
# they are left out of the context so that a rebuilt feed's old items are still recognised.
_VOLATILE = re.compile(
    rb"<((?:[A-Za-z_][\w.-]*:)?(?:lastBuildDate|pubDate|updated|published|date|modified))>"
    rb"[^<]{0,200}</\1>"
)
_FINGERPRINT_BYTES = 16


@dataclass(frozen=True, slots=True)
class Scan:
    """Where a body's items are, and one fingerprint per item (its bytes and its context)."""

    spans: tuple[tuple[int, int], ...]
    fingerprints: tuple[bytes, ...]


def scan(body: bytes, *, salt: bytes = b"") -> Scan | None:
    """The items of ``body`` in document order, or ``None`` if it cannot be split safely.

    ``salt`` is mixed into every fingerprint: whatever outside the body shapes a story (the
    feed's id and tags, the content type, the base URL for relative links).
    """
    spans = _item_spans(body)
    if spans is None:
        return None
    context = hashlib.blake2b(salt, digest_size=_FINGERPRINT_BYTES)
    context.update(_VOLATILE.sub(rb"<\1/>", _outside(body, spans)))
    prints = []
    for start, end in spans:
        item = context.copy()
        item.update(memoryview(body)[start:end])
        prints.append(item.digest())
    return Scan(spans=tuple(spans), fingerprints=tuple(prints))


def without(body: bytes, found: Scan, skip: Collection[int]) -> bytes:
    """``body`` with the items at positions ``skip`` (indexes into ``found.spans``) cut out."""
    parts = []
    cursor = 0
    for index, (start, end) in enumerate(found.spans):
        if index in skip:
            parts.append(body[cursor:start])
            cursor = end
    parts.append(body[cursor:])
    return b"".join(parts)


def _outside(body: bytes, spans: list[tuple[int, int]]) -> bytes:
    """What is not inside an item: the head, the tail, and whatever is not whitespace between
    items (whitespace next to an item means nothing to a parser). Not how many items there
    are: a feed that grows by two items keeps its context, so its old items keep theirs."""
    if not spans:
        return body
    gaps = (body[end:start].strip() for (_, end), (start, _) in pairwise(spans))
    head, tail = body[: spans[0][0]].rstrip(), body[spans[-1][1] :].lstrip()
    return b"\x00".join([head, tail, *filter(None, gaps)])


def _item_spans(body: bytes) -> list[tuple[int, int]] | None:
    """``(start, end)`` of each item / entry element, or ``None`` when unsure. Linear: every
    search starts where the previous one ended."""
    spans: list[tuple[int, int]] = []
    open_at: int | None = None
    open_name = b""
    pos = 0
    while (match := _TOKEN.search(body, pos)) is not None:
        token = match.group(0)
        if token[1:2] == b"!":
            if token[2:3] in b"dD":
                return None  # a DOCTYPE: entities may be defined there
            close = b"]]>" if token[2:3] == b"[" else b"-->"
            end = body.find(close, match.end())
            if end < 0:
                return None
            pos = end + len(close)
            continue
        closing, prefix, name = match.groups()
        if prefix or name not in (b"item", b"entry"):
            return None
        tag_end = body.find(b">", match.end())
        if tag_end < 0:
            return None
        if not closing:
            if open_at is not None or body[tag_end - 1 : tag_end] == b"/":
                return None  # nested, or an empty <item/>
            open_at, open_name = match.start(), name
        else:
            if open_at is None or name != open_name or body[match.end() : tag_end].strip():
                return None
            spans.append((open_at, tag_end + 1))
            open_at = None
        pos = tag_end + 1
    return None if open_at is not None else spans
