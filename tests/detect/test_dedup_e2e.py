"""One story, one alert: a wire story carried by three feeds alerts once, then follows up.

Real loopback servers and the real CLI (``once``): three feeds carry the same wire story under
edited titles, tracking parameters and their own GUIDs, plus one unrelated story that shares
the names. The webhook gets exactly one ``alert.created`` for the wire story and one
``alert.updated`` per other outlet; a Slack incoming webhook gets one message (follow-ups wait
for its digest); a Slack API destination gets the follow-ups as replies in the alert's thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.servers.feed_server import FeedServer, item, rss_feed
from tests.servers.webhook_receiver import TEST_SECRETS, WebhookReceiver
from tests.support import run_cli, write_config

WIRE_SUMMARY = (
    "North Korea has shipped another consignment of artillery shells and short-range ballistic "
    "missiles to Russia by rail through the Tumangang crossing, South Korea's defence ministry "
    "said on Tuesday, in breach of UN Security Council resolutions that ban arms transfers to "
    "and from Pyongyang. The ministry said some 2,000 containers had crossed since August."
)
NOW = datetime.now(UTC).replace(microsecond=0)


def _wire_feeds(server: FeedServer) -> list[dict[str, Any]]:
    """Three outlets, one wire story each (edited title, tracking parameters, own GUID)."""
    copies = [
        (
            "yonhap",
            "Yonhap",
            "North Korea ships more artillery shells and missiles to Russia, Seoul says",
            "https://en.yna.co.kr/view/AEN20261201000100315?utm_source=rss&utm_medium=feed",
            "yna-AEN20261201000100315",
        ),
        (
            "herald",
            "The Korea Herald",
            "N. Korea ships more artillery shells and missiles to Russia: Seoul",
            "https://www.koreaherald.com/article/10611234?fbclid=IwAR0abc&ref=rss",
            "kh-10611234",
        ),
        (
            "wire",
            "Wire Daily",
            "North Korea ships more artillery shells, missiles to Russia, Seoul says",
            "https://wire.example/world/asia/nk-russia-shells-2026-12-01/amp/?gclid=zz9",
            "urn:wire:2026:1201:nk-shells",
        ),
    ]
    feeds = []
    for position, (feed_id, outlet, title, link, guid) in enumerate(copies):
        items = [
            item(
                title,
                link=link,
                guid=guid,
                description=WIRE_SUMMARY,
                pub_date=NOW - timedelta(minutes=30 - position),
            )
        ]
        if feed_id == "herald":  # the unrelated story sharing the names
            items.append(
                item(
                    "Putin and Kim Jong Un exchange New Year greetings",
                    link="https://www.koreaherald.com/article/10611300",
                    guid="kh-10611300",
                    description=(
                        "Russian President Vladimir Putin and North Korean leader Kim Jong Un "
                        "exchanged New Year messages, state media said, praising their "
                        "friendship. The letters did not mention any specific projects."
                    ),
                    pub_date=NOW - timedelta(minutes=20),
                )
            )
        url = server.set_feed(f"/{feed_id}.xml", rss_feed(items, title=outlet), etag=f'"{feed_id}"')
        feeds.append({"id": feed_id, "url": url})
    return feeds


@pytest.fixture
def receivers() -> Iterator[tuple[WebhookReceiver, WebhookReceiver]]:
    hook = WebhookReceiver(secrets=TEST_SECRETS).start()
    slack = WebhookReceiver(slack=True).start()
    try:
        yield hook, slack
    finally:
        hook.stop()
        slack.stop()


def _config(tmp_path: Path, feeds: list[dict[str, Any]], hook: WebhookReceiver,
            slack: WebhookReceiver, state_url: str | None = None) -> Path:  # fmt: skip
    return write_config(
        tmp_path,
        extra={"state": {"path": None, "url": state_url}} if state_url else None,
        feeds=feeds,
        destinations=[
            {
                "id": "hook",
                "type": "webhook",
                "url": hook.url("/hook"),
                "secret": TEST_SECRETS[0],
                "min_severity": "low",
            },
            {
                "id": "channel",
                "type": "slack",
                "url": slack.url("/incoming"),
                "min_severity": "low",
            },
            {
                "id": "bot",
                "type": "slack_api",
                "url": slack.url("/api/chat.postMessage"),
                "token": "xoxb-test-token",
                "channel": "C0123",
                "min_severity": "low",
            },
        ],
    )


def test_a_wire_story_in_three_feeds_alerts_once_then_follows_up(
    tmp_path: Path, receivers: tuple[WebhookReceiver, WebhookReceiver], state_url: str
) -> None:
    """On each backend (``state_url``: a SQLite file, then a PostgreSQL database)."""
    hook, slack = receivers
    with FeedServer() as server:
        config = _config(tmp_path, _wire_feeds(server), hook, slack, state_url)
        done = run_cli("once", config=config)
    assert done.returncode == 0, done.stderr

    bodies = [r.json() for r in hook.delivered()]
    assert all(r.verified for r in hook.delivered())
    wire = [b for b in bodies if "artillery shells" in b["data"]["story"]["title"]]
    created = [b for b in wire if b["type"] == "alert.created"]
    updated = [b for b in wire if b["type"] == "alert.updated"]
    assert len(created) == 1, [b["data"]["story"]["title"] for b in wire]
    assert len(updated) == 2
    first = created[0]["data"]
    assert first["severity"] in ("high", "critical")
    for body in updated:
        data = body["data"]
        assert data["parent_alert_id"] == first["alert_id"]
        assert data["cluster_id"] == first["cluster_id"]
        assert data["story"]["outlet"] != first["story"]["outlet"]
        assert data["story"]["outlet"] in data["also_reported_by"]
        # the copy's own evidence: every span indexes the copy's text
        assert data["matches"]
        for match in data["matches"]:
            text = data["story"][match["field"]]
            assert text[match["start"] : match["end"]] == match["text"]
    named = {o for body in updated for o in body["data"]["also_reported_by"]}
    assert named == {"Yonhap", "The Korea Herald", "Wire Daily"}
    # every request is its own delivery: ids never repeat
    ids = [r.webhook_id for r in hook.delivered()]
    assert len(ids) == len(set(ids))
    # the unrelated story never joins the wire story's cluster
    others = [b for b in bodies if b not in wire]
    assert all(b["type"] == "alert.created" for b in others)
    assert all(b["data"]["cluster_id"] != first["cluster_id"] for b in others)

    # Slack incoming webhook: one top-level message; the follow-ups wait for the digest
    incoming = [r.json() for r in slack.delivered() if r.path == "/incoming"]
    assert sum("artillery shells" in m["text"] for m in incoming) == 1
    # Slack API: the alert, then both follow-ups as replies in its thread
    api = [r.json() for r in slack.delivered() if r.path.startswith("/api/")]
    wire_api = [m for m in api if "artillery shells" in m["text"]]
    assert len(wire_api) == 3
    assert "thread_ts" not in wire_api[0]
    assert [m.get("thread_ts") for m in wire_api[1:]] == ["1700000000.000100"] * 2
    assert all(m["channel"] == "C0123" for m in wire_api)


def test_an_edited_story_is_an_update_not_a_new_alert(
    tmp_path: Path, receivers: tuple[WebhookReceiver, WebhookReceiver]
) -> None:
    hook, slack = receivers
    with FeedServer() as server:
        feeds = _wire_feeds(server)[:1]
        config = _config(tmp_path, feeds, hook, slack)
        assert run_cli("once", config=config).returncode == 0
        assert [r.json()["type"] for r in hook.delivered()] == ["alert.created"]
        # same GUID, edited title and summary: an update of the alerted story
        edited = rss_feed(
            [
                item(
                    "UPDATE: North Korea ships more artillery shells and missiles to Russia",
                    link="https://en.yna.co.kr/view/AEN20261201000100315",
                    guid="yna-AEN20261201000100315",
                    description=WIRE_SUMMARY + " Moscow denied the report.",
                    pub_date=NOW - timedelta(minutes=30),
                )
            ],
            title="Yonhap",
        )
        server.set_feed("/yonhap.xml", edited, etag='"yonhap-2"')
        assert run_cli("once", config=config).returncode == 0
        # a third run with nothing new sends nothing
        assert run_cli("once", config=config).returncode == 0
    kinds = [r.json()["type"] for r in hook.delivered()]
    assert kinds == ["alert.created", "alert.updated"]
    update = hook.delivered()[1].json()["data"]
    assert update["story"]["title"].startswith("UPDATE:")
    assert update["parent_alert_id"] == hook.delivered()[0].json()["data"]["alert_id"]


def test_a_copy_after_outbox_purge_is_still_a_follow_up_in_the_thread(
    tmp_path: Path, receivers: tuple[WebhookReceiver, WebhookReceiver]
) -> None:
    """``outbox purge`` deletes the alert's sent rows; a later copy still follows up, and its
    Slack reply still lands in the alert's thread (the cluster remembers both)."""
    hook, slack = receivers
    with FeedServer() as server:
        feeds = _wire_feeds(server)[:2]
        herald_copy = server.routes["/herald.xml"]
        server.set_feed("/herald.xml", rss_feed([], title="The Korea Herald"), etag='"empty"')
        config = _config(tmp_path, feeds, hook, slack)
        assert run_cli("once", config=config).returncode == 0
        first = [r.json() for r in hook.delivered() if r.json()["type"] == "alert.created"]
        assert [b["data"]["story"]["outlet"] for b in first] == ["Yonhap"]
        purged = run_cli("outbox", "purge", "--sent", "--older-than", "0s", config=config)
        assert purged.returncode == 0, purged.stderr
        assert "purged 0 " not in purged.stdout
        listed = run_cli("outbox", "list", "--status", "sent", "--json", config=config)
        assert listed.stdout.strip() == ""  # JSON lines: no sent row is left
        server.set_feed("/herald.xml", herald_copy.body, etag='"herald-2"')
        assert run_cli("once", config=config).returncode == 0
    wire = [
        r.json()
        for r in hook.delivered()
        if "artillery shells" in r.json()["data"]["story"]["title"]
    ]
    assert [b["type"] for b in wire] == ["alert.created", "alert.updated"]
    assert wire[1]["data"]["parent_alert_id"] == wire[0]["data"]["alert_id"]
    api = [r.json() for r in slack.delivered() if r.path.startswith("/api/")]
    wire_api = [m for m in api if "artillery shells" in m["text"]]
    assert len(wire_api) == 2
    assert "thread_ts" not in wire_api[0]
    assert wire_api[1].get("thread_ts") == "1700000000.000100"


