"""Delivery throughput and the outbox's cost per alert, against a loopback webhook receiver.

For whoever tunes delivery. Sends N signed webhook alerts (default 10,000) to a real HTTP
receiver on 127.0.0.1 (keep-alive, same process) and prints, measured in the same run:

1. baseline: ``WebhookNotifier.send`` in a loop, no outbox (the network + signing cost),
   measured before and after the outbox runs (their spread shows the machine's drift);
2. enqueue: ``commit_stories`` of the alerts into a SQLite outbox (WAL), per alert;
3. outbox delivery: ``DeliveryWorker.deliver_due`` draining the outbox to the same receiver;
4. outbox overhead alone: the worker draining N rows into a no-op notifier (store reads,
   JSON decoding, ``mark_sent``), per alert;
and the overhead of (3) over (1) per alert.

    .venv/bin/python bench/bench_deliver.py [--alerts 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import logging  # noqa: E402

import httpx  # noqa: E402
import structlog  # noqa: E402

from monitor.clock import SystemClock  # noqa: E402
from monitor.deliver.notifiers import WebhookNotifier  # noqa: E402
from monitor.deliver.worker import DeliveryWorker  # noqa: E402
from monitor.models import Alert, DestinationSpec  # noqa: E402
from monitor.ports import NotifierCapabilities  # noqa: E402
from monitor.state.sqlite import SqliteStore  # noqa: E402
from tests.fixtures.delivery.samples import alert, story  # noqa: E402
from tests.servers.webhook_receiver import TEST_SECRETS, WebhookReceiver  # noqa: E402


class NullNotifier:
    """Accepts everything instantly: isolates the outbox's own cost."""

    destination_id = "hook"
    capabilities = NotifierCapabilities()

    async def send(self, alert: Alert, *, plain: bool = False) -> None:
        return None


def make_alerts(count: int, prefix: str) -> list[Alert]:
    now = datetime.now(UTC)
    return [
        alert(
            f"msg_{prefix}{i:06d}", destination_id="hook", s=story(f"{prefix}{i}"), created_at=now
        )
        for i in range(count)
    ]


async def baseline(notifier: WebhookNotifier, alerts: list[Alert]) -> float:
    start = time.perf_counter()
    for item in alerts:
        await notifier.send(item)
    return time.perf_counter() - start


def enqueue(store: SqliteStore, alerts: list[Alert]) -> float:
    start = time.perf_counter()
    for chunk in range(0, len(alerts), 50):  # as the pipeline does: one commit per polled feed
        store.commit_stories([], alerts[chunk : chunk + 50], datetime.now(UTC))
    return time.perf_counter() - start


async def drain(store: SqliteStore, notifier: object) -> tuple[float, int]:
    worker = DeliveryWorker(store=store, clock=SystemClock(), notifiers={"hook": notifier})  # type: ignore[dict-item]
    start = time.perf_counter()
    stats = await worker.deliver_due()
    return time.perf_counter() - start, stats.sent


async def main(count: int) -> None:
    receiver = WebhookReceiver(keep_alive=True).start()
    spec = DestinationSpec(id="hook", type="webhook", url=receiver.url(), secrets=TEST_SECRETS)
    limits = httpx.Limits(max_connections=4, max_keepalive_connections=4)
    async with httpx.AsyncClient(limits=limits) as client:
        notifier = WebhookNotifier(spec=spec, client=client, clock=SystemClock())
        await baseline(notifier, make_alerts(50, "warm"))  # connection and code paths warm
        base_s = await baseline(notifier, make_alerts(count, "base"))
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(Path(tmp) / "bench.db")
            enqueue_s = enqueue(store, make_alerts(count, "real"))
            deliver_s, sent = await drain(store, notifier)
            null_store = SqliteStore(Path(tmp) / "null.db")
            enqueue(null_store, make_alerts(count, "null"))
            null_s, null_sent = await drain(null_store, NullNotifier())
            store.close()
            null_store.close()
        # Again after: the machine's load drifts; the spread shows how far to trust a difference.
        base_after_s = await baseline(notifier, make_alerts(count, "again"))
    receiver.close()
    assert sent == count and null_sent == count, (sent, null_sent)
    assert len(set(receiver.delivered_ids())) == len(receiver.delivered()), "duplicate webhook-id"
    print(f"bench_deliver: {count} alerts, signed webhooks to 127.0.0.1, SQLite WAL outbox")
    rows = [
        ("baseline  direct send, no outbox", base_s),
        ("baseline  again, after the outbox runs", base_after_s),
        ("outbox    enqueue (commit_stories)", enqueue_s),
        ("outbox    worker -> receiver", deliver_s),
        ("outbox    worker -> no-op notifier", null_s),
    ]
    for label, seconds in rows:
        print(
            f"  {label:<36} {count / seconds:9.0f} alerts/s {seconds * 1e6 / count:9.0f} us/alert"
        )
    base_s = (base_s + base_after_s) / 2
    extra_us = (deliver_s - base_s) * 1e6 / count
    print(
        f"  outbox overhead over the mean baseline: {extra_us:.0f} us/alert to deliver "
        f"({100 * (deliver_s - base_s) / base_s:+.0f}%), "
        f"{enqueue_s * 1e6 / count:.0f} us/alert to enqueue"
    )


if __name__ == "__main__":
    # Per-alert info logs would dominate the measurement; keep warnings and errors.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    asyncio.run(main(parser.parse_args().alerts))
