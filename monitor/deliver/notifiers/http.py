"""The HTTP plumbing the Slack and webhook notifiers share.

``post`` sends one request through the shared ``httpx.AsyncClient`` under a total deadline,
reads at most ``MAX_RESPONSE_BYTES`` of the answer, and translates every httpx failure into
``RetryableDelivery`` or ``PermanentDelivery`` (``raise ... from exc``), so no httpx exception
leaves a notifier. Messages name the destination and never the URL: webhook and Slack URLs
are credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from monitor.errors import PermanentDelivery, RetryableDelivery

MAX_RESPONSE_BYTES = 64 * 1024
# A Retry-After longer than this is treated as this: news goes stale, and the outbox's give-up
# window decides when to stop, not a server's wish.
MAX_RETRY_AFTER_S = 3600.0


@dataclass(frozen=True, slots=True)
class Answer:
    """What the destination said: status, the start of the body, and Retry-After in seconds."""

    status: int
    text: str
    retry_after_s: float | None
    content_type: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """RFC 9110 §10.2.3: delay-seconds or an HTTP-date (needs ``now``); None when unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        if now is None:
            return None
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


async def post(
    client: httpx.AsyncClient,
    *,
    destination_id: str,
    url: str,
    content: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    now: datetime | None = None,
) -> Answer:
    """POST ``content``; return the answer whatever its status; raise on transport failures."""
    try:
        async with asyncio.timeout(timeout_s):
            # Never follow a redirect: it would carry the signed body (and, for Slack, the token)
            # to a host nobody configured.
            async with client.stream(
                "POST",
                url,
                content=content,
                headers=dict(headers),
                timeout=timeout_s,
                follow_redirects=False,
            ) as response:
                body = await _read_capped(response)
                return Answer(
                    status=response.status_code,
                    text=body.decode("utf-8", errors="replace"),
                    retry_after_s=parse_retry_after(response.headers.get("retry-after"), now),
                    content_type=response.headers.get("content-type", ""),
                )
    except TimeoutError as exc:
        raise RetryableDelivery(destination_id, f"no answer within {timeout_s:g} s") from exc
    except httpx.TimeoutException as exc:
        raise RetryableDelivery(destination_id, f"timed out ({type(exc).__name__})") from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise PermanentDelivery(
            destination_id, "the configured URL is not usable", disable=True
        ) from exc
    except httpx.HTTPError as exc:
        detail = str(exc).replace(url, "<url>")[:200]
        raise RetryableDelivery(destination_id, f"{type(exc).__name__}: {detail}") from exc


async def _read_capped(response: httpx.Response) -> bytes:
    """The first ``MAX_RESPONSE_BYTES`` of the body (a destination's answer is small)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_RESPONSE_BYTES:
            break
    return b"".join(chunks)[:MAX_RESPONSE_BYTES]
