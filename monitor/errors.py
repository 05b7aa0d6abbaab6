"""One exception tree for the whole monitor.

    MonitorError
    ├── ConfigError          bad config, watchlist or rule file (exit 2): file, key path, value
    ├── UsageError           bad command-line input (an argument, a file or stdin; exit 2)
    ├── FetchError           a feed could not be fetched; always names the feed
    │   ├── FetchTimeout         total deadline or connect/read timeout
    │   ├── FetchTooLarge        body (after decompression) past the byte cap
    │   ├── FetchHTTPStatus      a non-2xx/304 answer (carries status and Retry-After)
    │   ├── FetchRedirectError   too many redirects, or a redirect to a non-http(s) URL
    │   ├── FetchConnectError    DNS, refused, reset, TLS
    │   └── FetchBlocked         the network policy refused the address (SSRF guard)
    ├── ParseError           the body is not a feed, or parsing overran its time limit
    ├── StoreError           the state database cannot be opened or written
    ├── StartupError         the daemon cannot start (its probe port is taken ...)
    └── DeliveryError        a destination refused or failed an alert
        ├── RetryableDelivery    try again later (5xx, timeout, 429 with Retry-After)
        └── PermanentDelivery    never retry (410, Slack invalid_token ...): dead-letter
            └── PayloadRejected      this payload's shape was refused (Slack invalid_blocks):
                                     a plain-text fallback may still pass

Adapters translate third-party exceptions into these with ``raise ... from exc`` so no
httpx, sqlite3 or feedparser exception escapes them.
"""

from __future__ import annotations

from typing import ClassVar


class MonitorError(Exception):
    """Base of every error the monitor raises on purpose.

    ``outcome_label`` names the kind of failure for metrics (the ``outcome`` label of
    ``sanctions_monitor_fetches_total``); a subclass without its own counts as ``internal``.
    """

    outcome_label: ClassVar[str] = "internal"


class ConfigError(MonitorError):
    """A configuration, watchlist or rule file is invalid.

    ``file`` and ``key_path`` locate the problem for the operator.
    """

    def __init__(self, message: str, *, file: str | None = None, key_path: str | None = None):
        self.file = file
        self.key_path = key_path
        where = ": ".join(part for part in (file, key_path) if part)
        super().__init__(f"{where}: {message}" if where else message)


class UsageError(MonitorError):
    """What the operator typed or piped in cannot be used (not a config problem)."""


class FetchError(MonitorError):
    """A feed could not be fetched."""

    outcome_label = "fetch_error"

    def __init__(self, feed_id: str, message: str):
        self.feed_id = feed_id
        self.reason = message
        self.host: str | None = None
        super().__init__(f"fetch: {message} from {feed_id}")

    def with_host(self, host: str | None) -> FetchError:
        """Name the feed's host in the message (``fetch: HTTP 404 from nknews (www.nknews.org)``),
        so an operator sees which server failed without looking the id up."""
        if host and self.host is None:
            self.host = host
            self.args = (f"fetch: {self.reason} from {self.feed_id} ({host})",)
        return self


class FetchTimeout(FetchError):
    """The fetch ran past its deadline."""

    outcome_label = "timeout"


class FetchTooLarge(FetchError):
    """The (decompressed) body exceeded the byte cap."""

    outcome_label = "too_large"


class FetchHTTPStatus(FetchError):
    """The server answered with a status that is neither success nor 304."""

    outcome_label = "http_status"

    def __init__(self, feed_id: str, status: int, *, retry_after_s: float | None = None):
        self.status = status
        self.retry_after_s = retry_after_s
        super().__init__(feed_id, f"HTTP {status}")


class FetchRedirectError(FetchError):
    """Too many redirects, or a redirect to a scheme other than http(s)."""

    outcome_label = "redirect"


class FetchConnectError(FetchError):
    """The connection could not be made or broke."""

    outcome_label = "connect"


class FetchBlocked(FetchError):
    """The feed, or a redirect it sent, points at an address the network policy refuses
    (loopback, private, link-local, ...) and ``http.allow_networks`` does not allow."""

    outcome_label = "internal"  # no label of its own yet: counted as before the attribute


class StartupError(MonitorError):
    """The daemon cannot start: logged as one line, exit 1, no traceback."""


class ParseError(MonitorError):
    """The body is not a feed we can read."""

    outcome_label = "parse_error"

    def __init__(self, feed_id: str, message: str):
        self.feed_id = feed_id
        self.reason = message
        super().__init__(f"parse: {message} in {feed_id}")


class StoreError(MonitorError):
    """The state store failed."""


class LeaseLost(StoreError):
    """A fenced write was refused: the feed's lease token moved on (another replica owns it)."""


class DeliveryError(MonitorError):
    """A destination failed to take an alert."""

    def __init__(self, destination_id: str, message: str):
        self.destination_id = destination_id
        self.reason = message
        super().__init__(f"deliver: {message} at {destination_id}")


class RetryableDelivery(DeliveryError):
    """Try again later; ``retry_after_s`` is the server's own wish, if it gave one."""

    def __init__(self, destination_id: str, message: str, *, retry_after_s: float | None = None):
        self.retry_after_s = retry_after_s
        super().__init__(destination_id, message)


class PermanentDelivery(DeliveryError):
    """The destination will never accept this (or any) alert: dead-letter it.

    ``disable`` is true when the destination itself is gone (Slack invalid_token, webhook 410)
    rather than this one payload being refused.
    """

    def __init__(self, destination_id: str, message: str, *, disable: bool = False):
        self.disable = disable
        super().__init__(destination_id, message)


class PayloadRejected(PermanentDelivery):
    """The destination refused this message's format (Slack ``invalid_blocks``).

    The delivery worker sends a plain-text fallback once before dead-lettering the alert.
    """
