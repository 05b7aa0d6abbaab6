"""The seams between orchestration and I/O, as Protocols.

``pipeline`` and ``deliver`` only see these; ``cli`` plugs in the real adapters and tests plug
in fakes that satisfy the same shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from monitor.models import (
    Alert,
    ClusterAssignment,
    FeedSpec,
    FeedState,
    FetchResult,
    OutboxEntry,
    ParsedFeed,
    Story,
)


class Clock(Protocol):
    """Tells the time (UTC, aware). Tests pass a fake they can move."""

    def now(self) -> datetime: ...


class Fetcher(Protocol):
    """Fetches one feed, conditionally, within its deadline and byte cap."""

    async def fetch(self, feed: FeedSpec, state: FeedState) -> FetchResult: ...


class Parser(Protocol):
    """Turns a fetched body into stories (in a worker process, with a time limit)."""

    async def parse(self, result: FetchResult, feed: FeedSpec) -> ParsedFeed: ...


class Notifier(Protocol):
    """Sends one alert to one destination; raises ``DeliveryError`` subclasses on failure."""

    destination_id: str

    async def send(self, alert: Alert, *, plain: bool = False) -> str | None:
        """Deliver ``alert``; may return the destination's id of the message (Slack's ``ts``)."""
        ...


class Clusters(Protocol):
    """Cross-feed clusters of near-duplicate stories (``cluster_index.ClusterIndex`` fits)."""

    def assign(
        self, story: Story, *, now: datetime, with_outlets: bool = True
    ) -> ClusterAssignment: ...

    def outlets(self, cluster_id: str, *, limit: int = 50) -> tuple[str, ...]: ...

    def prune(self, *, older_than: datetime, limit: int | None = None) -> int: ...


class Store(Protocol):
    """Durable state: feed states, seen stories and the alert outbox."""

    def feed_state(self, feed_id: str) -> FeedState: ...

    def save_feed_state(self, state: FeedState) -> None: ...

    def feed_states(self) -> list[FeedState]: ...

    def unseen(self, stories: Sequence[Story]) -> list[Story]: ...

    def triage(self, stories: Sequence[Story]) -> tuple[list[Story], list[Story]]: ...

    def commit_stories(
        self,
        stories: Sequence[Story],
        alerts: Sequence[Alert],
        now: datetime,
        *,
        edited: Sequence[Story] = (),
    ) -> int: ...

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[OutboxEntry]: ...

    def mark_sent(self, entry_id: int, now: datetime, *, remote_ref: str | None = None) -> None: ...

    def cluster_alerts(self, cluster_id: str) -> dict[str, Alert]: ...

    def delivery_of(self, alert_key: str, destination_id: str) -> tuple[str, str | None] | None: ...

    def enqueue(self, alerts: Sequence[Alert], now: datetime) -> int: ...

    def transaction(self) -> AbstractContextManager[Any]: ...

    def mark_retry(
        self, entry_id: int, error: str, next_attempt_at: datetime, *, count_attempt: bool = True
    ) -> None: ...

    def mark_dead(self, entry_id: int, error: str, now: datetime) -> None: ...

    def mark_fallback_sent(self, entry_id: int) -> None: ...

    def outbox(self, status: str | None = None, limit: int = 100) -> list[OutboxEntry]: ...

    def outbox_entry(self, entry_id: int) -> OutboxEntry | None: ...

    def requeue(self, entry_ids: Iterable[int], now: datetime) -> int: ...

    def requeue_dead(self, now: datetime) -> int: ...

    def purge_sent(self, older_than: datetime) -> int: ...

    def outbox_counts(self) -> dict[str, int]: ...

    def oldest_pending_at(self) -> datetime | None: ...

    def disabled_destinations(self) -> dict[str, str]: ...

    def disable_destination(self, destination_id: str, reason: str, now: datetime) -> None: ...

    def enable_destination(self, destination_id: str) -> None: ...

    def close(self) -> None: ...
