"""The output folder of a resumable run (``kgjudge build``, ``kgjudge filter``), and the run
skeleton both share.

A run owns its folder through ``manifest.json``, which records the hashes of its config and
inputs; another config or other inputs are refused unless the run restarts. Work is committed
batch by batch: the batch's records are appended first, then one line goes to
``progress.jsonl``. Records without such a line are from an interrupted batch; a torn last
progress line is a batch not done.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from kgjudge._errors import ConfigError, InputError
from kgjudge._jsonl import dumps_json, iter_json_lines, iter_jsonl, loads_checked, write_jsonl
from kgjudge._text import redact_urls

MANIFEST = "manifest.json"
PROGRESS = "progress.jsonl"


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

    def claim(self, *, config_hash: str, input_hash: str, restart: bool, outputs: Iterable[str]) -> None:
        """Create the folder, or check that it holds a run of this config and these inputs.

        With ``restart``, ``outputs``, the progress lines and the manifest are deleted first.

        Raises:
            ConfigError: the folder holds a run of another config or other inputs.
            InputError: the folder is a file, or cannot be created or written.
        """
        self._check_writable()
        if restart:
            for name in [*outputs, PROGRESS, MANIFEST]:
                (self.out / name).unlink(missing_ok=True)
            return
        old = self.manifest()
        if old is not None and (old.get("config_hash") != config_hash or old.get("input_hash") != input_hash):
            raise ConfigError(
                f"{self.out} holds a {self.what} of other inputs or another config; "
                "use --restart to discard it, or another --out"
            )
        path = self.out / PROGRESS
        if path.is_file():
            errors: list[Any] = []
            lines = list(iter_jsonl(path, errors=errors))
            if errors:  # a torn line of an interrupted commit: that batch is redone
                write_jsonl(path, lines)

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

    def committed(self) -> list[dict[str, Any]]:
        """The progress lines of the committed batches, oldest first."""
        path = self.out / PROGRESS
        return list(iter_jsonl(path, errors=[])) if path.is_file() else []

    def commit(self, line: dict[str, Any]) -> None:
        """Mark a batch done; call after its records are written."""
        write_jsonl(self.out / PROGRESS, [line], append=True)

    def drop_uncommitted(self, files: Iterable[str], keep: Callable[[str, dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Rewrite each record file with the lines of the records ``keep(file, record)`` accepts,
        byte for byte (a torn or unreadable line goes too); returns the records dropped."""
        dropped: list[dict[str, Any]] = []
        for name in files:
            path = self.out / name
            if not path.is_file():
                continue
            lines = path.read_bytes().splitlines(keepends=True)
            kept: list[bytes] = []
            for lineno, value in iter_json_lines(path):
                if isinstance(value, dict) and keep(name, value):
                    kept.append(lines[lineno - 1].rstrip(b"\r\n") + b"\n")
                elif isinstance(value, dict):
                    dropped.append(value)
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

    def start(self, input_hash: str) -> tuple[set[Hashable], list[dict[str, Any]]]:
        """Claim the folder for this config and these inputs, and drop uncommitted records.

        Returns:
            the keys of the committed work, and the records dropped (of interrupted batches).

        Raises:
            ConfigError: the folder holds a run of another config or other inputs.
        """
        self.input_hash = input_hash
        self.folder.claim(config_hash=self.config_hash(), input_hash=input_hash, restart=self.restart,
                          outputs=self.outputs)
        self.write_manifest(finished=False)
        done = {key for line in self.folder.committed() for key in self.committed_keys(line)}
        dropped = self.folder.drop_uncommitted(self.outputs, lambda file, r: self.record_key(file, r) in done)
        return done, dropped

    def commit_batch(self, records: Mapping[str, Sequence[BaseModel | dict[str, Any]]], line: dict[str, Any]) -> None:
        """Append a batch's records (file -> records), then commit it with its progress line."""
        for name, items in records.items():
            write_jsonl(self.out / name, items, append=True)
        self.folder.commit(line)

    def write_manifest(self, *, finished: bool, **extra: Any) -> None:
        """The manifest: kgjudge version, state, hashes, :meth:`describe`, and ``extra``."""
        from kgjudge import __version__

        self.folder.write_manifest({
            "kgjudge": __version__, "finished": finished, "config_hash": self.config_hash(),
            "input_hash": self.input_hash, **self.describe(), **extra,
        })
