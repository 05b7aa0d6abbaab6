"""OPML import and export of feed lists (for operators moving feeds from or to a feed reader).

Pure functions over bytes and plain data; the CLI (``cli.opml``) reads and writes the files.

- ``read_opml(data, source=...)`` parses an OPML 1.0/2.0 document into ``OpmlFeed`` entries
  and a list of problems (bad URLs, outlines without a URL). OPML files come from anywhere, so
  the XML is untrusted: any DOCTYPE or entity declaration is refused outright (no DTD, no
  internal or external entities: no billion laughs, no file or network reads), and the
  document is parsed by expat without an ElementTree in memory beyond the outlines.
- Folders (outlines holding outlines) and the ``category`` attribute (comma-separated,
  each possibly a ``/``-path, as OPML 2.0 writes them) become tags.
- ``write_opml(feeds, title=...)`` writes OPML 2.0 with ``text``/``title`` (the name),
  ``xmlUrl``, ``category`` (the tags) and ``feedId`` (the monitor's id), so an export read back
  gives the same ids, names, urls and tags.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urlsplit
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

_ID_OK = re.compile(r"^[A-Za-z0-9_.-]+$")
_SLUG_DROP = re.compile(r"[^a-z0-9]+")


class OpmlError(ValueError):
    """The file is not OPML we accept (not XML, a DTD or entity, no ``<body>``)."""


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One feed outline: what the config's ``feeds`` entry needs."""

    id: str
    name: str
    url: str
    tags: tuple[str, ...] = ()

    def as_config(self) -> dict[str, object]:
        entry: dict[str, object] = {"id": self.id, "name": self.name, "url": self.url}
        if self.tags:
            entry["tags"] = list(self.tags)
        return entry


@dataclass
class OpmlRead:
    """What one OPML file held: feeds in document order, and what was wrong with the rest."""

    feeds: list[OpmlFeed] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class _Outline:
    attrs: dict[str, str]
    tags: tuple[str, ...]
    has_children: bool = False


def read_opml(data: bytes, *, source: str = "OPML") -> OpmlRead:
    """Parse ``data``; ``OpmlError`` when it is not acceptable OPML at all."""
    outlines = _outlines(data, source)
    result = OpmlRead()
    taken: set[str] = set()
    for number, outline in enumerate(outlines, start=1):
        feed = _feed_of(
            outline, taken, where=f"{source}: outline {number}", problems=result.problems
        )
        if feed is not None:
            taken.add(feed.id)
            result.feeds.append(feed)
    return result


def _outlines(data: bytes, source: str) -> list[_Outline]:
    """Every outline with its folder tags, via expat with DTDs and entities refused."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Outline] = []
    found: list[_Outline] = []
    seen = {"opml": False, "body": False}

    def refuse(*_: object) -> None:
        raise OpmlError(f"{source}: a DOCTYPE or entity declaration is not accepted in OPML")

    def start(name: str, attrs: dict[str, str]) -> None:
        if name in seen:
            seen[name] = True
        if name != "outline":
            return
        if stack:
            stack[-1].has_children = True
        parent_tags = stack[-1].tags if stack else ()
        outline = _Outline(attrs=attrs, tags=parent_tags)
        stack.append(outline)
        found.append(outline)

    def end(name: str) -> None:
        if name != "outline":
            return
        folder = stack.pop()
        if folder.has_children:  # a folder: its name tags what it holds
            label = _tag(folder.attrs.get("text") or folder.attrs.get("title") or "")
            for child in found[found.index(folder) + 1 :]:
                if label and label not in child.tags:
                    child.tags = (label, *child.tags)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise OpmlError(f"{source}: not well-formed XML ({expat.errors.messages[exc.code]},"
                        f" line {exc.lineno})") from None  # fmt: skip
    if not (seen["opml"] and seen["body"]):
        raise OpmlError(f"{source}: not OPML (no <opml> with a <body>)")
    return [o for o in found if not o.has_children]


def _feed_of(
    outline: _Outline, taken: set[str], *, where: str, problems: list[str]
) -> OpmlFeed | None:
    attrs = outline.attrs
    url = (attrs.get("xmlUrl") or attrs.get("xmlurl") or "").strip()
    label = (attrs.get("title") or attrs.get("text") or "").strip()
    if not url:
        problems.append(f"{where} ({label or 'untitled'}): no xmlUrl, skipped")
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(f"{where} ({label or 'untitled'}): bad feed URL {url!r}, skipped")
        return None
    name = " ".join(label.split()) or parts.hostname
    categories = [_tag(part) for cat in attrs.get("category", "").split(",") for part in
                  cat.split("/")[-1:]]  # fmt: skip
    tags = tuple(dict.fromkeys(t for t in (*outline.tags, *categories) if t))
    wanted = attrs.get("feedId", "").strip()
    base = wanted if _ID_OK.match(wanted) else _slug(label) or _slug(parts.hostname)
    return OpmlFeed(id=_unique(base, taken), name=name, url=url, tags=tags)


def _tag(text: str) -> str:
    return " ".join(text.split()).strip()


def _slug(text: str) -> str:
    return _SLUG_DROP.sub("-", text.lower()).strip("-")[:60]


def _unique(base: str, taken: set[str]) -> str:
    base = base or "feed"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def new_feeds(
    feeds: Iterable[OpmlFeed], *, known_urls: Iterable[str], known_ids: Iterable[str] = ()
) -> tuple[list[OpmlFeed], list[OpmlFeed]]:
    """(feeds to add, feeds skipped): a URL already configured, or repeated in the file, is
    skipped; an id that clashes with a configured one gets a ``-2`` suffix."""
    seen = {_same_url(u) for u in known_urls}
    ids = set(known_ids)
    fresh: list[OpmlFeed] = []
    skipped: list[OpmlFeed] = []
    for feed in feeds:
        key = _same_url(feed.url)
        if key in seen:
            skipped.append(feed)
            continue
        seen.add(key)
        feed_id = _unique(feed.id, ids)
        ids.add(feed_id)
        fresh.append(OpmlFeed(id=feed_id, name=feed.name, url=feed.url, tags=feed.tags))
    return fresh, skipped


def _same_url(url: str) -> str:
    """A URL compared loosely: scheme and host are case-insensitive, a trailing / ignored."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or ""
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}{query}"


def write_opml(feeds: Sequence[OpmlFeed], *, title: str, now: datetime) -> str:
    """An OPML 2.0 document listing ``feeds`` (``feedId`` keeps the monitor's ids)."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{escape(title)}</title>",
        f"    <dateCreated>{escape(format_datetime(now))}</dateCreated>",
        "  </head>",
        "  <body>",
    ]
    for feed in feeds:
        attrs = {
            "type": "rss",
            "text": feed.name,
            "title": feed.name,
            "xmlUrl": feed.url,
            "feedId": feed.id,
        }
        if feed.tags:
            attrs["category"] = ",".join(feed.tags)
        rendered = " ".join(f"{key}={quoteattr(value)}" for key, value in attrs.items())
        lines.append(f"    <outline {rendered}/>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines)
