"""The values that flow between stages: frozen dataclasses, stdlib only.

Datetimes are timezone-aware UTC everywhere. Text fields hold plain text (HTML already
stripped, entities decoded); escaping happens at output, in ``render``.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

Field = Literal["title", "summary", "content"]
Side = Literal["dprk", "russia", "other"]
HealthState = Literal["new", "ok", "failing", "stale"]
OutboxStatus = Literal["pending", "sent", "dead"]
EventType = Literal["alert.created", "alert.updated", "feed.health", "alert.test"]


class Severity(enum.IntEnum):
    """How urgent an assessment is; ordered so ``>=`` compares urgency."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Severity:
        """``"high"`` → ``Severity.HIGH``; raises ``ValueError`` naming the choices."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            choices = ", ".join(str(s) for s in cls)
            raise ValueError(f"unknown severity {name!r} (choose one of {choices})") from None


# --- configuration handed to stages (built by config.py) -----------------------------------


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed to poll, as configured."""

    id: str
    url: str
    interval_s: float = 900.0
    tags: tuple[str, ...] = ()
    name: str | None = None
    # (min, max) seconds: poll at half the feed's own publishing rhythm within these bounds
    adaptive_bounds_s: tuple[float, float] | None = None

    @property
    def trigger_interval_s(self) -> float:
        """How often the scheduler wakes the feed up (the poller decides if it is due)."""
        return self.adaptive_bounds_s[0] if self.adaptive_bounds_s else self.interval_s


@dataclass(frozen=True, slots=True)
class DestinationSpec:
    """One place alerts go, as configured. ``secrets`` and ``url`` may be secret."""

    id: str
    type: str
    url: str | None = None
    secrets: tuple[str, ...] = ()
    token: str | None = None
    channel: str | None = None
    min_severity: Severity = Severity.MEDIUM
    rules: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    rate_per_s: float | None = None
    burst: int = 1
    digest_every_s: float | None = None
    timeout_s: float = 10.0
    concurrency: int = 1  # sends in flight at once (config default: 4 for webhooks, else 1)


# --- fetch → parse --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What the server sent: ``status`` 200 with a body, or 304 with none."""

    feed_id: str
    url: str
    status: int
    body: bytes
    fetched_at: datetime
    content_type: str | None = None
    content_location: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    cache_control: str | None = None
    expires: str | None = None
    elapsed_s: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass(frozen=True, slots=True)
