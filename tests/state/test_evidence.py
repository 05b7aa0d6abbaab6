"""Evidence snapshots in a real SQLite file: migration, round trip, lookup by alert, pruning."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.models import Alert, EvidenceSnapshot, Quote, Severity, Story
from monitor.ports import StateStore
from monitor.state.copy import copy_state
from monitor.state.evidence import (
    SqliteEvidence,
    decode_snapshot,
    encode_snapshot,
    evidence_archive,
)
from monitor.state.open import open_store
from monitor.state.sqlite import SqliteStore

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
TEXT = "Title\n\nSummary\n\nПервый абзац статьи.\n북한 화물선이 포탄을 실어 날랐다."


def snap(
    key: str = "k1", *, created_at: datetime = NOW, alerts: tuple[str, ...] = ("m1",)
) -> EvidenceSnapshot:
    return EvidenceSnapshot(
        story_key=key,
        feed_id="wire",
        story_url="https://news.example/a",
        created_at=created_at,
        title="Title",
        summary="Summary",
        article_text="Первый абзац статьи.\n북한 화물선이 포탄을 실어 날랐다.",
        text=TEXT,
        text_sha256="0" * 64,
        fetched_at=created_at - timedelta(seconds=3),
        article_fetched=True,
        final_url="https://news.example/final",
        http_status=200,
        body_sha256="f" * 64,
        quotes=(Quote("content", "북한 화물선이 포탄을 실어 날랐다."),),
        alert_keys=alerts,
    )


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "state" / "monitor.db")


def test_the_format_round_trips_exactly_and_is_compressed() -> None:
    original = snap()
    blob = encode_snapshot(original)
    assert decode_snapshot(blob) == original
    article = "\n".join(
        f"Paragraph {i}: officials said the ship carried shells." for i in range(60)
    )
    long = replace(original, text=f"Title\n\nSummary\n\n{article}", article_text=article)
    blob = encode_snapshot(long)
    assert decode_snapshot(blob) == long
    assert len(blob) < len(article.encode()) // 4  # stored once, compressed


def test_lookup_by_any_alert_of_the_story(store: SqliteStore) -> None:
    evidence = SqliteEvidence(store)
    with store.transaction():
        evidence.save_evidence([snap(alerts=("m1", "m2"))])
    assert evidence.evidence_for("m1") == evidence.evidence_for("m2") == snap(alerts=("m1", "m2"))
    assert evidence.evidence_for("m3") is None


def test_a_story_keeps_its_first_snapshot(store: SqliteStore) -> None:
    evidence = SqliteEvidence(store)
    evidence.save_evidence([snap()])
    later = snap(created_at=NOW + timedelta(hours=1), alerts=("m9",))
    evidence.save_evidence([later])
    found = evidence.evidence_for("m9")
    assert found is not None and found.created_at == NOW  # the first judged text stays


def test_a_rolled_back_transaction_keeps_no_snapshot(store: SqliteStore) -> None:
    evidence = SqliteEvidence(store)
    with pytest.raises(RuntimeError), store.transaction():
        evidence.save_evidence([snap()])
        raise RuntimeError("crash before commit")
    assert evidence.evidence_count() == 0


def test_pruning_forgets_old_snapshots_and_their_alert_links(store: SqliteStore) -> None:
    evidence = SqliteEvidence(store)
    evidence.save_evidence([snap("old", created_at=NOW - timedelta(days=400), alerts=("a",))])
    evidence.save_evidence([snap("new", created_at=NOW, alerts=("b",))])
    assert evidence.prune_evidence(NOW - timedelta(days=365)) == 1
    assert evidence.evidence_for("a") is None and evidence.evidence_for("b") is not None
    links = store.conn.execute("SELECT count(*) FROM evidence_alerts").fetchone()[0]
    assert links == 1


def test_a_version_6_database_gains_the_evidence_tables(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE evidence_alerts; DROP TABLE evidence; PRAGMA user_version = 6;")
    conn.close()
    store = SqliteStore(path)
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == 7
    SqliteEvidence(store).save_evidence([snap()])
    assert SqliteEvidence(store).evidence_for("m1") == snap()


def test_an_alert_carries_its_evidence_ref_through_the_outbox(store: SqliteStore) -> None:
    story = Story(feed_id="wire", title="Title", url=None, fetched_at=NOW, key="k1")
    alert = Alert("m1", "hook", "alert.created", "r1", "dprk", Severity.HIGH, 3.0, story, (), NOW,
                  evidence=snap().ref)  # fmt: skip
    assert Alert.from_json(alert.to_json()) == alert
    store.commit_stories([story], [alert], NOW)
    (entry,) = store.outbox()
    assert entry.alert.evidence == snap().ref


# --- the same archive on both backends (contract), and store copy ---------------------------


def test_the_archive_contract_holds_on_both_backends(state_store: StateStore) -> None:
    archive = evidence_archive(state_store)
    assert archive is not None
    with state_store.transaction():
        archive.save_evidence([snap(alerts=("m1", "m2"))])
    archive.save_evidence([snap(created_at=NOW + timedelta(hours=1), alerts=("m3",))])
    assert archive.evidence_for("m1") == archive.evidence_for("m2") == snap(alerts=("m1", "m2"))
    found = archive.evidence_for("m3")
    assert found is not None and found.created_at == NOW and found.text == TEXT
    assert archive.evidence_for("nope") is None
    with pytest.raises(RuntimeError), state_store.transaction():
        archive.save_evidence([snap("rolled-back", alerts=("m9",))])
        raise RuntimeError("crash before commit")
    assert archive.evidence_for("m9") is None
    assert archive.prune_evidence(NOW + timedelta(seconds=1)) == 1
    assert archive.evidence_for("m1") is None and archive.evidence_count() == 0


def test_store_copy_moves_the_snapshots(tmp_path: Path, pg_url: str) -> None:
    src = open_store(f"sqlite:///{tmp_path / 'src.db'}")
    dst = open_store(pg_url)
    try:
        evidence_archive(src).save_evidence([snap(alerts=("m1",))])  # type: ignore[union-attr]
        report = copy_state(src, dst, sent_since=NOW)  # type: ignore[arg-type]
        assert report.rows["evidence"] == 1 and report.rows["evidence_alerts"] == 1
        assert evidence_archive(dst).evidence_for("m1") == snap(alerts=("m1",))  # type: ignore[union-attr]
    finally:
        src.close()
        dst.close()
