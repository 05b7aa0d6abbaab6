"""``sanctions-monitor evidence ALERT_ID [--json | --text]``: what an alert was judged on.

For analysts and compliance officers who must show what an article said when the alert went
out, after the outlet edited or deleted it. ``ALERT_ID`` is the alert's id as destinations
receive it (``data.alert_id`` / ``webhook-id``, ``msg_…``). The output:

- default: a readable report (links, fetch time and status, both SHA-256s, the quoted
  sentences and the judged text);
- ``--json``: the whole snapshot as one JSON object (``text`` exactly as stored);
- ``--text``: only the judged text, byte for byte as hashed (``… --text | sha256sum`` gives
  ``text_sha256``).

The state file comes from the config (``state.path``), or ``--state PATH``. Exit codes: 0 shown,
1 no snapshot for that id (never alerted, or pruned after ``evidence.retention_days``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import asdict
from typing import Any

from monitor.cli.outbox import open_store
from monitor.deliver.render.text import clean
from monitor.models import EvidenceSnapshot
from monitor.state.evidence import evidence_archive

FIELD_NAMES = {"title": "title", "summary": "summary", "content": "article"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = sub.add_parser("evidence", help="the text an alert was judged on, with its SHA-256")
    cmd.add_argument("alert_id", metavar="ALERT_ID", help="the alert's id (msg_…)")
    shape = cmd.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="the whole snapshot as JSON")
    shape.add_argument("--text", action="store_true", help="only the judged text, as hashed")
    cmd.set_defaults(func=cmd_evidence)


def cmd_evidence(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        archive = evidence_archive(store)
        snap = archive.evidence_for(args.alert_id.strip()) if archive is not None else None
    if snap is None:
        print(f"evidence: no snapshot for alert {args.alert_id!r}", file=sys.stderr)
        return 1
    if args.text:
        sys.stdout.buffer.write(snap.text.encode("utf-8", "surrogatepass"))
        sys.stdout.buffer.flush()
    elif args.json:
        print(json.dumps(snapshot_json(snap), ensure_ascii=False, indent=2))
    else:
        print(format_snapshot(args.alert_id, snap))
    return 0


def snapshot_json(snap: EvidenceSnapshot) -> dict[str, Any]:
    """The snapshot as JSON, with ``text_sha256_ok``: the stored hash checked against the text."""
    doc = asdict(snap)
    doc["created_at"] = snap.created_at.isoformat()
    doc["fetched_at"] = snap.fetched_at.isoformat()
    doc["text_sha256_ok"] = _hash_ok(snap)
    return doc


def format_snapshot(alert_id: str, snap: EvidenceSnapshot) -> str:
    """A readable report; the judged text last, as stored (controls removed per line)."""
    check = "matches the text" if _hash_ok(snap) else "DOES NOT MATCH the text"
    lines = [
        f"evidence for alert {clean(alert_id)}",
        f"  story: {clean(snap.story_key)} (feed {clean(snap.feed_id)})",
        f"  link: {clean(snap.story_url) or '(none)'}",
        f"  judged at: {snap.created_at.isoformat()}",
        f"  article fetched: {'yes' if snap.article_fetched else 'no (judged on the feed text)'}",
    ]
    if snap.article_fetched:
        lines += [
            f"  final URL: {clean(snap.final_url)}",
            f"  HTTP status: {snap.http_status}",
            f"  fetched at: {snap.fetched_at.isoformat()}",
            f"  body sha256: {snap.body_sha256}",
        ]
    lines.append(f"  text sha256: {snap.text_sha256} ({check})")
    lines.append("  quoted:")
    lines += [f"    [{FIELD_NAMES.get(q.field, q.field)}] {clean(q.text)}" for q in snap.quotes]
    lines.append("--- judged text ---")
    lines += [clean(line) for line in snap.text.split("\n")]
    return "\n".join(lines)


def _hash_ok(snap: EvidenceSnapshot) -> bool:
    digest = hashlib.sha256(snap.text.encode("utf-8", "surrogatepass")).hexdigest()
    return digest == snap.text_sha256
