"""Acceptance of issue 18 through the real CLI: thin stories judged on their article.

Loopback servers only: a feed server, an article server (``tests/servers/article_server.py``),
a webhook receiver that checks Standard Webhooks signatures and a Slack-compatible receiver.
``once`` runs as a subprocess with ``enrich.enabled``.

- A title-only item whose article reports a Russia–DPRK arms transfer alerts, and the article's
  sentence is quoted (field ``article``) in the console, Slack and webhook payloads; the
  snapshot printed by ``evidence ALERT_ID`` stays byte for byte after the page changes and
  after it is deleted, and its SHA-256 matches.
- The same item with its article failing (500, a timeout, a gzip bomb, a nested-HTML bomb) is
  judged on its title (no alert), and the poll carries on: another item of the feed alerts.
- robots.txt disallowing the path means no article request; a story that is not a candidate
  never causes a request to the article server (not even robots.txt).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.servers.article_server import ArticleServer, article_server, nested_bomb
from tests.servers.feed_server import FeedServer, feed_server, item, rss_feed
from tests.servers.webhook_receiver import (
    TEST_SECRETS,
    WebhookReceiver,
    slack_receiver,
    webhook_receiver,
)
from tests.support import run_cli, write_config

__all__ = ["article_server", "feed_server", "slack_receiver", "webhook_receiver"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NOW = datetime.now(UTC).replace(microsecond=0)
THIN_TITLE = "North Korea and Russia deepen ties"
TRANSFER = (
    "A Russian-flagged cargo ship delivered thousands of containers of artillery shells from "
    "North Korea to the port of Dunai last month, satellite images show."
)
PARAGRAPHS = [
    "Officials from both countries met in the capital on Tuesday for talks on trade.",
    TRANSFER,
    "The foreign ministry declined to comment when asked about the report on Wednesday.",
]
AURUS_SUMMARY = (
    "Seoul says UN Security Council resolutions ban supplying North Korea with vehicles "
    "under HS codes 86 to 89, so the limousine breaches the sanctions on the DPRK."
)  # 27 words: not thin with ``min_summary_words: 20``


def aurus(server: ArticleServer) -> Any:
    """A story with its own summary; its link is on loopback, though it is never fetched."""
    link = server.set_article("/world/aurus", "Aurus", PARAGRAPHS)
    return item(
        "Putin gave Kim Jong Un a Russian-made Aurus car",
        link=link,
        guid="seed-aurus-1",
        description=AURUS_SUMMARY,
        pub_date=NOW - timedelta(hours=1),
    )


SLACK_PATH = "/services/T00000000/B00000000/enrichSlackPath"


def thin_item(link: str, guid: str, title: str = THIN_TITLE) -> Any:
    return item(title, link=link, guid=guid, pub_date=NOW - timedelta(minutes=30))


def config_for(
    tmp_path: Path,
    feed_url: str,
    hook: WebhookReceiver,
    slack: WebhookReceiver | None = None,
    **enrich: Any,
) -> Path:
    destinations: list[dict[str, Any]] = [
        {"id": "console", "type": "console", "min_severity": "low"},
        {
            "id": "hook",
            "type": "webhook",
            "url": hook.url("/hooks/enrich"),
            "secret": TEST_SECRETS[0],
            "min_severity": "low",
        },
    ]
    if slack is not None:
        destinations.append(
            {"id": "slack", "type": "slack", "url": slack.url(SLACK_PATH), "min_severity": "low"}
        )
    return write_config(
        tmp_path,
        feeds=[{"id": "world", "url": feed_url}],
        destinations=destinations,
        extra={
            "http": {"timeout_s": 2},
            "enrich": {"enabled": True, "extract_time_limit_s": 3, **enrich},
        },
    )


def events(stderr: str, name: str) -> list[dict[str, Any]]:
    """JSON log lines named ``name`` (logs go to stderr; stdout has the summary and alerts)."""
    found = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == name:
                found.append(event)
    return found


def evidence(config: Path, alert_id: str, *shape: str) -> subprocess.CompletedProcess[str]:
    """``evidence`` on the state file of ``config`` (``--state``: no config to compile)."""
    state = config.parent / "state" / "monitor.db"
    return run_cli("evidence", alert_id, "--state", str(state), *shape)


def test_a_title_only_item_alerts_on_its_article_with_the_quote_everywhere(
    tmp_path: Path,
    feed_server: FeedServer,
    article_server: ArticleServer,
    webhook_receiver: WebhookReceiver,
    slack_receiver: WebhookReceiver,
) -> None:
    link = article_server.set_article("/world/ties", THIN_TITLE, PARAGRAPHS)
    feed_url = feed_server.set_feed("/world.xml", rss_feed([thin_item(link, "thin-1")]))
    config = config_for(tmp_path, feed_url, webhook_receiver, slack_receiver)

    result = run_cli("once", config=config)

    assert result.returncode == 0, result.stderr
    [hook] = webhook_receiver.delivered()
    assert hook.verified is True, hook.verify_error
    data = hook.json()["data"]
    assert data["story"]["title"] == THIN_TITLE and data["severity"] in ("high", "critical")
    ev = data["evidence"]
    assert ev["article_fetched"] is True
    assert {"field": "article", "text": TRANSFER} in ev["quotes"], ev["quotes"]
    assert ev["fetched_at"].endswith("Z") and len(ev["text_sha256"]) == 64
    [slack] = slack_receiver.delivered()
    assert TRANSFER in json.dumps(slack.json(), ensure_ascii=False)
    assert TRANSFER in result.stdout  # the console destination
    [enriched] = events(result.stderr, "article_enrichment")
    assert enriched["outcome"] == "fetched"

    first = evidence(config, data["alert_id"], "--json")
    assert first.returncode == 0, first.stderr
    snap = json.loads(first.stdout)
    assert TRANSFER in snap["text"] and snap["article_text"].endswith(PARAGRAPHS[-1])
    assert snap["text_sha256"] == ev["text_sha256"] == sha256(snap["text"])
    assert snap["text_sha256_ok"] is True and snap["http_status"] == 200
    assert snap["final_url"] == link
    body = article_server.route("/world/ties").body  # type: ignore[union-attr]
    assert snap["body_sha256"] == hashlib.sha256(body).hexdigest()
    raw = evidence(config, data["alert_id"], "--text")
    assert sha256(raw.stdout) == snap["text_sha256"]

    article_server.set_article("/world/ties", THIN_TITLE, ["The story was rewritten."] * 3)
    assert evidence(config, data["alert_id"], "--json").stdout == first.stdout
    article_server.delete("/world/ties")
    assert evidence(config, data["alert_id"], "--json").stdout == first.stdout
    report = evidence(config, data["alert_id"])
    assert "matches the text" in report.stdout and TRANSFER in report.stdout
    missing = evidence(config, "msg_unknown")
    assert missing.returncode == 1 and "no snapshot" in missing.stderr


@pytest.mark.parametrize(
    ("path", "options"),
    [
        ("/fail/500", {"behaviour": "status", "status": 500}),
        ("/fail/slow", {"behaviour": "slow", "delay_s": 6}),
        ("/fail/gzip-bomb", {"behaviour": "gzip_bomb"}),
        ("/fail/nested", {"body": nested_bomb()}),
    ],
)
def test_a_failing_article_leaves_the_story_judged_on_its_title(
    tmp_path: Path,
    feed_server: FeedServer,
    article_server: ArticleServer,
    webhook_receiver: WebhookReceiver,
    path: str,
    options: dict[str, Any],
) -> None:
    body = options.pop("body", None)
    if body is not None:
        link = article_server.set_page(path, body)
    else:
        link = article_server.set_article(path, THIN_TITLE, PARAGRAPHS, **options)
    feed = rss_feed([thin_item(link, "thin-fail"), aurus(article_server)])
    config = config_for(tmp_path, feed_server.set_feed("/world.xml", feed), webhook_receiver,
                        min_summary_words=20)  # fmt: skip

    result = run_cli("once", config=config)

    assert result.returncode == 0, result.stderr
    assert "feeds ok: 1  failed: 0  stories new: 2" in result.stdout, result.stdout
    [delivered] = webhook_receiver.delivered()  # the Aurus story only: the thin one has no alert
    data = delivered.json()["data"]
    assert data["story"]["guid"] == "seed-aurus-1"
    assert data["evidence"]["article_fetched"] is False  # it had its own summary: no fetch
    [outcome] = events(result.stderr, "article_enrichment")
    assert outcome["outcome"] == "failed", outcome
    assert len(article_server.requests_for(path)) == 1
    assert article_server.requests_for("/world/aurus") == []


def test_robots_disallow_means_no_article_request(
    tmp_path: Path,
    feed_server: FeedServer,
    article_server: ArticleServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    article_server.set_robots("User-agent: *\nDisallow: /world/\n")
    link = article_server.set_article("/world/ties", THIN_TITLE, PARAGRAPHS)
    feed_url = feed_server.set_feed("/world.xml", rss_feed([thin_item(link, "thin-robots")]))
    config = config_for(tmp_path, feed_url, webhook_receiver)

    result = run_cli("once", config=config)

    assert result.returncode == 0, result.stderr
    assert article_server.article_requests() == []
    assert len(article_server.robots_requests()) == 1
    assert webhook_receiver.delivered() == []
    [outcome] = events(result.stderr, "article_enrichment")
    assert (outcome["outcome"], outcome["reason"]) == ("skipped", "robots")


def test_a_story_that_is_not_a_candidate_never_causes_a_request(
    tmp_path: Path,
    feed_server: FeedServer,
    article_server: ArticleServer,
    webhook_receiver: WebhookReceiver,
) -> None:
    link = article_server.set_article("/celebs/car", "A car", PARAGRAPHS)
    items = [
        thin_item(link, "kk-1", "Kim Kardashian shows off her new luxury car"),
        thin_item(link + "?2", "weather-1", "Heavy snow expected across the region tomorrow"),
    ]
    config = config_for(tmp_path, feed_server.set_feed("/world.xml", rss_feed(items)),
                        webhook_receiver)  # fmt: skip

    result = run_cli("once", config=config)

    assert result.returncode == 0, result.stderr
    assert "stories new: 2" in result.stdout
    assert article_server.requests == []
    assert events(result.stderr, "article_enrichment") == []


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
