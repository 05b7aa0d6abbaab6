"""Near-duplicate signatures: is this item the same report as one another outlet carried?

For ``state.clusters`` (which stores a ``Signature`` per story and looks candidates up by
``band_keys``) and for ``eval-dedup``. Pure core: no I/O, no clock.

Each signal is scored for what it is:

* **Headline** (``title_similarity``): words normalised, wire markers dropped ("UPDATE 1-",
  "EXCLUSIVE-", "Analysis:"), the outlet's own name dropped from the end, number words
  spelled as digits ("three" is "3"), light stemming ("offers"/"offering", "organise"/
  "organize"). The better of the longest common word sequence (Dice: twice its length over
  both lengths) and the shared content words over the larger set (reordered headlines).
  Two headlines whose numbers disagree (each has a number the other lacks: "day 263" /
  "day 264") score 0.
* **Summary** (``summary_containment``): the share of the shorter summary's word shingles
  (runs of three words, from its first ``MAX_SUMMARY_WORDS`` words) that the other one
  contains, so a dateline ("SEOUL (Reuters) -"), an agency tag, a truncation, an outlet's own
  intro or an extra sentence cost little. A summary under ``MIN_SUMMARY_SHINGLES`` shingles,
  or a photo caption ("… (Jane Doe/Reuters)"), carries no summary signal.
* **Combined** (``similarity``): a headline alone, weighted by ``TITLE_ONLY_WEIGHT``, decides
  for a title-only item; with both summaries present (``combined_score``) the summary decides
  when it is contained, a headline counts as long as the summaries do not contradict it, and a
  rewritten lede counts when headline and summary both agree fairly well. The same feed
  never matches on its headline (a feed's series keeps its template and changes the news).

``band_keys`` propose candidates by summary alone (MinHash bands over the summary's
shingles, and lede keys: its first shingles after the dateline) and by headline alone (the
content-word set, that set minus any one word, its first and last words), so a copy whose
headline or summary was rewritten still meets its original.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.detect.dedup import normalise_words
from monitor.models import Story

FORMAT_VERSION = 2
DEFAULT_THRESHOLD = 0.88
TITLE_DISCOUNT = 0.9
TITLE_ONLY_WEIGHT = 0.9
BOTH_WEIGHT = 2.0
MAX_SUMMARY_WORDS = 80
SKETCH_SIZE = 80
MIN_TITLE_WORDS = 4
MIN_SUMMARY_SHINGLES = 8
AFFIX_SCORE = 0.9
SAME_FEED_TITLE = 0.5
MAX_TEXT_CHARS = 2000
LEDE_SHINGLES = 6
TEXT_BANDS = 10
TEXT_ROWS = 1
_MAX_TITLE_KEYS = 16
_M64 = (1 << 64) - 1
_K1, _K2 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F
_TAG_TITLE, _TAG_PREFIX, _TAG_SUFFIX, _TAG_LEDE, _TAG_BAND = 33, 34, 35, 36, 48

# Markers that wire services and outlets put before a headline; not part of the news.
_WIRE_PREFIX = re.compile(
    r"^\s*(?:(?:update|wrapup|refile|corrected|correction|exclusive|analysis|factbox|explainer"
    r"|insight|focus|breakingviews|rpt|urgent|breaking(?: news)?|watch|live|video|photos"
    r"|opinion|editorial|in pictures|just in)(?:\s*\d+)?\s*[-:|–—]+\s*)+",
    re.IGNORECASE,
)
# "SEOUL (Reuters) -", "NANTERRE, France (AP) —", "SEOUL, June 3 (Yonhap) --", "(CNN) -"
_DATELINE = re.compile(
    r"^\s*(?:[A-Z][A-Za-z.'’ -]{1,40}(?:,[^()]{1,30})?\s*)?\([A-Za-z .&-]{2,30}\)\s*[-–—:]+\s*"
)
# A photo caption standing in for a summary ends with its credit: "(Jane Doe/Reuters)".
_CAPTION = re.compile(r"\((?:[^()]*/[^()]*|getty images|file photo)\)\s*\.?\s*$", re.IGNORECASE)
_AGENCY_TAG = re.compile(r"\s*\((?:[A-Z][\w.&-]*\s?){1,3}\)\s*$")
_NUMBER_TEXT = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred"
)
_NUMBER_WORDS = dict(
    zip(
        _NUMBER_TEXT.split(),
        [*map(str, range(1, 21)), "30", "40", "50", "60", "70", "80", "90", "100"],
        strict=True,
    )
)
_ALIASES = {"bn": "billion", "bln": "billion", "mln": "million", "pct": "percent",
            "nkorea": "north korea", "skorea": "south korea", "nkoreas": "north koreas",
            "nkorean": "north korean", "skorean": "south korean"}  # fmt: skip
_COMPASS = {"n": "north", "s": "south"}
_KOREA = frozenset({"korea", "koreas", "korean", "koreans"})
_WEEKDAY_TEXT = "monday tuesday wednesday thursday friday saturday sunday"
_WEEKDAYS = frozenset(_WEEKDAY_TEXT.split())
_UNIT = re.compile(r"^(\d+)([a-z]+)$")
_STOPWORD_TEXT = (
    "a an the of to in on at for and or but by with from as into over after about than is are "
    "was were be been has have had will would can could may might says said say it its this "
    "that these those he she they we you i his her their our your not no new who what how why "
    "when where which while s"
)


# --- words ------------------------------------------------------------------------------------


def headline_words(title: str, outlet: str | None = None) -> list[str]:
    """A headline's words for comparison: wire markers and the outlet's own name dropped."""
    text = _WIRE_PREFIX.sub("", title)
    words = _canonical(normalise_words(text))
    if outlet:
        tail = normalise_words(outlet)
        if tail and len(words) > len(tail) + 2 and words[-len(tail) :] == tail:
            words = words[: -len(tail)]
    return words


def summary_words(summary: str) -> list[str]:
    """A summary's words for comparison: a leading dateline and a trailing agency tag gone."""
    text = summary[:MAX_TEXT_CHARS]
    if _CAPTION.search(text):
        return []  # a caption describes the picture, not the report
    text = _AGENCY_TAG.sub("", _DATELINE.sub("", text, count=1))
    return _canonical(normalise_words(text))


