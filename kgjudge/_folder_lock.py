"""The exclusive claim of an output folder: one writer at a time.

Every command that writes a folder (``kgjudge build``, ``filter``, ``remove``, ``rejudge``,
``stats --verify`` and a curation write of ``kgjudge serve``) holds :class:`FolderLock` on it
before it reads or changes anything there, and until it is done. The lock is the operating
system's (``fcntl.flock`` on ``<folder>/.kgjudge.lock``), so it goes with its holder: a process
killed with kill -9 holds nothing, and the next command takes the folder at once. The file also
names its holder (pid, command, start time), which is what a second command's error shows; a
holder that left without releasing it (killed) is reported as taken over.

The file is never deleted: two processes would otherwise lock two different files of one name.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kgjudge._errors import FolderBusyError, InputError

LOCK_FILE = ".kgjudge.lock"
logger = logging.getLogger("kgjudge")

_held: dict[tuple[str, int], list[Any]] = {}
_held_guard = threading.Lock()


def current_command() -> str:
    """This process's command line, as a holder names itself (``kgjudge build docs -o out``)."""
    argv = list(sys.argv) or ["python"]
    if Path(argv[0]).name in ("kgjudge", "__main__.py"):
        argv[0] = "kgjudge"
    return shlex.join(argv)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class FolderLock:
    """An exclusive, non-blocking claim of ``folder`` by this process.

    Re-entrant within one thread (an operation that runs another on the same folder keeps the
    one claim); another thread or process asking for it gets :class:`FolderBusyError`.

    Args:
        folder: the output folder (created when missing: the lock lives inside it).
        command: how the holder is named to a process that finds the folder busy.

    Example:
        >>> with FolderLock(Path("out"), "kgjudge build docs -o out"):
        ...     ...  # nobody else writes out/ meanwhile
    """

    def __init__(self, folder: str | os.PathLike[str], command: str | None = None) -> None:
        self.folder = Path(folder)
        self.command = command or current_command()
        self.took_over: dict[str, Any] | None = None
        """The record of a holder that died without releasing the lock, when this claim took it over."""
        self._key: tuple[str, int] | None = None

    @property
    def path(self) -> Path:
        return self.folder / LOCK_FILE

    def acquire(self) -> FolderLock:
        """Take the lock.

        Raises:
            FolderBusyError: another process (or thread) holds it; the message names its pid
                and command.
            InputError: the folder is a file or cannot be created or written.
        """
        import fcntl

        key = (os.path.realpath(self.folder), threading.get_ident())
        with _held_guard:
            if key in _held:
                _held[key][1] += 1
                self._key = key
                return self
        if self.folder.exists() and not self.folder.is_dir():
            raise InputError("the output folder is a file, not a folder", file=str(self.folder))
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(f"cannot write the output folder: {exc.strerror or exc}", file=str(self.folder)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise self._busy(holder) from None
        except BaseException:
            os.close(fd)
            raise
        previous = _read_holder(fd, wait=False)
        if previous.get("pid") not in (None, os.getpid()) and not _alive(int(previous["pid"])):
            self.took_over = previous
            logger.warning("%s: took over the lock of pid %s (%s), which is no longer running",
                           self.folder, previous.get("pid"), previous.get("command") or "unknown command")
        record = {"pid": os.getpid(), "command": self.command, "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record, ensure_ascii=False).encode("utf-8", "backslashreplace"), 0)
        with _held_guard:
            _held[key] = [fd, 1]
        self._key = key
        return self

    def _busy(self, holder: dict[str, Any]) -> FolderBusyError:
        pid = holder.get("pid")
        who = f"pid {pid}" if pid is not None else "another process"
        if holder.get("command"):
            who += f" ({holder['command']})"
        if holder.get("since"):
            who += f" since {holder['since']}"
        return FolderBusyError(
            f"{self.folder} is in use by {who}: only one command may write an output folder at a time; "
            "wait for it to finish, or stop it",
            folder=str(self.folder), pid=pid if isinstance(pid, int) else None, command=holder.get("command"),
        )

    def release(self) -> None:
        """Let the lock go (the outermost release of a re-entrant claim does)."""
        import fcntl

        if self._key is None:
            return
        with _held_guard:
            entry = _held.get(self._key)
            if entry is None:
                self._key = None
                return
            entry[1] -= 1
            if entry[1] > 0:
                self._key = None
                return
            del _held[self._key]
        self._key = None
        fd = entry[0]
        try:
            os.ftruncate(fd, 0)  # an empty file: nobody to name, nothing stale
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int, *, wait: bool = True) -> dict[str, Any]:
    """The holder record in the lock file; empty when there is none or it is unreadable."""
    # The holder writes its record right after taking the lock: a reader that comes in between
    # waits a moment rather than naming nobody.
    for _ in range(5 if wait else 1):
        try:
            raw = os.pread(fd, 4096, 0)
        except OSError:
            return {}
        if raw:
            try:
                found = json.loads(raw.decode("utf-8", "replace"))
            except ValueError:
                return {}
            return found if isinstance(found, dict) else {}
        time.sleep(0.01)
    return {}
