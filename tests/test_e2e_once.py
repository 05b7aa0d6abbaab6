"""End to end through the real CLI: ``sanctions-monitor once`` against loopback servers.

A feed server on 127.0.0.1 (it honours ``If-None-Match``) serves a feed with the seed story
(Putin gave Kim Jong Un a Russian-made Aurus car; Seoul says UN resolutions ban supplying the
DPRK with vehicles under HS codes 86 to 89) and two stories that must not alert (a Kim
Kardashian car story, a DPRK missile test with no Russia link). ``once`` runs as a subprocess
and delivers to a webhook receiver that verifies Standard Webhooks signatures with the
``standardwebhooks`` library and to a Slack-compatible receiver. Then: broken feeds (HTML, garbage
bytes, 500, a gzip bomb) fail alone while a good feed beside them is polled and alerted.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.servers.feed_server import HTML_PAGE, FeedServer, feed_server, item, rss_feed
from tests.servers.webhook_receiver import (
    TEST_SECRETS,
    WebhookReceiver,
    slack_receiver,
    webhook_receiver,
)
from tests.support import run_cli, write_config

__all__ = ["feed_server", "slack_receiver", "webhook_receiver"]

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(microsecond=0)
AURUS_TITLE = "Putin gave Kim Jong Un a Russian-made Aurus car"
AURUS_SUMMARY = (
    "Seoul says UN Security Council resolutions ban supplying North Korea with vehicles "
    "under HS codes 86 to 89, so the limousine breaches the sanctions on the DPRK."
)
AURUS = item(
    AURUS_TITLE,
    link="https://news.example/world/aurus-gift",
    guid="seed-aurus-1",
    description=AURUS_SUMMARY,
    pub_date=NOW - timedelta(hours=1),
)
KARDASHIAN = item(
    "Kim Kardashian shows off her new luxury car in Los Angeles",
    link="https://celebs.example/kim-car",
    guid="kk-car-1",
    description="The reality star drove the vehicle to a party in Beverly Hills.",
    pub_date=NOW - timedelta(hours=2),
)
MISSILE_TEST = item(
    "North Korea test-fires a ballistic missile into the East Sea",
    link="https://news.example/asia/missile-test",
    guid="missile-test-1",
    description="Pyongyang launched the missile from its east coast, Seoul's military said.",
    pub_date=NOW - timedelta(hours=3),
)
SLACK_PATH = "/services/T00000000/B00000000/e2eSlackPath"


def destinations(hook: WebhookReceiver, slack: WebhookReceiver) -> list[dict[str, Any]]:
    """Both receivers take everything from ``low`` up: only the rules decide what alerts."""
    return [
        {
            "id": "hook",
            "type": "webhook",
            "url": hook.url("/hooks/e2e"),
            "secret": TEST_SECRETS[0],
            "min_severity": "low",
        },
        {"id": "slack", "type": "slack", "url": slack.url(SLACK_PATH), "min_severity": "low"},
    ]


def summary_line(stdout: str) -> str:
    """The ``feeds ok: ...`` line ``once`` prints after the log lines."""
    lines = [line for line in stdout.splitlines() if line.startswith("feeds ok:")]
    assert len(lines) == 1, stdout
    return lines[0]


def counts(stdout: str) -> dict[str, int]:
    """``{"ok": 1, "failed": 0, "new": 3, "queued": 2, "sent": 2, "pending": 0}``."""
    line = summary_line(stdout)
    found = {
        key: re.search(pattern, line)
        for key, pattern in {
            "ok": r"feeds ok: (\d+)",
            "failed": r"failed: (\d+)",
            "new": r"stories new: (\d+)",
            "queued": r"alerts queued: (\d+)",
            "sent": r"sent: (\d+)",
            "pending": r"still pending: (\d+)",
        }.items()
    }
    assert all(found.values()), line
    return {key: int(m.group(1)) for key, m in found.items() if m}


def log_events(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines (on stderr: stdout carries only the summary and console alerts)."""
    events = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def test_once_alerts_the_aurus_story_once_and_then_polls_conditionally(
    tmp_path: Path,
    feed_server: FeedServer,
    webhook_receiver: WebhookReceiver,
    slack_receiver: WebhookReceiver,
) -> None:
    feed_url = feed_server.set_feed(
        "/world.xml",
        rss_feed([KARDASHIAN, AURUS, MISSILE_TEST], title="Loopback World News"),
        etag='"world-v1"',
    )
    config = write_config(
        tmp_path,
        feeds=[{"id": "world", "url": feed_url}],
        destinations=destinations(webhook_receiver, slack_receiver),
    )

    first = run_cli("once", config=config)

    assert first.returncode == 0, first.stderr
    assert counts(first.stdout) == {
        "ok": 1, "failed": 0, "new": 3, "queued": 2, "sent": 2, "pending": 0,
    }  # fmt: skip
    [hook] = webhook_receiver.requests
    assert hook.status == 200
    assert hook.verified is True, hook.verify_error
    payload = hook.json()
    data = payload["data"]
    assert payload["type"] == "alert.created"
    assert hook.webhook_id == data["alert_id"] == hook.headers.get("idempotency-key")
    assert data["severity"] in ("high", "critical")
    assert data["rule_ids"], data
    assert data["story"]["title"] == AURUS_TITLE
    assert data["story"]["url"] == "https://news.example/world/aurus-gift"
    assert data["story"]["feed_id"] == "world"
    matched = {m["text"] for m in data["matches"]}
    assert {"Putin", "Kim Jong Un", "Aurus"} <= matched, matched
    vehicle_evidence = {m["text"] for m in data["matches"] if m["ref"] == "vehicles"}
    assert "vehicles" in vehicle_evidence, data["matches"]
    assert any(text.startswith("HS codes 86") for text in vehicle_evidence), vehicle_evidence

    [slack] = slack_receiver.requests
    assert slack.status == 200 and slack.path == SLACK_PATH
    message = slack.json()
    rendered = json.dumps(message, ensure_ascii=False)
    assert "Aurus" in message["text"]
    assert "Kardashian" not in rendered and "test-fires" not in rendered

    second = run_cli("once", config=config)

    assert second.returncode == 0, second.stderr
    requests = feed_server.requests_for("/world.xml")
    assert len(requests) == 2
    assert "if-none-match" not in requests[0].headers
    assert requests[1].headers.get("if-none-match") == '"world-v1"'
    polled = [e for e in log_events(second.stderr) if e.get("event") == "feed_polled"]
    assert [e.get("status") for e in polled] == [304], second.stderr
    assert polled[0]["unchanged"] is True  # a 304 is unchanged, and the log says so
    assert not [line for line in second.stdout.splitlines() if line.startswith("{")]
    assert counts(second.stdout) == {
        "ok": 1, "failed": 0, "new": 0, "queued": 0, "sent": 0, "pending": 0,
    }  # fmt: skip
    assert len(webhook_receiver.requests) == 1
    assert len(slack_receiver.requests) == 1


