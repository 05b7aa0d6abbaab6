"""Extract an article's main text from its HTML with ``trafilatura`` (boilerplate removed).

Pure (no I/O): for the parse worker process (``parse_pool``), which runs ``extract_article``
under a time limit because the HTML is untrusted (a deeply nested or huge page can make the
parser slow). ``trafilatura`` is imported on first use, so feed-only workers never pay for it.

The text comes back one paragraph per line, whitespace collapsed inside each line, cut to
``max_chars``; ``None`` when the page has no main text (an index page, a JavaScript shell, fewer
than ``MIN_WORDS`` words).
"""

from __future__ import annotations

import re
from configparser import ConfigParser
from functools import cache

MAX_TREE_SIZE = 100_000  # elements: trafilatura gives up on larger trees (an HTML bomb)
MIN_WORDS = 15  # less is a menu or a caption that trafilatura kept, not an article
_SPACES = re.compile(r"[^\S\n]+")
_WORD = re.compile(r"\w+")


def extract_article(html: bytes, *, url: str | None, max_chars: int) -> str | None:
    """The main text of ``html`` (bytes as received; trafilatura detects the encoding)."""
    import trafilatura  # a heavy import (lxml, justext, htmldate): only where articles are read

    text = trafilatura.extract(
        html,
        url=url,
        output_format="txt",
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        favor_precision=True,
        deduplicate=False,  # its cache spans calls: one article must not hide another's lines
        with_metadata=False,
        config=_config(),
    )
    if not text:
        return None
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    cleaned = "\n".join(line for line in lines if line)[:max_chars].rstrip()
    return cleaned if len(_WORD.findall(cleaned)) >= MIN_WORDS else None


@cache
def _config() -> ConfigParser:
    """trafilatura's defaults with a bound on the element count (its own way to set it)."""
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "MAX_TREE_SIZE", str(MAX_TREE_SIZE))
    return config
