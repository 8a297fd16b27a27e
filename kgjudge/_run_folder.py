"""The output folder of a resumable run (``kgjudge build``, ``kgjudge filter``).

A run owns its folder through ``manifest.json``, which records the hashes of its config and
inputs; another config or other inputs are refused unless the run restarts. Work is committed
batch by batch: the batch's records are appended first, then one line goes to
``progress.jsonl``. Records without such a line are from an interrupted batch; a torn last
progress line is a batch not done.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kgjudge._errors import ConfigError, InputError
from kgjudge._jsonl import dumps_json, iter_jsonl, write_jsonl
from kgjudge._text import redact_urls

MANIFEST = "manifest.json"
PROGRESS = "progress.jsonl"


class RunFolder:
    """One run's output folder: its manifest and its progress lines.

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
        """The manifest, or None when the folder has none."""
        path = self.out / MANIFEST
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

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
