"""Bounded state: stories and clusters past ``dedup.retention_days`` are pruned."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from monitor.models import Story
from monitor.service.app import build_app
from monitor.service.config import load_config
from tests.support import write_config


def _story(n: int, seen: datetime) -> Story:
    return Story(
        feed_id="wire",
        title=f"Story number {n} about freight trains between Khasan and Tumangang",
        url=f"https://news.example/{n}",
        fetched_at=seen,
        summary=f"Body of story {n}: rail traffic, customs and border crossings, week {n}.",
        key=f"https://news.example/{n}",
    )


async def test_housekeeping_prunes_only_what_is_past_retention(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, feeds=[], destinations=[], extra={"dedup": {"retention_days": 10}}
    )
    app = build_app(load_config(config))
    try:
        now = app.clock.now()
        old, recent = now - timedelta(days=11), now - timedelta(days=2)
        for n, seen in enumerate([old] * 30 + [recent] * 5):
            story = _story(n, seen)
            with app.store.transaction():
                app.clusters.assign(story, now=seen)
            app.store.commit_stories([replace(story)], [], seen)
        assert app.store.story_count() == 35
        removed = await app.housekeep()
        assert removed == {"stories": 30, "clusters": 30, "evidence": 0}
        assert app.store.story_count() == 5
        assert app.clusters.counts()["stories"] == 5
        assert await app.housekeep() == {"stories": 0, "clusters": 0, "evidence": 0}
    finally:
        await app.aclose()