AURUS_SUMMARY = (
    "North Korean leader Kim Jong Un received a Russian-made Aurus limousine as a gift from "
    "President Vladimir Putin, North Korean state media said on Tuesday, a transfer that South "
    "Korea called a breach of UN sanctions banning the supply of vehicles to North Korea."
)
AURUS_COPIES = [  # the three copies: one summary, a suffix, a dateline; new headlines
    ("aurus-wire", "Putin gives Kim Jong Un a Russian-made Aurus car", AURUS_SUMMARY),
    (
        "aurus-daily",
        "Putin gifts Kim Jong Un a Russian-made Aurus car, KCNA says",
        AURUS_SUMMARY + " (Reuters)",
    ),
    (
        "aurus-agg",
        "UPDATE 1-Putin gives North Korea's Kim a Russian-made Aurus car",
        "SEOUL (Reuters) - " + AURUS_SUMMARY,
    ),
]


def _aurus_feed(position: int) -> str:
    feed_id, title, summary = AURUS_COPIES[position]
    return rss_feed(
        [
            item(
                title,
                link=f"https://{feed_id}.example/world/aurus-gift",
                guid=f"{feed_id}-aurus",
                description=summary,
                pub_date=NOW - timedelta(minutes=30 - position),
            )
        ],
        title=feed_id,
    )


