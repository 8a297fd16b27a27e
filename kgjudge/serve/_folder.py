"""Everything ``kgjudge serve`` reads from a build output folder, a run folder or a config.

This is where the server reads an output folder (its manifest, documents and run files, through
:class:`~kgjudge._build_folder.BuildFolder` and :class:`~kgjudge._run_folder.RunFolder`, which
know the layout) and opens its store and GraphRAG indexes; the rest of the server asks it. It also holds :func:`output_folder_lock`, the one place a
curation write claims the folder it writes to.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kgjudge._build_folder import CURATION, REJECTS, BuildFolder
from kgjudge._config import KGJudgeConfig, default_config, load_config
from kgjudge._errors import InputError, KGJudgeError
from kgjudge._folder_lock import FolderLock, current_command
from kgjudge._records import Document
from kgjudge._run_folder import MANIFEST, PROGRESS, RunFolder
from kgjudge.graph import GraphRAG, open_graphrag

CURATION_LOG = CURATION
RunKind = Literal["build", "filter"]
RunFile = Literal["manifest", "progress", "judgements", "rejected", "rejects", "decisions"]
# What each output of a run is called in its folder (judgements: a build's every decision;
# rejected: the triples a build's judge rejected; rejects: unreadable inputs; decisions: a
# filter run's every decision).
FILE_NAMES: dict[str, str] = {
    "manifest": MANIFEST, "progress": PROGRESS, "judgements": BuildFolder.file("judgements"),
    "rejected": BuildFolder.file("rejected"), "rejects": REJECTS, "decisions": "decisions.jsonl",
}


class LineIndex:
    """Byte offsets of the lines of a JSONL file, so that any page of it is read without reading
    the rest. The offsets are found once and again whenever the file changes (size or time).

    Args:
        path: the file (missing means empty).
        key: when given, a function from a parsed line to its id, for :meth:`find`.
    """

    def __init__(self, path: Path, key: Any = None) -> None:
        self.path = path
        self.key = key
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._offsets: list[int] = []
        self._ids: dict[str, int] = {}

    def _fresh(self) -> None:
        try:
            stat = self.path.stat()
        except OSError:
            self._stamp, self._offsets, self._ids = None, [], {}
            return
        stamp = (stat.st_size, stat.st_mtime_ns)
        if stamp == self._stamp:
            return
        offsets: list[int] = []
        ids: dict[str, int] = {}
        with self.path.open("rb") as handle:
            position = 0
            for raw in handle:
                if raw.strip():
                    if self.key is not None:
                        try:
                            ids.setdefault(str(self.key(json.loads(raw))), len(offsets))
                        except (ValueError, KeyError, TypeError):
                            # A torn or foreign line has no id; it is still a line of the file.
                            pass
                    offsets.append(position)
                position += len(raw)
        self._stamp, self._offsets, self._ids = stamp, offsets, ids

    def __len__(self) -> int:
        with self._lock:
            self._fresh()
            return len(self._offsets)

    def _read(self, handle: Any, index: int) -> Any:
        handle.seek(self._offsets[index])
        try:
            return json.loads(handle.readline())
        except ValueError:
            return None

    def page(self, offset: int, limit: int) -> list[tuple[int, Any]]:
        """(line number from 0, parsed value) of up to ``limit`` lines from ``offset``;
        unreadable lines are left out."""
        with self._lock:
            self._fresh()
            wanted = range(offset, min(offset + limit, len(self._offsets)))
            if not wanted:
                return []
            with self.path.open("rb") as handle:
                found = [(i, self._read(handle, i)) for i in wanted]
        return [(i, value) for i, value in found if value is not None]

    def find(self, key: str) -> Any:
        """The parsed line whose id is ``key``, or None."""
        with self._lock:
            self._fresh()
            index = self._ids.get(key)
            if index is None:
                return None
            with self.path.open("rb") as handle:
                return self._read(handle, index)

    def scan(self) -> Iterator[Any]:
        """Every parsed line, in file order (for summaries that need them all)."""
        for _, value in self.page(0, len(self)):
            yield value


@dataclass
class RunFiles:
    """A build or filter run folder: its kind, manifest and the files the runs view reads."""

    path: Path
    kind: RunKind
    manifest: dict[str, Any]

    def file(self, name: RunFile) -> Path:
        """Where one of the run's outputs is (it may not exist)."""
        return self.path / FILE_NAMES[name]

    def current_manifest(self) -> dict[str, Any]:
        """The manifest as it is now (a run may still be going); the one read at start when it
        cannot be read."""
        try:
            found = RunFolder(self.path, self.kind).manifest()
        except (OSError, InputError):
            found = None
        return found if isinstance(found, dict) else self.manifest

    def report(self) -> dict[str, Any] | None:
        """A filter run's ``report.json`` (None for builds and unfinished runs)."""
        path = self.path / "report.json"
        if self.kind != "filter" or not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"unreadable filter report: {exc}", file=str(path)) from exc

    def progress(self) -> list[dict[str, Any]]:
        """The committed batches' progress lines (with their usage)."""
        return RunFolder(self.path, self.kind).committed()


