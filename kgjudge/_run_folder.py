"""The output folder of a resumable run (``kgjudge build``, ``kgjudge filter``), and the run
skeleton both share.

A run owns its folder through ``manifest.json``, which records the hashes of its config and
inputs; another config or other inputs are refused unless the run restarts. While it works it
holds the folder's lock (:class:`~kgjudge._folder_lock.FolderLock`): a second command on the
same folder fails at once, before it reads or writes anything there.

Work is committed step by step, each step journalled in ``.pending.json`` before it touches
anything:

1. the journal entry is written (atomically): what the step is, and for a batch the size of
   every file it appends to;
2. the step writes (records appended to files, the graph store, files rewritten);
3. one line goes to ``progress.jsonl`` (the commit), carrying the entry's token;
4. the journal entry is removed.

A run that finds a journal entry finishes what it says before anything else, whatever was
interrupted and however often: a batch without its commit line is undone (every file cut back
to its recorded size, its documents deleted from the store by the subclass), a step that must
complete (removing documents, applying a new judge) is done again from the start, which is
harmless because each of its writes is idempotent; then the entry goes. So the files and the
store agree after any sequence of kills. A torn last progress line is a step not done.
"""

from __future__ import annotations

import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from kgjudge._errors import ConfigError, InputError
from kgjudge._folder_lock import FolderLock
from kgjudge._jsonl import dumps_json, iter_json_lines, iter_jsonl, loads_checked, write_jsonl
from kgjudge._text import redact_urls

MANIFEST = "manifest.json"
PROGRESS = "progress.jsonl"
PENDING = ".pending.json"
JOURNAL = 1
"""Written to the manifest as ``journal``: the run keeps ``.pending.json``. A manifest without
it comes from a version that did not, and an unfinished run of it is cleaned up by reading
every record file (:meth:`ResumableRun.start`)."""


