"""What the parser pool remembers of each feed's items, to parse only what is new (issue 16).

For ``parse_pool.ProcessParser``. After a parse it can trust (the pre-scan found exactly as many
items as feedparser found entries, and feedparser reported no error), it keeps per feed, for
every item's fingerprint (``prescan.scan``), the story it became: its key, its digest and its
published time, or that it became none. On the next changed body, an item with a remembered
fingerprint is skipped when the store still holds its story with the same digest (asked through
``known``, e.g. ``SqliteStore.stored_digests``); so a story whose commit was lost, that
housekeeping pruned, or that was edited through another feed is parsed again, exactly as today.

The memory lives in the parent process and is lost at a restart: the first poll after one parses
the whole body. Nothing here parses; feedparser stays the one parser that makes a story.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.detect.prescan import Scan
from monitor.models import ParsedFeed, Story

KnownDigests = Callable[[Sequence[str]], Mapping[str, str | None]]


@dataclass(frozen=True, slots=True)
class Seen:
    """One item as it was last parsed: its story's key and digest (``None``: no story)."""

    key: str | None
    digest: str | None
    published_at: datetime | None

    @classmethod
    def of(cls, story: Story | None) -> Seen:
        if story is None:
            return cls(None, None, None)
        return cls(story.key, story.digest, story.published_at)


@dataclass(frozen=True, slots=True)
class Plan:
    """Which items of a scanned body are skipped (indexes into ``scan.spans``), and as what."""

    scan: Scan
    skip: frozenset[int]
    skipped: tuple[Seen, ...]


class ItemMemory:
    """Per feed: item fingerprint → ``Seen``, from the last parse that could be trusted."""

    def __init__(self, known: KnownDigests) -> None:
        self.known = known
        self._feeds: dict[str, dict[bytes, Seen]] = {}

    def plan(self, feed_id: str, found: Scan) -> Plan:
        """Skip the remembered items whose story the store holds unchanged."""
        remembered = self._feeds.get(feed_id, {})
        candidates = {
            index: seen
            for index, fingerprint in enumerate(found.fingerprints)
            if (seen := remembered.get(fingerprint)) is not None
        }
        keys = [seen.key for seen in candidates.values() if seen.key is not None]
        stored = self.known(keys) if keys else {}
        skip = {
            index: seen
            for index, seen in candidates.items()
            if seen.key is None or (seen.digest is not None and stored.get(seen.key) == seen.digest)
        }
        return Plan(scan=found, skip=frozenset(skip), skipped=tuple(skip.values()))

    def accept(
        self, feed_id: str, plan: Plan | None, head: ParsedFeed, per_entry: Sequence[Story | None]
    ) -> bool:
        """Remember a parse of the plan's body (all items but the skipped ones); ``False``, and
        the feed forgotten, when it cannot be trusted: the caller then parses the whole body."""
        if plan is None or not self._trusted(plan, head, per_entry):
            self._feeds.pop(feed_id, None)
            return False
        parsed = iter(per_entry)
        remembered = self._feeds.get(feed_id, {})
        self._feeds[feed_id] = {
            fingerprint: remembered[fingerprint] if index in plan.skip else Seen.of(next(parsed))
            for index, fingerprint in enumerate(plan.scan.fingerprints)
        }
        return True

    def forget(self, feed_id: str) -> None:
        self._feeds.pop(feed_id, None)

    @staticmethod
    def _trusted(plan: Plan, head: ParsedFeed, per_entry: Sequence[Story | None]) -> bool:
        """feedparser found one entry per item the pre-scan sent, reported nothing wrong, and
        no parsed story shares a key with a skipped one (the store's triage lets the first
        occurrence of a key win, so such a body is judged whole, as before)."""
        if head.bozo is not None or len(per_entry) != len(plan.scan.spans) - len(plan.skip):
            return False
        skipped_keys = {seen.key for seen in plan.skipped if seen.key is not None}
        return not any(story is not None and story.key in skipped_keys for story in per_entry)