def read_run(path: str | Path) -> RunFiles:
    """The run in ``path``: a ``kgjudge build`` or ``kgjudge filter`` output folder.

    Raises:
        InputError: no readable manifest, or a manifest of neither kind.
    """
    path = Path(path)
    try:
        manifest = RunFolder(path, "run").manifest()  # an unreadable one is an InputError naming it
    except OSError as exc:
        raise InputError(f"unreadable manifest: {exc}", file=str(path / MANIFEST)) from exc
    if manifest is None:
        raise InputError("not a kgjudge build or filter output (manifest.json is missing)", file=str(path))
    if "config" in manifest:
        return RunFiles(path, "build", manifest)
    if "filter" in manifest:
        return RunFiles(path, "filter", manifest)
    raise InputError("the manifest is neither a build's nor a filter run's", file=str(path / MANIFEST))


class ServedFolder:
    """What the server shows: a build output folder (its store, documents, config and run
    files), or the store of a config when there is no folder.

    Args:
        out: the build output folder, or None.
        config_file: a config whose backends, ``rag:`` and ``judge:`` sections are used (and
            whose store, when there is no folder); the build's own config when None.
        curation_log: where curation decisions are appended; ``out/curation.jsonl`` by default,
            none (no curation) for a config's store unless given.
    """

    def __init__(self, out: str | Path | None, config_file: str | Path | None = None,
                 curation_log: str | Path | None = None) -> None:
        self.out = Path(out) if out is not None else None
        self.config_file = str(config_file) if config_file is not None else None
        self.run: RunFiles | None = None
        self.build: BuildFolder | None = None
        build_config: KGJudgeConfig | None = None
        if self.out is not None:
            self.run = read_run(self.out)
            if self.run.kind != "build":
                raise InputError("a filter run has no graph: give it with --run beside a build output or a config",
                                 file=str(self.out))
            self.build = BuildFolder(self.out)
            build_config = self.build.config()
        self.config = (load_config(config_file) if config_file is not None else None) or build_config or default_config()
        if curation_log is not None:
            self.curation_log: Path | None = Path(curation_log)
        else:
            self.curation_log = self.out / CURATION_LOG if self.out is not None else None
        self.documents = (LineIndex(self.build.out / BuildFolder.file("documents"), key=lambda d: d["id"])
                          if self.build is not None else None)

    @property
    def name(self) -> str:
        """How the page names what it shows: the folder, or the config file."""
        if self.out is not None:
            return str(self.out)
        return self.config_file or "the embedded default store"

    def open_rag(self, *, read_only: bool = True) -> GraphRAG:
        """GraphRAG over the folder's (or the config's) store, without a model; closing it
        closes the store. ``read_only=False`` opens the store to record curation decisions."""
        return open_graphrag(self.out, self.config if self.config_file else None, file=self.config_file,
                             with_llm=False, read_only=read_only)

    def reread_config(self) -> None:
        """Read the build's config again (a new judge changes it); a config file given to the
        server stays the one used."""
        if self.build is None or self.config_file is not None:
            return
        try:
            self.config = self.build.config()
        except (OSError, KGJudgeError):
            pass  # the config read at start stays: a manifest being replaced is read next time

    def revision(self) -> tuple[int, int] | None:
        """What changes whenever a command commits a step to the folder (the progress file's
        size and time: cheaper per request than :meth:`BuildFolder.revision`, which reads it);
        None without a folder."""
        if self.build is None:
            return None
        try:
            stat = (self.build.out / PROGRESS).stat()
        except OSError:
            return None
        return stat.st_size, stat.st_mtime_ns

    def build_file(self, name: RunFile) -> Path | None:
        """Where one of the build's outputs is, or None without a folder."""
        return self.run.file(name) if self.run is not None else None

    def document(self, document_id: str) -> Document | None:
        """The build's document with this id, or None."""
        if self.documents is None:
            return None
        found = self.documents.find(document_id)
        return Document.model_validate(found) if found is not None else None


@contextlib.contextmanager
def output_folder_lock(folder: ServedFolder) -> Iterator[None]:
    """Claim ``folder`` for one curation write (the decision log and the store).

    Writers in this server are serialised by the caller; this is the one place the server
    takes the output folder's exclusive lock (:class:`~kgjudge._folder_lock.FolderLock`), so a
    build, a removal, a new judge or another server never writes the same folder at the same
    time: while one of them works, a curation write fails at once with an error that names it.
    A config's store without a folder has no folder to claim.

    Raises:
        FolderBusyError: another process is writing the folder.
    """
    if folder.out is None:
        yield
        return
    with FolderLock(folder.out, f"{current_command()} (a curation write)"):
        yield