@pytest.mark.parametrize("polls", ["one once", "three onces"])
def test_the_aurus_copies_alert_once_per_destination_then_follow_up(
    tmp_path: Path, receivers: tuple[WebhookReceiver, WebhookReceiver], polls: str
) -> None:
    """Three feeds carry the issue's three Aurus copies; whether they arrive in one ``once``
    or one per ``once``, each destination gets one alert.created and two alert.updated."""
    hook, slack = receivers
    with FeedServer() as server:
        feeds = []
        for position, (feed_id, _, _) in enumerate(AURUS_COPIES):
            body = _aurus_feed(position) if polls == "one once" or position == 0 else ""
            body = body or rss_feed([], title=feed_id)
            url = server.set_feed(f"/{feed_id}.xml", body, etag=f'"{feed_id}-0"')
            feeds.append({"id": feed_id, "url": url})
        config = _config(tmp_path, feeds, hook, slack)
        done = run_cli("once", config=config)
        assert done.returncode == 0, done.stderr
        if polls == "three onces":
            for position in (1, 2):
                feed_id = AURUS_COPIES[position][0]
                server.set_feed(f"/{feed_id}.xml", _aurus_feed(position), etag=f'"{feed_id}-1"')
                done = run_cli("once", config=config)
                assert done.returncode == 0, done.stderr
    kinds = [
        r.json()["type"] for r in hook.delivered() if "Aurus" in r.json()["data"]["story"]["title"]
    ]
    assert sorted(kinds) == ["alert.created", "alert.updated", "alert.updated"], kinds
    api = [r.json() for r in slack.delivered() if r.path.startswith("/api/")]
    aurus = [m for m in api if "Aurus" in m["text"]]
    assert len(aurus) == 3
    assert sum("thread_ts" not in m for m in aurus) == 1  # one top-level alert, two replies
