"""``kgjudge stats --verify``: compare a build folder's store with its files, and repair.

The files are the record of what a build holds (:mod:`._store_view` says what the store should
hold given them); the store is brought back to them. In order:

1. an unfinished step of an interrupted command is finished or undone (as every command does
   when it starts);
2. the record files: records of documents the progress lines do not hold are dropped, so are
   lines repeated byte for byte; a document the progress lines hold whose records are gone is
   removed everywhere (build it again from its input);
3. the store: triples the files do not hold are deleted, missing ones written, ones whose
   triple or judgements differ written again, and entity or relation descriptions that nothing
   names any more are deleted;
4. ``counts.json`` is counted again from the files.

Each repair is reported; a folder that needed none is left as it was.
"""

from __future__ import annotations

import os
import time
from collections.abc import Hashable
from typing import Any

from pydantic import BaseModel, Field

from kgjudge._build_folder import COUNTS
from kgjudge.pipeline._folder_run import FolderRun
from kgjudge.pipeline._ledger import Counts
from kgjudge.pipeline._store_view import store_view, write_view


class VerifyReport(BaseModel):
    """What ``kgjudge stats --verify`` found and repaired."""

    out: str
    triples: int = Field(description="triples the store holds now (as the files say it should)")
    finished_step: str | None = Field(default=None, description="an interrupted command's step that was finished or undone")
    stray_documents: list[str] = Field(default_factory=list, description="records of uncommitted documents, dropped")
    repeated_lines: dict[str, int] = Field(default_factory=dict, description="lines repeated byte for byte, dropped")
    lost_documents: list[str] = Field(default_factory=list, description="committed documents without records, removed")
    store_missing: list[str] = Field(default_factory=list, description="triples written to the store")
    store_extra: list[str] = Field(default_factory=list, description="triples deleted from the store")
    store_differing: list[str] = Field(default_factory=list, description="triples written again")
    pruned: int = Field(default=0, description="entity or relation descriptions nothing named, deleted")
    counts_fixed: bool = False
    wall_seconds: float = 0.0

    @property
    def repaired(self) -> bool:
        """Whether anything was repaired."""
        return bool(self.finished_step or self.stray_documents or self.repeated_lines or self.lost_documents
                    or self.store_missing or self.store_extra or self.store_differing or self.pruned
                    or self.counts_fixed)

    def lines(self) -> list[str]:
        """The report, one line per finding."""
        def ids(found: list[str]) -> str:
            return ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")

        out = []
        if self.finished_step:
            out.append(f"finished an interrupted command's step: {self.finished_step}")
        if self.stray_documents:
            out.append(f"dropped the records of {len(self.stray_documents)} uncommitted document(s): {ids(self.stray_documents)}")
        for name, n in sorted(self.repeated_lines.items()):
            out.append(f"dropped {n} repeated line(s) of {name}")
        if self.lost_documents:
            out.append(f"removed {len(self.lost_documents)} document(s) whose records were lost (build them again "
                       f"from their inputs): {ids(self.lost_documents)}")
        if self.store_extra:
            out.append(f"deleted {len(self.store_extra)} triple(s) from the store that the files do not hold: {ids(self.store_extra)}")
        if self.store_missing:
            out.append(f"wrote {len(self.store_missing)} triple(s) missing from the store: {ids(self.store_missing)}")
        if self.store_differing:
            out.append(f"wrote again {len(self.store_differing)} triple(s) whose store copy differed: {ids(self.store_differing)}")
        if self.pruned:
            out.append(f"deleted {self.pruned} entity or relation description(s) that no triple names")
        if self.counts_fixed:
            out.append(f"counted {COUNTS} again from the files")
        if not out:
            out.append(f"store and files agree: {self.triples} triple(s)")
        return out


