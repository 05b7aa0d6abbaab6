"""Evaluate near-duplicate detection on labeled pairs: precision, recall, F1, by kind of pair.

For whoever tunes ``monitor.detect.similar`` and for the ``eval-dedup`` command. A pair is two
items (``title, summary, outlet, url, date``) and a label. Two label spellings are read:

* ``label``: ``copy`` | ``not_copy`` (the 2023 pair files);
* ``kind`` as the label (``bench/pairs/pairs-2022.jsonl``): ``copy`` is a copy; ``same_event``,
  ``different_event`` and ``different_text`` are not; ``unsure`` is skipped.

A pair counts as **predicted copy** when the clusterer would join them: the two signatures
share an index key (``similar.band_keys``: the second would be proposed as a candidate of the
first) and their ``similar.similarity`` is at or above the threshold. The similarity alone
(without the index) is reported beside it, so a miss can be told apart as "never proposed"
or "scored too low".

The **kind** of a pair is computed from its texts, never read from the file, so any labeled
file breaks down the same way: ``title_only`` (a summary is empty), ``same_summary`` (equal
summaries after normalisation), ``prefix_suffix`` (one summary is the other with words added
or cut at one end or both: datelines, agency tags, truncation, an extra sentence) and
``rewritten`` (everything else).

Pure: no I/O, no clock; the CLI reads the file and hands over its lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.detect import dedup, similar
from monitor.models import Story
from monitor.tools.evaluate import Counts, ratio_cells

KINDS = ("same_summary", "prefix_suffix", "rewritten", "title_only")
SWEEP = tuple(round(0.5 + 0.05 * step, 2) for step in range(10))
AFFIX_SHARE = 0.8  # the shared run of words covers this much of the shorter summary
_MAX_KIND_WORDS = 300
_LABELS = {"copy": True, "not_copy": False}
_LEGACY_KINDS = {"copy": True, "same_event": False, "different_event": False,
                 "different_text": False, "unsure": None}  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class LabeledPair:
    """Two items with a human label, the computed kind, and where the pair came from."""

    a: Story
    b: Story
    is_copy: bool
    kind: str
    line: int


@dataclass(frozen=True, slots=True)
class ScoredPair:
    """A pair with what the detector says of it."""

    pair: LabeledPair
    similarity: float
    proposed: bool  # the two share an index key

    def predicted(self, threshold: float) -> bool:
        return self.proposed and self.similarity >= threshold


@dataclass(slots=True)
class DedupReport:
    """The figures of one run at one threshold, with a sweep over others."""

    source: str
    threshold: float
    pairs: int = 0
    skipped: int = 0
    overall: Counts = field(default_factory=Counts)
    signature_only: Counts = field(default_factory=Counts)
    not_proposed: int = 0  # copies that share no index key
    by_kind: dict[str, Counts] = field(default_factory=dict)
    sweep: list[tuple[float, Counts]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape."""
        return {
            "file": self.source,
            "threshold": self.threshold,
            "pairs": self.pairs,
            "skipped": self.skipped,
            **self.overall.to_dict(),
            "signature_only": self.signature_only.to_dict(),
            "copies_not_proposed": self.not_proposed,
            "by_kind": {kind: self.by_kind[kind].to_dict() for kind in KINDS},
            "sweep": [{"threshold": t, **c.to_dict()} for t, c in self.sweep],
        }

    def format_table(self) -> str:
        """Plain text: the figures at the threshold, by kind, then the sweep."""
        copies = self.overall.tp + self.overall.fn
        lines = [
            f"{self.source}: {self.pairs} pairs ({copies} copy, {self.pairs - copies} not_copy)"
            f", {self.skipped} skipped; threshold {self.threshold:g}",
            f"{'':<24}{'pairs':>6}{'copy':>6}{'prec':>7}{'recall':>8}{'f1':>7}"
            f"{'tp':>5}{'fp':>5}{'fn':>5}",
            _row("all (index + score)", self.overall),
            _row("signature alone", self.signature_only),
        ]
        lines += [_row(f"kind {kind}", self.by_kind[kind]) for kind in KINDS]
        lines.append(f"copies sharing no index key: {self.not_proposed}")
        lines.append(f"sweep (index + score)\n{'threshold':<24}{'prec':>19}{'recall':>8}{'f1':>7}")
        for threshold, counts in self.sweep:
            lines.append(
                f"{threshold:<36.2f}{counts.precision:>7.3f}{counts.recall:>8.3f}{counts.f1:>7.3f}"
            )
        return "\n".join(lines)


