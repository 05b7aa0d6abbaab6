"""Evaluate a detection pack on labelled stories: precision, recall, F1 by language and category.

For rule authors and the ``eval`` command. Items are dicts (one JSON line each) with ``title``,
``summary`` (plain text or HTML), ``label`` (``relevant`` | ``not_relevant``) and optionally
``id``, ``lang``, ``category``, ``borderline``. An item counts as flagged when the pack gives it
a severity at or above ``min_severity``. Borderline items are left out of the figures unless
``include_borderline``; how many of them were flagged is still reported.

Pure: no I/O and no clock (the stories get a fixed ``fetched_at``); the CLI reads the file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from monitor.detect.assess import assess, why_not
from monitor.detect.match import Pack
from monitor.detect.match.why_not import NearMiss
from monitor.models import Hit, Severity, Story

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RELEVANT = "relevant"


@dataclass(slots=True)
class Counts:
    """A confusion matrix with the usual ratios (0.0 when undefined)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, *, relevant: bool, flagged: bool) -> None:
        if relevant:
            self.tp += flagged
            self.fn += not flagged
        else:
            self.fp += flagged
            self.tn += not flagged

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
        }


@dataclass(frozen=True, slots=True)
class EvalError:
    """One item the pack got wrong (or a borderline item it flagged), for ``--show-errors``."""

    kind: str  # "fp", "fn" or "borderline"
    id: str
    lang: str
    category: str
    title: str
    severity: Severity | None
    score: float
    rule_ids: tuple[str, ...]
    evidence: tuple[str, ...]
    label: str = ""
    closest: tuple[NearMiss, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape of one error: what it is, what fired, what came closest."""
        top = self.closest[0] if self.closest else None
        return {
            "kind": self.kind,
            "id": self.id,
            "title": self.title,
            "label": self.label,
            "lang": self.lang,
            "severity": str(self.severity) if self.severity else None,
            "rules": list(self.rule_ids),
            "closest_rule": top.rule_id if top else None,
            "missing": top.missing if top else None,
        }


@dataclass(slots=True)
class EvalReport:
    """The figures of one evaluation run."""

    min_severity: Severity
    include_borderline: bool
    overall: Counts = field(default_factory=Counts)
    by_lang: dict[str, Counts] = field(default_factory=dict)
    by_category: dict[str, Counts] = field(default_factory=dict)
    items: int = 0
    borderline_skipped: int = 0
    borderline_flagged: int = 0
    borderline_relevant: int = 0
    borderline_relevant_flagged: int = 0
    flagged: int = 0
    errors: list[EvalError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: overall figures at the top, then the breakdowns."""
        return {
            **self.overall.to_dict(),
            "by_lang": {k: v.to_dict() for k, v in sorted(self.by_lang.items())},
            "by_category": {k: v.to_dict() for k, v in sorted(self.by_category.items())},
            "items": self.items,
            "flagged": self.flagged,
            "borderline_skipped": self.borderline_skipped,
            "borderline_flagged": self.borderline_flagged,
            "borderline_relevant": self.borderline_relevant,
            "borderline_recall": round(self.borderline_recall, 4),
            "errors": [err.to_dict() for err in self.errors],
            "min_severity": str(self.min_severity),
            "include_borderline": self.include_borderline,
        }

    @property
    def borderline_recall(self) -> float:
        """Of the borderline items labelled relevant (when left out), the share flagged."""
        if not self.borderline_relevant:
            return 0.0
        return self.borderline_relevant_flagged / self.borderline_relevant

    def format_table(self) -> str:
        """A plain-text table: overall, by language, by category.

        The header's counts are the table's: items scored and flagged exclude the borderline
        items left out, which get their own line.
        """
        head = f"{'':<28}{'prec':>7}{'recall':>8}{'f1':>7}{'tp':>6}{'fp':>6}{'fn':>6}{'tn':>8}"
        scored = self.overall.tp + self.overall.fp
        lines = [
            f"items {self.overall.total}, flagged {scored} at severity >= {self.min_severity}",
        ]
        if not self.include_borderline:
            lines.append(
                f"borderline left out {self.borderline_skipped} (flagged"
                f" {self.borderline_flagged}); relevant {self.borderline_relevant}, found"
                f" {self.borderline_relevant_flagged}"
                + (f" (recall {self.borderline_recall:.3f})" if self.borderline_relevant else "")
            )
        lines += [
            head,
            _row("overall", self.overall),
        ]
        for title, table in (("lang", self.by_lang), ("category", self.by_category)):
            for key, counts in sorted(table.items()):
                lines.append(_row(f"{title} {key}", counts))
        return "\n".join(lines)

    def format_errors(self) -> str:
        """One line per false positive / false negative / flagged borderline item."""
        lines = []
        for err in self.errors:
            sev = str(err.severity) if err.severity else "-"
            rules = ",".join(err.rule_ids) or "-"
            where = f"[{err.lang}/{err.category}]"
            kind = err.kind.upper() + (f"({err.label})" if err.kind == "borderline" else "")
            lines.append(f"{kind:<10} {err.id} {where} {sev} {err.score:g} {rules}")
            lines.append(f"           {err.title[:140]}")
            if err.evidence:
                lines.append(f"           hits: {'; '.join(err.evidence)[:300]}")
            for miss in err.closest:
                lines.append(f"           why not: {miss.describe()}")
        return "\n".join(lines)


def ratio_cells(c: Counts) -> str:
    """Precision, recall and F1 as table cells; a ratio with nothing to divide shows ``-``."""
    flagged, relevant = c.tp + c.fp, c.tp + c.fn
    prec = f"{c.precision:>7.3f}" if flagged else f"{'-':>7}"
    recall = f"{c.recall:>8.3f}" if relevant else f"{'-':>8}"
    f1 = f"{c.f1:>7.3f}" if flagged and relevant else f"{'-':>7}"
    return f"{prec}{recall}{f1}"


def _row(name: str, c: Counts) -> str:
    """One table row (no flags or no relevant items: ``-`` for the ratios)."""
    return f"{name[:27]:<28}{ratio_cells(c)}{c.tp:>6}{c.fp:>6}{c.fn:>6}{c.tn:>8}"


def within_dates(
    items: Iterable[Mapping[str, Any]], *, since: str | None = None, until: str | None = None
) -> Iterator[Mapping[str, Any]]:
    """The items whose ``date`` (ISO 8601) falls on or after ``since`` and on or before ``until``.

    Both bounds are ``YYYY-MM-DD`` days and both are inclusive; with a bound given, an item
    without a date is left out. For measuring a hold-out month or tuning on a period.
    """
    for item in items:
        day = str(item.get("date") or "")[:10]
        if since is not None and (not day or day < since):
            continue
        if until is not None and (not day or day > until):
            continue
        yield item


def story_of(item: Mapping[str, Any], index: int) -> Story:
    """An eval item as a ``Story`` (summary kept raw: matching strips HTML itself)."""
    return Story(
        feed_id=str(item.get("outlet") or "eval"),
        title=str(item.get("title") or ""),
        summary=str(item.get("summary") or ""),
        content=str(item.get("content") or ""),
        url=item.get("url"),
        fetched_at=_EPOCH,
        key=str(item.get("id") or index),
        outlet=item.get("outlet"),
    )


def evaluate(
    items: Iterable[Mapping[str, Any]],
    pack: Pack,
    *,
    min_severity: Severity,
    include_borderline: bool = False,
    progress: Callable[[int], None] | None = None,
) -> EvalReport:
    """Run the pack over ``items`` and count hits and misses against their labels."""
    report = EvalReport(min_severity=min_severity, include_borderline=include_borderline)
    for index, item in enumerate(items):
        report.items += 1
        if progress is not None and index % 1000 == 0:
            progress(index)
        _score(report, pack, item, index, min_severity)
    if progress is not None:
        progress(report.items)
    return report


def _score(
    report: EvalReport, pack: Pack, item: Mapping[str, Any], index: int, min_severity: Severity
) -> None:
    """Assess one item and count it (or file it with the borderline items left out)."""
    story = story_of(item, index)
    hits = pack.match(story)
    assessment = assess(story, hits, pack) if hits else None
    severity = assessment.severity if assessment else None
    flagged = severity is not None and severity >= min_severity
    report.flagged += flagged
    relevant = item.get("label") == RELEVANT
    if item.get("borderline") and not report.include_borderline:
        report.borderline_skipped += 1
        report.borderline_flagged += flagged
        report.borderline_relevant += relevant
        report.borderline_relevant_flagged += relevant and flagged
        if flagged or relevant:
            closest = () if flagged else _closest(story, hits, pack, min_severity)
            report.errors.append(_error("borderline", item, story, assessment, closest))
        return
    _count(report, item, relevant=relevant, flagged=flagged)
    if flagged != relevant:
        closest = () if flagged else _closest(story, hits, pack, min_severity)
        report.errors.append(_error("fp" if flagged else "fn", item, story, assessment, closest))


def _closest(
    story: Story, hits: Sequence[Hit], pack: Pack, min_severity: Severity
) -> tuple[NearMiss, ...]:
    return tuple(why_not(story, hits, pack, min_severity=min_severity, limit=2))


def _count(report: EvalReport, item: Mapping[str, Any], *, relevant: bool, flagged: bool) -> None:
    report.overall.add(relevant=relevant, flagged=flagged)
    lang = str(item.get("lang") or "unknown")
    report.by_lang.setdefault(lang, Counts()).add(relevant=relevant, flagged=flagged)
    if item.get("category"):
        counts = report.by_category.setdefault(str(item["category"]), Counts())
        counts.add(relevant=relevant, flagged=flagged)


def _error(
    kind: str,
    item: Mapping[str, Any],
    story: Story,
    assessment: Any,
    closest: tuple[NearMiss, ...],
) -> EvalError:
    hits = assessment.hits if assessment else ()
    return EvalError(
        kind=kind,
        id=story.key,
        lang=str(item.get("lang") or "?"),
        category=str(item.get("category") or "-"),
        title=story.title,
        severity=assessment.severity if assessment else None,
        score=assessment.score if assessment else 0.0,
        rule_ids=assessment.rule_ids if assessment else (),
        evidence=tuple(dict.fromkeys(f"{h.text}={h.ref}" for h in hits)),
        label=str(item.get("label") or "-"),
        closest=closest,
    )
