"""``run``, ``once``, ``check-config`` and ``dump-config``, and the wiring they share.

``build_app`` is the composition root: the only place that creates the HTTP client, the
store, the parser pool and the notifiers, and hands them to the pipeline, the delivery worker
and the daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TextIO

import httpx
import structlog
import yaml

from monitor.cli.common import cli_config, config_path, load_settings, overrides
from monitor.cli.state import add_reset_flag, hold_state
from monitor.clock import SystemClock
from monitor.deliver.digest import digests_for
from monitor.deliver.notifiers import build_notifier
from monitor.deliver.pacing import rate_limits_for
from monitor.deliver.worker import DeliveryWorker
from monitor.detect.fetch import FeedFetcher, build_client
from monitor.detect.netpolicy import NetworkPolicy, parse_networks
from monitor.detect.parse_pool import ProcessParser
from monitor.detect.poller import FeedPoller, PollPolicy
from monitor.ports import Clusters, Notifier, StateStore
from monitor.service import config as config_mod
from monitor.service.config import Settings
from monitor.service.daemon import CycleSummary, Daemon
from monitor.service.metrics import Metrics
from monitor.state.open import open_store, redact_url

log = structlog.get_logger(__name__)

PRUNE_BATCH = 5000  # stories per pruning transaction (~1.5 s of work at 1M stored)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run the daemon: poll on schedule, deliver, serve probes")
    run.add_argument(
        "--watch-config",
        action="store_true",
        help="reload the config when the file changes (as SIGHUP does)",
    )
    add_reset_flag(run)
    run.set_defaults(func=cmd_run)
    once = sub.add_parser("once", help="poll every feed once, deliver what is due, print a summary")
    add_reset_flag(once)
    once.add_argument(
        "--dry-run",
        action="store_true",
        help="fetch and judge every feed, print what would alert; mark, queue and send nothing",
    )
    once.set_defaults(func=cmd_once)
    check = sub.add_parser("check-config", help="validate the config, watchlists and rules")
    check.set_defaults(func=cmd_check_config)
    dump = sub.add_parser("dump-config", help="print the effective config, secrets redacted")
    dump.set_defaults(func=cmd_dump_config)


# --- the application object ------------------------------------------------------------------


@dataclass
class App:
    """Every real object of one running monitor, built from one ``Settings``."""

    settings: Settings
    store: StateStore
    clusters: Clusters
    client: httpx.AsyncClient
    feed_client: httpx.AsyncClient
    parser: ProcessParser
    poller: FeedPoller
    worker: DeliveryWorker
    metrics: Metrics
    clock: SystemClock
    stream: TextIO
    notifiers: dict[str, Notifier] = field(default_factory=dict)
    destination_types: dict[str, str] = field(default_factory=dict)

    def apply(self, settings: Settings) -> None:
        """Swap rules, destinations and notifiers for a reloaded config; state is kept."""
        notifiers = _build_notifiers(settings, client=self.client, clock=self.clock,
                                     stream=self.stream)  # fmt: skip
        self.poller.reconfigure(
            pack=settings.pack,
            destinations=settings.destinations,
            health_destinations=settings.model.health_alerts.destinations,
        )
        self.worker.replace_notifiers(
            notifiers,
            rate_limits=rate_limits_for(settings.destinations),
            digests=digests_for(settings.destinations),
        )
        self.notifiers = notifiers
        self.destination_types.clear()  # the metrics observer reads this same dict
        self.destination_types.update({d.id: d.type for d in settings.destinations})
        self.settings = settings

    async def housekeep(self) -> dict[str, int]:
        """Forget stories and clusters past the retention window, in short transactions.

        Between batches the event loop gets control back, so polls and deliveries carry on
        while a large backlog is pruned.
        """
        retention = timedelta(days=self.settings.model.dedup.retention_days)
        cutoff = self.clock.now() - retention
        removed = {"stories": self.store.prune_stories(cutoff), "clusters": 0}
        memories = self.store.prune_cluster_alerts(cutoff)  # what old clusters knew of alerts
        while True:
            with self.store.transaction():
                batch = self.clusters.prune(older_than=cutoff, limit=PRUNE_BATCH)
            removed["clusters"] += batch
            if batch < PRUNE_BATCH:
                break
            await asyncio.sleep(0)
        log.info(
            "housekeeping_done", older_than=cutoff.isoformat(), cluster_alerts=memories, **removed
        )
        return removed

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.feed_client.aclose()
        self.parser.close()
        self.store.close()


def build_app(settings: Settings, *, stream: TextIO | None = None) -> App:
    """Compose the monitor from ``settings`` (the composition root)."""
    out = stream or sys.stdout
    clock = SystemClock()
    model = settings.model
    http = model.http
    store = open_store(
        settings.state_url,
        cluster_threshold=model.dedup.threshold,
        cluster_window_s=model.dedup.window_h * 3600.0,
    )
    clusters = store.clusters
    # Two clients: feeds are untrusted and connect only where the network policy allows;
    # destinations are the operator's own (often on a private network) and are not limited.
    client = build_client(user_agent=http.user_agent, timeout_s=http.timeout_s,
                          max_connections=http.global_limit * 2)  # fmt: skip
    feed_client = build_client(
        user_agent=http.user_agent,
        timeout_s=http.timeout_s,
        max_connections=http.global_limit * 2,
        policy=NetworkPolicy(allow_networks=parse_networks(http.allow_networks)),
    )
    fetcher = FeedFetcher(
        client=feed_client,
        clock=clock,
        max_bytes=http.max_bytes,
        timeout_s=http.timeout_s,
        max_redirects=http.max_redirects,
        per_host_limit=http.per_host_limit,
        global_limit=http.global_limit,
    )
    # known: parse only a changed feed's new or edited items (issue 16)
    parser = ProcessParser(
        time_limit_s=model.defaults.parse_time_limit_s, known=store.stored_digests
    )
    notifiers = _build_notifiers(settings, client=client, clock=clock, stream=out)
    metrics = Metrics()
    destination_types = {d.id: d.type for d in settings.destinations}
    worker = DeliveryWorker(
        store=store,
        notifiers=notifiers,
        clock=clock,
        retry_schedule_s=model.delivery.retry_schedule_s,
        give_up_after_s=model.delivery.give_up_after_s,
        rate_limits=rate_limits_for(settings.destinations),
        digests=digests_for(settings.destinations),
        observe=metrics.delivery_observer(destination_types),
    )
    poller = FeedPoller(
        fetcher=fetcher,
        parser=parser,
        store=store,
        pack=settings.pack,
        destinations=settings.destinations,
        clock=clock,
        clusters=clusters,
        health_destinations=model.health_alerts.destinations,
        policy=_policy(settings),
    )
    return App(
        settings=settings,
        store=store,
        clusters=clusters,
        client=client,
        feed_client=feed_client,
        parser=parser,
        poller=poller,
        worker=worker,
        metrics=metrics,
        clock=clock,
        stream=out,
        notifiers=notifiers,
        destination_types=destination_types,
    )


def _build_notifiers(
    settings: Settings, *, client: httpx.AsyncClient, clock: SystemClock, stream: TextIO
) -> dict[str, Notifier]:
    color = stream.isatty() and "NO_COLOR" not in os.environ
    return {
        spec.id: build_notifier(spec, client=client, clock=clock, stream=stream, color=color)
        for spec in settings.destinations
    }


def _policy(settings: Settings) -> PollPolicy:
    defaults = settings.model.defaults
    return PollPolicy(
        max_story_age_s=settings.max_story_age_s,
        backoff_cap_s=defaults.backoff_cap_s,
        failing_after=defaults.failing_after,
        stale_factor=defaults.stale_factor,
    )


# --- commands --------------------------------------------------------------------------------


def cmd_once(args: argparse.Namespace) -> int:
    if getattr(args, "dry_run", False):
        from monitor.cli.dryrun import cmd_dry_run

        return cmd_dry_run(args)
    settings = load_settings(args)
    with hold_state(settings.state_url, reset=args.reset_state):
        summary = asyncio.run(_once(settings))
    print(_format_summary(summary))
    return 0


async def _once(settings: Settings) -> CycleSummary:
    app = build_app(settings)
    try:
        daemon = Daemon(
            feeds=settings.feeds,
            poller=app.poller,
            worker=app.worker,
            observe=app.metrics.observe_poll,
            max_concurrent_polls=settings.model.http.global_limit * 2,
        )
        return await daemon.once()
    finally:
        await app.aclose()


def _format_summary(summary: CycleSummary) -> str:
    lines = [
        f"feeds ok: {summary.feeds_ok}  failed: {summary.feeds_failed}  "
        f"stories new: {summary.stories_new}  alerts queued: {summary.alerts_queued}  "
        f"sent: {summary.alerts_sent}  still pending: {summary.alerts_pending}"
    ]
    lines += [f"  failed {feed_id}: {error}" for feed_id, error in summary.failures]
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    from monitor.service.app import Runtime  # the service wiring (probes, reload) lives there

    runtime = Runtime(
        settings,
        build_app=build_app,
        config_arg=str(config_path(args)),
        config_overrides=overrides(args),
        watch_config=args.watch_config,
    )
    with hold_state(settings.state_url, reset=args.reset_state):
        return asyncio.run(runtime.run())


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = cli_config(args)
    pack = settings.pack.summary()
    print(f"config: {settings.path} is valid")
    print(f"  feeds: {len(settings.feeds)}")
    print("  detection: " + ", ".join(f"{name} {count}" for name, count in pack.items()))
    print(
        f"  topics: {', '.join(settings.pack.topics)}"
        + (
            f" (disabled: {', '.join(sorted(settings.disabled_topics))})"
            if settings.disabled_topics
            else ""
        )
    )
    active = ", ".join(f"{d.id} ({d.type}, >= {d.min_severity})" for d in settings.destinations)
    print(f"  destinations: {active or 'none'}")
    if settings.skipped_destinations:
        print(f"  skipped (empty URL): {', '.join(settings.skipped_destinations)}")
    where = settings.state_url
    print(f"  state: {where.target if where.kind == 'sqlite' else redact_url(where.target)}")
    return 0


def cmd_dump_config(args: argparse.Namespace) -> int:
    settings = cli_config(args)
    data: dict[str, Any] = config_mod.redacted_dump(settings)
    yaml.safe_dump(data, sys.stdout, sort_keys=False, allow_unicode=True)
    return 0
