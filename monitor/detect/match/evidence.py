"""A story's confirmed hits with the positions rules measure: words, sentences, fields.

For ``rules`` (conditions measure scope and proximity here) and ``assess`` (which builds one
``Evidence`` per story). Positions are computed lazily, once per field, and only for stories
whose rules get past their cheap pre-checks.
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


class Evidence:
    """A story's confirmed hits plus lazily computed word and sentence positions."""

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

    def word_of(self, hit: Hit) -> int:
        """Index of the word where ``hit`` starts, within its field."""
        starts = self._words.get(hit.field)
        if starts is None:
            starts = [m.start() for m in re.finditer(r"\w+", self.texts.get(hit.field, ""))]
            self._words[hit.field] = starts
        return bisect.bisect_right(starts, hit.start)

    def sentence_of(self, hit: Hit) -> int:
        """Index of the sentence holding ``hit``, within its field."""
        ends = self._sentences.get(hit.field)
        if ends is None:
            ends = [m.end() for m in _SENTENCE_END.finditer(self.texts.get(hit.field, ""))]
            self._sentences[hit.field] = ends
        return bisect.bisect_right(ends, hit.start)
