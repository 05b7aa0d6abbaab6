"""Slack: incoming webhooks (type ``slack``) or ``chat.postMessage`` with a token (``slack_api``).

Our own small httpx sender. Payloads come from ``render`` (escaped there). Slack's answers are
sorted into the three outcomes the delivery worker acts on:

- the destination is gone or forbidden (``no_service``, ``invalid_token``, ``channel_not_found``,
  ``channel_is_archived``, ``action_prohibited``, ``team_disabled`` …): ``PermanentDelivery``
  with ``disable=True``: dead-letter, disable the destination, say so loudly;
- the message's shape was refused (``invalid_payload``, ``invalid_blocks`` …):
  ``PayloadRejected``: the worker sends the plain-text fallback once, then dead-letters;
- 429 (with ``Retry-After``), 5xx, ``rollup_error`` …: ``RetryableDelivery``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from monitor.deliver.notifiers.http import Answer, post
from monitor.deliver.render.slack import slack_digest_payloads, slack_payload, slack_plain_payload
from monitor.errors import ConfigError, PayloadRejected, PermanentDelivery, RetryableDelivery
from monitor.models import Alert, DestinationSpec
from monitor.ports import NotifierCapabilities

API_URL = "https://slack.com/api/chat.postMessage"

DISABLING_ERRORS = frozenset({
    "no_service", "no_team", "invalid_token", "channel_not_found", "channel_is_archived",
    "action_prohibited", "team_disabled", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "token_expired", "not_in_channel", "is_archived", "missing_scope",
    "no_permission", "org_login_required", "ekm_access_denied", "restricted_action",
    "posting_to_general_channel_denied", "user_not_found",
})  # fmt: skip
REJECTED_PAYLOAD_ERRORS = frozenset({
    "invalid_payload", "invalid_blocks", "invalid_blocks_format", "invalid_attachments",
    "too_many_attachments", "msg_too_long", "no_text", "invalid_json", "json_not_object",
    "invalid_arguments",
})  # fmt: skip
RETRYABLE_ERRORS = frozenset({
    "rollup_error", "internal_error", "fatal_error", "service_unavailable", "request_timeout",
    "ratelimited", "rate_limited",
})  # fmt: skip


class SlackNotifier:
    """Posts Block Kit alerts to one Slack destination (satisfies ``ports.Notifier``)."""

    def __init__(self, *, spec: DestinationSpec, client: httpx.AsyncClient) -> None:
        self.destination_id = spec.id
        self.spec = spec
        self.client = client
        self.api = spec.type == "slack_api"
        # follow-ups ("also reported by"): a thread reply through the API; an incoming webhook
        # cannot thread, so they wait for the next digest instead of pinging the channel
        self.capabilities = NotifierCapabilities(
            threads=self.api, folds_updates=not self.api, digests=True
        )
        self.url = spec.url or (API_URL if self.api else "")
        if not self.url:
            raise ConfigError("a slack destination needs a url", key_path=f"destinations.{spec.id}")
        if self.api and not (spec.token and spec.channel):
            raise ConfigError(
                "a slack_api destination needs token and channel",
                key_path=f"destinations.{spec.id}",
            )

    async def send(self, alert: Alert, *, plain: bool = False) -> str | None:
        """Post the Block Kit message, or the plain-text fallback when ``plain``.

        Returns the message's ``ts`` when Slack's API reports it (``slack_api``), which the
        worker stores so a later ``alert.updated`` can reply in the message's thread.
        """
        payload = slack_plain_payload(alert) if plain else slack_payload(alert)
        if plain and "thread_ts" in (rich := slack_payload(alert)):
            payload["thread_ts"] = rich["thread_ts"]
        return await self.post_payload(payload)

    async def send_digest(self, alerts: Sequence[Alert], *, period_label: str) -> None:
        """Post one period's digest (several messages when Slack's limits require)."""
        for payload in slack_digest_payloads(alerts, period_label=period_label):
            await self.post_payload(payload)

    async def post_payload(self, payload: dict[str, Any]) -> str | None:
        """Send one rendered payload; raise the ``DeliveryError`` its answer calls for."""
        headers = {"content-type": "application/json; charset=utf-8"}
        if self.api:
            payload = {**payload, "channel": self.spec.channel}
            headers["authorization"] = f"Bearer {self.spec.token}"
        answer = await post(
            self.client,
            destination_id=self.destination_id,
            url=self.url,
            content=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
            headers=headers,
            timeout_s=self.spec.timeout_s,
        )
        self.check(answer)
        return _message_ts(answer) if self.api else None

    def check(self, answer: Answer) -> None:
        """Translate Slack's answer (status + ``ok``/error string, or API JSON) into an outcome."""
        error = _slack_error(answer)
        if error is None:
            return
        dest = self.destination_id
        if answer.status == 429 or error in ("ratelimited", "rate_limited"):
            raise RetryableDelivery(
                dest, f"slack rate limit ({error})", retry_after_s=answer.retry_after_s
            )
        if error in DISABLING_ERRORS:
            raise PermanentDelivery(dest, f"slack refused the destination: {error}", disable=True)
        if error in REJECTED_PAYLOAD_ERRORS:
            raise PayloadRejected(dest, f"slack refused the message: {error}")
        if error in RETRYABLE_ERRORS or answer.status >= 500:
            wait = answer.retry_after_s if answer.status == 503 else None
            raise RetryableDelivery(
                dest, f"slack HTTP {answer.status}: {error}", retry_after_s=wait
            )
        disable = answer.status in (401, 403, 404, 410)
        raise PermanentDelivery(dest, f"slack HTTP {answer.status}: {error}", disable=disable)


def _message_ts(answer: Answer) -> str | None:
    """The ``ts`` of the message ``chat.postMessage`` created, if its answer says."""
    try:
        data = json.loads(answer.text)
    except ValueError:
        return None
    ts = data.get("ts") if isinstance(data, dict) else None
    return str(ts) if ts else None


def _slack_error(answer: Answer) -> str | None:
    """None on success, else Slack's error string (or a short description of the answer)."""
    text = answer.text.strip()
    if "json" in answer.content_type or text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and "ok" in data:
            if data["ok"] is True and answer.ok:
                return None
            return str(data.get("error") or f"HTTP {answer.status}")[:100]
    if answer.ok:
        return None
    return text.split()[0][:100] if text else f"HTTP {answer.status}"