def _row(name: str, c: Counts) -> str:
    copies = c.tp + c.fn
    return f"{name:<24}{c.total:>6}{copies:>6}{ratio_cells(c)}{c.tp:>5}{c.fp:>5}{c.fn:>5}"


# --- reading ----------------------------------------------------------------------------------


def read_pairs(lines: Iterable[str], source: str) -> tuple[list[LabeledPair], int]:
    """The labeled pairs of JSON ``lines`` and how many were skipped (``unsure``).

    Raises ``ValueError`` naming ``source`` and the line for anything that is not a pair.
    """
    pairs: list[LabeledPair] = []
    skipped = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        raw = _json_object(line, where)
        is_copy = _label(raw, where)
        if is_copy is None:
            skipped += 1
            continue
        a, b = _item(raw, "a", where), _item(raw, "b", where)
        pairs.append(LabeledPair(a, b, is_copy, pair_kind(a, b), number))
    return pairs, skipped


def _json_object(line: str, where: str) -> dict[str, Any]:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a JSON object with a, b and label")
    return raw


def _label(raw: dict[str, Any], where: str) -> bool | None:
    if "label" in raw:
        if raw["label"] not in _LABELS:
            raise ValueError(f"{where}: label {raw['label']!r} is not copy or not_copy")
        return _LABELS[raw["label"]]
    if raw.get("kind") in _LEGACY_KINDS:
        return _LEGACY_KINDS[raw["kind"]]
    raise ValueError(
        f"{where}: no label: expected label copy|not_copy, or kind "
        f"{'|'.join(_LEGACY_KINDS)} (got kind {raw.get('kind')!r})"
    )


def _item(raw: dict[str, Any], side: str, where: str) -> Story:
    item = raw.get(side)
    if not isinstance(item, dict) or not isinstance(item.get("title"), str):
        raise ValueError(f"{where}: {side!r} must be an object with a title")
    outlet = str(item.get("outlet") or f"outlet-{side}")
    published = _date(item.get("date"), f"{where}: {side}.date")
    return Story(
        feed_id=outlet,
        title=item["title"],
        url=item.get("url") or None,
        fetched_at=published or _EPOCH,
        summary=str(item.get("summary") or ""),
        published_at=published,
        outlet=outlet,
    )


def _date(value: Any, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not an ISO 8601 date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- kinds ------------------------------------------------------------------------------------


def pair_kind(a: Story, b: Story) -> str:
    """The kind of a pair, from its summaries alone (see the module doc)."""
    words_a = dedup.normalise_words(a.summary)[:_MAX_KIND_WORDS]
    words_b = dedup.normalise_words(b.summary)[:_MAX_KIND_WORDS]
    if not words_a or not words_b:
        return "title_only"
    if words_a == words_b:
        return "same_summary"
    shorter = min(len(words_a), len(words_b))
    if _longest_common_run(words_a, words_b) >= AFFIX_SHARE * shorter:
        return "prefix_suffix"
    return "rewritten"


def _longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest run of words that both contain, in order and unbroken."""
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


# --- scoring ----------------------------------------------------------------------------------


def score_pairs(pairs: Iterable[LabeledPair]) -> list[ScoredPair]:
    """Each pair with its similarity and whether the index would propose it."""
    scored = []
    for pair in pairs:
        sig_a, sig_b = similar.signature(pair.a), similar.signature(pair.b)
        shared = set(similar.band_keys(sig_a)) & set(similar.band_keys(sig_b))
        scored.append(ScoredPair(pair, similar.similarity(sig_a, sig_b), bool(shared)))
    return scored


def evaluate_pairs(
    pairs: Sequence[LabeledPair],
    *,
    threshold: float = similar.DEFAULT_THRESHOLD,
    source: str = "pairs",
    skipped: int = 0,
    sweep: Sequence[float] = SWEEP,
) -> DedupReport:
    """Count hits and misses of the detector on ``pairs`` at ``threshold`` and over ``sweep``."""
    scored = score_pairs(pairs)
    report = DedupReport(source=source, threshold=threshold, pairs=len(pairs), skipped=skipped)
    report.by_kind = {kind: Counts() for kind in KINDS}
    for item in scored:
        truth = item.pair.is_copy
        report.overall.add(relevant=truth, flagged=item.predicted(threshold))
        report.signature_only.add(relevant=truth, flagged=item.similarity >= threshold)
        report.by_kind[item.pair.kind].add(relevant=truth, flagged=item.predicted(threshold))
        report.not_proposed += truth and not item.proposed
    for value in sorted({*sweep, threshold}):
        counts = Counts()
        for item in scored:
            counts.add(relevant=item.pair.is_copy, flagged=item.predicted(value))
        report.sweep.append((value, counts))
    return report