def _canonical(words: Sequence[str]) -> list[str]:
    """Numbers as digits, units split off ("15bn" → "15 billion"), N./S. Korea spelled out,
    and a light stem, so spelling choices of two outlets agree."""
    out: list[str] = []
    for position, word in enumerate(words):
        if (unit := _UNIT.match(word)) and unit.group(2) in _ALIASES:
            out += [unit.group(1), _ALIASES[unit.group(2)]]
            continue
        following = words[position + 1] if position + 1 < len(words) else ""
        if word in _COMPASS and following in _KOREA:
            word = _COMPASS[word]
        word = _NUMBER_WORDS.get(word) or _ALIASES.get(word) or word
        out += [_stem(part) for part in word.split()]
    return out


_BRITISH = re.compile(r"(?<=\w\w\w)is(e|ed|es|ing|ation|ations)$")


def _stem(word: str) -> str:
    if len(word) <= 4 or not word.isalpha():
        return word
    word = _BRITISH.sub(r"iz\1", word)  # organise/organize: outlets of two spellings
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


@functools.lru_cache(maxsize=1 << 16)  # words repeat across stories
def _h32(word: str) -> int:
    """A stable 32-bit id of a word (Python's own str hash changes per process)."""
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=4, person=b"sm-dedup-w")
    return int.from_bytes(digest.digest(), "little")


_STOP_IDS = frozenset(_h32(word) for word in _STOPWORD_TEXT.split())


# --- signatures -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Signature:
    """What similarity needs of one story, compact enough to store (``to_bytes``).

    ``title_words``: hashed headline words in order; ``title_numbers``: those with digits;
    ``summary_sketch``: the ``SKETCH_SIZE`` smallest hashed shingles of the summary (all of
    them when fewer); ``summary_size``: how many distinct shingles it has; ``lede``: the hashes
    of its first ``LEDE_SHINGLES`` shingles, in order; ``days``: the weekdays the headline and
    summary name (a report "on Thursday" is not the one "on Wednesday").
    """

    feed_id: str
    title_words: tuple[int, ...]
    title_numbers: frozenset[int]
    summary_sketch: frozenset[int]
    summary_size: int
    lede: tuple[int, ...] = ()
    days: frozenset[int] = frozenset()

    def to_bytes(self) -> bytes:
        """The signature minus ``feed_id`` (stored beside it), as packed little-endian u32s."""
        numbers = sorted(self.title_numbers)
        head = struct.pack(
            "<BBBBBBI",
            FORMAT_VERSION,
            len(self.title_words),
            len(numbers),
            len(self.summary_sketch),
            len(self.lede),
            len(self.days),
            self.summary_size,
        )
        body = (
            *self.title_words, *numbers, *sorted(self.summary_sketch), *self.lede,
            *sorted(self.days),
        )  # fmt: skip
        return head + struct.pack(f"<{len(body)}I", *body)

    @classmethod
    def from_bytes(cls, data: bytes, feed_id: str) -> Signature:
        """Reverses ``to_bytes``; raises ``ValueError`` on data of another format."""
        version = data[0] if data else 0
        if version != FORMAT_VERSION:
            raise ValueError(f"dedup signature format {version}, expected {FORMAT_VERSION}")
        _, n_title, n_numbers, n_sketch, n_lede, n_days, size = struct.unpack_from("<BBBBBBI", data)
        count = n_title + n_numbers + n_sketch + n_lede + n_days
        body = struct.unpack_from(f"<{count}I", data, 10)
        t_end, n_end, s_end, l_end = itertools.accumulate((n_title, n_numbers, n_sketch, n_lede))
        return cls(
            feed_id=feed_id,
            title_words=tuple(body[:t_end]),
            title_numbers=frozenset(body[t_end:n_end]),
            summary_sketch=frozenset(body[n_end:s_end]),
            summary_size=size,
            lede=tuple(body[s_end:l_end]),
            days=frozenset(body[l_end:]),
        )


