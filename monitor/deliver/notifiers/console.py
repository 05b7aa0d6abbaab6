"""Console: alerts printed for a person at a terminal (colour on a TTY) or a container log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from monitor.deliver.render.console import console_digest_text, console_text
from monitor.errors import RetryableDelivery
from monitor.models import Alert, DestinationSpec
from monitor.ports import NotifierCapabilities


class ConsoleNotifier:
    """Writes rendered alerts to a text stream (satisfies ``ports.Notifier``)."""

    capabilities = NotifierCapabilities(digests=True)

    def __init__(self, *, spec: DestinationSpec, stream: TextIO, color: bool) -> None:
        self.destination_id = spec.id
        self.stream = stream
        self.color = color

    async def send(self, alert: Alert, *, plain: bool = False) -> None:
        """Print one alert (``plain`` drops colour)."""
        self._write(console_text(alert, color=self.color and not plain))

    async def send_digest(self, alerts: Sequence[Alert], *, period_label: str) -> None:
        """Print one period's digest."""
        self._write(console_digest_text(alerts, period_label=period_label, color=self.color))

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError) as exc:  # closed pipe, closed file
            raise RetryableDelivery(self.destination_id, f"cannot write: {exc}") from exc
