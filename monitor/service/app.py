"""The service around the daemon: probes and metrics endpoint, gauges, hot reload.

``Runtime`` owns one ``App`` (built by the CLI's composition root, passed in as ``build_app``)
and one ``Daemon``. Reload (SIGHUP or ``--watch-config``) re-reads and validates the config;
on success feeds are added, removed or rescheduled and rules and destinations are swapped in
place, keeping the store and the outbox; on failure the running config stays and the error
is logged with its file and key path.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from monitor.errors import MonitorError, StartupError, StoreError
from monitor.service.config import Settings, load_config, resolve_config_path
from monitor.service.daemon import Daemon
from monitor.service.observability import add_secrets
from monitor.service.ops_server import OpsServer

log = structlog.get_logger(__name__)

GAUGE_REFRESH_S = 5.0
WATCH_INTERVAL_S = 2.0


class Runtime:
    """Runs the monitor as a service until a stop signal."""

    def __init__(
        self,
        settings: Settings,
        *,
        build_app: Callable[[Settings], Any],
        config_arg: str | None = None,
        config_overrides: Mapping[str, Any] | None = None,
        watch_config: bool = False,
    ) -> None:
        self.settings = settings
        self.build_app = build_app
        self.config_arg = config_arg
        self.config_overrides = dict(config_overrides or {})  # --state, --log-format
        self.watch_config = watch_config
        self.app: Any = None
        self.daemon: Daemon | None = None
        self.server: OpsServer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> int:
        try:
            self.app = self.build_app(self.settings)
        except StoreError as exc:
            log.error("state_unavailable", error=str(exc))
            return 1
        app = self.app
        self.daemon = Daemon(
            feeds=self.settings.feeds,
            poller=app.poller,
            worker=app.worker,
            jitter_s=self.settings.model.defaults.jitter_s,
            grace_s=self.settings.model.server.grace_s,
            delivery_poll_s=self.settings.model.delivery.poll_interval_s,
            observe=app.metrics.observe_poll,
            on_start=self._start,
            on_stop=self._stop,
            reload=self.reload,
            on_cycle=app.metrics.observe_cycle,
            on_skip=app.metrics.observe_scheduler_skip,
            housekeeping=app.housekeep,
            max_concurrent_polls=self.settings.model.http.global_limit * 2,
        )
        try:
            return await self.daemon.run()
        except StartupError as exc:
            log.error("startup_failed", error=str(exc))
            await self.app.aclose()
            return 1

    # --- lifecycle hooks ------------------------------------------------------------------------

    async def _start(self) -> None:
        server = self.settings.model.server
        if server.enabled:
            self.server = OpsServer(
                host=server.host,
                port=server.port,
                metrics=self.app.metrics,
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

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.server is not None:
            await self.server.stop()
        await self.app.aclose()

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
            states = self.app.store.feed_states()
        except MonitorError:
            return 0
        return sum(
            1
            for s in states
            if s.feed_id in feed_ids and s.consecutive_failures == 0 and s.last_success_at
        )

    def _state_writable(self) -> bool:
        try:
            self.app.store.check_writable()
        except MonitorError:
            return False
        return True

    async def _refresh_gauges(self) -> None:
        while True:
            try:
                self.app.metrics.observe_state(
                    self.app.store, feed_ids=list(self.daemon.feeds) if self.daemon else []
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
            self.app.metrics.observe_reload(ok=False)
            return
        add_secrets(new.secrets)
        assert self.daemon is not None
        try:
            self.app.apply(new)
        except MonitorError as exc:  # e.g. a destination that cannot be built
            log.error("config_reload_failed", file=str(path), error=str(exc))
            self.app.metrics.observe_reload(ok=False)
            return
        added, removed, changed = self.daemon.replace_feeds(new.feeds)
        self.app.metrics.observe_reload(ok=True)
        self.settings = new
        self.app.settings = new
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