def signature(story: Story) -> Signature:
    """The near-duplicate signature of ``story`` (headline + summary, or content when none)."""
    title = headline_words(story.title, story.outlet)[:255]
    title_ids = [_h32(w) for w in title]
    body = summary_words(story.summary or story.content)
    ids = [_h32(w) for w in body[:MAX_SUMMARY_WORDS]]
    shingle_ids = _shingles(ids)
    distinct = set(shingle_ids)
    return Signature(
        feed_id=story.feed_id,
        title_words=tuple(title_ids),
        title_numbers=frozenset(i for w, i in zip(title, title_ids, strict=True) if _is_number(w)),
        summary_sketch=frozenset(sorted(distinct)[:SKETCH_SIZE]),
        summary_size=len(distinct),
        lede=tuple(shingle_ids[:LEDE_SHINGLES]),
        days=frozenset(_h32(w) for w in (*title, *body) if w in _WEEKDAYS),
    )


def _shingles(ids: Sequence[int]) -> list[int]:
    """Ids of the runs of three consecutive words (pairs alone match too much filler)."""
    return [_pair(_pair(a, b), c) for a, b, c in zip(ids, ids[1:], ids[2:], strict=False)]


def _is_number(word: str) -> bool:
    return any(ch.isdigit() for ch in word)


def _pair(a: int, b: int) -> int:
    """An ordered pair's 32-bit id: ids are uniform already, two multiplications mix them."""
    return ((((a * _K1) ^ b) * _K2) & _M64) >> 32


# --- index keys -------------------------------------------------------------------------------


def band_keys(sig: Signature) -> list[int]:
    """Index keys: two stories that may be copies share at least one (LSH candidates).

    By summary alone: MinHash bands and two lede keys (a summary with enough shingles);
    by headline alone: content-word set keys. 63-bit integers (they fit SQLite's INTEGER).
    """
    keys: list[int] = []
    if sig.summary_size >= MIN_SUMMARY_SHINGLES:
        keys += _summary_bands(sorted(sig.summary_sketch))
        if len(sig.lede) >= LEDE_SHINGLES:
            half = LEDE_SHINGLES // 2
            keys += [
                _key63(_TAG_LEDE, _ordered(sig.lede[: half + 1])),
                _key63(_TAG_LEDE + 8, _ordered(sig.lede[half - 1 :])),
            ]
    keys += _title_keys(sig.title_words)
    return list(dict.fromkeys(keys))


def _summary_bands(sketch: Sequence[int]) -> list[int]:
    """MinHash bands by one-permutation hashing: the sketch's ids (uniform already) fall into
    ``TEXT_BANDS * TEXT_ROWS`` bins by residue, each bin keeps its minimum, and an empty bin
    borrows from the next filled one (rotation densification, Shrivastava & Li 2014). Each
    bin then agrees between two sets with probability about their Jaccard similarity."""
    n_bins = TEXT_BANDS * TEXT_ROWS
    mins = [-1] * n_bins
    for x in sketch:
        slot, value = x % n_bins, x // n_bins
        if mins[slot] == -1 or value < mins[slot]:
            mins[slot] = value
    filled = _densified(mins)
    return [
        _key63(_TAG_BAND + band, _ordered(filled[band * TEXT_ROWS : (band + 1) * TEXT_ROWS]))
        for band in range(TEXT_BANDS)
    ]


def _densified(mins: list[int]) -> list[int]:
    if -1 not in mins:
        return mins  # the common case: every bin got a value
    size = len(mins)
    out = []
    for slot in range(size):
        for distance in range(size):
            value = mins[(slot + distance) % size]
            if value != -1:
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
    if len(content) >= 4:  # a headline extended by a prefix or suffix ("…, officials say")
        keys += [
            _key63(_TAG_PREFIX, _ordered(elements[:4])),
            _key63(_TAG_SUFFIX, _ordered(elements[-4:])),
        ]
    return keys


