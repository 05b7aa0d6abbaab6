"""Run ``parse.parse_feed`` in worker processes with a time limit (an adapter; ``ports.Parser``).

Why a process: feedparser has an unfixed quadratic case (a 30 KB dotted ``<author>`` takes
seconds) and costs ~100 ms per 200 KB feed; a thread cannot be stopped and would hold the GIL
against the event loop. Each worker parses one body at a time; a worker that overruns
``time_limit_s`` is killed (SIGKILL: it may be deep in C code) and the next parse starts a fresh
one, so one hostile feed costs one ``ParseError`` and never a stuck poller.

For the composition root (``cli``), which builds one ``ProcessParser`` and closes it at exit,
and for the pipeline, which awaits ``parse``.

Workers are plain ``python -m monitor.detect.parse_pool`` children speaking length-prefixed pickles
over stdin/stdout. The parent waits for an answer with ``loop.add_reader`` on the worker's
stdout, so no thread is tied up and a worker is not bound to one event loop.

Why not the standard library (issue 11, point 8): ``ProcessPoolExecutor`` with spawn, recycled
(every process killed) when a parse overruns and the neighbours' parses retried once, passed the
same hostile-feed tests, but cost more CPU in ``bench/bench_changed.py`` run side by side (300
feeds: 11.5 against 10.3 ms per changed poll, 97.5 against 94.4 ms with every item new; its
feeder and result threads and ``multiprocessing``'s connection layer), and it cannot kill one
overrunning task without killing the whole pool. ``fork`` would copy the event loop's threads
and sockets. Spawn is safe to use in this program: a spawn child imports the parent's
``__main__`` again as ``__mp_main__``, and ``monitor/__main__.py`` keeps its import and its call
under the ``__main__`` guard, so ``python -m monitor`` does not start a second CLI there (the
experiment's code: commit 4e22056, ``monitor/detect/parse_executor.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import structlog

from monitor.detect import prescan
from monitor.detect.dedup import story_key
from monitor.detect.extract import extract_article
from monitor.detect.item_memory import ItemMemory, KnownDigests, Plan, Seen
from monitor.detect.parse import build_entries, run_feedparser
from monitor.errors import ParseError
from monitor.models import FeedSpec, FetchResult, ParsedFeed, Story

log = structlog.get_logger(__name__)

_HEADER = struct.Struct("!Q")  # payload length, then a pickle
_READY = b"R"  # a worker's first byte, once it has started
_START_TIMEOUT_S = 60.0
_PIPE_BYTES = 1 << 20  # Linux's default limit for unprivileged processes (fs/pipe-max-size)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_EXTRACT = "extract"  # a job ``(_EXTRACT, html, url, max_chars)``; a feed job is ``(result, feed)``


class _Worker:
    """One child process: its stdin for jobs, its stdout (non-blocking) for answers."""

    def __init__(self, max_memory_bytes: int | None) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        if max_memory_bytes:
            env["MONITOR_PARSER_MAX_MEMORY_BYTES"] = str(max_memory_bytes)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.detect.parse_pool"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,  # Ctrl-C in a terminal goes to the parent, who kills us
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.in_fd = self.proc.stdin.fileno()
        self.fd = self.proc.stdout.fileno()
        os.set_blocking(self.in_fd, False)  # a 5 MB job must not block the event loop
        os.set_blocking(self.fd, False)
        self.ready = False  # True once the child has written its start-up byte
        for fd in (self.in_fd, self.fd):
            _widen_pipe(fd)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """Stop the child now and reap it."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


def _widen_pipe(fd: int) -> None:
    """Grow a pipe's buffer from 64 KiB to ``_PIPE_BYTES`` where Linux allows it.

    A ~90 KB feed and its ~80 KB of stories then cross in one write and one read instead of
    several, each a wake-up of the other side; elsewhere (or over the system's limit) the
    default buffer just stays.
    """
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, set_size, _PIPE_BYTES)


