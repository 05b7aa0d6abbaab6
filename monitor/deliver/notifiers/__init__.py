"""Notifiers: adapters that send one alert to one destination (``ports.Notifier``).

``build_notifier`` is called by the composition root (``cli``) once per configured destination.
Each notifier raises ``RetryableDelivery`` / ``PermanentDelivery`` / ``PayloadRejected`` and
never a third-party exception. Each declares its ``ports.NotifierCapabilities``: those with
``digests`` also offer ``send_digest(alerts, *, period_label)`` (``ports.DigestNotifier``).
"""

from __future__ import annotations

from typing import TextIO

import httpx

from monitor.deliver.notifiers.console import ConsoleNotifier
from monitor.deliver.notifiers.slack import SlackNotifier
from monitor.deliver.notifiers.webhook import WebhookNotifier
from monitor.errors import ConfigError
from monitor.models import DestinationSpec
from monitor.ports import Clock, Notifier

__all__ = ["ConsoleNotifier", "SlackNotifier", "WebhookNotifier", "build_notifier"]


def build_notifier(
    spec: DestinationSpec,
    *,
    client: httpx.AsyncClient,
    clock: Clock,
    stream: TextIO,
    color: bool,
) -> Notifier:
    """The notifier for ``spec.type``; ``ConfigError`` for an unknown type or missing settings."""
    if spec.type == "console":
        return ConsoleNotifier(spec=spec, stream=stream, color=color)
    if spec.type in ("slack", "slack_api"):
        return SlackNotifier(spec=spec, client=client)
    if spec.type == "webhook":
        return WebhookNotifier(spec=spec, client=client, clock=clock)
    if spec.type == "apprise":
        from monitor.deliver.notifiers.apprise import (
            AppriseNotifier,  # optional extra, imported lazily
        )

        return AppriseNotifier(spec=spec)
    raise ConfigError(
        f"unknown destination type {spec.type!r}", key_path=f"destinations.{spec.id}.type"
    )
