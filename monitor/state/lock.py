"""One writer per state file: an exclusive lock beside it, held by ``run`` and ``once``.

For the CLI. Two pollers on one SQLite file would each send every alert (the outbox is claimed
by whoever reads it first, and both do). ``StateLock`` takes ``flock(LOCK_EX | LOCK_NB)`` on
``<state>.lock`` and writes its PID there; the kernel drops the lock when the process ends, even
on SIGKILL, so a crashed daemon never leaves a stale lock behind (the PID left in the file is
only shown, never trusted). A second ``run``/``once`` gets ``StateLocked`` naming the holder.
Short commands (``feeds``, ``outbox …``) do not take it: they make short SQLite transactions,
which wait for the daemon's (``busy_timeout``) instead. Commands that replace the file
(``--reset-state``) must hold it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from types import TracebackType

from monitor.errors import StoreError


class StateLocked(StoreError):
    """Another process holds the state lock (exit 1, one line naming its PID)."""

    def __init__(self, state_path: Path, holder: str) -> None:
        self.holder = holder
        super().__init__(
            f"state {state_path} is in use by another sanctions-monitor (PID {holder}); "
            "stop it first — run or once must not share a state file"
        )


def lock_path_for(state_path: Path) -> Path:
    """``state/monitor.db`` → ``state/monitor.db.lock``."""
    return state_path.with_name(state_path.name + ".lock")


class StateLock:
    """The exclusive lock of one state file; a context manager (``with StateLock(p):``)."""

    def __init__(self, state_path: Path | str) -> None:
        self.state_path = Path(state_path)
        self.path = lock_path_for(self.state_path)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``StateLocked``; ``StoreError`` when the folder is unusable."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"store: cannot create the lock {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StateLocked(self.state_path, holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def held_elsewhere(self) -> str | None:
        """The holder's PID when another process holds the lock, else None (and not taken)."""
        try:
            self.acquire()
        except StateLocked as exc:
            return exc.holder
        self.release()
        return None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return text
    return "unknown"
