"""A story's confirmed hits with the positions rules measure: units, sentences, words, lists.

For ``rules`` (conditions measure scope and proximity here) and ``assess`` (which builds one
``Evidence`` per story). Positions are computed lazily, once per field, and only for stories
whose rules get past their cheap pre-checks:

- a **unit** is one item of a roundup: live blogs, "at a glance" digests and newsletters put
  unrelated paragraphs in one summary, so ``<p>``, ``<li>``, ``<br>``, line breaks and bullets
  end a unit, and no ``field`` or ``sentence`` condition looks across two units;
- a **sentence** ends at . ! ? followed by space (or at the end of a unit);
- an **enumeration** is a run of three or more entity names joined only by commas, "and",
  "or" (``China, Russia and North Korea``): its members are a list, not the two sides of a
  transfer (see ``Condition`` in ``rules``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence

from monitor.models import Hit

# A sentence ends at . ! ? (or their full-width forms) followed by space, unless the word
# before the dot is a single letter (U.S., D.P.R.K.) or a title (Mr., Gen.).
_SENTENCE_END = re.compile(
    r"(?<![\s.][A-Za-z])(?<!\b(?:Mr|Ms|Dr|St|No|Lt|Mt|vs))[.!?。！？]+[\"'”’»)]*\s+"
)
# Where a roundup's item ends: a block tag, a line break, or a bullet that opens a line.
_UNIT_BREAK = re.compile(
    r"</?(?:p|li|ul|ol|div|h[1-6]|tr|blockquote)\b[^>]*>|<br\s*/?>|\n\s*\n?"
    r"|(?:^|\s)[•▪►■◆●·](?=\s)|(?:^|\n)\s*[-*]\s",
    re.IGNORECASE,
)
# What may sit between two names of one list: a comma, "and", "or" (en, ru, ko), spaces.
_LIST_GLUE = re.compile(
    r"^(?:\s|,|，|、|;|&|\band\b|\bor\b|\bи\b|\bили\b|및|과|와|,?\s*as well as)*$",
    re.IGNORECASE,
)
_MIN_LIST = 3


class Evidence:
    """A story's confirmed hits plus lazily computed unit, word and sentence positions."""

    def __init__(self, texts: Mapping[str, str], hits: Sequence[Hit]) -> None:
        self.texts = texts
        self.hits = tuple(hits)
        self.refs = {h.ref for h in self.hits}
        self.sides = {h.side for h in self.hits if h.kind == "entity"}
        self.types = {h.entity_type for h in self.hits if h.kind == "entity"}
        self.facts = {
            *(("ref", ref) for ref in self.refs),
            *(("side", side) for side in self.sides if side is not None),
            *(("type", kind) for kind in self.types if kind is not None),
        }
        self._words: dict[str, list[int]] = {}
        self._sentences: dict[str, list[int]] = {}
        self._units: dict[str, list[int]] = {}
        self._lists: dict[Hit, tuple[Hit, ...]] | None = None

    def word_of(self, hit: Hit) -> int:
        """Index of the word where ``hit`` starts, within its field."""
        starts = self._words.get(hit.field)
        if starts is None:
            starts = [m.start() for m in re.finditer(r"\w+", self.texts.get(hit.field, ""))]
            self._words[hit.field] = starts
        return bisect.bisect_right(starts, hit.start)

    def unit_of(self, hit: Hit) -> int:
        """Index of the roundup unit (paragraph, list item, line) holding ``hit``."""
        ends = self._units.get(hit.field)
        if ends is None:
            ends = [m.start() for m in _UNIT_BREAK.finditer(self.texts.get(hit.field, ""))]
            self._units[hit.field] = ends
        return bisect.bisect_right(ends, hit.start)

    def sentence_of(self, hit: Hit) -> int:
        """Index of the sentence holding ``hit``, within its field (units end sentences)."""
        ends = self._sentences.get(hit.field)
        if ends is None:
            raw = self.texts.get(hit.field, "")
            found = {m.end() for m in _SENTENCE_END.finditer(raw)}
            found.update(m.start() for m in _UNIT_BREAK.finditer(raw))
            ends = sorted(found)
            self._sentences[hit.field] = ends
        return bisect.bisect_right(ends, hit.start)

    def list_of(self, hit: Hit) -> tuple[Hit, ...]:
        """The names of the enumeration ``hit`` belongs to (three or more in a row), or ()."""
        if self._lists is None:
            self._lists = self._find_lists()
        return self._lists.get(hit, ())

    def _find_lists(self) -> dict[Hit, tuple[Hit, ...]]:
        lists: dict[Hit, tuple[Hit, ...]] = {}
        names = sorted(
            (h for h in self.hits if h.kind == "entity"), key=lambda h: (h.field, h.start)
        )
        run: list[Hit] = []
        for hit in [*names, None]:
            if run and (hit is None or not self._glued(run[-1], hit)):
                if len(run) >= _MIN_LIST:
                    lists.update(dict.fromkeys(run, tuple(run)))
                run = []
            if hit is not None and (not run or hit.start >= run[-1].end):
                run.append(hit)
        return lists

    def _glued(self, before: Hit, after: Hit) -> bool:
        if before.field != after.field or after.start < before.end:
            return before.field == after.field  # overlapping names stay in the same run
        between = self.texts.get(before.field, "")[before.end : after.start]
        return len(between) <= 16 and _LIST_GLUE.match(between) is not None
