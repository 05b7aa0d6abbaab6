"""Notifiers against a real loopback receiver: signatures, headers, how answers are classified."""

# ruff: noqa: F811 - the receiver fixtures are imported, then requested by name

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from standardwebhooks import Webhook

from monitor.clock import SystemClock
from monitor.deliver.notifiers import (
    ConsoleNotifier,
    SlackNotifier,
    WebhookNotifier,
    build_notifier,
)
from monitor.deliver.notifiers.http import parse_retry_after
from monitor.deliver.notifiers.webhook import encode_body, sign, signing_key
from monitor.deliver.render.slack import slack_payload, slack_plain_payload
from monitor.errors import ConfigError, PayloadRejected, PermanentDelivery, RetryableDelivery
from monitor.models import DestinationSpec
from tests.fixtures.delivery.samples import alert, injection_alert
from tests.servers.webhook_receiver import (  # noqa: F401 - pytest fixtures
    TEST_SECRETS,
    Reply,
    WebhookReceiver,
    slack_receiver,
    webhook_receiver,
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def hook_spec(receiver: WebhookReceiver, **kwargs: object) -> DestinationSpec:
    values: dict[str, object] = {"secrets": TEST_SECRETS, "timeout_s": 2.0, **kwargs}
    return DestinationSpec(id="hook", type="webhook", url=receiver.url(), **values)  # type: ignore[arg-type]


def slack_spec(receiver: WebhookReceiver, **kwargs: object) -> DestinationSpec:
    return DestinationSpec(
        id="slack", type="slack", url=receiver.url("/services/T/B/X"), timeout_s=2.0, **kwargs
    )  # type: ignore[arg-type]


# --- webhooks ----------------------------------------------------------------------------------


async def test_webhook_is_signed_per_standard_webhooks(
    webhook_receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    spec = hook_spec(webhook_receiver, headers=(("X-Team", "analysts"), ("Webhook-Id", "forged")))
    a = alert()
    await WebhookNotifier(spec=spec, client=client, clock=SystemClock()).send(a)
    [got] = webhook_receiver.requests
    assert got.verified is True, got.verify_error
    assert got.headers["webhook-id"] == a.key == got.headers["idempotency-key"]
    assert got.headers["x-team"] == "analysts"
    assert got.headers["content-type"] == "application/json"
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    assert got.body == encode_body(a)
    assert got.json()["data"]["alert_id"] == a.key


@pytest.mark.parametrize("secret_index", [0, 1])
async def test_each_rotated_secret_verifies_alone(
    secret_index: int, client: httpx.AsyncClient
) -> None:
    receiver = WebhookReceiver(secrets=[TEST_SECRETS[secret_index]]).start()
    try:
        await WebhookNotifier(spec=hook_spec(receiver), client=client, clock=SystemClock()).send(
            alert()
        )
        assert receiver.requests[0].verified is True
    finally:
        receiver.close()


async def test_a_plain_secret_is_used_as_bytes(client: httpx.AsyncClient) -> None:
    receiver = WebhookReceiver(secrets=["not-base64 secret!"], reject_unverified=True).start()
    try:
        spec = hook_spec(receiver, secrets=("not-base64 secret!",))
        await WebhookNotifier(spec=spec, client=client, clock=SystemClock()).send(alert())
        assert receiver.requests[0].verified is True
    finally:
        receiver.close()


async def test_wrong_secret_fails_verification(client: httpx.AsyncClient) -> None:
    receiver = WebhookReceiver(secrets=[TEST_SECRETS[0]], reject_unverified=True).start()
    try:
        spec = hook_spec(receiver, secrets=("whsec_" + "QUJD" * 8,))
        with pytest.raises(PermanentDelivery, match="HTTP 401"):
            await WebhookNotifier(spec=spec, client=client, clock=SystemClock()).send(alert())
        assert receiver.requests[0].verified is False
    finally:
        receiver.close()


def test_signature_matches_the_library() -> None:
    body = encode_body(alert())
    ts = int(datetime.now(UTC).timestamp())
    ours = sign("msg_1", ts, body, [signing_key(TEST_SECRETS[0])])
    theirs = Webhook(TEST_SECRETS[0]).sign("msg_1", datetime.fromtimestamp(ts, UTC), body.decode())
    assert ours == theirs


def test_bad_whsec_secret_is_a_config_error_without_the_value() -> None:
    with pytest.raises(ConfigError, match="hook") as info:
        signing_key("whsec_***not base64***", destination_id="hook")
    assert "not base64***" not in str(info.value)


@pytest.mark.parametrize(
    ("reply", "error", "disable", "retry_after_s"),
    [
        (Reply(status=410, body=b"gone"), PermanentDelivery, True, None),
        (Reply(status=429, headers=(("Retry-After", "2"),)), RetryableDelivery, None, 2.0),
        (Reply(status=503, headers=(("Retry-After", "7"),)), RetryableDelivery, None, 7.0),
        (Reply(status=500, headers=(("Retry-After", "7"),)), RetryableDelivery, None, None),
        (Reply(status=502), RetryableDelivery, None, None),
        (Reply(status=408), RetryableDelivery, None, None),
        (Reply(status=400, body=b"bad schema"), PermanentDelivery, False, None),
        (
            Reply(status=301, headers=(("Location", "http://127.0.0.1:9/"),)),
            PermanentDelivery,
            False,
            None,
        ),
    ],
)
async def test_webhook_answers_are_classified(
    webhook_receiver: WebhookReceiver,
    client: httpx.AsyncClient,
    reply: Reply,
    error: type[Exception],
    disable: bool | None,
    retry_after_s: float | None,
) -> None:
    webhook_receiver.script(reply)
    notifier = WebhookNotifier(spec=hook_spec(webhook_receiver), client=client, clock=SystemClock())
    with pytest.raises(error) as info:
        await notifier.send(alert())
    assert type(info.value) is error
    if isinstance(info.value, PermanentDelivery):
        assert info.value.disable is disable
    if isinstance(info.value, RetryableDelivery):
        assert info.value.retry_after_s == retry_after_s
    assert "hook" in str(info.value)


async def test_connection_refused_is_retryable_and_hides_the_url(
    webhook_receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    webhook_receiver.stop()
    notifier = WebhookNotifier(spec=hook_spec(webhook_receiver), client=client, clock=SystemClock())
    with pytest.raises(RetryableDelivery, match="ConnectError") as info:
        await notifier.send(alert())
    assert webhook_receiver.url() not in str(info.value)
    webhook_receiver.start()
    await notifier.send(alert())
    assert len(webhook_receiver.delivered()) == 1


async def test_a_hanging_receiver_times_out_as_retryable(
    webhook_receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    webhook_receiver.hang(1.5)
    spec = hook_spec(webhook_receiver, timeout_s=0.3)
    with pytest.raises(RetryableDelivery):
        await WebhookNotifier(spec=spec, client=client, clock=SystemClock()).send(alert())


def test_retry_after_forms() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("2", now) == 2.0
    assert parse_retry_after("Sun, 01 Mar 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("999999", now) == 3600.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# --- Slack -------------------------------------------------------------------------------------


async def test_slack_receives_escaped_block_kit(
    slack_receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    a = injection_alert()
    notifier = SlackNotifier(spec=slack_spec(slack_receiver), client=client)
    await notifier.send(a)
    await notifier.send(a, plain=True)
    first, second = slack_receiver.requests
    assert first.json() == slack_payload(a) and second.json() == slack_plain_payload(a)
    assert "<!channel>" not in first.json()["text"]


@pytest.mark.parametrize(
    "error",
    [
        "no_service",
        "invalid_token",
        "channel_not_found",
        "channel_is_archived",
        "action_prohibited",
        "team_disabled",
    ],
)
async def test_slack_destination_errors_disable(
    slack_receiver: WebhookReceiver, client: httpx.AsyncClient, error: str
) -> None:
    slack_receiver.slack_error(error)
    with pytest.raises(PermanentDelivery, match=error) as info:
        await SlackNotifier(spec=slack_spec(slack_receiver), client=client).send(alert())
    assert info.value.disable is True and not isinstance(info.value, PayloadRejected)


@pytest.mark.parametrize("error", ["invalid_payload", "invalid_blocks"])
async def test_slack_payload_errors_ask_for_the_fallback(
    slack_receiver: WebhookReceiver, client: httpx.AsyncClient, error: str
) -> None:
    slack_receiver.slack_error(error, times=1)
    with pytest.raises(PayloadRejected) as info:
        await SlackNotifier(spec=slack_spec(slack_receiver), client=client).send(alert())
    assert info.value.disable is False


async def test_slack_429_and_5xx_retry(
    slack_receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    notifier = SlackNotifier(spec=slack_spec(slack_receiver), client=client)
    slack_receiver.rate_limit(retry_after_s=3)
    with pytest.raises(RetryableDelivery) as info:
        await notifier.send(alert())
    assert info.value.retry_after_s == 3.0
    slack_receiver.slack_error("rollup_error", times=1)
    with pytest.raises(RetryableDelivery):
        await notifier.send(alert())
    await notifier.send(alert())


async def test_slack_web_api_mode_sends_token_and_channel(
    slack_receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    spec = DestinationSpec(
        id="bot",
        type="slack_api",
        url=slack_receiver.url("/api/chat.postMessage"),
        token="xoxb-test",
        channel="C123",
    )
    notifier = SlackNotifier(spec=spec, client=client)
    await notifier.send(alert())
    got = slack_receiver.requests[0]
    assert got.headers["authorization"] == "Bearer xoxb-test"
    assert got.json()["channel"] == "C123"
    slack_receiver.slack_error("invalid_auth", times=1)
    with pytest.raises(PermanentDelivery, match="invalid_auth") as info:
        await notifier.send(alert())
    assert info.value.disable is True
    slack_receiver.slack_error("invalid_blocks", times=1)
    with pytest.raises(PayloadRejected):
        await notifier.send(alert())


async def test_slack_digest_sends_every_part(
    slack_receiver: WebhookReceiver, client: httpx.AsyncClient
) -> None:
    alerts = [alert(f"msg_{i}") for i in range(300)]
    await SlackNotifier(spec=slack_spec(slack_receiver), client=client).send_digest(
        alerts, period_label="11:00–12:00 UTC"
    )
    assert len(slack_receiver.requests) > 1
    assert all("digest" in r.json()["text"] for r in slack_receiver.requests)


# --- console and the factory -------------------------------------------------------------------


async def test_console_prints_and_reports_a_closed_stream() -> None:
    stream = io.StringIO()
    notifier = ConsoleNotifier(
        spec=DestinationSpec(id="console", type="console"), stream=stream, color=False
    )
    await notifier.send(alert())
    assert "[HIGH] Putin gives Kim Jong Un" in stream.getvalue()
    stream.close()
    with pytest.raises(RetryableDelivery, match="console"):
        await notifier.send(alert())


async def test_build_notifier_by_type(client: httpx.AsyncClient) -> None:
    def build(spec: DestinationSpec) -> object:
        return build_notifier(
            spec, client=client, clock=SystemClock(), stream=io.StringIO(), color=False
        )

    assert isinstance(build(DestinationSpec(id="c", type="console")), ConsoleNotifier)
    assert isinstance(
        build(DestinationSpec(id="s", type="slack", url="http://127.0.0.1:9/")), SlackNotifier
    )
    assert isinstance(
        build(DestinationSpec(id="w", type="webhook", url="http://127.0.0.1:9/")), WebhookNotifier
    )
    with pytest.raises(ConfigError, match="unknown destination type"):
        build(DestinationSpec(id="x", type="pigeon"))
    with pytest.raises(ConfigError, match="token and channel"):
        build(DestinationSpec(id="b", type="slack_api"))


def test_webhook_body_bytes_are_compact_utf8() -> None:
    body = encode_body(injection_alert("hook"))
    assert b"\n" not in body and b"<!channel>" in body
    assert json.loads(body)["type"] == "alert.created"
