"""Digests: which rows of a destination wait for a period's message, and when they are due.

Pure core (no I/O, no clock: ``now`` is an argument). The delivery worker asks ``split`` which
of a destination's due rows go out one by one and which wait for a digest, ``due`` which of the
waiting rows have a finished period, and ``label_of`` what the digest message calls its period.
Periods are aligned to the epoch, so an hourly digest covers 12:00–13:00, not 12:07–13:07.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.models import DestinationSpec, OutboxEntry, Severity

# Follow-ups to a destination that cannot thread wait for a digest of this period when the
# destination has no digest of its own.
UPDATE_DIGEST_S = 3600.0


@dataclass(frozen=True, slots=True)
class DigestPolicy:
    """Batch alerts below ``immediate_from`` into one message every ``every_s`` seconds."""

    every_s: float
    immediate_from: Severity = Severity.HIGH


def period_bounds(created_at: datetime, every_s: float) -> tuple[datetime, datetime]:
    """The digest period holding ``created_at``, aligned to the epoch (hourly = on the hour)."""
    start = math.floor(created_at.timestamp() / every_s) * every_s
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(start + every_s, UTC)


def period_label(start: datetime, end: datetime) -> str:
    """``2026-03-01 12:00–13:00 UTC`` (the end's date only when it differs)."""
    day = "" if start.date() == end.date() else f"{end:%Y-%m-%d} "
    return f"{start:%Y-%m-%d %H:%M}–{day}{end:%H:%M} UTC"


def digests_for(destinations: Sequence[DestinationSpec]) -> dict[str, DigestPolicy]:
    """``DeliveryWorker(digests=...)`` from the configured destinations (``digest: {every_s}``)."""
    return {d.id: DigestPolicy(every_s=d.digest_every_s) for d in destinations if d.digest_every_s}


def split(
    entries: Sequence[OutboxEntry], policy: DigestPolicy | None, *, folds_updates: bool
) -> tuple[list[OutboxEntry], list[OutboxEntry]]:
    """``(immediate, batched)``: rows below the policy's severity, and follow-ups to a
    destination that folds them into digests, wait for a digest; the rest go out now."""

    def batched(entry: OutboxEntry) -> bool:
        if policy and entry.alert.severity < policy.immediate_from:
            return True
        return folds_updates and entry.alert.event == "alert.updated"

    waiting = [e for e in entries if batched(e)]
    waiting_ids = {e.id for e in waiting}
    return [e for e in entries if e.id not in waiting_ids], waiting


def due(
    entries: Sequence[OutboxEntry], every_s: float, now: datetime
) -> tuple[list[OutboxEntry], list[tuple[OutboxEntry, datetime]]]:
    """``(ready, held)``: rows whose period has ended, and the others with their period's end."""
    ready: list[OutboxEntry] = []
    held: list[tuple[OutboxEntry, datetime]] = []
    for entry in entries:
        _, end = period_bounds(entry.created_at, every_s)
        if end <= now:
            ready.append(entry)
        else:
            held.append((entry, end))
    return ready, held


def label_of(entries: Sequence[OutboxEntry], every_s: float) -> str:
    """The label of the periods ``entries`` span, from the first one's start to the last's end."""
    start = period_bounds(min(e.created_at for e in entries), every_s)[0]
    end = period_bounds(max(e.created_at for e in entries), every_s)[1]
    return period_label(start, end)
