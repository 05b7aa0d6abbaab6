"""The seams between orchestration and I/O, as Protocols.

The poller and the delivery worker only see these; the composition root plugs in the real
adapters and tests plug in fakes that satisfy the same shapes. The store's ports are named by
their users (``PollerStore``, ``KnownStories``, ``DeliveryStore``, ``OutboxAdmin``, ``FeedReport``,
``Housekeeper``, ``StoreAdmin``); ``StateStore`` is all of them at once, what the SQLite and
the PostgreSQL stores implement.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeGuard

from monitor.models import (
    Alert,
    Article,
    ClusterAssignment,
    EvidenceSnapshot,
    FeedLease,
    FeedSpec,
    FeedState,
    FetchResult,
    Hit,
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


@dataclass(frozen=True, slots=True)
class NotifierCapabilities:
    """What a destination can do beyond sending one alert, declared by its notifier.

    ``threads``: ``send`` returns the message's id, and a follow-up (``alert.updated``) whose
    ``thread_ref`` is set is posted as a reply to it (Slack's ``chat.postMessage``).
    ``folds_updates``: follow-ups wait for the next digest instead of one message each (a
    channel that cannot thread, so each copy of a story would be a new top-level message).
    ``digests``: the notifier is a ``DigestNotifier``; ``send_digest`` sends a whole period's
    alerts as one message (without it, a digest period's alerts go one request each).
    """

    threads: bool = False
    folds_updates: bool = False
    digests: bool = False


class Enricher(Protocol):
    """Fetches the article of thin candidate stories (``detect.enrich.ArticleEnricher``).

    ``wants`` is cheap and pure; ``enrich`` never raises for one story's failure: a story
    missing from its answer is judged on the feed's own text.
    """

    def wants(self, story: Story, hits: Sequence[Hit]) -> bool: ...

    async def enrich(self, feed: FeedSpec, stories: Sequence[Story]) -> dict[str, Article]: ...


class EvidenceStore(Protocol):
    """Keeps the evidence snapshot of every alerted story (``state.evidence``)."""

    def save_evidence(self, snapshots: Sequence[EvidenceSnapshot]) -> None:
        """Store ``snapshots`` inside the caller's transaction (the one that queues alerts)."""
        ...


class Notifier(Protocol):
    """Sends one alert to one destination; raises ``DeliveryError`` subclasses on failure."""

    destination_id: str

    @property
    def capabilities(self) -> NotifierCapabilities: ...

    async def send(self, alert: Alert, *, plain: bool = False) -> str | None:
        """Deliver ``alert``; may return the destination's id of the message (Slack's ``ts``)."""
        ...


class DigestNotifier(Notifier, Protocol):
    """A notifier that also sends a period's alerts as one message (``capabilities.digests``)."""

    async def send_digest(self, alerts: Sequence[Alert], *, period_label: str) -> None: ...


def sends_digests(notifier: Notifier) -> TypeGuard[DigestNotifier]:
    """True when ``notifier`` declares the ``digests`` capability (so it has ``send_digest``)."""
    return notifier.capabilities.digests


class Clusters(Protocol):
    """Cross-feed clusters of near-duplicate stories (``state.clusters.ClusterIndex`` fits)."""

    def assign(
        self, story: Story, *, now: datetime, with_outlets: bool = True
    ) -> ClusterAssignment: ...

    def outlets(self, cluster_id: str, *, limit: int = 50) -> tuple[str, ...]: ...

    def prune(self, *, older_than: datetime, limit: int | None = None) -> int: ...


class PollerStore(Protocol):
    """What the feed poller (``detect.poller``) needs: feed state, story triage and the one
    transaction that marks stories seen and queues their alerts."""

    def feed_state(self, feed_id: str) -> FeedState: ...

    def save_feed_state(self, state: FeedState, *, lease: FeedLease | None = None) -> None:
        """Store ``state``; with ``lease`` only while its token is current, else ``LeaseLost``
        (the caller's transaction then rolls back: nothing of that poll is kept)."""
        ...

    def triage(self, stories: Sequence[Story]) -> tuple[list[Story], list[Story]]: ...

    def commit_stories(
        self,
        stories: Sequence[Story],
        alerts: Sequence[Alert],
        now: datetime,
        *,
        edited: Sequence[Story] = (),
    ) -> int: ...

    def enqueue(self, alerts: Sequence[Alert], now: datetime) -> int: ...

    def cluster_alerts(self, cluster_id: str) -> dict[str, Alert]:
        """The cluster's alert memory: its first ``alert.created`` per destination.

        Contract (every store): recorded in the transaction that queues the alert (``enqueue``
        / ``commit_stories``); the first per (cluster, destination) wins; it survives the
        outbox row (purge, any status) until ``prune_cluster_alerts`` passes its last activity.
        """
        ...

    def disabled_destinations(self) -> dict[str, str]: ...

    def transaction(self) -> AbstractContextManager[Any]: ...


class FeedClaims(Protocol):
    """What a pull loop needs (SCALE-OUT.md): lease due feeds of its own config, release them,
    and show who holds which (the ``feeds`` table)."""

    def claim_feeds(
        self, owner: str, feed_ids: Sequence[str], *, limit: int, lease_s: float
    ) -> list[FeedLease]: ...

    def release_feed(self, lease: FeedLease) -> None: ...

    def feed_leases(self) -> dict[str, FeedLease]: ...


class KnownStories(Protocol):
    """What the parser pool's prescan asks (``detect.parse_pool``): which items are stored."""

    def stored_digests(self, keys: Sequence[str]) -> Mapping[str, str | None]: ...


class DeliveryStore(Protocol):
    """What the delivery worker (``deliver.worker``) needs: due rows and their outcomes."""

    def due_deliveries(self, now: datetime, limit: int = 100) -> list[OutboxEntry]: ...

    def mark_sent(self, entry_id: int, now: datetime, *, remote_ref: str | None = None) -> None: ...

    def mark_retry(
        self, entry_id: int, error: str, next_attempt_at: datetime, *, count_attempt: bool = True
    ) -> None: ...

    def mark_dead(self, entry_id: int, error: str, now: datetime) -> None: ...

    def mark_fallback_sent(self, entry_id: int) -> None: ...

    def delivery_of(self, alert_key: str, destination_id: str) -> tuple[str, str | None] | None:
        """``(status, remote_ref)`` of one alert at one destination; None if never queued.

        After its row was purged an ``alert.created`` answers ``("sent", remote_ref)`` from
        the cluster memory, where ``mark_sent`` left the destination's message id.
        """
        ...

    def outbox_counts(self) -> dict[str, int]: ...

    def disabled_destinations(self) -> dict[str, str]: ...

    def disable_destination(self, destination_id: str, reason: str, now: datetime) -> None: ...


class OutboxAdmin(Protocol):
    """What the CLI's ``outbox`` commands need: list, inspect, retry, purge, re-enable."""

    def outbox(self, status: str | None = None, limit: int = 100) -> list[OutboxEntry]: ...

    def outbox_entry(self, entry_id: int) -> OutboxEntry | None: ...

    def outbox_counts(self) -> dict[str, int]: ...

    def requeue(self, entry_ids: Iterable[int], now: datetime) -> int: ...

    def resend_as_new(self, entry_id: int, now: datetime) -> OutboxEntry | None: ...

    def requeue_dead(self, now: datetime) -> int: ...

    def purge_sent(self, older_than: datetime) -> int: ...

    def disabled_destinations(self) -> dict[str, str]: ...

    def enable_destination(self, destination_id: str) -> None: ...

    def close(self) -> None: ...


class FeedReport(Protocol):
    """What the CLI's ``feeds`` table and the metrics gauges read about feeds and stories."""

    def feed_states(self) -> list[FeedState]: ...

    def story_counts_since(self, since: datetime) -> dict[str, int]: ...

    def oldest_pending_at(self) -> datetime | None: ...

    def close(self) -> None: ...


class Housekeeper(Protocol):
    """What the service's housekeeping and readiness probe need."""

    def prune_stories(self, older_than: datetime) -> int: ...

    def prune_cluster_alerts(self, older_than: datetime) -> int:
        """Forget alert memories of clusters whose last alert activity is before ``older_than``
        (a new ``alert.created`` or a follow-up of the cluster at that destination)."""
        ...

    def check_writable(self) -> None: ...

    def transaction(self) -> AbstractContextManager[Any]: ...


class StoreAdmin(Protocol):
    """What the CLI's ``migrate`` and ``store copy`` need: the schema, and tables row by row."""

    def migrate(self) -> list[int]: ...

    def schema_version(self) -> int: ...

    def table_rows(
        self, table: str, where: str | None, params: Sequence[Any], *, batch: int
    ) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]: ...

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
    ) -> None: ...

    def after_copy(self) -> None: ...

    def is_empty(self) -> bool: ...

    def transaction(self) -> AbstractContextManager[Any]: ...


class StateStore(
    PollerStore,
    FeedClaims,
    KnownStories,
    DeliveryStore,
    OutboxAdmin,
    FeedReport,
    Housekeeper,
    StoreAdmin,
    Protocol,
):
    """A whole state store, as the composition root (``service``) holds it: every port above
    plus the cluster index that lives in the same database (SQLite or PostgreSQL)."""

    @property
    def clusters(self) -> Clusters: ...