class RunFolder:
    """One run's output folder: its manifest, its progress lines and its record files.

    Args:
        out: the folder.
        what: what the run is called in messages ("build", "filter run").

    Example:
        >>> folder = RunFolder(Path("out"), "build")
        >>> folder.claim(config_hash="c1", input_hash="i1", restart=False, outputs=["triples.jsonl"])
        >>> folder.commit({"documents": ["d1"]})
    """

    def __init__(self, out: Path, what: str) -> None:
        self.out = out
        self.what = what

    def manifest(self) -> dict[str, Any] | None:
        """The manifest, or None when the folder has none.

        Raises:
            InputError: the manifest is not a JSON object (naming it, and ``--restart``).
        """
        path = self.out / MANIFEST
        if not path.is_file():
            return None
        try:
            data = loads_checked(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            data, why = None, str(exc)
        else:
            why = f"expected a JSON object, got {type(data).__name__}"
        if not isinstance(data, dict):
            raise InputError(f"unreadable {self.what} manifest ({why}); running the {self.what} again with "
                             "--restart replaces it", file=str(path))
        return data

    def lock(self, command: str | None = None) -> FolderLock:
        """The folder's exclusive lock (not yet taken: use it as a context manager).

        Raises:
            InputError: the folder is a file, or cannot be created or written (checked here, so
                the error names what kind of run it is).
        """
        self._check_writable()
        return FolderLock(self.out, command)

    # -- the journal -------------------------------------------------------------------------

    def pending(self) -> dict[str, Any] | None:
        """The journal entry of a step that has not finished, or None."""
        path = self.out / PENDING
        try:
            found = loads_checked(path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            return None
        except (UnicodeDecodeError, ValueError):
            # A torn entry was being written when the run died, before the step began.
            return None
        return found if isinstance(found, dict) else None

    def begin(self, entry: dict[str, Any], files: Iterable[str] = ()) -> dict[str, Any]:
        """Journal a step before it writes: ``entry`` plus a fresh ``token`` and the size of each
        of ``files`` (those a batch appends to). Returns the entry as written."""
        sizes = {}
        for name in files:
            path = self.out / name
            sizes[name] = path.stat().st_size if path.is_file() else 0
        entry = {**entry, "token": uuid.uuid4().hex[:16], "sizes": sizes}
        self._write_json(PENDING, entry)
        return entry

    def end(self) -> None:
        """Remove the journal entry (its step is committed or undone)."""
        (self.out / PENDING).unlink(missing_ok=True)

    def cut_back(self, sizes: Mapping[str, int]) -> None:
        """Truncate each file to its journalled size: what an unfinished batch appended goes."""
        for name, size in sizes.items():
            path = self.out / name
            if path.is_file() and path.stat().st_size > size:
                with path.open("r+b") as handle:
                    handle.truncate(size)
                    handle.flush()
                    os.fsync(handle.fileno())

    def _write_json(self, name: str, data: Any) -> None:
        tmp = self.out / f".{name.lstrip('.')}.tmp"
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(dumps_json(data))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.out / name)

    def claim(self, *, config_hash: str, input_hash: str, restart: bool, outputs: Iterable[str]) -> None:
        """Create the folder, or check that it holds a run of this config and these inputs.

        With ``restart``, ``outputs``, the progress lines and the manifest are deleted first.

        Raises:
            ConfigError: the folder holds a run of another config or other inputs.
            InputError: the folder is a file, or cannot be created or written.
        """
        self._check_writable()
        if restart:
            for name in [*outputs, PROGRESS, MANIFEST, PENDING]:
                (self.out / name).unlink(missing_ok=True)
            return
        old = self.manifest()
        if old is not None and (old.get("config_hash") != config_hash or old.get("input_hash") != input_hash):
            raise ConfigError(
                f"{self.out} holds a {self.what} of other inputs or another config; "
                "use --restart to discard it, or another --out"
            )
        self.repair_progress()

    def _check_writable(self) -> None:
        """Fail with one clear error before anything is read or rewritten, not half way."""
        if self.out.exists() and not self.out.is_dir():
            raise InputError(f"the output folder of this {self.what} is a file, not a folder", file=str(self.out))
        probe = self.out / f".write-test-{os.getpid()}"
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise InputError(f"cannot write the output folder of this {self.what}: {exc.strerror}",
                             file=str(self.out)) from exc

    def write_manifest(self, data: dict[str, Any]) -> None:
        """Replace the manifest atomically (a reader never sees half of it)."""
        tmp = self.out / f".{MANIFEST}.tmp"
        try:
            # Credentials never reach a file, even inside an error message kept in the manifest.
            tmp.write_text(redact_urls(dumps_json(data, indent=2)), encoding="utf-8")
            os.replace(tmp, self.out / MANIFEST)
        finally:
            tmp.unlink(missing_ok=True)

    def progress_lines(self) -> int:
        """How many lines ``progress.jsonl`` holds (reading it costs one small file)."""
        try:
            return (self.out / PROGRESS).read_bytes().count(b"\n")
        except FileNotFoundError:
            return 0

    def committed(self) -> list[dict[str, Any]]:
        """The progress lines of the committed batches, oldest first."""
        path = self.out / PROGRESS
        return list(iter_jsonl(path, errors=[])) if path.is_file() else []

    def commit(self, line: dict[str, Any]) -> None:
        """Mark a batch done; call after its records are written."""
        write_jsonl(self.out / PROGRESS, [line], append=True)

    def drop_records(self, files: Iterable[str], keep: Callable[[str, dict[str, Any]], bool]) -> dict[str, list[dict[str, Any]]]:
        """Rewrite each record file with the lines of the records ``keep(file, record)`` accepts,
        byte for byte (a torn or unreadable line goes too); returns the records dropped, by
        file. A file that loses nothing is not rewritten; one that does is replaced atomically."""
        dropped: dict[str, list[dict[str, Any]]] = {}
        for name in files:
            path = self.out / name
            if not path.is_file():
                continue
            lines = path.read_bytes().splitlines(keepends=True)
            kept: list[bytes] = []
            changed = bool(lines) and not lines[-1].endswith(b"\n")
            for lineno, value in iter_json_lines(path):
                if isinstance(value, dict) and keep(name, value):
                    kept.append(lines[lineno - 1].rstrip(b"\r\n") + b"\n")
                else:
                    changed = True
                    if isinstance(value, dict):
                        dropped.setdefault(name, []).append(value)
            if not changed:
                continue
            tmp = path.with_name(f".{path.name}.tmp")
            try:
                with tmp.open("wb") as handle:
                    handle.write(b"".join(kept))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        return dropped

    def repair_progress(self) -> None:
        """Drop a torn progress line (a commit cut off): that step counts as not done."""
        path = self.out / PROGRESS
        if path.is_file():
            errors: list[Any] = []
            lines = list(iter_jsonl(path, errors=errors))
            if errors:
                write_jsonl(path, lines)


def _torn(path: Path) -> bool:
    """Whether a file ends in a line cut off mid-write."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell() == 0:
                return False
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"
    except FileNotFoundError:
        return False


def _key(value: Any) -> Hashable:
    """A key read back from JSON (a list was a tuple)."""
    return tuple(_key(v) for v in value) if isinstance(value, list) else value


class ResumableRun(ABC):
    """The skeleton of a run that resumes its output folder: claim the folder, drop what an
    interrupted batch left, commit batch by batch, keep the manifest.

    A subclass says what its batches write (:attr:`outputs`), what makes its config
    (:meth:`config_hash`, :meth:`describe`) and how committed work is keyed
    (:meth:`committed_keys`, :meth:`record_key`); the order of writes that makes a crash lose
    at most the batch in flight lives here.
    """

    def __init__(self, folder: RunFolder, *, restart: bool) -> None:
        self.folder = folder
        self.out = folder.out
        self.restart = restart

    @property
    @abstractmethod
    def outputs(self) -> Sequence[str]:
        """The files every batch appends records to."""

    @abstractmethod
    def config_hash(self) -> str:
        """The hash of what shapes the outputs: another one needs ``restart``."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What the manifest records of this run besides its hashes and state."""

    @abstractmethod
    def committed_keys(self, line: dict[str, Any]) -> Iterable[Hashable]:
        """The keys of the work a progress line commits."""

    @abstractmethod
    def record_key(self, file: str, record: dict[str, Any]) -> Hashable:
        """The key of the work an output record belongs to."""

    def claim(self) -> None:
        """Create the folder, or check that it holds a run of this config and these inputs (see
        :meth:`RunFolder.claim`); with ``restart`` discard what it holds."""
        self.folder.claim(config_hash=self.config_hash(), input_hash=self.input_hash, restart=self.restart,
                          outputs=self.outputs)

    def forget(self, keys: Sequence[Hashable]) -> None:
        """Undo, outside the record files, what the work of ``keys`` wrote (a build deletes
        those documents from its store). Called when an interrupted batch is undone."""

    def roll_forward(self, entry: dict[str, Any]) -> None:
        """Finish a journalled step of a kind this class added (see :meth:`recover`)."""
        raise ConfigError(f"{self.out}: unknown unfinished step {entry.get('op')!r} in {PENDING}")

    def start(self, input_hash: str) -> set[Hashable]:
        """Claim the folder for this config and these inputs, and finish or undo what an
        interrupted run left (:meth:`recover`). Hold :meth:`RunFolder.lock` around it.

        Returns:
            the keys of the committed work.

        Raises:
            ConfigError: the folder holds a run of another config or other inputs.
        """
        self.input_hash = input_hash
        self.claim()
        self.recover()
        self.write_manifest(finished=False)
        return self.done()

    def done(self) -> set[Hashable]:
        """The keys of the committed work: what the progress lines commit, less what later
        lines take back (:meth:`removed_keys`)."""
        keys: set[Hashable] = set()
        for line in self.folder.committed():
            keys.difference_update(self.removed_keys(line))
            keys.update(self.committed_keys(line))
        return keys

    def removed_keys(self, line: dict[str, Any]) -> Iterable[Hashable]:
        """The keys of committed work a progress line removes (none by default)."""
        return ()

    def recover(self) -> list[Hashable]:
        """Finish the journalled step an interrupted run left, or undo it (see the module
        docstring). Without a journal entry, an unfinished run whose record files end in a torn
        line (or of a version without the journal) has its uncommitted records dropped. Returns
        the keys of the work undone."""
        entry = self.folder.pending()
        if entry is None:
            manifest = self.folder.manifest()
            if manifest is None:
                return []
            if manifest.get("finished"):
                if manifest.get("progress_lines") in (None, self.folder.progress_lines()):
                    # As the run left it (a manifest of a version that did not count lines is trusted).
                    return []
            elif manifest.get("journal") and not any(_torn(self.out / name) for name in self.outputs):
                return []
            done = self.done()
            stray: set[Hashable] = set()
            unreadable = False
            for name in self.outputs:
                path = self.out / name
                if path.is_file():
                    for _, value in iter_json_lines(path):
                        key = self.record_key(name, value) if isinstance(value, dict) else None
                        if key is None:
                            unreadable = True
                        elif key not in done:
                            stray.add(key)
            if not stray and not unreadable:
                return []
            entry = self.folder.begin({"op": "drop", "keys": sorted(stray, key=str), "line": None})
        return self.resolve(entry)

    def resolve(self, entry: dict[str, Any]) -> list[Hashable]:
        """Finish or undo one journalled step, then clear the journal; returns the keys undone."""
        lines = self.folder.committed()
        committed = bool(lines) and lines[-1].get("token") == entry.get("token")
        undone: list[Hashable] = []
        if not committed:
            keys = [_key(k) for k in entry.get("keys") or []]
            if entry.get("op") == "batch":
                self.folder.cut_back(entry.get("sizes") or {})
                self.forget(keys)
                undone = keys
            elif entry.get("op") == "drop":
                doomed = set(keys)
                self.folder.drop_records(self.outputs, lambda file, r: self.record_key(file, r) not in doomed)
                self.forget(keys)
                if entry.get("line") is not None:
                    self.folder.commit({**entry["line"], "token": entry["token"]})
                undone = keys
            else:
                self.roll_forward(entry)
        self.folder.end()
        return undone

    def commit_batch(
        self,
        records: Mapping[str, Sequence[BaseModel | dict[str, Any]]],
        line: dict[str, Any],
        keys: Sequence[Hashable] = (),
        *,
        also: Callable[[], None] | None = None,
    ) -> None:
        """Journal a batch, append its records (file -> records), run ``also`` (the batch's
        writes outside the files, such as the graph store), then commit it with its progress
        line. ``keys`` name the batch's work, for :meth:`forget` if it is undone."""
        entry = self.folder.begin({"op": "batch", "keys": list(keys)}, records)
        for name, items in records.items():
            write_jsonl(self.out / name, items, append=True)
        if also is not None:
            also()
        self.folder.commit({**line, "token": entry["token"]})
        self.folder.end()

    def write_manifest(self, *, finished: bool, **extra: Any) -> None:
        """The manifest: kgjudge version, state, hashes, :meth:`describe`, and ``extra``."""
        from kgjudge import __version__

        self.folder.write_manifest({
            "kgjudge": __version__, "finished": finished, "journal": JOURNAL, "config_hash": self.config_hash(),
            "input_hash": self.input_hash, **self.describe(), **extra,
            # Progress lines lost since (a file restored from an older copy) make the next run
            # look for records that no line commits.
            **({"progress_lines": self.folder.progress_lines()} if finished else {}),
        })
