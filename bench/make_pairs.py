"""Build the labeled story-pair set that ``bench_dedup.py`` scores the clustering on.

For whoever maintains the dedup benchmark. Reads the 2022 feed stream (real items, one per
outlet and link), finds pairs of items published within 72 h of each other that share rare
words, sorts them into zones by cheap text features that have nothing to do with the
clusterer's shingles and MinHash, samples each zone with a fixed seed, and labels them:

* zones where the features settle the answer are labeled by rule (``source: rule``); 40
  pairs of each such zone were read by hand to check the rule, and none disagreed;
* every other zone is labeled by hand: ``bench/pairs/manual_labels.jsonl`` holds one verdict
  per pair id, written by a person reading both items (the audit samples are in it too).

Labels (``kind``): ``copy`` (positive: the two items carry the same text) when, after reading,
(1) the titles are the same up to case and punctuation, (2) one title is the other with one
word inserted, deleted or replaced (5+ words, same numbers), (3) one whole title (5+ words)
opens or closes the other ("Analysis: ...", "..., officials say"), or (4) the summaries share a
lede sentence, verbatim or lightly edited; reading overrides (1)-(3) for templates ("privacy
settings on Instagram" / "on Twitter"). ``same_event`` (negative): the same news in
independently written text. ``different_event`` (negative): different news sharing names,
vocabulary or a template (daily live blogs, "day 263 of the war", lottery results).
``different_text`` (negative, rule zone): shares only rare words; the event was not judged.
``unsure`` pairs are kept in the file but left out of the scores.

    .venv/bin/python bench/make_pairs.py --stream ../shared/eval/stream-2022.jsonl.gz
    .venv/bin/python bench/make_pairs.py --stream ... --review review.txt   # unlabeled pairs

Writes ``bench/pairs/pairs-2022.jsonl`` (both items' text, so the benchmark needs no access to
the stream) and prints the set's size by zone and label.
"""

from __future__ import annotations

import argparse
import collections
import difflib
import gzip
import hashlib
import html
import json
import math
import random
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAIRS_DIR = HERE / "pairs"
WINDOW_S = 72 * 3600.0
SEED = 20220101

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
_HASHTAG = re.compile(r"#\w+")
_STOP = frozenset(
    " ".join(
        (
            "the a an of to in on for and or is are was were be been by with at from as that this",
            "it its his her their they he she we you i not but has have had will would can could",
            "after over into about more than new says said say up out who what how why when",
        )
    ).split()
)

# How many pairs each zone contributes (drawn with SEED); the zone decides who labels it.
ZONE_SIZES = {
    "title_same_no_summary": 220,  # rule: copy (an aggregator with no dek, e.g. MSN)
    "title_same_summary_same": 160,  # rule: copy
    "title_same_summary_differs": 150,  # hand: wire headline with an outlet's own dek, or a series
    "title_close": 260,  # hand: edited titles
    "title_partial": 90,  # hand: some title words shared, summaries differ
    "summary_close": 150,  # hand: a new title on the same dek (retitled copy or template)
    "same_outlet": 80,  # hand: one outlet, two links (republished, or a daily series)
    "korea": 90,  # hand: the monitor's own subject, sharing names across events
    "vocabulary_only": 260,  # rule: different text (shares rare words only)
}
# A second draw, over every candidate pair and after the first (so the first stays as it was):
# zones rich in the hardest positives and negatives, edited titles over a shared dek, and
# titles one or two words apart.
EXTRA_ZONE_SIZES = {
    "summary_shared": 120,  # hand: one dek copied under an edited title, or a boilerplate dek
    "title_edit_small": 60,  # hand: a wire headline lightly edited, or a series template
}
RULE_ZONES = {
    "title_same_no_summary": "copy",
    "title_same_summary_same": "copy",
    "vocabulary_only": "different_text",
}


