"""Helpers shared by the detection tests: the bundled pack and a story factory."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import yaml

from monitor.detect.match import Pack, compile_pack
from monitor.models import Story

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"


def sources(folder: str) -> list[tuple[str, object]]:
    """``(path, parsed YAML)`` for every file of config/<folder>, as config.py reads them."""
    paths = sorted((CONFIG / folder).glob("*.yaml"))
    return [(str(p), yaml.safe_load(p.read_text(encoding="utf-8"))) for p in paths]


@cache
def bundled_pack() -> Pack:
    """The default pack, compiled once per test session."""
    return compile_pack(watchlists=sources("watchlists"), rules=sources("rules"))


def story(title: str, summary: str = "", content: str = "", key: str = "k") -> Story:
    return Story(
        feed_id="test",
        title=title,
        summary=summary,
        content=content,
        url=None,
        fetched_at=datetime(2025, 1, 1, tzinfo=UTC),
        key=key,
    )
