"""When to poll a feed next and how far to back off (pure core; health is ``detect.health``).

For the pipeline, which calls these after every poll with ``now`` and a random number it drew
(so tests pass fixed ones). Nothing here reads a clock, a config object or the network.

Rules (issue "Polite, tireless polling"):

- the next poll is the feed's interval, shortened by up to ``jitter_s`` (shortened, never
  lengthened: the daemon's own tick is the upper bound, so a jittered gate never makes a tick
  skip), and never earlier than what the server asked: ``Cache-Control: max-age`` (which wins
  over ``Expires``, RFC 9111 §5.3), ``Expires``, RSS ``<ttl>``, ``Retry-After``; every such wish
  is capped at ``hint_cap_s`` so a year-long ``max-age`` cannot silence a feed;
- consecutive failures back off exponentially from ``backoff_base_s`` up to ``backoff_cap_s``
  (default one day), but never poll a failing feed more often than its interval; success resets;
- 410 Gone slows the feed straight to the cap (polled once a day, never dropped);
- an optional adaptive interval follows the feed's own publishing rhythm within bounds.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from itertools import pairwise

DAY_S = 86_400.0
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.I)


def next_poll_at(
    *,
    now: datetime,
    interval_s: float,
    rng_value: float,
    failures: int = 0,
    jitter_s: float | None = None,
    backoff_base_s: float = 60.0,
    backoff_cap_s: float = DAY_S,
    cache_control: str | None = None,
    expires: str | None = None,
    ttl_s: float | None = None,
    retry_after_s: float | None = None,
    gone: bool = False,
    hint_cap_s: float = DAY_S,
) -> datetime:
    """The earliest time the feed should be polled again.

    ``rng_value`` in [0, 1) picks the jitter; ``jitter_s`` defaults to a tenth of the delay, at
    most 60 s. ``failures`` is the count INCLUDING this poll's failure (0 after a success).
    ``cache_control``/``expires`` are the raw response headers, ``ttl_s`` the feed's ``<ttl>``
    in seconds, ``retry_after_s`` the parsed ``Retry-After``; ``gone`` marks a 410.
    """
    if gone:
        delay_s = max(interval_s, backoff_cap_s)
    elif failures > 0:
        delay_s = max(interval_s, backoff_s(failures, base_s=backoff_base_s, cap_s=backoff_cap_s))
    else:
        delay_s = interval_s
    delay_s = _jittered(delay_s, rng_value, jitter_s)
    wish_s = server_wish_s(
        now=now,
        cache_control=cache_control,
        expires=expires,
        ttl_s=ttl_s,
        retry_after_s=retry_after_s,
    )
    if wish_s is not None:
        delay_s = max(delay_s, min(wish_s, max(hint_cap_s, interval_s)))
    return now + timedelta(seconds=delay_s)


def backoff_s(failures: int, *, base_s: float, cap_s: float) -> float:
    """``base_s * 2**(failures-1)``, at most ``cap_s``; 0 when there is no failure."""
    if failures <= 0:
        return 0.0
    return min(cap_s, base_s * 2.0 ** min(failures - 1, 60))


def server_wish_s(
    *,
    now: datetime,
    cache_control: str | None = None,
    expires: str | None = None,
    ttl_s: float | None = None,
    retry_after_s: float | None = None,
) -> float | None:
    """The longest wait the server asked for, in seconds from ``now`` (``None``: no wish)."""
    wishes = [
        w
        for w in (_freshness_s(now, cache_control, expires), ttl_s, retry_after_s)
        if w is not None and w > 0
    ]
    return max(wishes, default=None)


def _freshness_s(now: datetime, cache_control: str | None, expires: str | None) -> float | None:
    """``max-age`` if present (it overrides ``Expires``), else ``Expires - now``."""
    if cache_control:
        if re.search(r"\b(no-store|no-cache)\b", cache_control, re.I):
            return None
        match = _MAX_AGE.search(cache_control)
        if match:
            return float(match.group(1))
    if expires:
        try:
            when = parsedate_to_datetime(expires)
        except (TypeError, ValueError, IndexError):
            return None  # "0", "-1" and junk mean "already expired" (RFC 9111 §5.3)
        if when.tzinfo is not None:
            return (when - now).total_seconds()
    return None


def _jittered(delay_s: float, rng_value: float, jitter_s: float | None) -> float:
    spread_s = min(delay_s * 0.1, 60.0) if jitter_s is None else min(jitter_s, delay_s / 2)
    return delay_s - min(max(rng_value, 0.0), 1.0) * spread_s


def adaptive_interval_s(
    published: Iterable[datetime | None],
    *,
    min_s: float,
    max_s: float,
    fraction: float = 0.5,
) -> float | None:
    """Poll at ``fraction`` of the feed's median gap between items, within ``[min_s, max_s]``.

    ``published`` are the items' times (any order; ``None`` ignored). ``None`` when fewer than
    three dated items make a rhythm. For the pipeline's optional per-feed adaptive interval.
    """
    gap_s = cadence_s(published)
    if gap_s is None:
        return None
    return min(max(gap_s * fraction, min_s), max_s)


def cadence_s(published: Iterable[datetime | None]) -> float | None:
    """The median gap between consecutive item times, in seconds (``None``: too few items)."""
    times = sorted({t for t in published if t is not None})
    if len(times) < 3:
        return None
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    return max(statistics.median(gaps), 1.0)
