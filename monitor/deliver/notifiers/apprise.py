"""Apprise: Teams, Discord, Telegram, e-mail … through the optional ``apprise`` library.

Install with ``pip install 'sanctions-monitor[apprise]'``; the library is imported only when an
``apprise`` destination is configured. Apprise receives our already-cleaned plain text
(``render.apprise_text``: control characters removed, mention and link triggers defused,
``body_format`` text) and runs in a worker thread because its notify call blocks. It
reports only success or failure, so every failure is retryable and
the outbox's give-up window decides when to stop.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from typing import Any

from monitor.deliver.render.apprise import apprise_text, defuse_mentions
from monitor.deliver.render.console import console_digest_text
from monitor.errors import ConfigError, RetryableDelivery
from monitor.models import Alert, DestinationSpec
from monitor.ports import NotifierCapabilities


def _load_apprise(destination_id: str) -> Any:
    try:
        return importlib.import_module("apprise")
    except ImportError as exc:
        raise ConfigError(
            "the apprise destination type needs: pip install 'sanctions-monitor[apprise]'",
            key_path=f"destinations.{destination_id}.type",
        ) from exc


class AppriseNotifier:
    """Sends plain-text alerts to any Apprise URL (satisfies ``ports.Notifier``)."""

    capabilities = NotifierCapabilities(digests=True)

    def __init__(self, *, spec: DestinationSpec) -> None:
        self.destination_id = spec.id
        self.module = _load_apprise(spec.id)
        self.apprise = self.module.Apprise()
        if not spec.url or not self.apprise.add(spec.url):
            raise ConfigError(
                "apprise does not understand this URL (value hidden)",
                key_path=f"destinations.{spec.id}.url",
            )

    async def send(self, alert: Alert, *, plain: bool = False) -> None:
        """Notify with the console rendering (colourless, mentions defused)."""
        await self._notify(*apprise_text(alert))

    async def send_digest(self, alerts: Sequence[Alert], *, period_label: str) -> None:
        """Notify once with the whole period's digest."""
        body = console_digest_text(alerts, period_label=period_label, color=False)
        await self._notify(f"Sanctions monitor digest {period_label}", defuse_mentions(body))

    async def _notify(self, title: str, body: str) -> None:
        text_format = self.module.NotifyFormat.TEXT
        try:
            ok = await asyncio.to_thread(
                self.apprise.notify, body=body, title=title, body_format=text_format
            )
        except Exception as exc:
            raise RetryableDelivery(
                self.destination_id, f"apprise failed: {type(exc).__name__}"
            ) from exc
        if not ok:
            raise RetryableDelivery(self.destination_id, "apprise reported a failed notification")
