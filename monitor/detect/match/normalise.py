"""Normalise story text for matching, keeping a map back to the original offsets.

For the gazetteer (and whoever builds keys for it): ``normalise(text)`` returns a ``NormText``
whose ``text`` is the folded form the Aho-Corasick automaton scans, and whose
``span(start, end)`` turns a span of that folded form back into a span of the original, so
highlights land on the words the reader saw.

The folding, on C-level string methods (no per-character Python loop on the common path,
because matching runs on every story of every feed):

1. HTML stripped (tags become a space, entities decoded) when the text holds markup;
2. NFKC (full-width letters, ligatures) when the text is not already NFKC;
3. casefold (``KIM`` = ``kim``, ``ß`` = ``ss``);
4. punctuation, hyphens, dots, quotes and apostrophes become a space, so
   ``Kim Jong-un`` = ``KIM JONG UN`` and ``D.P.R.K.`` = ``d p r k`` (the gazetteer adds the
   dotless variant for acronyms).

Every step maps one character to one, so a folded position is an original position (except
after HTML stripping or a length-changing fold, which keep explicit offset arrays). Runs of
spaces are *not* collapsed: aliases fold the same way (``N. Korea`` gives ``n  korea`` in both),
and collapsing would cost an offset map on every story with a hit.

``text`` is a *byte view*: the UTF-8 bytes of the folded text, one ``str`` character per byte
(latin-1), and ``data`` the same bytes, which the automaton scans. For English text it is the
folded text itself. Why bytes: a watchlist with Hangul and Cyrillic names gives an automaton
over characters a root with hundreds of children; over bytes the fan-out stays small. Keys are
folded the same way (``fold``), so they line up; ``char_before`` / ``char_after`` decode the
characters around a match for the per-script boundary checks, and ``span`` counts characters
only for the hits (no offset table is built for a story without markup or length changes).

Cost per ~1.5 KB story: ASCII text (typographic quotes included) is one ``bytes.translate``.
Two more fast paths cover most Korean and Russian text: ASCII plus Hangul syllables needs no
case or NFKC folding at all, and ASCII plus basic Cyrillic (U+0400-U+047F) only ``lower``; each
is taken after a check over the encoded bytes, and the tests prove for every character of those
ranges that it gives what the general path gives. Anything else pays ``casefold``, an NFKC
check and the encoding, and the punctuation regex only when a byte that can start such a
character is present. ``NormText.script`` says which kind of text it was, so the gazetteer can
scan it with only the keys that can occur in it.
"""

from __future__ import annotations

import bisect
import html
import re
import unicodedata
from dataclasses import dataclass

# Non-ASCII punctuation and spaces news text actually carries (typographic quotes, dashes,
# middle dots, NBSP, ideographic space ...). Every ASCII non-alphanumeric becomes a space too.
_UNICODE_PUNCTUATION = (
    "\u2019\u201c\u201d\u2018\u2014\u2013\u00a0\u2026\u00b7\u00ab\u00bb\u2010\u2011\u2012"
    "\u2015\u201a\u201b\u201e\u201f\u2022\u2027\u2032\u2033\u2039\u203a\u2212\u3000\u3001"
    "\u3002\u300a\u300b\u300c\u300d\u30fb\uff0c\uff0e\u200b\u200c\u200d\u2060\ufeff\u2028"
    "\u2029\u00ad\u02bc\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u00a8\u00b4\u02b9\u02bb"
)
# The most frequent ones first: they are tried one by one with ``str.replace``, which turns
# most English text with typographic quotes into ASCII (the fast path).
_COMMON_PUNCTUATION = _UNICODE_PUNCTUATION[:12]
_UNICODE_PUNCTUATION_RE = re.compile("[" + re.escape(_UNICODE_PUNCTUATION) + "]")
# Every byte but the UTF-8 lead bytes of those characters (C2, CA, CB, E2, E3, EF).
_NOT_PUNCTUATION_LEADS = bytes(
    b for b in range(256) if b not in {char.encode("utf-8")[0] for char in _UNICODE_PUNCTUATION}
)
# For the two fast paths of ``normalise``: the lead bytes that text of ASCII plus Hangul
# syllables cannot hold (it has only EA-ED; an EA lead followed by 80-AF starts U+A000-U+ABFF,
# which is not Hangul), and those that text of ASCII plus basic Cyrillic U+0400-U+047F cannot
# hold (it has only D0-D1). tests/test_match_normalise.py checks, for every character of those
# ranges, what the fast paths rely on.
_LEADS = range(0xC0, 0x100)
_NOT_HANGUL_LEADS = bytes(b for b in _LEADS if b not in b"\xea\xeb\xec\xed")
_NOT_HANGUL_SYLLABLE = re.compile(b"\xea[\x80-\xaf]")
_NOT_CYRILLIC_LEADS = bytes(b for b in _LEADS if b not in b"\xd0\xd1")
_NON_ASCII = re.compile("[^\x00-\x7f]")
_ASCII_FOLD = bytes(
    (b + 32 if 65 <= b <= 90 else b if chr(b).isalnum() else 32) if b < 128 else b
    for b in range(256)
)

