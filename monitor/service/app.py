"""The one typed application object, and the service that runs it.

``build_app`` is the composition root: the only place that creates the HTTP clients, the
store, the parser pool, the notifiers, the poller, the delivery worker and the metrics, once,
into one ``App``. ``build_daemon`` builds the ``Daemon`` over an ``App`` the same way for
``run`` and ``once``. ``App`` owns what changes at run time: ``apply`` (a reloaded config's
rules, destinations and notifiers, keeping the store and the outbox) and ``housekeep``.

``Runtime`` is the daemon's hooks (``service.daemon.DaemonHooks``) for ``run``: it starts the
ops server (probes, metrics) and the gauge refresher, and reloads on SIGHUP or
``--watch-config``: the config is re-read and validated; on success feeds are added, removed
or rescheduled and ``App.apply`` swaps the rest in place; on failure the running config stays
and the error is logged with its file and key path.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
import structlog

from monitor.clock import SystemClock
from monitor.deliver.digest import digests_for
from monitor.deliver.notifiers import build_notifier
from monitor.deliver.pacing import concurrency_for, rate_limits_for
from monitor.deliver.worker import DeliveryWorker
from monitor.detect.enrich import ArticleEnricher, EnrichPolicy
from monitor.detect.evidence import is_partial_match
from monitor.detect.fetch import FeedFetcher, build_client
from monitor.detect.netpolicy import NetworkPolicy, parse_networks
from monitor.detect.parse_pool import ProcessParser
from monitor.detect.poller import FeedPoller, PollPolicy
from monitor.detect.robots import RobotsCache
from monitor.errors import MonitorError, StartupError, StoreError
from monitor.ports import Clusters, Notifier, StateStore
from monitor.service.config import Settings, load_config, resolve_config_path
from monitor.service.daemon import Daemon, DaemonHooks
from monitor.service.metrics import Metrics
from monitor.service.observability import add_secrets
from monitor.service.ops_server import OpsServer
from monitor.state.evidence import EvidenceArchive, evidence_archive
from monitor.state.open import open_store

log = structlog.get_logger(__name__)

GAUGE_REFRESH_S = 5.0
WATCH_INTERVAL_S = 2.0
PRUNE_BATCH = 5000  # stories per pruning transaction (~1.5 s of work at 1M stored)


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
    evidence: EvidenceArchive | None = None

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
            concurrency=concurrency_for(settings.destinations),
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
        removed = {"stories": self.store.prune_stories(cutoff), "clusters": 0, "evidence": 0}
        memories = self.store.prune_cluster_alerts(cutoff)  # what old clusters knew of alerts
        if self.evidence is not None:
            kept = timedelta(days=self.settings.model.evidence.retention_days)
            removed["evidence"] = self.evidence.prune_evidence(self.clock.now() - kept)
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


def build_app(
    settings: Settings, *, stream: TextIO | None = None, remember_items: bool = True
) -> App:
    """Compose the monitor from ``settings`` (the composition root).

    ``remember_items=False`` (``once``: every feed is polled one time) leaves the parser pool's
    item memory off: it only pays from a feed's second poll and holds ~20 KB per feed.
    """
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
        time_limit_s=model.defaults.parse_time_limit_s,
        known=store.stored_digests if remember_items else None,
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
        concurrency=concurrency_for(settings.destinations),
        digests=digests_for(settings.destinations),
        observe=metrics.delivery_observer(destination_types),
    )
    evidence = evidence_archive(store)
    enricher = _enricher(settings, fetcher=fetcher, parser=parser, clock=clock, metrics=metrics)
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
        enricher=enricher,
        evidence=evidence,
    )
    if enricher is not None and settings.model.enrich.partial_match:  # the pack of the moment
        enricher.partial = lambda story, hits: is_partial_match(story, hits, poller.pack)
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
        evidence=evidence,
    )


def _enricher(
    settings: Settings,
    *,
    fetcher: FeedFetcher,
    parser: ProcessParser,
    clock: SystemClock,
    metrics: Metrics,
) -> ArticleEnricher | None:
    """The article fetcher for thin candidates (``enrich.*``), or None when it is off."""
    enrich = settings.model.enrich
    if not enrich.enabled:
        return None
    robots = RobotsCache(fetcher=fetcher, clock=clock, user_agent=settings.model.http.user_agent,
                         ttl_s=enrich.robots_ttl_s)  # fmt: skip
    policy = EnrichPolicy(
        min_summary_words=enrich.min_summary_words,
        max_per_poll=enrich.max_per_poll,
        max_per_host_per_hour=enrich.max_per_host_per_hour,
        poll_budget_s=enrich.poll_budget_s,
        extract_time_limit_s=enrich.extract_time_limit_s,
        max_text_chars=enrich.max_text_chars,
        domains_skip=enrich.domains_skip,
    )
    return ArticleEnricher(fetcher=fetcher, extractor=parser, clock=clock, robots=robots,
                           policy=policy, observe=metrics)  # fmt: skip


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


def build_daemon(app: App, *, hooks: DaemonHooks | None = None) -> Daemon:
    """The daemon over ``app``: the same for ``run`` (with hooks) and ``once`` (without)."""
    model = app.settings.model
    return Daemon(
        feeds=app.settings.feeds,
        poller=app.poller,
        worker=app.worker,
        observer=app.metrics,
        hooks=hooks,
        jitter_s=model.defaults.jitter_s,
        grace_s=model.server.grace_s,
        delivery_poll_s=model.delivery.poll_interval_s,
        max_concurrent_polls=model.http.global_limit * 2,
    )


class Runtime:
    """Runs the monitor as a service until a stop signal (the daemon's ``DaemonHooks``)."""

    def __init__(
        self,
        settings: Settings,
        *,
        build_app: Callable[[Settings], App] = build_app,
        config_arg: str | None = None,
        config_overrides: Mapping[str, Any] | None = None,
        watch_config: bool = False,
    ) -> None:
        self.settings = settings
        self.build_app = build_app
        self.config_arg = config_arg
        self.config_overrides = dict(config_overrides or {})  # --state, --log-format
        self.watch_config = watch_config
        self.app: App | None = None
        self.daemon: Daemon | None = None
        self.server: OpsServer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> int:
        try:
            self.app = self.build_app(self.settings)
        except StoreError as exc:
            log.error("state_unavailable", error=str(exc))
            return 1
        self.daemon = build_daemon(self.app, hooks=self)
        try:
            return await self.daemon.run()
        except StartupError as exc:
            log.error("startup_failed", error=str(exc))
            await self.app.aclose()
            return 1

    @property
    def live(self) -> App:
        """The application object (``run`` builds it before the daemon calls any hook)."""
        if self.app is None:
            raise RuntimeError("the monitor has not been built yet")
        return self.app

    # --- the daemon's hooks ---------------------------------------------------------------------

    async def start(self) -> None:
        server = self.settings.model.server
        if server.enabled:
            self.server = OpsServer(
                host=server.host,
                port=server.port,
                metrics=self.live.metrics,
                health=self.health,
                ready=self.ready,
            )
            try:
                await self.server.start()
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise StartupError(
                    f"the ops server cannot listen on {server.host}:{server.port}: {reason}"
                    " (another monitor running? set server.port)"
                ) from None
            log.info("ops_server_started", host=server.host, port=self.server.port)
        self._tasks.append(asyncio.create_task(self._refresh_gauges()))
        if self.watch_config:
            self._tasks.append(asyncio.create_task(self._watch()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.server is not None:
            await self.server.stop()
        await self.live.aclose()

    async def housekeep(self) -> object:
        return await self.live.housekeep()

    # --- probes ---------------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Alive: the loop answers (we are running) and the scheduler runs. Never touches feeds."""
        scheduler = self.daemon.scheduler if self.daemon else None
        running = bool(scheduler is not None and scheduler.running)
        return running, {"scheduler_running": running}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Ready: the scheduler runs and the state is writable. The body also counts feeds
        whose last poll succeeded (``feeds_ok`` of ``feeds``), but readiness does not wait for
        them: feeds are other people's servers, and a pod that is not ready gets no traffic
        and no fix. No filesystem path is shown (the port may face a cluster network)."""
        writable = self._state_writable()
        scheduler = self.daemon.scheduler if self.daemon else None
        running = bool(scheduler is not None and scheduler.running)
        feed_ids = set(self.daemon.feeds) if self.daemon else set()
        return running and writable, {
            "scheduler_running": running,
            "state_writable": writable,
            "poll_cycles": self.daemon.cycles_done if self.daemon else 0,
            "feeds": len(feed_ids),
            "feeds_ok": self._feeds_ok(feed_ids),
        }

    def _feeds_ok(self, feed_ids: set[str]) -> int:
        try:
            states = self.live.store.feed_states()
        except MonitorError:
            return 0
        return sum(
            1
            for s in states
            if s.feed_id in feed_ids and s.consecutive_failures == 0 and s.last_success_at
        )

    def _state_writable(self) -> bool:
        try:
            self.live.store.check_writable()
        except MonitorError:
            return False
        return True

    async def _refresh_gauges(self) -> None:
        while True:
            try:
                self.live.metrics.observe_state(
                    self.live.store, feed_ids=list(self.daemon.feeds) if self.daemon else []
                )
            except MonitorError as exc:
                log.warning("gauge_refresh_failed", error=str(exc))
            await asyncio.sleep(GAUGE_REFRESH_S)

    # --- hot reload -----------------------------------------------------------------------------

    async def reload(self) -> None:
        """Re-read the config; swap it in on success, keep the old one on failure."""
        path = resolve_config_path(self.config_arg)
        try:
            new = load_config(path, overrides=self.config_overrides)
        except MonitorError as exc:
            log.error(
                "config_reload_failed",
                file=str(path),
                key_path=getattr(exc, "key_path", None),
                error=str(exc),
            )
            self.live.metrics.observe_reload(ok=False)
            return
        add_secrets(new.secrets)
        assert self.daemon is not None
        try:
            self.live.apply(new)
        except MonitorError as exc:  # e.g. a destination that cannot be built
            log.error("config_reload_failed", file=str(path), error=str(exc))
            self.live.metrics.observe_reload(ok=False)
            return
        added, removed, changed = self.daemon.replace_feeds(new.feeds)
        self.live.metrics.observe_reload(ok=True)
        self.settings = new
        self.live.settings = new
        log.info(
            "config_reloaded",
            file=str(path),
            feeds_added=added,
            feeds_removed=removed,
            feeds_changed=changed,
            destinations=[d.id for d in new.destinations],
        )

    async def _watch(self) -> None:
        path = Path(resolve_config_path(self.config_arg))
        last = _mtime(path)
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            current = _mtime(path)
            if current != last:
                last = current
                log.info("config_changed", file=str(path))
                await self.reload()


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None