class _Answer:
    """Collects one framed answer from a non-blocking fd inside ``add_reader`` callbacks."""

    def __init__(self, fd: int, future: asyncio.Future[bytes], *, framed: bool = True) -> None:
        self.fd = fd
        self.future = future
        self.framed = framed  # False: one byte, the worker's "started" signal
        self.buffer = bytearray()

    def on_readable(self) -> None:
        if self.future.done():
            return
        try:
            chunk = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return
        except OSError as exc:
            self.future.set_exception(EOFError(str(exc)))
            return
        if not chunk:
            self.future.set_exception(EOFError("worker closed its pipe"))
            return
        if not self.framed:
            self.future.set_result(chunk)
            return
        self.buffer += chunk
        if len(self.buffer) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self.buffer)
            if len(self.buffer) >= _HEADER.size + length:
                self.future.set_result(bytes(self.buffer[_HEADER.size : _HEADER.size + length]))


class ProcessParser:
    """Parses feeds in up to ``workers`` child processes, each parse limited to ``time_limit_s``.

    Stories come back with ``key`` filled (``dedup.story_key``), computed in the worker.

    ``max_memory_bytes`` optionally caps each worker's address space (``RLIMIT_AS``); a parse
    that needs more fails with a ``ParseError`` instead of growing the host's memory.

    ``known`` (the store's ``stored_digests``) turns on parsing only what is new: a changed
    body is pre-scanned (``prescan``), the items remembered from the feed's last parse whose
    story the store holds unchanged are cut out, and the worker parses the rest as a smaller
    document (``item_memory``). Those items' stories are then not in ``ParsedFeed.stories``;
    their dates are in ``unchanged_published``. Anything the pre-scan or that smaller parse
    cannot vouch for is parsed whole, as without ``known``.
    """

    def __init__(
        self,
        *,
        time_limit_s: float = 10.0,
        workers: int = 1,
        max_memory_bytes: int | None = None,
        known: KnownDigests | None = None,
    ) -> None:
        self.time_limit_s = time_limit_s
        self.workers = workers
        self.max_memory_bytes = max_memory_bytes
        self._memory = ItemMemory(known) if known is not None else None
        self.items_skipped = 0  # items not parsed again (the bench and tests read these)
        self.fallbacks = 0  # bodies parsed whole after a smaller parse could not be trusted
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self.killed = 0  # workers killed for overrunning or dying (metrics and tests read it)
        self.parses = 0  # answers received (ok or error)
        self.feedparser_cpu_s = 0.0  # CPU the workers spent inside feedparser
        self.extract_cpu_s = 0.0  # CPU the workers spent on our side of parse_feed
        self.article_cpu_s = 0.0  # CPU the workers spent extracting article text

    async def parse(self, result: FetchResult, feed: FeedSpec) -> ParsedFeed:
        """Parse in a worker; ``ParseError`` naming the feed on a bad body, overrun or crash."""
        memory = self._memory
        found = prescan.scan(result.body, salt=_salt(result, feed)) if memory else None
        if memory is None or found is None:
            if memory is not None:
                memory.forget(feed.id)
            return _finish(*await self._parse_body(result, feed))
        plan = memory.plan(feed.id, found)
        if plan.skip:
            small = dataclasses.replace(result, body=prescan.without(result.body, found, plan.skip))
            killed = self.killed
            try:
                head, per_entry = await self._parse_body(small, feed)
            except ParseError:
                if self.killed != killed:
                    raise  # it overran or crashed: the whole body would do no better
            else:
                if memory.accept(feed.id, plan, head, per_entry):
                    self.items_skipped += len(plan.skip)
                    return _finish(head, per_entry, plan.skipped)
            self.fallbacks += 1
        head, per_entry = await self._parse_body(result, feed)
        memory.accept(feed.id, Plan(found, frozenset(), ()), head, per_entry)
        return _finish(head, per_entry)

    async def _parse_body(
        self, result: FetchResult, feed: FeedSpec
    ) -> tuple[ParsedFeed, list[Story | None]]:
        """One body through a worker: the feed's metadata and one story (or ``None``) per entry."""
        reply = await self._run((result, feed), feed.id, self.time_limit_s, len(result.body))
        self.parses += 1
        self.feedparser_cpu_s += reply[2]
        self.extract_cpu_s += reply[3]
        return _unwrap(reply, feed)

    async def extract(
        self, html: bytes, *, url: str, subject: str, time_limit_s: float, max_chars: int
    ) -> str | None:
        """An article's main text (``extract.extract_article``) in a worker, within the limit.

        ``ParseError`` naming ``subject`` (``feed/story``) on an overrun, a crash or an error
        inside the extractor; ``None`` when the page has no main text.
        """
        job = (_EXTRACT, html, url, max_chars)
        reply = await self._run(job, subject, time_limit_s, len(html))
        self.article_cpu_s += reply[2]
        if reply[0] == "ok":
            return str(reply[1]) if reply[1] is not None else None
        raise ParseError(subject, str(reply[1]))

    async def _run(self, job: Any, subject: str, time_limit_s: float, size: int) -> Any:
        """Hand ``job`` to an idle (or new) worker; a worker that fails it is killed."""
        async with self._slot():
            worker = self._idle.pop() if self._idle else self._spawn(subject)
            self._busy.add(worker)
            healthy = False
            try:
                if not worker.ready:
                    await self._wait_ready(worker, subject)
                reply = await self._ask(worker, job, subject, time_limit_s, size)
                healthy = True
            finally:
                self._busy.discard(worker)
                if healthy:
                    self._idle.append(worker)
                else:
                    self.killed += 1
                    worker.kill()
        return reply

    def close(self) -> None:
        """Kill every worker (idle or busy); a later ``parse`` starts new ones."""
        for worker in [*self._idle, *self._busy]:
            worker.kill()
        self._idle.clear()
        self._busy.clear()

    @property
    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (the bench reads their CPU time)."""
        return [w.pid for w in [*self._idle, *self._busy]]

    # --- internals -------------------------------------------------------------------------

    def _slot(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or loop is not self._loop:
            self._loop, self._slots = loop, asyncio.Semaphore(self.workers)
        return self._slots

    def _spawn(self, subject: str) -> _Worker:
        try:
            return _Worker(self.max_memory_bytes)
        except OSError as exc:
            raise ParseError(subject, f"cannot start a parser worker ({exc})") from exc

    async def _wait_ready(self, worker: _Worker, subject: str) -> None:
        """Wait for a new worker's start-up byte: ``time_limit_s`` bounds the parse, not the
        interpreter's start and imports (~0.3 s here, seconds on a loaded host)."""
        loop = asyncio.get_running_loop()
        answer = _Answer(worker.fd, loop.create_future(), framed=False)
        loop.add_reader(worker.fd, answer.on_readable)
        try:
            async with asyncio.timeout(_START_TIMEOUT_S):
                await answer.future
        except (TimeoutError, EOFError, OSError) as exc:
            raise ParseError(subject, f"parser worker did not start ({exc!r})") from exc
        finally:
            loop.remove_reader(worker.fd)
        worker.ready = True

    async def _ask(
        self, worker: _Worker, job: Any, subject: str, time_limit_s: float, size: int
    ) -> Any:
        """Send one job and wait for the answer, both within ``time_limit_s``."""
        loop = asyncio.get_running_loop()
        answer = _Answer(worker.fd, loop.create_future())
        loop.add_reader(worker.fd, answer.on_readable)
        try:
            async with asyncio.timeout(time_limit_s):
                await _send(loop, worker.in_fd, _frame(job))
                payload = await answer.future
        except TimeoutError as exc:
            log.warning(
                "parse_overran", feed_id=subject, time_limit_s=time_limit_s, body_bytes=size
            )
            raise ParseError(
                subject, f"parse took longer than {time_limit_s:g} s (worker killed)"
            ) from exc
        except (EOFError, OSError) as exc:
            try:  # the pipe closes a moment before the process can be reaped
                code: int | None = worker.proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                code = None
            raise ParseError(subject, f"parser worker died (exit code {code})") from exc
        finally:
            loop.remove_reader(worker.fd)
        return pickle.loads(payload)


