"""Time to alert in ``sanctions-monitor run`` (issue 16): from the moment the feed server first
serves a story to the moment the webhook receiver records its alert.

    .venv/bin/python bench/bench_latency.py                 # 10 trials, 5 s interval, jitter 0
    .venv/bin/python bench/bench_latency.py --trials 2      # a quick look

For whoever tunes the daemon's wake-ups. ``run`` starts as a subprocess with one feed (interval
``--interval-s``, ``jitter_s: 0``) on a loopback feed server and one webhook destination on a
loopback receiver; the delivery settings are the defaults (``delivery.poll_interval_s`` 1 s).
Each trial publishes a story that alerts (a new link each time) at a random moment of the poll
cycle. Printed per trial and as median / max: the whole latency, and the part after the poll
that fetched the story (the pipeline and delivery; the rest is waiting for the next poll, on
average half the interval: the anchor).

Target: median <= 3 s, max <= 6 s over 10 trials at a 5 s interval.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.servers.feed_server import FeedServer, item, rss_feed  # noqa: E402
from tests.servers.webhook_receiver import TEST_SECRETS, WebhookReceiver  # noqa: E402
from tests.support import write_config  # noqa: E402

TITLE = "Putin gave Kim Jong Un a Russian-made Aurus car"
SUMMARY = (
    "Seoul says UN Security Council resolutions ban supplying North Korea with vehicles under HS "
    "codes 86 to 89, so the limousine breaches the sanctions on the DPRK."
)


def story_feed(trials: int) -> bytes:
    """The feed with the stories of the first ``trials`` trials (older ones stay)."""
    now = datetime.now(UTC)
    return rss_feed(
        [
            item(
                f"{TITLE} ({n})",
                link=f"https://news.example/aurus-{n}",
                guid=f"aurus-{n}",
                description=SUMMARY,
                pub_date=now - timedelta(minutes=n),
            )
            for n in range(trials)
        ]
    )


def wait_for_link(receiver: WebhookReceiver, link: str, timeout_s: float) -> float | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in receiver.delivered():
            if link.encode() in record.body:
                return record.received_at
        time.sleep(0.01)
    return None


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--trials", type=int, default=10)
    args.add_argument("--interval-s", type=float, default=5.0)
    opts = args.parse_args()
    feeds = FeedServer().start()
    receiver = WebhookReceiver(keep_alive=True).start()
    feeds.set_feed("/feed.xml", story_feed(0))
    rnd = random.Random(16)
    with tempfile.TemporaryDirectory(prefix="bench_latency-") as tmp:
        config = write_config(
            Path(tmp),
            feeds=[{"id": "f", "url": feeds.url("/feed.xml"), "interval_s": opts.interval_s}],
            destinations=[
                {"id": "hook", "type": "webhook", "url": receiver.url("/hook"),
                 "secret": TEST_SECRETS[0], "min_severity": "low"},
            ],
            extra={
                "delivery": {"retry_schedule_s": [0, 1, 5], "poll_interval_s": 1.0},  # default
                "log": {"level": "WARNING"},
            },
        )  # fmt: skip
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(config), "run"],
            cwd=REPO,
            env={**os.environ, "LOG_FORMAT": "json"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            results = trials(feeds, receiver, opts, rnd)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    feeds.stop()
    receiver.stop()
    report(results, opts)
    return 0


def trials(
    feeds: FeedServer, receiver: WebhookReceiver, opts: argparse.Namespace, rnd: random.Random
) -> list[tuple[float, float]]:
    """Per trial: (whole latency, latency after the fetching poll), in seconds."""
    deadline = time.monotonic() + 60
    while len(feeds.requests_for("/feed.xml")) < 2:  # the daemon is up and polling
        if time.monotonic() > deadline:
            raise SystemExit("bench_latency: the daemon never polled the feed")
        time.sleep(0.05)
    results = []
    for n in range(opts.trials):
        time.sleep(rnd.uniform(0, opts.interval_s))  # any moment of the poll cycle
        feeds.set_feed("/feed.xml", story_feed(n + 1))
        published = time.monotonic()
        delivered = wait_for_link(receiver, f"https://news.example/aurus-{n}", 4 * opts.interval_s)
        if delivered is None:
            raise SystemExit(f"bench_latency: trial {n}'s alert never arrived")
        fetched = min(r.at for r in feeds.requests_for("/feed.xml") if r.at >= published)
        results.append((delivered - published, delivered - fetched))
        print(f"trial {n}: {results[-1][0]:.2f} s ({results[-1][1]:.2f} s after the poll)")
    return results


def report(results: list[tuple[float, float]], opts: argparse.Namespace) -> None:
    whole = [r[0] for r in results]
    after = [r[1] for r in results]
    median, worst = statistics.median(whole), max(whole)
    print(
        f"\nbench_latency: {len(results)} trials, interval {opts.interval_s:g} s, jitter 0\n"
        f"  time to alert: median {median:.2f} s, max {worst:.2f} s\n"
        f"  after the poll that fetched it: median {statistics.median(after):.2f} s, "
        f"max {max(after):.2f} s\n"
        f"  anchor: waiting for the next poll alone averages {opts.interval_s / 2:.1f} s\n"
        f"  target median <= 3 s: {'PASS' if median <= 3 else 'FAIL'}; "
        f"max <= 6 s: {'PASS' if worst <= 6 else 'FAIL'}"
    )


if __name__ == "__main__":
    sys.exit(main())