@dataclass(frozen=True, slots=True)
class Item:
    """One stream item, cleaned to plain text, with the token sets the zones are built from."""

    id: str
    outlet: str
    title: str
    summary: str
    url: str
    date: str
    ts: float
    title_norm: str
    title_tokens: frozenset[str]
    summary_tokens: frozenset[str]
    numbers: frozenset[str]


def clean(text: str) -> str:
    """Plain text the way the parse stage hands it over: tags gone, entities decoded."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", text or ""))).strip()


def content_tokens(text: str) -> frozenset[str]:
    words = _WORD.findall(_HASHTAG.sub(" ", text).casefold())
    return frozenset(w for w in words if w not in _STOP and len(w) > 1)


def load_items(path: Path) -> list[Item]:
    items = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            raw = json.loads(line)
            title, summary = clean(raw["title"]), clean(raw["summary"])
            words = _WORD.findall(title.casefold())
            items.append(
                Item(
                    id=raw["id"],
                    outlet=raw["outlet"],
                    title=title,
                    summary=summary,
                    url=raw["url"],
                    date=raw["date"],
                    ts=datetime.fromisoformat(raw["date"].replace("Z", "+00:00")).timestamp(),
                    title_norm=" ".join(words),
                    title_tokens=content_tokens(title),
                    summary_tokens=content_tokens(summary),
                    numbers=frozenset(w for w in words if w.isdigit()),
                )
            )
    items.sort(key=lambda item: (item.ts, item.id))
    return items


def candidate_pairs(items: list[Item]) -> Iterator[tuple[int, int]]:
    """Pairs within the window whose rare-word overlap (idf-weighted containment) is >= 0.3."""
    doc_freq: collections.Counter[str] = collections.Counter()
    for item in items:
        doc_freq.update(item.title_tokens | item.summary_tokens)
    idf = {word: math.log(len(items) / count) for word, count in doc_freq.items()}
    rare = [
        frozenset(w for w in it.title_tokens | it.summary_tokens if 2 <= doc_freq[w] <= 400)
        for it in items
    ]
    weight = [sum(idf[w] for w in words) for words in rare]
    postings: dict[str, list[int]] = collections.defaultdict(list)
    shared: collections.Counter[tuple[int, int]] = collections.Counter()
    for index, item in enumerate(items):
        for word in rare[index]:
            bucket = postings[word]
            while bucket and item.ts - items[bucket[0]].ts > WINDOW_S:
                bucket.pop(0)
            for other in bucket:
                shared[(other, index)] += idf[word]
            bucket.append(index)
    for (a, b), overlap in shared.items():
        smaller = min(weight[a], weight[b])
        if smaller > 0 and overlap >= 12 and overlap / smaller >= 0.3:
            yield a, b


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def containment(a: frozenset[str], b: frozenset[str]) -> float | None:
    if len(a) < 4 or len(b) < 4:
        return None
    return len(a & b) / min(len(a), len(b))


def zone_of(a: Item, b: Item) -> str | None:
    """The zone a pair is sampled from, or None when it belongs to no zone."""
    korea = all("korea" in f"{it.title} {it.summary}".casefold() for it in (a, b))
    if korea:
        return "korea"
    title_j = jaccard(a.title_tokens, b.title_tokens)
    summary_c = containment(a.summary_tokens, b.summary_tokens)
    if a.outlet == b.outlet:
        return "same_outlet" if title_j >= 0.5 or (summary_c or 0) >= 0.6 else None
    if a.title_norm == b.title_norm and len(a.title_tokens) >= 3:
        if summary_c is None:
            return "title_same_no_summary"
        return "title_same_summary_same" if summary_c >= 0.9 else "title_same_summary_differs"
    if title_j >= 0.5:
        return "title_close"
    if (summary_c or 0) >= 0.6:
        return "summary_close"
    if title_j >= 0.3:
        return "title_partial"
    if title_j < 0.25 and (summary_c is None or summary_c < 0.3):
        return "vocabulary_only"
    return None


def extra_zone_of(a: Item, b: Item) -> str | None:
    """The zone of the second draw, or None."""
    if a.outlet == b.outlet or a.title_norm == b.title_norm:
        return None
    summary_c = containment(a.summary_tokens, b.summary_tokens)
    shortest = min(len(a.summary_tokens), len(b.summary_tokens))
    if summary_c is not None and summary_c >= 0.85 and shortest >= 8:
        return "summary_shared"
    words_a, words_b = a.title_norm.split(), b.title_norm.split()
    if min(len(words_a), len(words_b)) >= 5 and word_edits(words_a, words_b) <= 2:
        return "title_edit_small"
    return None


def word_edits(a: list[str], b: list[str]) -> int:
    """Words inserted, deleted or replaced to turn one title into the other."""
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return sum(
        max(i2 - i1, j2 - j1) for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal"
    )


def pair_id(a: Item, b: Item) -> str:
    return hashlib.sha256(f"{a.id}|{b.id}".encode()).hexdigest()[:12]


def sample_zones(items: list[Item]) -> list[tuple[str, Item, Item]]:
    zones: dict[str, list[tuple[int, int]]] = collections.defaultdict(list)
    for a, b in candidate_pairs(items):
        for zone in (zone_of(items[a], items[b]), extra_zone_of(items[a], items[b])):
            if zone is not None:
                zones[zone].append((a, b))
    chosen: dict[tuple[int, int], str] = {}
    for seed, sizes in ((SEED, ZONE_SIZES), (SEED + 1, EXTRA_ZONE_SIZES)):
        rng = random.Random(seed)
        for zone, size in sizes.items():
            pool = sorted(zones[zone])
            drawn = [pair for pair in rng.sample(pool, min(size, len(pool))) if pair not in chosen]
            chosen.update((pair, zone) for pair in drawn)
            print(f"zone {zone}: {len(pool)} candidates, {len(drawn)} drawn", file=sys.stderr)
    return [(zone, items[a], items[b]) for (a, b), zone in chosen.items()]


def read_jsonl(path: Path) -> Iterable[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def item_record(item: Item) -> dict[str, str]:
    return {
        "id": item.id,
        "outlet": item.outlet,
        "title": item.title,
        "summary": item.summary,
        "url": item.url,
        "date": item.date,
    }


def review_text(pid: str, zone: str, a: Item, b: Item) -> str:
    hours = (b.ts - a.ts) / 3600
    lines = [f"== {pid} [{zone}] dt={hours:.1f}h"]
    for item in (a, b):
        lines.append(f"  [{item.outlet[:20]}] {item.title[:160]}")
        lines.append(f"      {item.summary[:260]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream", type=Path, required=True, help="stream-2022.jsonl.gz")
    parser.add_argument("--out", type=Path, default=PAIRS_DIR / "pairs-2022.jsonl")
    parser.add_argument("--manual", type=Path, default=PAIRS_DIR / "manual_labels.jsonl")
    parser.add_argument("--review", type=Path, help="write the pairs still to be read here")
    args = parser.parse_args(argv)

    items = load_items(args.stream)
    manual = {row["pair"]: row for row in read_jsonl(args.manual)}
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    todo: list[str] = []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for zone, a, b in sample_zones(items):
            pid = pair_id(a, b)
            verdict = manual.get(pid)
            if verdict is not None:
                kind, source = verdict["kind"], "hand"
            elif zone in RULE_ZONES:
                kind, source = RULE_ZONES[zone], "rule"
            else:
                todo.append(review_text(pid, zone, a, b))
                continue
            counts[(zone, kind)] += 1
            record = {"pair": pid, "zone": zone, "kind": kind, "source": source}
            record |= {"a": item_record(a), "b": item_record(b)}
            out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
    for (zone, kind), count in sorted(counts.items()):
        print(f"{zone:28s} {kind:16s} {count:5d}")
    print(f"total labeled: {sum(counts.values())}; still to read: {len(todo)}")
    if args.review:
        args.review.write_text("\n".join(todo) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
