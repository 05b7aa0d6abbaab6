"""Text hygiene: bidi controls, invisible format and tag characters never reach a reader, and
IDN or mixed-script hosts are shown in punycode (console text and Slack links).

Unit cases on the render helpers, then ``once`` end to end: a loopback feed whose story carries
all of them, delivered to the console (stdout) and to a Slack-compatible loopback receiver.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.deliver.render.slack import safe_url
from monitor.deliver.render.text import clean, display_url, punycode_host
from tests.servers.feed_server import FeedServer, feed_server, item, rss_feed
from tests.servers.webhook_receiver import WebhookReceiver, slack_receiver
from tests.support import run_cli, write_config

__all__ = ["feed_server", "slack_receiver"]

HIDDEN = [
    "\u200f",  # RIGHT-TO-LEFT MARK
    "\u200e",  # LEFT-TO-RIGHT MARK
    "\u061c",  # ARABIC LETTER MARK
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u2067",  # RIGHT-TO-LEFT ISOLATE
    "\u200b",  # ZERO WIDTH SPACE
    "\u2060",  # WORD JOINER
    "\ufeff",  # BYTE ORDER MARK
    "\u00ad",  # SOFT HYPHEN
    "\U000e0041\U000e0042",  # TAG LATIN CAPITAL A, B (hidden ASCII)
    "\U000e007f",  # CANCEL TAG
]
LOOKALIKE = "https://\u0430pple.com/news/item?id=1"  # Cyrillic а in "apple"


@pytest.mark.parametrize("hidden", HIDDEN)
def test_hidden_characters_are_removed(hidden: str) -> None:
    assert clean(f"Kim{hidden} Jong{hidden} Un") == "Kim Jong Un"


def test_joiners_that_scripts_need_are_kept() -> None:
    assert clean("می\u200cخواهم 👩\u200d💻") == "می\u200cخواهم 👩\u200d💻"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (LOOKALIKE, "https://xn--pple-43d.com/news/item?id=1"),
        ("https://пример.рф/", "https://xn--e1afmkfd.xn--p1ai/"),
        ("http://user@bücher.example:8080/a", "http://user@xn--bcher-kva.example:8080/a"),
        ("https://news.example/путь", "https://news.example/путь"),  # only the host changes
        ("https://[2001:db8::1]/x", "https://[2001:db8::1]/x"),
    ],
)
def test_non_ascii_hosts_are_shown_in_punycode(url: str, shown: str) -> None:
    assert display_url(url) == shown


def test_slack_links_carry_the_punycode_host_not_percent_escapes() -> None:
    target = safe_url(LOOKALIKE)
    assert target == "https://xn--pple-43d.com/news/item?id=1"
    assert "%D0" not in (target or "")


def test_a_label_idna_refuses_is_still_punycode() -> None:
    assert punycode_host("ex\u2764ample.com").startswith("xn--")


@pytest.mark.slow
def test_once_delivers_clean_text_and_punycode_links(
    tmp_path: Path, feed_server: FeedServer, slack_receiver: WebhookReceiver
) -> None:
    dirty = "".join(HIDDEN)
    story = item(
        f"Putin gave{dirty} Kim Jong Un a Russian-made Aurus car",
        link=LOOKALIKE,
        guid="hygiene-1",
        description=f"Seoul says UN Security Council resolutions{dirty} ban supplying North "
        "Korea with vehicles under HS codes 86 to 89, so the limousine breaches the sanctions.",
        pub_date=datetime.now(UTC) - timedelta(hours=1),
    )
    feed_url = feed_server.set_feed("/world.xml", rss_feed([story]))
    config = write_config(
        tmp_path,
        feeds=[{"id": "world", "url": feed_url}],
        destinations=[
            {"id": "console", "type": "console", "min_severity": "low"},
            {"id": "slack", "type": "slack", "url": slack_receiver.url("/services/T/B/x"),
             "min_severity": "low"},
        ],
    )  # fmt: skip
    result = run_cli("once", config=config)
    assert result.returncode == 0, result.stdout + result.stderr
    [sent] = slack_receiver.requests
    shown = {"console": result.stdout, "slack": json.dumps(sent.json(), ensure_ascii=False)}
    for where, text in shown.items():
        assert "Putin gave Kim Jong Un" in text, where
        assert not any(ch in text for ch in "".join(HIDDEN)), where
        assert "xn--pple-43d.com" in text and "\u0430pple" not in text, where
