"""The pre-scan's equivalence check, for tests/detect/test_prescan.py and bench/parse_files.py.

One body, two ways: the whole-body parse of today (``ProcessParser`` without ``known``) and the
parse-only-what-is-new path (``ProcessParser(known=...)``) after a poll that already saw every
item but the first. The second must find the same item keys as feedparser and return, for the
items it did not skip, stories identical to today's; or it must have fallen back to the whole
parse (then its result is today's result).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from monitor.detect import prescan
from monitor.detect.parse_pool import ProcessParser, _salt
from monitor.errors import ParseError
from monitor.models import FeedSpec, FetchResult, ParsedFeed


@dataclass
class FakeStore:
    """Story key → digest, as ``SqliteStore.stored_digests`` answers."""

    digests: dict[str, str | None] = field(default_factory=dict)
    asked: list[list[str]] = field(default_factory=list)

    def stored_digests(self, keys: Sequence[str]) -> Mapping[str, str | None]:
        self.asked.append(list(keys))
        return {k: self.digests[k] for k in keys if k in self.digests}

    def commit(self, parsed: ParsedFeed) -> None:
        for story in parsed.stories:  # triage: the first occurrence of a key wins
            self.digests.setdefault(story.key, story.digest)


@dataclass
class Verdict:
    """What the check found for one body."""

    items: int | None  # items the pre-scan found (None: it refused the body)
    entries: int  # stories feedparser made of the whole body
    skipped: int  # items the second parse did not parse again
    fell_back: bool  # the second parse was the whole body after all
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


async def check_body(result: FetchResult, feed: FeedSpec) -> Verdict:
    """Run both paths on ``result`` and list every difference (empty: equivalent)."""
    whole = ProcessParser(time_limit_s=10.0)
    store = FakeStore()
    skipping = ProcessParser(time_limit_s=10.0, known=store.stored_digests)
    try:
        try:
            today = await whole.parse(result, feed)
        except ParseError as exc:
            return await _both_refuse(skipping, result, feed, str(exc))
        found = prescan.scan(result.body, salt=_salt(result, feed))
        if found is not None and found.spans:
            earlier = replace(result, body=prescan.without(result.body, found, {0}))
            with contextlib.suppress(ParseError):  # without its first item, no feed: fine
                store.commit(await skipping.parse(earlier, feed))
        now = await skipping.parse(result, feed)
        return _compare(today, now, store, found, skipping)
    finally:
        whole.close()
        skipping.close()


async def _both_refuse(
    skipping: ProcessParser, result: FetchResult, feed: FeedSpec, reason: str
) -> Verdict:
    try:
        await skipping.parse(result, feed)
    except ParseError as exc:
        same = str(exc) == reason
        return Verdict(None, 0, 0, False, [] if same else [f"error {exc} != {reason}"])
    return Verdict(None, 0, 0, False, [f"today refuses ({reason}) but the pre-scan path parsed"])


def _compare(
    today: ParsedFeed,
    now: ParsedFeed,
    store: FakeStore,
    found: prescan.Scan | None,
    skipping: ProcessParser,
) -> Verdict:
    problems = []
    skipped = skipping.items_skipped
    fell_back = skipped == 0 or skipping.fallbacks > 0
    rest = iter(today.stories)  # what came back is today's stories, in order, minus some
    if not all(any(story == mine for story in rest) for mine in now.stories):
        problems.append("a returned story is not today's story for the same item")
    left_out = [s for s in today.stories if s not in now.stories]
    if any(store.digests.get(s.key, "") != s.digest for s in left_out):
        problems.append("a story was left out that the store does not hold unchanged")
    if len(now.stories) + len(now.unchanged_published) != len(today.stories):
        problems.append("the parsed and skipped stories do not add up to today's")
    if sorted(map(str, now.unchanged_published)) != sorted(str(s.published_at) for s in left_out):
        problems.append("the skipped items' dates differ from today's")
    head = replace(now, stories=today.stories, unchanged_published=())
    if head != today:
        problems.append("the feed's metadata (version, title, ttl, encoding, bozo) differs")
    items = None if found is None else len(found.spans)
    return Verdict(items, len(today.stories), skipped, fell_back, problems)