class Verify(FolderRun):
    """Compare a build folder's store with its files and repair what differs (see the module
    docstring). Holds the folder's lock.

    Example:
        >>> report = Verify("out/demo").run()
        >>> print("\\n".join(report.lines()))
    """

    command = "verify"

    def __init__(self, out: str | os.PathLike[str]) -> None:
        super().__init__(None, out)
        self.report = VerifyReport(out=str(out), triples=0)

    def recover(self) -> list[Hashable]:
        entry = self.folder.pending()
        undone = super().recover()
        if entry is not None:
            keys = entry.get("keys") or []
            self.report.finished_step = f"{entry.get('op')}" + (f" of {len(keys)} document(s)" if keys else "")
        elif undone:
            self.report.finished_step = f"drop of {len(undone)} uncommitted document(s)"
        return undone

    def run(self) -> VerifyReport:
        """Verify and repair; returns what was found.

        Raises:
            FolderBusyError: another command is writing the folder.
            InputError: the folder holds no build.
        """
        started = time.perf_counter()
        return self.execute(lambda: self._run(started))

    def _run(self, started: float) -> VerifyReport:
        report = self.report
        folder = self.folder
        committed = set(self.ledger.documents)
        # Records of documents no progress line holds: what a run without the journal left.
        stray: set[str] = set()
        for name in self.outputs:
            for record in folder.rows(name):
                key = self.record_key(name, record)
                if isinstance(key, str) and key not in committed:
                    stray.add(key)
        if stray:
            report.stray_documents = sorted(stray)
            self.resolve(folder.begin({"op": "drop", "keys": report.stray_documents, "line": None}))
        report.repeated_lines = self._drop_repeated_lines()
        present = {r.get("id") for r in folder.rows(folder.file("documents"))}
        lost = [d for d in self.ledger.documents if d not in present]
        if lost or report.stray_documents or report.repeated_lines:
            run = self.begin_run(removed=lost, repaired=True)
            self.drop_documents(lost, run)
            report.lost_documents = lost
        view = store_view(folder)
        actual = {st.triple.id: st for st in self.store.iter_triples()}
        report.store_extra = sorted(set(actual) - set(view.desired))
        report.store_missing = sorted(set(view.desired) - set(actual))
        report.store_differing = sorted(i for i in set(actual) & set(view.desired) if actual[i] != view.desired[i])
        if report.store_extra or report.store_differing:
            self.store.delete_triples([*report.store_extra, *report.store_differing])
        write_view(self.store, [view.desired[i] for i in [*report.store_missing, *report.store_differing]])
        report.pruned = self.store.prune()
        self.store.flush()
        counted = Counts.count(folder, self.ledger.lines)
        report.counts_fixed = counted != Counts.load(folder, self.ledger.lines)
        self.counts = counted
        report.triples = len(view.desired)
        report.wall_seconds = round(time.perf_counter() - started, 3)
        if report.repaired:
            if not self.run_entry:
                self.begin_run(repaired=True)
            previous: dict[str, Any] = (folder.manifest() or {}).get("summary") or {}
            self.run_entry["report"] = report.lines()
            self.finish_run(report.wall_seconds, summary={**previous, **self.summary_counts()})
        return report

    def _drop_repeated_lines(self) -> dict[str, int]:
        """Drop later copies of lines repeated byte for byte in a record file (a batch written
        twice); returns how many per file."""
        found: dict[str, int] = {}
        for name in self.outputs:
            path = self.out / name
            if not path.is_file():
                continue
            seen: set[bytes] = set()
            kept: list[bytes] = []
            for raw in path.read_bytes().splitlines(keepends=True):
                line = raw.rstrip(b"\r\n") + b"\n"
                if line.strip() and line in seen:
                    found[name] = found.get(name, 0) + 1
                    continue
                seen.add(line)
                kept.append(line)
            if name in found:
                tmp = path.with_name(f".{path.name}.tmp")
                tmp.write_bytes(b"".join(kept))
                os.replace(tmp, path)
        return found


def verify(out: str | os.PathLike[str]) -> VerifyReport:
    """Compare the store of the build in ``out`` with its files and repair; see :class:`Verify`."""
    return Verify(out).run()
