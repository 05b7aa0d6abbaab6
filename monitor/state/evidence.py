"""Evidence snapshots in the state store (SQLite or PostgreSQL): what each alerted story said
when it was judged (an adapter).

For the poller (``ports.EvidenceStore.save_evidence``, called inside the transaction that queues
the alerts, so a snapshot exists exactly when its alerts do), for ``sanctions-monitor evidence
ALERT_ID`` (``evidence_for``) and for housekeeping (``prune_evidence``, past
``evidence.retention_days``).

A snapshot is one row per story (``evidence``: the key, the time, the text's SHA-256 and the
whole snapshot as zlib-compressed JSON) plus one row per alert that cites it
(``evidence_alerts``), so the lookup by alert id keeps working after the outbox is purged.
The tables come from SQLite's migration 6 and PostgreSQL's migration 3; ``store copy`` moves
them. ``encode_snapshot`` and ``decode_snapshot`` are
the storage format, shared with any other store.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

from monitor.models import EvidenceSnapshot, Quote
from monitor.state.sqlite import SqliteStore

FORMAT_VERSION = 1


def encode_snapshot(snapshot: EvidenceSnapshot) -> bytes:
    """The snapshot as compressed JSON (UTF-8, datetimes in ISO 8601)."""
    doc = asdict(snapshot)
    del doc["article_text"]  # the tail of ``text``: stored once (``_article_of``)
    doc["format"] = FORMAT_VERSION
    for name in ("created_at", "fetched_at"):
        doc[name] = doc[name].isoformat()
    raw = json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8", "surrogatepass")
    return zlib.compress(raw, 6)


def decode_snapshot(blob: bytes) -> EvidenceSnapshot:
    """``encode_snapshot`` reversed exactly (the text comes back byte for byte)."""
    doc: dict[str, Any] = json.loads(zlib.decompress(blob).decode("utf-8", "surrogatepass"))
    doc.pop("format", None)
    doc["created_at"] = datetime.fromisoformat(doc["created_at"])
    doc["fetched_at"] = datetime.fromisoformat(doc["fetched_at"])
    doc["quotes"] = tuple(Quote(field=q["field"], text=q["text"]) for q in doc["quotes"])
    doc["alert_keys"] = tuple(doc["alert_keys"])
    return EvidenceSnapshot(**doc, article_text=_article_of(doc))


def _article_of(doc: dict[str, Any]) -> str:
    """The article part of the judged text: what follows the title and summary."""
    if not doc["article_fetched"]:
        return ""
    head = "\n\n".join(part for part in (doc["title"], doc["summary"]) if part)
    text: str = doc["text"]
    return text[len(head) + 2 :] if head else text


class _Store(Protocol):
    """What the archive needs of a store: its transaction and a read (both stores have them)."""

    def transaction(self) -> AbstractContextManager[Any]: ...

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...


class EvidenceArchive:
    """The evidence tables of one store (satisfies ``ports.EvidenceStore``).

    The same SQL on SQLite and PostgreSQL but for the parameter mark (``?`` or ``%s``);
    ``ON CONFLICT DO NOTHING`` is understood by both.
    """

    def __init__(self, store: _Store, *, mark: str = "?") -> None:
        self.store = store
        self.mark = mark

    def _sql(self, text: str) -> str:
        return text.replace("?", self.mark)

    def save_evidence(self, snapshots: Sequence[EvidenceSnapshot]) -> None:
        """Insert snapshots (a story already kept keeps its first snapshot; alerts are added)."""
        with self.store.transaction() as conn:
            cursor = conn.cursor()
            cursor.executemany(
                self._sql(
                    "INSERT INTO evidence (story_key, created_at, text_sha256, doc) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
                ),
                [
                    (s.story_key, s.created_at.timestamp(), s.text_sha256, encode_snapshot(s))
                    for s in snapshots
                ],
            )
            cursor.executemany(
                self._sql(
                    "INSERT INTO evidence_alerts (alert_key, story_key) VALUES (?, ?) "
                    "ON CONFLICT DO NOTHING"
                ),
                [(key, s.story_key) for s in snapshots for key in s.alert_keys],
            )

    def evidence_for(self, alert_key: str) -> EvidenceSnapshot | None:
        """The snapshot an alert (``webhook-id`` / ``data.alert_id``) was sent with."""
        rows = self.store._query(
            self._sql(
                "SELECT e.doc FROM evidence_alerts a JOIN evidence e "
                "ON e.story_key = a.story_key WHERE a.alert_key = ?"
            ),
            (alert_key,),
        )
        return decode_snapshot(bytes(rows[0][0])) if rows else None

    def prune_evidence(self, older_than: datetime) -> int:
        """Forget snapshots made before ``older_than`` (and their alert links)."""
        with self.store.transaction() as conn:
            sql = self._sql("DELETE FROM evidence WHERE created_at < ?")
            return int(conn.execute(sql, (older_than.timestamp(),)).rowcount)

    def evidence_count(self) -> int:
        return int(self.store._query("SELECT count(*) FROM evidence")[0][0])


def evidence_archive(store: object) -> EvidenceArchive | None:
    """The archive of a SQLite or PostgreSQL store (``None`` for anything else, e.g. a fake)."""
    if isinstance(store, SqliteStore):
        return EvidenceArchive(store)
    if type(store).__name__ == "PostgresStore":  # imported lazily: psycopg is an extra
        return EvidenceArchive(store, mark="%s")  # type: ignore[arg-type]
    return None


SqliteEvidence = EvidenceArchive  # the name the SQLite tests and callers know
