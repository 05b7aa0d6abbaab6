"""How long a backlog takes to drain to a slow webhook (issue 16 point 4).

    .venv/bin/python bench/bench_drain.py                 # 1,000 alerts, answers after 100 ms
    .venv/bin/python bench/bench_drain.py --alerts 100    # a quick look

For whoever tunes delivery. A real webhook receiver on 127.0.0.1 (threaded, so it can answer
several requests at once) sleeps ``--delay-s`` before each answer. Measured in the same run:

1. anchor: ``WebhookNotifier.send`` one alert after another for a sample, scaled to the
   backlog (what a destination costs when its rows are sent one at a time);
2. the backlog: ``--alerts`` alerts committed to a SQLite outbox, then the real
   ``DeliveryWorker.run`` until every row is sent; the time from start to the last answer.
   Once per ``--concurrency`` (default: 1, and 4, the webhook default of
   ``destinations[].concurrency``), each on a fresh outbox; a commit whose worker has no
   ``concurrency`` runs one at a time whatever is asked.

Target: 1,000 alerts at 100 ms drain in <= 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import structlog  # noqa: E402

from monitor.clock import SystemClock  # noqa: E402
from monitor.deliver.notifiers import WebhookNotifier  # noqa: E402
from monitor.deliver.worker import DeliveryWorker  # noqa: E402
from monitor.models import Alert, DestinationSpec  # noqa: E402
from monitor.state.sqlite import SqliteStore  # noqa: E402
from tests.fixtures.delivery.samples import alert, story  # noqa: E402
from tests.servers.webhook_receiver import TEST_SECRETS, WebhookReceiver  # noqa: E402


def make_alerts(count: int, prefix: str) -> list[Alert]:
    now = datetime.now(UTC)
    return [
        alert(
            f"msg_{prefix}{i:06d}", destination_id="hook", s=story(f"{prefix}{i}"), created_at=now
        )
        for i in range(count)
    ]


async def drain(
    store: SqliteStore, notifier: WebhookNotifier, count: int, concurrency: int
) -> float:
    """``DeliveryWorker.run`` from start until ``count`` rows are sent."""
    extra: dict[str, Any] = {}
    if "concurrency" in inspect.signature(DeliveryWorker).parameters:
        extra["concurrency"] = {"hook": concurrency}
    worker = DeliveryWorker(store=store, clock=SystemClock(), notifiers={"hook": notifier}, **extra)
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(worker.run(stop, poll_interval_s=0.05))
    while store.outbox_counts().get("sent", 0) < count:
        if task.done():
            task.result()  # a crashed worker fails the bench
            raise SystemExit("bench_drain: the worker stopped before the outbox drained")
        await asyncio.sleep(0.02)
    seconds = time.perf_counter() - started
    stop.set()
    await task
    return seconds


async def main(count: int, delay_s: float, sample: int, levels: list[int]) -> None:
    receiver = WebhookReceiver(keep_alive=True).start()
    spec = DestinationSpec(id="hook", type="webhook", url=receiver.url(), secrets=TEST_SECRETS)
    limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        notifier = WebhookNotifier(spec=spec, client=client, clock=SystemClock())
        receiver.hang(delay_s, times=sample)
        started = time.perf_counter()
        for item in make_alerts(sample, "base"):
            await notifier.send(item)
        anchor_s = (time.perf_counter() - started) * count / sample
        drains: dict[int, tuple[float, int]] = {}
        for level in levels:
            receiver.clear()
            receiver.hang(delay_s, times=count)
            with tempfile.TemporaryDirectory() as tmp:
                store = SqliteStore(Path(tmp) / "drain.db")
                alerts = make_alerts(count, f"c{level}-")
                for chunk in range(0, count, 50):  # one commit per polled feed, as the poller
                    store.commit_stories([], alerts[chunk : chunk + 50], datetime.now(UTC))
                seconds = await drain(store, notifier, count, level)
                store.close()
            ids = receiver.delivered_ids()
            drains[level] = (seconds, len(ids) - len(set(ids)))
    receiver.stop()
    print(
        f"bench_drain: {count} alerts to one webhook receiver, {delay_s * 1000:.0f} ms per answer"
    )
    print(f"  anchor: one send after another ({sample} sent, scaled)  {anchor_s:7.1f} s")
    for level, (seconds, repeated) in drains.items():
        print(
            f"  DeliveryWorker.run, concurrency {level}: drained in {seconds:7.1f} s "
            f"({repeated} repeated webhook-ids)"
        )
    target = 30.0 * count / 1000
    for level, (seconds, _) in drains.items():
        verdict = "PASS" if seconds <= target else "FAIL"
        print(f"  target (1,000 in <= 30 s, scaled {target:.0f} s), concurrency {level}: {verdict}")


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("--alerts", type=int, default=1000)
    args.add_argument("--delay-s", type=float, default=0.1)
    args.add_argument("--sample", type=int, default=30, help="alerts for the one-by-one anchor")
    args.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    opts = args.parse_args()
    asyncio.run(main(opts.alerts, opts.delay_s, opts.sample, opts.concurrency))
