"""Story identity and near-duplicate signatures (pure core: no I/O, no clock).

For the pipeline and ``cluster_index``. Three questions, three kinds of answer:

* **Is this the same item?** ``story_key``: a permalink GUID, else the canonical URL (tracking
  parameters, AMP variants, ``www.``, default ports, fragments and trailing slashes removed),
  else a hash of feed id and normalised title. ``content_hash`` then tells an edited title or
  summary under the same key (an update) from a repeat.
* **Is this the same text from another outlet?** ``signature`` + ``similarity``: two items from
  different feeds are copies when their titles are the same headline (word sequence similarity,
  numbers must agree, a whole title extended by a prefix or suffix counts) or when title and
  summary share most word pairs (Jaccard over a bottom-k sketch of word bigrams). Two items of
  one feed count as copies only on the second test: a feed re-publishing its own story under a
  new link keeps its text, while a feed's series ("day 263 of the war", lottery numbers, photo
  galleries) keeps its template and changes the news.
* **Which stored stories could match?** ``band_keys``: MinHash bands over the text sketch plus
  headline keys (the content-word set, the set with any one word removed, the first and last
  four content words), so a one-word edit or an added prefix still meets its original. Keys are
  63-bit integers, recomputable from a stored signature (pruning deletes them exactly).

The pair set in ``bench/pairs`` (real 2022 feed items, labeled by hand) measures the choice of
``DEFAULT_THRESHOLD``; see ``bench/README.md (section "Dedup")``.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
import struct
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from monitor.models import Story

DEFAULT_THRESHOLD = 0.85
SKETCH_SIZE = 64
TEXT_BANDS = 5
TEXT_ROWS = 3
MIN_TITLE_WORDS = 4
AFFIX_SCORE = 0.9
MAX_TEXT_CHARS = 2000
_MAX_TITLE_KEYS = 16


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

_STOPWORDS = _word_set(
    "a an the of to in on at for and or but by with from as into over after about than is",
    "are was were be been has have had will would can could may might says said say it",
    "its this that these those he she they we you i his her their our your not no new who",
    "what how why when where which while s",
)
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


@functools.lru_cache(maxsize=1 << 16)  # words repeat across stories
def _h32(word: str) -> int:
    """A stable 32-bit id of a word (Python's own str hash changes per process)."""
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=4, person=b"sm-dedup-w")
    return int.from_bytes(digest.digest(), "little")