class Story:
    """One feed item, as plain text. ``key`` is filled by ``dedup.story_key``."""

    feed_id: str
    title: str
    url: str | None
    fetched_at: datetime
    guid: str | None = None
    guid_is_permalink: bool = False
    summary: str = ""
    content: str = ""
    published_at: datetime | None = None
    outlet: str | None = None
    key: str = ""
    tags: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        """A short hash of the raw title and summary: equal text, equal digest. The store keeps
        it to notice an edit; the parser pool compares it to skip an unchanged item."""
        material = f"{self.title}\x1f{self.summary}".encode("utf-8", "surrogatepass")
        return hashlib.blake2b(material, digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed body: the feed's own metadata and its stories.

    ``unchanged_published`` holds the published times of items the parser pool recognised as
    stored and unchanged and so did not parse again (``None`` for undated ones): they are not
    in ``stories``, but they still count for the feed's rhythm and its item count.
    """

    feed_id: str
    version: str
    title: str | None
    stories: tuple[Story, ...]
    ttl_s: float | None = None
    encoding: str | None = None
    bozo: str | None = None
    unchanged_published: tuple[datetime | None, ...] = ()


# --- match → assess -------------------------------------------------------------------------


class Hit(NamedTuple):
    """One matched span. ``start``/``end`` index the original text of ``field``.

    A named tuple, not a frozen dataclass like its neighbours: the matcher builds one per match
    on every story of every feed, and a tuple is built about six times faster (0.17 against
    1.0 µs here). It is immutable and hashable all the same; ``Alert.to_json`` writes hits as
    objects, as it always has.
    """

    kind: Literal["entity", "term"]
    ref: str
    text: str
    field: Field
    start: int
    end: int
    side: str | None = None
    entity_type: str | None = None
    weak: bool = False
    label: str | None = None


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """One rule that fired, why, and what it scored."""

    rule_id: str
    topic: str
    score: float
    severity: Severity
    hits: tuple[Hit, ...] = ()
    path: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class Assessment:
    """The verdict on one story: the best rule decides severity; all hits are evidence."""

    story_key: str
    matches: tuple[RuleMatch, ...] = ()
    hits: tuple[Hit, ...] = ()

    @property
    def severity(self) -> Severity | None:
        return max((m.severity for m in self.matches), default=None)

    @property
    def score(self) -> float:
        return max((m.score for m in self.matches), default=0.0)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(m.rule_id for m in self.matches)

    @property
    def top(self) -> RuleMatch | None:
        return max(self.matches, key=lambda m: (m.severity, m.score), default=None)


@dataclass(frozen=True, slots=True)
class ClusterAssignment:
    """Where ``assign`` put a story.

    ``is_new_story``: the key was never seen. ``is_update``: the key was seen and its title or
    summary changed. ``is_new_cluster``: this story starts the cluster (an alert may follow);
    otherwise a new story or an update is a follow-up of ``cluster_id`` (``alert.updated``).
    ``similar_to``/``similarity``: the stored story it matched. ``outlets``: who carried the
    cluster so far, first-seen order, this story included.
    """

    cluster_id: str
    story_key: str
    is_new_cluster: bool
    is_new_story: bool
    is_update: bool = False
    similar_to: str | None = None
    similarity: float = 0.0
    outlets: tuple[str, ...] = ()

    @property
    def is_follow_up(self) -> bool:
        """A later copy or an edit of an existing cluster: never a second top-level alert."""
        return not self.is_new_cluster and (self.is_new_story or self.is_update)


# --- enrich → evidence ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Article:
    """An article page fetched for a thin story, and the main text extracted from it.

    ``url`` is the final URL (after redirects); ``body_sha256`` hashes the decoded response
    body exactly as received (before extraction); ``text`` is the extracted main text, one
    paragraph per line.
    """

    url: str
    status: int
    fetched_at: datetime
    body_sha256: str
    text: str


@dataclass(frozen=True, slots=True)
class Quote:
    """A sentence that a rule matched in, and the field it came from (``content`` = article)."""

    field: Field
    text: str


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """What an alert says about its evidence snapshot (``evidence ALERT_ID`` prints it all)."""

    text_sha256: str
    fetched_at: datetime
    article_fetched: bool
    quotes: tuple[Quote, ...] = ()


@dataclass(frozen=True, slots=True)
class EvidenceSnapshot:
    """The text an alert was judged on, kept so an analyst can cite it after the page changes.

    ``text`` is the judged text (title, summary and the article text when fetched, in that
    order, blank lines between); ``text_sha256`` is the SHA-256 of its UTF-8 bytes. The
    ``article`` fields are empty when no article was fetched (``body_sha256`` then is None).
    """

    story_key: str
    feed_id: str
    story_url: str | None
    created_at: datetime
    title: str
    summary: str
    article_text: str
    text: str
    text_sha256: str
    fetched_at: datetime
    article_fetched: bool
    final_url: str | None = None
    http_status: int | None = None
    body_sha256: str | None = None
    quotes: tuple[Quote, ...] = ()
    alert_keys: tuple[str, ...] = ()

    @property
    def ref(self) -> EvidenceRef:
        return EvidenceRef(self.text_sha256, self.fetched_at, self.article_fetched, self.quotes)


# --- route → outbox → deliver ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Alert:
    """One message for one destination. ``key`` is the idempotency key (``webhook-id``).

    The event-specific fields are typed: ``rule_description`` and ``rule_path`` explain the
    rule that fired (``alert.created`` and its follow-ups); ``parent_alert_id`` is the alert an
    ``alert.updated`` follows up, and ``thread_ref`` the destination's id of that alert's
    message (Slack's ``ts``), set by the delivery worker just before sending; ``health_before``
    and ``health_after`` are the transition a ``feed.health`` notice reports.
    """

    key: str
    destination_id: str
    event: EventType
    rule_id: str
    topic: str
    severity: Severity
    score: float
    story: Story
    hits: tuple[Hit, ...]
    created_at: datetime
    rule_ids: tuple[str, ...] = ()
    cluster_id: str = ""
    also_reported_by: tuple[str, ...] = ()
    rule_description: str | None = None
    rule_path: tuple[str, ...] = ()
    parent_alert_id: str | None = None
    thread_ref: str | None = None
    health_before: HealthState | None = None
    health_after: HealthState | None = None
    evidence: EvidenceRef | None = None

    def to_json(self) -> str:
        """Serialise for the outbox; ``from_json`` reverses it exactly."""
        body = asdict(self)
        body["hits"] = [hit._asdict() for hit in self.hits]  # asdict makes named tuples lists
        return json.dumps(body, default=_encode, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Alert:
        """The alert ``to_json`` wrote; rows queued before the typed fields carry ``extra``."""
        raw = json.loads(text)
        story = raw.pop("story")
        for name in ("fetched_at", "published_at"):
            story[name] = _decode_dt(story[name])
        story["tags"] = tuple(story["tags"])
        raw.update(_from_extra(raw.pop("extra", ())))
        return cls(
            **{
                **raw,
                "severity": Severity(raw["severity"]),
                "story": Story(**story),
                "hits": tuple(Hit(**h) for h in raw["hits"]),
                "created_at": _decode_dt(raw["created_at"]),
                "rule_ids": tuple(raw["rule_ids"]),
                "also_reported_by": tuple(raw["also_reported_by"]),
                "rule_path": tuple(raw.get("rule_path", ())),
                "evidence": _decode_evidence(raw.get("evidence")),
            }
        )


def _from_extra(pairs: Iterable[Sequence[str]]) -> dict[str, Any]:
    """The typed fields of an outbox row written with the old ``extra`` pairs (first wins)."""
    fields: dict[str, Any] = {}
    for name, value in pairs:
        if name == "thread_ts":
            name = "thread_ref"
        if name in _EXTRA_FIELDS and name not in fields:
            fields[name] = tuple(value.split(" > ")) if name == "rule_path" else value
    return fields


_EXTRA_FIELDS = frozenset(
    (
        "rule_description",
        "rule_path",
        "parent_alert_id",
        "thread_ref",
        "health_before",
        "health_after",
    )
)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A row of the durable outbox."""

    id: int
    alert: Alert
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None = None
    sent_at: datetime | None = None
    fallback_sent: bool = False

    @property
    def destination_id(self) -> str:
        return self.alert.destination_id


@dataclass(frozen=True, slots=True)
class FeedState:
    """What we remember about one feed between polls."""

    feed_id: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    last_status: int | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_new_item_at: datetime | None = None
    next_poll_at: datetime | None = None
    health: HealthState = "new"
    items_seen: int = 0
    interval_s: float | None = None  # the adaptive interval last chosen, if any


@dataclass(frozen=True, slots=True)
class FeedLease:
    """One replica's claim on one feed: the fencing ``token`` every later write must carry."""

    feed_id: str
    owner: str
    token: int
    until: datetime


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def _decode_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _decode_evidence(raw: dict[str, Any] | None) -> EvidenceRef | None:
    """An alert's evidence reference from its outbox JSON (rows written before it have none)."""
    if not raw:
        return None
    return EvidenceRef(
        text_sha256=raw["text_sha256"],
        fetched_at=datetime.fromisoformat(raw["fetched_at"]),
        article_fetched=bool(raw["article_fetched"]),
        quotes=tuple(Quote(field=q["field"], text=q["text"]) for q in raw["quotes"]),
    )