def _mix64(x: int) -> int:
    """A 64-bit finaliser (splitmix64): spreads integer combinations of ids over all bits."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


@functools.lru_cache(maxsize=1 << 16)
def _element(x: int) -> int:
    return _mix64(x ^ 0x5BD1E9955BD1E995)


def _key63(tag: int, value: int) -> int:
    """An index key from a uniform 64-bit ``value`` in ``tag``'s namespace (signed 64-bit)."""
    return ((value + tag * 0xD6E8FEB86659FD93) & _M64) >> 1


def _ordered(elements: Sequence[int]) -> int:
    """An order-sensitive 64-bit combination of integers (one final mix)."""
    value = 0
    for e in elements:
        value = (value * 0x100000001B3 + e) & _M64
    return _mix64(value)


# --- similarity -------------------------------------------------------------------------------


def similarity(a: Signature, b: Signature) -> float:
    """How likely ``a`` and ``b`` are one report, 0..1; copies score ``>= DEFAULT_THRESHOLD``."""
    contained = summary_containment(a, b)
    if a.feed_id == b.feed_id:  # one feed: its text must repeat, its headline template won't do
        if contained is not None:  # a shared boilerplate summary under new headlines is not
            return contained if title_similarity(a, b) >= SAME_FEED_TITLE else 0.0
        if a.summary_size and b.summary_size:
            return 0.0  # one headline over two different short summaries: the next item
        same = a.title_words == b.title_words and len(a.title_words) >= MIN_TITLE_WORDS + 2
        return 1.0 if same and not a.title_numbers else 0.0
    title = title_similarity(a, b)
    if a.days and b.days and not a.days & b.days:
        title = 0.0  # same wording, other day: the next launch, the next daily briefing
    if contained is None:
        return title * TITLE_ONLY_WEIGHT
    return combined_score(title, contained)


def combined_score(title: float, contained: float) -> float:
    """Headline and summary evidence together, for two items that both have a summary.

    The better of: the summary alone; the headline, discounted when the summaries share
    nothing (two reports of one event under one formulaic headline); and both at once, for a
    rewritten lede under an edited headline (each fairly high, neither alone enough).
    """
    headline = title * min(1.0, TITLE_DISCOUNT + contained)
    both = 1.0 - BOTH_WEIGHT * (1.0 - title) * (1.0 - contained)
    return max(contained, headline, both)


def title_similarity(a: Signature, b: Signature) -> float:
    """Headline similarity (see the module doc); 0 for short headlines or disagreeing numbers."""
    words_a, words_b = a.title_words, b.title_words
    if min(len(words_a), len(words_b)) < MIN_TITLE_WORDS:
        return 0.0
    if _numbers_disagree(a.title_numbers, b.title_numbers):
        return 0.0
    # Dice over the longest common word sequence: an inserted phrase costs half its length
    score = 2 * _lcs_length(words_a, words_b) / (len(words_a) + len(words_b))
    content_a = {w for w in words_a if w not in _STOP_IDS}
    content_b = {w for w in words_b if w not in _STOP_IDS}
    if content_a and content_b:
        shared = len(content_a & content_b) / max(len(content_a), len(content_b))
        score = max(score, shared)
    short, long_ = sorted((words_a, words_b), key=len)
    is_affix = long_[: len(short)] == short or long_[len(long_) - len(short) :] == short
    if len(short) >= 5 and is_affix:
        score = max(score, AFFIX_SCORE)
    return score


def _numbers_disagree(a: frozenset[int], b: frozenset[int]) -> bool:
    """Each headline has a number the other lacks ("day 263" / "day 264"); one headline with
    a number the other omits is an edit, not another event."""
    return bool(a - b) and bool(b - a)


def summary_containment(a: Signature, b: Signature) -> float | None:
    """Share of the shorter summary's shingles found in the other, or None when a summary is
    too short to say (fewer than ``MIN_SUMMARY_SHINGLES``).

    Exact when both summaries fit the sketch; else estimated on the hashes below the smaller
    of the two sketches' largest values, where both sets are fully known.
    """
    if min(a.summary_size, b.summary_size) < MIN_SUMMARY_SHINGLES:
        return None
    limit = min(_sketch_limit(a), _sketch_limit(b))
    seen_a = {x for x in a.summary_sketch if x <= limit}
    seen_b = {x for x in b.summary_sketch if x <= limit}
    smaller = min(len(seen_a), len(seen_b))
    return len(seen_a & seen_b) / smaller if smaller else 0.0


def _sketch_limit(sig: Signature) -> int:
    return max(sig.summary_sketch) if sig.summary_size > SKETCH_SIZE else _M64


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