async def _send(loop: asyncio.AbstractEventLoop, fd: int, data: bytes) -> None:
    """Write all of ``data`` to a non-blocking pipe, yielding to the loop while it is full."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await _writable(loop, fd)


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)


def _unwrap(reply: Any, feed: FeedSpec) -> tuple[ParsedFeed, list[Story | None]]:
    kind, payload = reply[0], reply[1]
    if kind == "ok":
        return _unpack(payload)
    raise ParseError(feed.id, str(payload))


def _finish(
    head: ParsedFeed, per_entry: list[Story | None], skipped: tuple[Seen, ...] = ()
) -> ParsedFeed:
    return dataclasses.replace(
        head,
        stories=tuple(story for story in per_entry if story is not None),
        unchanged_published=tuple(seen.published_at for seen in skipped if seen.key is not None),
    )


def _salt(result: FetchResult, feed: FeedSpec) -> bytes:
    """What shapes a story besides the body: mixed into every item fingerprint."""
    parts = (feed.id, "\x1f".join(feed.tags), result.content_type, result.content_location)
    return "\x00".join([*(part or "" for part in parts), result.url]).encode("utf-8", "replace")


# A ParsedFeed crosses the pipe as tuples: unpickling 50 frozen slotted dataclasses goes
# through dataclasses' Python-level __setstate__ and cost twice as much as calling Story(*row).
# The worker also fills each story's ``key`` (``dedup.story_key``, pure): the pipeline would
# otherwise rebuild every story with ``dataclasses.replace`` (~25 us each) to set it.
_STORY_FIELDS = tuple(f.name for f in dataclasses.fields(Story))
_KEY_FIELD = _STORY_FIELDS.index("key")
_FEED_FIELDS = tuple(f.name for f in dataclasses.fields(ParsedFeed) if f.name != "stories")


_Packed = tuple[tuple[Any, ...], list[tuple[Any, ...] | None]]


def _pack(head: ParsedFeed, per_entry: list[Story | None]) -> _Packed:
    rows: list[tuple[Any, ...] | None] = []
    for story in per_entry:
        if story is None:
            rows.append(None)
            continue
        row = [getattr(story, name) for name in _STORY_FIELDS]
        row[_KEY_FIELD] = story.key or story_key(story)
        rows.append(tuple(row))
    return tuple(getattr(head, name) for name in _FEED_FIELDS), rows


def _unpack(packed: _Packed) -> tuple[ParsedFeed, list[Story | None]]:
    head, rows = packed
    per_entry = [None if row is None else Story(*row) for row in rows]
    return ParsedFeed(**dict(zip(_FEED_FIELDS, head, strict=True)), stories=()), per_entry


def _frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def _write_frame(stream: IO[bytes], obj: Any) -> None:
    stream.write(_frame(obj))
    stream.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


# --- the child -------------------------------------------------------------------------------


def _parse_safely(result: FetchResult, feed: FeedSpec) -> tuple[str, Any, float, float]:
    """``(kind, ParsedFeed or message, feedparser CPU s, our CPU s)``."""
    started = time.process_time()
    feedparser_s = 0.0
    try:
        raw = run_feedparser(result, feed)
        feedparser_s = time.process_time() - started
        packed = _pack(*build_entries(raw, result, feed))
        return ("ok", packed, feedparser_s, time.process_time() - started - feedparser_s)
    except ParseError as exc:
        reply: tuple[str, Any] = ("error", exc.reason)
    except MemoryError:
        reply = ("error", "parse ran out of memory")
    except Exception as exc:  # anything feedparser or our code did not foresee stays here
        reply = ("error", f"parser failed ({type(exc).__name__}: {exc})")
    return (*reply, feedparser_s, time.process_time() - started - feedparser_s)


def _extract_safely(html: bytes, url: str, max_chars: int) -> tuple[str, Any, float]:
    """``(kind, text or message, CPU s)`` for one article page."""
    started = time.process_time()
    try:
        text = extract_article(html, url=url, max_chars=max_chars)
        reply: tuple[str, Any] = ("ok", text)
    except MemoryError:
        reply = ("error", "extraction ran out of memory")
    except Exception as exc:  # lxml or trafilatura choking on a hostile page stays here
        reply = ("error", f"extraction failed ({type(exc).__name__}: {exc})")
    return (*reply, time.process_time() - started)


def _answer(job: Any) -> Any:
    """A feed job ``(result, feed)`` or an article job ``(_EXTRACT, html, url, max_chars)``."""
    if job[0] == _EXTRACT:
        return _extract_safely(*job[1:])
    result, feed = job
    return _parse_safely(result, feed)


def worker_main() -> None:
    """The child's loop: read ``(FetchResult, FeedSpec)`` frames, answer ``("ok"|"error", …)``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    limit = os.environ.get("MONITOR_PARSER_MAX_MEMORY_BYTES")
    if limit:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (int(limit), int(limit)))
    jobs, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print() must not corrupt the answer stream
    answers.write(_READY)  # imports done: the parent starts the parse clock now
    answers.flush()
    while (header := _read_exactly(jobs, _HEADER.size)) is not None:
        (length,) = _HEADER.unpack(header)
        payload = _read_exactly(jobs, length)
        if payload is None:
            break
        _write_frame(answers, _answer(pickle.loads(payload)))


if __name__ == "__main__":
    worker_main()