_M64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """A 64-bit finaliser (splitmix64): spreads integer combinations of ids over all bits."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


# An ordered word pair's id, ((a * K1) ^ b) * K2 >> 32: word ids are uniform already, so two
# multiplications mix them well enough for sampling (and cost far less than a digest).
_K1, _K2 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F


def _key63(tag: int, value: int) -> int:
    """An index key from a uniform 64-bit ``value``, in ``tag``'s namespace; fits SQLite's
    signed 64-bit INTEGER. (Sums of mixed elements are uniform already: no mixing needed.)"""
    return ((value + tag * 0xD6E8FEB86659FD93) & _M64) >> 1


@functools.lru_cache(maxsize=1 << 16)
def _element(x: int) -> int:
    return _mix64(x ^ 0x5BD1E9955BD1E995)


_STOP_IDS = frozenset(_h32(word) for word in _STOPWORDS)
_BOUNDARY_ID = _h32("\x1f")  # between title and summary: pairs never span the two
_TAG_TITLE, _TAG_PREFIX, _TAG_SUFFIX, _TAG_BAND = 1, 2, 3, 16


# --- signatures -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signature:
    """What similarity needs of one story, compact enough to store (``to_bytes``).

    ``title_words``: hashed normalised title words in order; ``title_numbers``: those that
    contain digits; ``text_sketch``: the ``SKETCH_SIZE`` smallest hashed word bigrams of title +
    summary (the whole set when smaller); ``text_size``: that set's true size.
    """

    feed_id: str
    title_words: tuple[int, ...]
    title_numbers: frozenset[int]
    text_sketch: frozenset[int]
    text_size: int

    def to_bytes(self) -> bytes:
        """The signature minus ``feed_id`` (stored beside it), as packed little-endian u32s."""
        numbers = sorted(self.title_numbers)
        head = struct.pack(
            "<BBBBI",
            _FORMAT_VERSION,
            len(self.title_words),
            len(numbers),
            len(self.text_sketch),
            self.text_size,
        )
        body = (*self.title_words, *numbers, *sorted(self.text_sketch))
        return head + struct.pack(f"<{len(body)}I", *body)

    @classmethod
    def from_bytes(cls, data: bytes, feed_id: str) -> Signature:
        """Reverses ``to_bytes``; raises ``ValueError`` on data of another format."""
        version, n_title, n_numbers, n_sketch, text_size = struct.unpack_from("<BBBBI", data)
        if version != _FORMAT_VERSION:
            raise ValueError(f"dedup signature format {version}, expected {_FORMAT_VERSION}")
        body = struct.unpack_from(f"<{n_title + n_numbers + n_sketch}I", data, 8)
        return cls(
            feed_id=feed_id,
            title_words=tuple(body[:n_title]),
            title_numbers=frozenset(body[n_title : n_title + n_numbers]),
            text_sketch=frozenset(body[n_title + n_numbers :]),
            text_size=text_size,
        )


def signature(story: Story) -> Signature:
    """The near-duplicate signature of ``story`` (title + summary, or content when no summary)."""
    title = normalise_words(story.title)[:255]
    title_ids = [_h32(w) for w in title]
    body_ids = [_h32(w) for w in normalise_words((story.summary or story.content)[:MAX_TEXT_CHARS])]
    ids = [*title_ids, _BOUNDARY_ID, *body_ids] if body_ids else title_ids
    # _pair_id inlined: a function call per word pair costs more than the arithmetic.
    pairs = (
        {((((a * _K1) ^ b) * _K2) & _M64) >> 32 for a, b in itertools.pairwise(ids)}
        if len(ids) > 1
        else set(ids)
    )
    return Signature(
        feed_id=story.feed_id,
        title_words=tuple(title_ids),
        title_numbers=frozenset(
            i for w, i in zip(title, title_ids, strict=True) if not w.isalpha()
        ),
        text_sketch=frozenset(sorted(pairs)[:SKETCH_SIZE]),
        text_size=len(pairs),
    )


def band_keys(sig: Signature) -> list[int]:
    """Index keys: two stories that may be copies share at least one (LSH candidates)."""
    return [*_text_bands(sorted(sig.text_sketch)), *_title_keys(sig.title_words)]


def _text_bands(sketch: Sequence[int]) -> list[int]:
    """MinHash bands by one-permutation hashing: the sketch's ids (uniform already) fall into
    ``TEXT_BANDS * TEXT_ROWS`` bins by residue, each bin keeps its minimum, and an empty bin
    borrows from the next filled one (rotation densification, Shrivastava & Li 2014). Each
    bin then agrees between two sets with probability about their Jaccard similarity."""
    if not sketch:
        return []
    n_bins = TEXT_BANDS * TEXT_ROWS
    mins = [_EMPTY] * n_bins
    for x in sketch:
        slot, value = x % n_bins, x // n_bins
        current = mins[slot]
        if current == _EMPTY or value < current:
            mins[slot] = value
    filled = _densified(mins)
    return [
        _key63(_TAG_BAND + band, _ordered(filled[band * TEXT_ROWS : (band + 1) * TEXT_ROWS]))
        for band in range(TEXT_BANDS)
    ]


_EMPTY = -1


def _densified(mins: list[int]) -> list[int]:
    if _EMPTY not in mins:
        return mins  # the common case: every bin got a value
    size = len(mins)
    out = []
    for slot in range(size):
        for distance in range(size):
            value = mins[(slot + distance) % size]
            if value != _EMPTY:
                out.append(value + distance * (1 << 32))  # borrowed values differ from own ones
                break
    return out


def _title_keys(title_words: Sequence[int]) -> list[int]:
    if len(title_words) < MIN_TITLE_WORDS:
        return []
    content = [w for w in dict.fromkeys(title_words) if w not in _STOP_IDS]
    if len(content) < 2:
        return []
    # A set's key is the sum of its elements' hashes, so "the set minus one word" costs one
    # subtraction. One word inserted, deleted or replaced: both sides share such a key.
    elements = [_element(w) for w in content]
    total = sum(elements) & _M64
    keys = [_key63(_TAG_TITLE, total)]
    if len(elements) <= _MAX_TITLE_KEYS:
        keys += [_key63(_TAG_TITLE, (total - e) & _M64) for e in elements]
    if len(content) >= 4:
        # A title extended by a prefix or suffix ("Analysis:", ", officials say").
        keys += [
            _key63(_TAG_PREFIX, _ordered(elements[:4])),
            _key63(_TAG_SUFFIX, _ordered(elements[-4:])),
        ]
    return list(dict.fromkeys(keys))


def _ordered(elements: Sequence[int]) -> int:
    """An order-sensitive 64-bit combination of integers (one final mix)."""
    value = 0
    for e in elements:
        value = (value * 0x100000001B3 + e) & _M64
    return _mix64(value)


# --- similarity -------------------------------------------------------------------------------


def similarity(a: Signature, b: Signature) -> float:
    """How likely ``a`` and ``b`` are one text, 0..1; copies score ``>= DEFAULT_THRESHOLD``."""
    text = text_similarity(a, b)
    if a.feed_id == b.feed_id:
        return text
    return max(text, title_similarity(a, b))


def text_similarity(a: Signature, b: Signature) -> float:
    """Jaccard of the title + summary bigram sets (exact when both fit the sketch)."""
    if not a.text_sketch or not b.text_sketch:
        return 0.0
    set_a, set_b = a.text_sketch, b.text_sketch
    if a.text_size <= SKETCH_SIZE and b.text_size <= SKETCH_SIZE:
        return len(set_a & set_b) / len(set_a | set_b)
    # Bottom-k estimate: of the k smallest hashes of the union, the share that both contain.
    union = sorted(set_a | set_b)[:SKETCH_SIZE]
    return sum(1 for x in union if x in set_a and x in set_b) / len(union)


def title_similarity(a: Signature, b: Signature) -> float:
    """Headline similarity: longest common word subsequence over the longer title's length.

    0 when either title has fewer than ``MIN_TITLE_WORDS`` words or their numbers differ ("day
    263" is not "day 264"); ``AFFIX_SCORE`` at least when one whole title (5+ words) opens or
    closes the other.
    """
    words_a, words_b = a.title_words, b.title_words
    if min(len(words_a), len(words_b)) < MIN_TITLE_WORDS or a.title_numbers != b.title_numbers:
        return 0.0
    score = _lcs_length(words_a, words_b) / max(len(words_a), len(words_b))
    short, long_ = sorted((words_a, words_b), key=len)
    is_affix = long_[: len(short)] == short or long_[len(long_) - len(short) :] == short
    if len(short) >= 5 and is_affix:
        score = max(score, AFFIX_SCORE)
    return score


def _lcs_length(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common subsequence, bit-parallel (Hyyrö 2004): one pass over ``a``
    with ``b``'s positions as bits of a Python int, so a pair of titles costs microseconds."""
    if not a or not b:
        return 0
    positions: dict[int, int] = {}
    for i, y in enumerate(b):
        positions[y] = positions.get(y, 0) | (1 << i)
    mask = (1 << len(b)) - 1
    row = mask
    for x in a:
        matches = row & positions.get(x, 0)
        row = ((row + matches) | (row - matches)) & mask
    return len(b) - row.bit_count()
