"""The real clock (an adapter): the only place outside tests that asks the OS for the time."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Satisfies ``ports.Clock`` with timezone-aware UTC wall time."""

    def now(self) -> datetime:
        return datetime.now(UTC)
