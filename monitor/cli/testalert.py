"""``sanctions-monitor test-alert``: check a Slack or webhook destination without waiting for a
matching story (for the operator setting up or debugging a destination).

    test-alert [--destination ID] [--severity low|medium|high|critical]

A clearly marked test alert (webhook ``type: "alert.test"`` with ``data.test: true``; a title
starting ``TEST:`` in Slack, Apprise and on the console) goes through each destination's real
notifier: rendered, clipped to Slack's limits, signed per Standard Webhooks. It never touches
the state: no story is marked seen, nothing enters the outbox, and each run has a fresh
``webhook-id``, so a receiver that deduplicates still shows the second test. One line per
destination says what it answered. Exit codes: 0 every destination accepted, 1 one refused or
failed, 2 an unknown destination or a bad config.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import httpx

from monitor.cli.common import load_settings
from monitor.clock import SystemClock
from monitor.deliver.notifiers import build_notifier
from monitor.detect.fetch import build_client
from monitor.errors import DeliveryError, MonitorError, UsageError
from monitor.models import Alert, DestinationSpec, Severity, Story
from monitor.service.config import Settings
from monitor.service.observability import redact

TEST_TITLE = "sanctions-monitor test alert"
TEST_SUMMARY = (
    "This is a test sent by `sanctions-monitor test-alert` to check that this destination "
    "receives, renders and (for webhooks) verifies alerts. No story matched and nothing was "
    "queued; you can ignore it."
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    test = sub.add_parser(
        "test-alert", help="send a clearly marked test alert to one or every destination"
    )
    test.add_argument("--destination", metavar="ID", help="only this destination (default: all)")
    test.add_argument(
        "--severity",
        choices=[str(s) for s in Severity],
        default="high",
        help="severity of the test alert (default high); min_severity is not applied",
    )
    test.set_defaults(func=cmd_test_alert)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one destination answered to the test alert."""

    destination_id: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.destination_id}: {'ok' if self.ok else 'FAILED'}: {self.detail}"


def build_test_alert(spec: DestinationSpec, *, severity: Severity, now: datetime) -> Alert:
    """The test alert for one destination; its key (the ``webhook-id``) is new on every call."""
    key = f"test-{spec.id}-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    story = Story(
        feed_id="test-alert",
        title=TEST_TITLE,
        url=None,
        fetched_at=now,
        summary=TEST_SUMMARY,
        outlet="sanctions-monitor",
        key=key,
    )
    return Alert(
        key=key,
        destination_id=spec.id,
        event="alert.test",
        rule_id="test-alert",
        topic="test",
        severity=severity,
        score=0.0,
        story=story,
        hits=(),
        created_at=now,
        rule_ids=("test-alert",),
    )


def cmd_test_alert(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    targets = _targets(settings, args.destination)
    outcomes = asyncio.run(send_test_alerts(settings, targets, Severity.parse(args.severity)))
    sys.stdout.flush()  # a console destination printed its alert above the answers
    for outcome in outcomes:
        print(outcome.line())
    return 0 if outcomes and all(o.ok for o in outcomes) else 1


def _targets(settings: Settings, wanted: str | None) -> list[DestinationSpec]:
    if wanted is None:
        if not settings.destinations:
            raise UsageError("test-alert: the config has no active destination")
        return list(settings.destinations)
    found = [d for d in settings.destinations if d.id == wanted]
    if found:
        return found
    if wanted in settings.skipped_destinations:
        raise UsageError(
            f"test-alert: destination {wanted!r} is skipped (its url or token is empty)"
        )
    known = ", ".join(d.id for d in settings.destinations) or "none"
    raise UsageError(f"test-alert: unknown destination {wanted!r} (active: {known})")


async def send_test_alerts(
    settings: Settings, targets: Sequence[DestinationSpec], severity: Severity
) -> list[Outcome]:
    """Send one test alert to each target, one after the other; never touches the store."""
    answers: list[httpx.Response] = []

    async def remember(response: httpx.Response) -> None:
        await response.aread()
        answers.append(response)

    http = settings.model.http
    client = build_client(user_agent=http.user_agent, timeout_s=http.timeout_s)
    client.event_hooks["response"].append(remember)
    clock = SystemClock()
    color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    try:
        outcomes = []
        for spec in targets:
            answers.clear()
            outcomes.append(await _send_one(spec, client, clock, color, severity, answers))
        return outcomes
    finally:
        await client.aclose()


async def _send_one(
    spec: DestinationSpec,
    client: httpx.AsyncClient,
    clock: SystemClock,
    color: bool,
    severity: Severity,
    answers: list[httpx.Response],
) -> Outcome:
    alert = build_test_alert(spec, severity=severity, now=clock.now())
    try:
        notifier = build_notifier(spec, client=client, clock=clock, stream=sys.stdout, color=color)
        await notifier.send(alert)
    except DeliveryError as exc:
        return Outcome(spec.id, False, redact(f"{_answer(answers) or 'no answer'} ({exc})"))
    except MonitorError as exc:  # a destination that cannot be built (bad secret ...)
        return Outcome(spec.id, False, redact(str(exc)))
    said = _answer(answers) or ("printed on stdout" if spec.type == "console" else "accepted")
    return Outcome(spec.id, True, redact(f"{said} (type {spec.type}, webhook-id {alert.key})"))


def _answer(answers: Sequence[httpx.Response]) -> str | None:
    """``HTTP 200 OK: ok`` from the last HTTP answer, body clipped to one short line."""
    if not answers:
        return None
    response = answers[-1]
    body = " ".join(response.text.split())[:120]
    return f"HTTP {response.status_code} {response.reason_phrase}" + (f": {body}" if body else "")