BROKEN_FEEDS = {
    # feed id: (what the server does, what the summary line must say about it)
    "html-page": ("html", r"not a feed"),
    "garbage-bytes": ("garbage", r"not a feed|parse"),
    "server-error": ("500", r"HTTP 500"),
    "gzip-bomb": ("bomb", r"cap|too large"),
}


def serve_broken(server: FeedServer, kind: str) -> str:
    path = f"/broken/{kind}"
    if kind == "html":
        return server.set_feed(path, HTML_PAGE, content_type="text/html; charset=utf-8")
    if kind == "garbage":
        noise = bytes(random.Random(2397).randrange(256) for _ in range(8192))
        return server.set_feed(path, noise, content_type="application/rss+xml")
    if kind == "500":
        return server.set_feed(path, b"internal error", behaviour="status", status=500)
    return server.set_feed(path, behaviour="gzip_bomb")  # 10 GiB of zeros, gzip on the wire


def test_broken_feeds_fail_alone_while_a_good_feed_is_polled_and_alerted(
    tmp_path: Path, feed_server: FeedServer, webhook_receiver: WebhookReceiver
) -> None:
    feeds = [{"id": fid, "url": serve_broken(feed_server, kind)} for fid, (kind, _) in
             BROKEN_FEEDS.items()]  # fmt: skip
    good_url = feed_server.set_feed("/good.xml", rss_feed([AURUS, KARDASHIAN]), etag='"g1"')
    feeds.insert(2, {"id": "good", "url": good_url})  # in the middle, not first or last
    config = write_config(
        tmp_path,
        feeds=feeds,
        destinations=[
            {
                "id": "hook",
                "type": "webhook",
                "url": webhook_receiver.url(),
                "secret": TEST_SECRETS[1],
                "min_severity": "low",
            }
        ],
    )

    result = run_cli("once", config=config)

    assert result.returncode == 3, result.stderr  # a partial run: four feeds failed
    assert counts(result.stdout) == {
        "ok": 1, "failed": 4, "new": 2, "queued": 1, "sent": 1, "pending": 0,
    }  # fmt: skip
    failures = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\s+failed (\S+): (.+)$", result.stdout, re.MULTILINE)
    }
    assert set(failures) == set(BROKEN_FEEDS), result.stdout
    for feed_id, (_, expected) in BROKEN_FEEDS.items():
        assert re.search(expected, failures[feed_id], re.IGNORECASE), (feed_id, failures)
    failed_events = {e["feed_id"] for e in log_events(result.stderr) if e["event"] == "feed_failed"}
    assert failed_events == set(BROKEN_FEEDS)
    [delivered] = webhook_receiver.delivered()
    assert delivered.verified is True
    assert delivered.json()["data"]["story"]["title"] == AURUS_TITLE
    assert delivered.json()["data"]["story"]["feed_id"] == "good"
