"""``ProcessParser`` on the standard library's ``ProcessPoolExecutor`` (spawn): the issue-11
point-8 experiment, kept beside the hand-written pool so both run in one benchmark.

The pool is recycled when a parse overruns: its processes are killed (SIGKILL: feedparser may
be deep in C code) and the next parse starts a new pool. A parse that was in flight in the
killed pool is retried once on the new one, so an innocent feed does not fail with its
neighbour. Start-up (the interpreter and its imports, seconds on a loaded host) is waited for
with a no-op task, outside the time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from monitor.detect.parse_pool import ProcessParser, _parse_safely, _unwrap
from monitor.errors import ParseError
from monitor.models import FeedSpec, FetchResult, ParsedFeed, Story

_START_TIMEOUT_S = 60.0


def _start_worker(max_memory_bytes: int | None) -> None:
    """Each worker: ignore Ctrl-C (the parent stops us), cap the address space if asked."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if max_memory_bytes:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (max_memory_bytes, max_memory_bytes))


def _ready() -> bool:
    return True


class ExecutorParser(ProcessParser):
    """The same contract as ``ProcessParser`` (time limit, memory cap, pre-scan), on an executor."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0  # bumped at each recycle

    async def _parse_body(
        self, result: FetchResult, feed: FeedSpec
    ) -> tuple[ParsedFeed, list[Story | None]]:
        async with self._slot():
            for attempt in (1, 2):
                pool, generation = await self._started(feed), self._generation
                processes = list((getattr(pool, "_processes", None) or {}).values())
                future = asyncio.wrap_future(pool.submit(_parse_safely, result, feed))
                try:
                    reply = await asyncio.wait_for(future, self.time_limit_s)
                except TimeoutError as exc:
                    self._recycle()
                    raise ParseError(
                        feed.id, f"parse took longer than {self.time_limit_s:g} s (worker killed)"
                    ) from exc
                except BrokenProcessPool as exc:
                    if generation != self._generation and attempt == 1:
                        continue  # a neighbour's overrun recycled the pool under us
                    self._recycle()
                    code = next((p.exitcode for p in processes if p.exitcode), None)
                    raise ParseError(feed.id, f"parser worker died (exit code {code})") from exc
                break
        self.parses += 1
        self.feedparser_cpu_s += reply[2]
        self.extract_cpu_s += reply[3]
        return _unwrap(reply, feed)

    async def _started(self, feed: FeedSpec) -> ProcessPoolExecutor:
        if self._pool is None:
            pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.max_memory_bytes,),
            )
            try:
                futures = [pool.submit(_ready) for _ in range(self.workers)]
                async with asyncio.timeout(_START_TIMEOUT_S):
                    await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
            except (TimeoutError, BrokenProcessPool, OSError) as exc:
                _kill(pool)
                raise ParseError(feed.id, f"parser worker did not start ({exc!r})") from exc
            self._pool = pool
        return self._pool

    def _recycle(self) -> None:
        self.killed += 1
        self._generation += 1
        if self._pool is not None:
            _kill(self._pool)
            self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    @property
    def worker_pids(self) -> list[int]:
        processes = getattr(self._pool, "_processes", None) or {}
        return list(processes)


def _kill(pool: ProcessPoolExecutor) -> None:
    """SIGKILL every process of ``pool`` and reap them (a killed child must not linger)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    for process in processes:
        process.join(timeout=5)
    pool.shutdown(wait=False, cancel_futures=True)
