"""A loopback article server for the enrichment tests: news pages, robots.txt, hostile pages.

It is a ``FeedServer`` (same behaviours: ``status``, ``slow``, ``gzip_bomb``, ``redirect`` …,
same request log) serving HTML instead of feeds::

    server = ArticleServer().start()                 # or the ``article_server`` fixture
    url = server.set_article("/world/ship", "Title", ["First paragraph.", "Second."])
    server.set_robots("User-agent: *\\nDisallow: /private/\\n")   # default: 404, no rules
    server.article_requests()                        # requests for anything but robots.txt

Page builders: ``article_html(title, paragraphs)`` (a page with navigation, a sidebar and a
footer around the article, so extraction has boilerplate to remove) and ``nested_bomb(depth)``
(a small page whose elements nest ``depth`` deep, the "HTML bomb" a parser chokes on).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from html import escape
from typing import Any

import pytest

from tests.servers.feed_server import FeedServer, Recorded

HTML = "text/html; charset=utf-8"


def article_html(title: str, paragraphs: Sequence[str]) -> bytes:
    """A news page: menu, article (headline and paragraphs), related links, footer."""
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    menu = "".join(f'<li><a href="/{n}">{n.title()}</a></li>' for n in ("world", "asia", "sport"))
    related = "".join(f'<li><a href="/r{i}">Related story {i}</a></li>' for i in range(5))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)} | Example News</title></head>
<body>
<header><nav><ul>{menu}</ul></nav><div class="cookie">We use cookies. Accept?</div></header>
<main><article>
<h1>{escape(title)}</h1>
<div class="byline">By A. Reporter, 1 March 2026</div>
{body}
</article>
<aside><h3>Most read</h3><ul>{related}</ul></aside></main>
<footer>© Example News. All rights reserved. <a href="/privacy">Privacy</a></footer>
</body></html>""".encode()


def nested_bomb(depth: int = 200_000) -> bytes:
    """A page of ``depth`` nested ``<div>`` elements (a few hundred KB)."""
    return b"<html><body>" + b"<div>" * depth + b"deep" + b"</div>" * depth + b"</body></html>"


class ArticleServer(FeedServer):
    """A ``FeedServer`` with helpers for article pages and robots.txt."""

    def set_article(self, path: str, title: str, paragraphs: Sequence[str], **options: Any) -> str:
        """Serve an article page at ``path``; returns its URL."""
        return self.set_feed(path, article_html(title, paragraphs), content_type=HTML, **options)

    def set_page(self, path: str, body: bytes, **options: Any) -> str:
        return self.set_feed(path, body, content_type=HTML, **options)

    def delete(self, path: str) -> None:
        """The page is gone: 404 from now on."""
        self.set_feed(path, b"gone", content_type=HTML, behaviour="status", status=404)

    def set_robots(self, text: str, **options: Any) -> None:
        self.set_feed("/robots.txt", text.encode(), content_type="text/plain", **options)

    def article_requests(self) -> list[Recorded]:
        """Every request except those for robots.txt."""
        return [r for r in self.requests if not r.path.startswith("/robots.txt")]

    def robots_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/robots.txt")]


@pytest.fixture
def article_server() -> Iterator[ArticleServer]:
    server = ArticleServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
