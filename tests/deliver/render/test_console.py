"""Console rendering: golden files, terminal control sequences, digests."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.deliver.render.console import console_digest_text, console_text
from tests.deliver.render.golden import check_golden
from tests.fixtures.delivery.samples import (
    alert,
    digest_alerts,
    follow_up_alert,
    health_alert,
    injection_alert,
)


@pytest.mark.parametrize("color", [False, True])
def test_console_matches_golden(color: bool) -> None:
    name = "console_aurus_color.txt" if color else "console_aurus.txt"
    check_golden(name, console_text(alert(), color=color))


@pytest.mark.parametrize(
    ("name", "make"),
    [("console_update.txt", follow_up_alert), ("console_health.txt", health_alert)],
)
def test_console_events_match_golden(name: str, make: Any) -> None:
    check_golden(name, console_text(make(), color=False))


# --- console -----------------------------------------------------------------------------------


def test_console_strips_terminal_control_sequences() -> None:
    text = console_text(injection_alert(), color=False)
    assert "\x1b" not in text and "\u202e" not in text
    assert "*Kim Jong Un*" in text


def test_console_color_only_when_asked() -> None:
    assert "\x1b[" in console_text(alert(), color=True)
    assert "\x1b[" not in console_text(alert(), color=False)


def test_console_digest_lists_each_alert() -> None:
    text = console_digest_text(digest_alerts(4), period_label="11:00–12:00 UTC", color=False)
    assert text.count("\n") == 5 and "4 alerts" in text
