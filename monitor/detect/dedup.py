"""Story identity and near-duplicate signatures (pure core: no I/O, no clock).

For the pipeline and ``cluster_index``. Three questions, three kinds of answer:

* **Is this the same item?** ``story_key``: a permalink GUID, else the canonical URL (tracking
  parameters, AMP variants, ``www.``, default ports, fragments and trailing slashes removed),
  else a hash of feed id and normalised title. ``content_hash`` then tells an edited title or
  summary under the same key (an update) from a repeat.
* **Is this the same report from another outlet?** Answered by ``monitor.detect.similar``
  (signatures, similarity, index keys), which builds on ``normalise_words`` here.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from monitor.models import Story

MAX_TEXT_CHARS = 2000


def _word_set(*lines: str) -> frozenset[str]:
    return frozenset(word for line in lines for word in line.split())


# Query parameters that say where a click came from, never which story it is.
_TRACKING_PARAMS = _word_set(
    "fbclid gclid dclid gclsrc msclkid yclid igshid mkt_tok _ga _gl ref ref_src ref_url",
    "referrer ocid cmpid cmp icid ito smid smtyp partner src srcref li rss feed rd spm",
    "guccounter share cid_source sr_share taid soc_src soc_trk at_medium at_campaign",
    "at_custom1 at_custom2 at_custom3 at_custom4 outputtype amp amp_js_v usqp",
)
_TRACKING_PREFIXES = ("utm_", "mc_", "ns_", "at_", "pk_", "hsa_", "oly_", "vero_", "__twitter")
_DEFAULT_PORTS = {"http": 80, "https": 443}

_TO_ASCII = str.maketrans(
    {
        "‘": "'",
        "’": "'",
        "‚": "'",
        "“": '"',
        "”": '"',
        "„": '"',
        "–": "-",
        "—": "-",
        "…": "...",
        "`": "'",
        "ʼ": "'",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
    }
)
_TAG = re.compile(r"<[^>]*>")
_HASHTAG = re.compile(r"#\w+")
_NON_WORD = re.compile(r"[\W_]+")
_SPACE = re.compile(r"\s+")
_FORMAT_VERSION = 1


# --- identity ---------------------------------------------------------------------------------


def canonical_url(url: str) -> str:
    """``url`` reduced to what identifies the page: same story, same string.

    Lower-cases scheme and host, treats http as https, drops ``www.``/``amp.``/``m.`` hosts,
    default ports, the fragment, a trailing slash, AMP path forms (``/amp``, ``.amp``) and
    tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ``mc_*``, ``at_medium``, ``ref``,
    ``ocid`` ...); sorts the parameters that remain. Not a URL (no scheme and host): returned
    stripped, unchanged.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if not scheme or not host:
        return text
    if scheme == "http":
        scheme = "https"  # the same page; feeds switch between the two
    host = f"[{host}]" if ":" in host else _strip_host_prefixes(host)  # IPv6 keeps brackets
    if port is not None and port not in _DEFAULT_PORTS.values():
        host = f"{host}:{port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    return urlunsplit(
        (scheme, host, _canonical_path(parts.path), _canonical_query(parts.query), "")
    )


def _strip_host_prefixes(host: str) -> str:
    for prefix in ("www.", "amp.", "m."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
    return host


def _canonical_path(path: str) -> str:
    segments = [s for s in path.split("/") if s and s.lower() != "amp"]
    if segments:
        last = segments[-1]
        for suffix in (".amp.html", ".amp"):
            if last.lower().endswith(suffix):
                segments[-1] = last[: -len(suffix)] + (".html" if suffix == ".amp.html" else "")
    return "/" + "/".join(segments)


def _canonical_query(query: str) -> str:
    if not query:
        return ""  # most item links: skip parse_qsl and urlencode
    pairs = [
        (name, value)
        for name, value in parse_qsl(query, keep_blank_values=True)
        if not _is_tracking(name)
    ]
    return urlencode(sorted(pairs))


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_PARAMS or lowered.startswith(_TRACKING_PREFIXES)


def story_key(story: Story) -> str:
    """The story's identity across polls: ``url:<canonical URL>`` or ``title:<hash>``.

    A permalink GUID wins (it is the publisher's own link); else the item link; else, for an item
    with neither, a hash of feed id and normalised title. Opaque GUIDs are not used: some feeds
    rotate them on every build, which would make every poll look new.
    """
    for candidate in (story.guid if story.guid_is_permalink else None, story.url):
        if candidate and (key := _url_key(candidate)):
            return key
    material = f"{story.feed_id}\n{' '.join(normalise_words(story.title))}"
    return "title:" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


@functools.lru_cache(maxsize=1 << 14)  # a changed feed repeats most of its links every poll
def _url_key(candidate: str) -> str | None:
    """``url:<canonical URL>``, or ``None`` when ``candidate`` has no host to identify."""
    try:
        has_host = bool(urlsplit(candidate.strip()).netloc)
    except ValueError:  # "http://[bad" : no identity to take from it
        return None
    return "url:" + canonical_url(candidate) if has_host else None


def content_hash(story: Story) -> str:
    """A hash of the visible text (title, summary); a change under the same key is an update."""
    parts = (story.title, story.summary or story.content[:MAX_TEXT_CHARS])
    material = "\x1f".join(_SPACE.sub(" ", unicodedata.normalize("NFKC", p)).strip() for p in parts)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:32]


# --- normalisation ----------------------------------------------------------------------------


def normalise_words(text: str) -> list[str]:
    """Words for comparison: tags and hashtags gone, accents folded, case folded, punctuation
    dropped (apostrophes and dots join: "U.S." is "us"), everything else splits."""
    # Each step is skipped when it has nothing to do: this runs for every polled item.
    if "<" in text:
        text = _TAG.sub(" ", text)
    if "#" in text:
        text = _HASHTAG.sub(" ", text)
    if not text.isascii():
        text = text.translate(_TO_ASCII)
        if not text.isascii():
            text = unicodedata.normalize("NFKD", text)
            text = "".join(ch for ch in text if not unicodedata.combining(ch))
            text = unicodedata.normalize("NFKC", text)
    text = text.casefold().replace("'", "").replace(".", "")
    return _NON_WORD.sub(" ", text).split()
