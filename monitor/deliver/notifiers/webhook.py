"""Generic webhooks, signed per Standard Webhooks v1 (https://www.standardwebhooks.com/).

Each request carries ``webhook-id`` (the alert's idempotency key, also sent as
``Idempotency-Key``), ``webhook-timestamp`` (integer seconds, fresh on every attempt) and
``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, one per configured
secret, space-separated, so a receiver can rotate secrets without losing a message. A
``whsec_`` secret is base64 (as the spec and its libraries expect); any other secret is used
as its UTF-8 bytes.

Answers: 2xx delivered; 410 Gone disables the destination; 429 and 503 retry after
``Retry-After``; 408, 425 and other 5xx retry with backoff; any other status dead-letters the
alert (the receiver refuses it and will keep refusing it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence

import httpx

from monitor.deliver.notifiers.http import Answer, post
from monitor.deliver.render.webhook import webhook_body
from monitor.errors import ConfigError, PermanentDelivery, RetryableDelivery
from monitor.models import Alert, DestinationSpec
from monitor.ports import Clock, NotifierCapabilities

SECRET_PREFIX = "whsec_"
_RESERVED = frozenset(
    {"webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key", "content-type"}
)
_RETRY_STATUSES = frozenset({408, 425, 429})


def signing_key(secret: str, *, destination_id: str = "") -> bytes:
    """The HMAC key of one secret: ``whsec_<base64>`` decoded, else the secret's UTF-8 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode("utf-8")
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(
            "a whsec_ secret must be base64 (value hidden)",
            key_path=f"destinations.{destination_id}",
        ) from exc
    if not key:
        raise ConfigError("empty webhook secret", key_path=f"destinations.{destination_id}")
    return key


def sign(msg_id: str, timestamp_s: int, body: bytes, keys: Sequence[bytes]) -> str:
    """The ``webhook-signature`` value: ``v1,<sig>`` for each key, space-separated."""
    signed = f"{msg_id}.{timestamp_s}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")
        for key in keys
    )


def encode_body(alert: Alert) -> bytes:
    """The exact bytes that are signed and sent (compact JSON, UTF-8, stable key order)."""
    return json.dumps(webhook_body(alert), ensure_ascii=False, separators=(",", ":")).encode()


class WebhookNotifier:
    """Delivers alerts to one generic webhook URL (satisfies ``ports.Notifier``)."""

    capabilities = NotifierCapabilities()  # no threads, no digest form: one POST each

    def __init__(self, *, spec: DestinationSpec, client: httpx.AsyncClient, clock: Clock) -> None:
        if not spec.url:
            raise ConfigError(
                "a webhook destination needs a url", key_path=f"destinations.{spec.id}"
            )
        self.destination_id = spec.id
        self.spec = spec
        self.client = client
        self.clock = clock
        self.keys = tuple(signing_key(s, destination_id=spec.id) for s in spec.secrets)
        self.extra_headers = {
            name: value for name, value in spec.headers if name.lower() not in _RESERVED
        }

    def headers_for(self, alert: Alert, body: bytes, timestamp_s: int) -> dict[str, str]:
        """Signature and idempotency headers, after the destination's extra headers."""
        headers = {
            **self.extra_headers,
            "content-type": "application/json",
            "webhook-id": alert.key,
            "webhook-timestamp": str(timestamp_s),
            "idempotency-key": alert.key,
        }
        if self.keys:
            headers["webhook-signature"] = sign(alert.key, timestamp_s, body, self.keys)
        return headers

    async def send(self, alert: Alert, *, plain: bool = False) -> None:
        """POST the alert; return on 2xx, raise a ``DeliveryError`` subclass otherwise."""
        del plain  # one format only: the JSON body is the same for every attempt
        body = encode_body(alert)
        now = self.clock.now()
        answer = await post(
            self.client,
            destination_id=self.destination_id,
            url=self.spec.url or "",
            content=body,
            headers=self.headers_for(alert, body, int(now.timestamp())),
            timeout_s=self.spec.timeout_s,
            now=now,
        )
        self.check(answer)

    def check(self, answer: Answer) -> None:
        """Translate a non-2xx answer into the error the delivery worker acts on."""
        if answer.ok:
            return
        status = answer.status
        if status == 410:
            raise PermanentDelivery(
                self.destination_id, "HTTP 410 Gone: receiver asked to stop", disable=True
            )
        if status in _RETRY_STATUSES or status >= 500:
            wait = answer.retry_after_s if status in (429, 503) else None
            raise RetryableDelivery(self.destination_id, f"HTTP {status}", retry_after_s=wait)
        reason = "redirect not followed" if 300 <= status < 400 else "refused"
        snippet = answer.text.strip()[:120]
        raise PermanentDelivery(
            self.destination_id, f"HTTP {status} {reason}" + (f": {snippet}" if snippet else "")
        )