_MARKUP = re.compile(
    r"<!--.*?-->"
    r"|<(script|style)\b[^>]*>.*?</\1\s*>"
    r"|</?[A-Za-z][^<>]*>"
    r"|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});",
    re.S | re.I,
)


def fold(text: str) -> str:
    """The folded byte view of an alias or term, as ``normalise`` makes of story text."""
    return normalise(text).text.strip()


def unfold(view: str) -> str:
    """The characters of a byte view (for messages and script checks)."""
    return view.encode("latin-1").decode("utf-8", "replace")


# What a folded text holds (``NormText.script``).
ASCII_TEXT, HANGUL_TEXT, CYRILLIC_TEXT, MIXED = "ascii", "hangul", "cyrillic", "mixed"


@dataclass(slots=True)
class NormText:
    """Folded text (as a byte view) plus what it takes to map it back to the original."""

    original: str
    text: str
    ascii_only: bool = True
    # Per character of the folded text: the original span it came from (None = identity, or
    # ``markup`` when only HTML stripping moved offsets).
    starts: list[int] | None = None
    ends: list[int] | None = None
    # The same view as ``bytes`` (what the automaton scans); empty when the caller built it.
    data: bytes = b""
    # The last (byte, character) position ``_char_pos`` worked out: hits come roughly in text
    # order, so each one costs a count over the bytes since the previous one, not from 0.
    cursor: tuple[int, int] = (0, 0)
    markup: MarkupMap | None = None
    # Which characters the text holds once folded (``ASCII``, ``HANGUL``: ASCII and Hangul
    # syllables, ``CYRILLIC``: ASCII and U+0400-U+047F, ``MIXED``: anything), so the gazetteer
    # can scan it with the keys that can occur in it.
    script: str = ASCII_TEXT

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original ``(start, end)`` of the folded span ``text[start:end]``."""
        if self.ascii_only and self.starts is None and self.markup is None:
            return start, end
        first = self._char_pos(start)
        last = self._char_pos(end - 1)
        if self.starts is not None and self.ends is not None:
            return self.starts[first], self.ends[last]
        if self.markup is not None:
            return self.markup.source(first)[0], self.markup.source(last)[1]
        return first, last + 1

    def _char_pos(self, byte_pos: int) -> int:
        """The index of the character holding byte ``byte_pos`` of the view.

        Worked out per hit, not per story (most stories have no hit in non-ASCII text): a
        character is one lead byte plus its continuation bytes (0x80-0xBF), so the characters
        between two byte positions are the bytes between them that are not continuations.
        """
        if self.ascii_only:
            return byte_pos
        if not self.data:
            self.data = self.text.encode("latin-1")
        data = self.data
        while 0 < byte_pos < len(data) and 0x80 <= data[byte_pos] < 0xC0:
            byte_pos -= 1  # inside a character: back to its first byte
        known_byte, known_char = self.cursor
        if byte_pos >= known_byte:
            char_pos = known_char + len(data[known_byte:byte_pos].translate(None, _CONTINUATION))
        else:
            char_pos = known_char - len(data[byte_pos:known_byte].translate(None, _CONTINUATION))
        self.cursor = (byte_pos, char_pos)
        return char_pos


def normalise(text: str) -> NormText:
    """Fold ``text`` (plain text or an HTML fragment) for matching; see the module docstring."""
    starts: list[int] | None = None
    ends: list[int] | None = None
    markup: MarkupMap | None = None
    plain = text
    folded: str | None = None
    if ("<" in text or "&" in text) and _MARKUP.search(text):
        plain, markup = _strip_markup(text)
    if not plain.isascii():
        for char in _COMMON_PUNCTUATION:  # one-for-one, so offsets do not move
            if char in plain:
                plain = plain.replace(char, " ")
    if plain.isascii():
        data = plain.encode("ascii").translate(_ASCII_FOLD)
        return NormText(text, data.decode("ascii"), True, None, None, data, markup=markup)
    script = MIXED
    first = _NON_ASCII.search(plain)
    if first is not None and "\u0400" <= first.group() < "\u0480":
        # Probably Russian: if every character is ASCII or basic Cyrillic (U+0400-U+047F) once
        # lowered, ``lower`` is the whole case and NFKC fold and there is no punctuation left.
        # The ASCII fold deletes any other lead byte, so an unchanged length is the check.
        folded = plain.lower()
        data = folded.encode("utf-8")
        view_data = data.translate(_ASCII_FOLD, _NOT_CYRILLIC_LEADS)
        if len(view_data) == len(data) and len(folded) == len(plain):
            script = CYRILLIC_TEXT
        else:
            folded = None
    else:
        data = plain.encode("utf-8")
        view_data = data.translate(_ASCII_FOLD, _NOT_HANGUL_LEADS)
        if len(view_data) == len(data) and not _NOT_HANGUL_SYLLABLE.search(data):
            # ASCII and Hangul syllables (most Korean text): uncased and NFKC already.
            folded = plain
            script = HANGUL_TEXT
    if folded is None:
        folded = plain.casefold()
        if len(folded) != len(plain) or not unicodedata.is_normalized("NFKC", plain):
            if markup is not None:
                starts, ends, markup = *markup.arrays(), None
            folded, starts, ends = _fold_slowly(plain, starts, ends)
        data = folded.encode("utf-8")
        if data.translate(None, _NOT_PUNCTUATION_LEADS):  # cheaper than a regex that finds none
            folded = _UNICODE_PUNCTUATION_RE.sub(" ", folded)
            data = folded.encode("utf-8")
        if data.isascii():
            script = ASCII_TEXT
        view_data = data.translate(_ASCII_FOLD)
    data = view_data
    view = data.decode("latin-1")
    return NormText(
        text, view, len(view) == len(folded), starts, ends, data, markup=markup, script=script
    )


_CONTINUATION = bytes(range(0x80, 0xC0))


class MarkupMap:
    """Where each character of HTML-stripped text came from, kept per piece, not per character.

    Text between tags keeps its offsets (shifted); a tag (one space) or an entity (its decoded
    characters) maps to the whole token. ``source`` looks a character up by bisection, so a
    story with markup pays for the hits it has, not for its length.
    """

    __slots__ = ("_spans", "_starts", "length")

    def __init__(self) -> None:
        self._starts: list[int] = []  # first character of each piece in the stripped text
        self._spans: list[tuple[int, int, bool]] = []  # original start, end, kept verbatim
        self.length = 0  # of the stripped text

    def add(self, text: str, orig_start: int, orig_end: int, verbatim: bool) -> None:
        """Append ``text`` to the stripped text; it stands for ``original[orig_start:orig_end]``."""
        self._starts.append(self.length)
        self._spans.append((orig_start, orig_end, verbatim))
        self.length += len(text)

    def source(self, char: int) -> tuple[int, int]:
        """The original span of character ``char`` of the stripped text."""
        i = bisect.bisect_right(self._starts, char) - 1
        orig_start, orig_end, verbatim = self._spans[i]
        if verbatim:
            pos = orig_start + char - self._starts[i]
            return pos, pos + 1
        return orig_start, orig_end

    def arrays(self) -> tuple[list[int], list[int]]:
        """Per-character starts and ends (for ``_fold_slowly``, which changes lengths)."""
        starts: list[int] = []
        ends: list[int] = []
        bounds = [*self._starts[1:], self.length]
        for i, (orig_start, orig_end, verbatim) in enumerate(self._spans):
            count = bounds[i] - self._starts[i]
            if verbatim:
                starts.extend(range(orig_start, orig_start + count))
                ends.extend(range(orig_start + 1, orig_start + count + 1))
            else:
                starts.extend([orig_start] * count)
                ends.extend([orig_end] * count)
        return starts, ends


def _strip_markup(text: str) -> tuple[str, MarkupMap]:
    """Remove tags (each becomes one space) and decode entities, tracking original spans."""
    pieces: list[str] = []
    offsets = MarkupMap()
    cursor = 0
    for match in _MARKUP.finditer(text):
        if match.start() > cursor:
            pieces.append(text[cursor : match.start()])
            offsets.add(pieces[-1], cursor, match.start(), True)
        token = match.group(0)
        decoded = html.unescape(token) if token.startswith("&") else " "
        if decoded:
            pieces.append(decoded)
            offsets.add(decoded, match.start(), match.end(), False)
        cursor = match.end()
    if cursor < len(text) or not pieces:
        pieces.append(text[cursor:])
        offsets.add(pieces[-1], cursor, len(text), True)
    return "".join(pieces), offsets


def _fold_slowly(
    plain: str, starts: list[int] | None, ends: list[int] | None
) -> tuple[str, list[int], list[int]]:
    """NFKC + casefold one character at a time, for text where lengths change."""
    out: list[str] = []
    new_starts: list[int] = []
    new_ends: list[int] = []
    for i, char in enumerate(plain):
        folded = unicodedata.normalize("NFKC", char).casefold()
        begin = starts[i] if starts is not None else i
        finish = ends[i] if ends is not None else i + 1
        out.append(folded)
        new_starts.extend([begin] * len(folded))
        new_ends.extend([finish] * len(folded))
    return "".join(out), new_starts, new_ends


# --- scripts, for per-script boundary checks ------------------------------------------------

LATIN, HANGUL, CYRILLIC, OTHER, SPACE = "L", "H", "C", "O", " "


def script_of(char: str) -> str:
    """The script class of one folded character: Latin (and digits), Hangul, Cyrillic, other."""
    if char == " ":
        return SPACE
    code = ord(char)
    if code < 0x250:
        return LATIN if char.isalnum() else OTHER
    if 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return HANGUL
    if 0x0400 <= code <= 0x052F:
        return CYRILLIC
    return OTHER


def char_before(view: str, pos: int) -> str:
    """The character that ends just before byte ``pos`` of a view (a space at the start)."""
    if pos <= 0:
        return " "
    if view[pos - 1] < "\x80":
        return view[pos - 1]
    start = pos - 1
    while start > 0 and "\x80" <= view[start] < "\xc0":
        start -= 1
    return unfold(view[start:pos])[-1:] or " "


def char_after(view: str, pos: int) -> tuple[str, int]:
    """The character starting at byte ``pos`` of a view and the position after it."""
    if pos >= len(view):
        return " ", pos
    lead = view[pos]
    if lead < "\x80":
        return lead, pos + 1
    size = 2 if lead < "\xe0" else 3 if lead < "\xf0" else 4
    return unfold(view[pos : pos + size])[:1] or " ", pos + size
