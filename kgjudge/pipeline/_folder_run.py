"""The skeleton of every command that changes a build output folder (``kgjudge build``,
``remove``, ``rejudge``, ``stats --verify``).

Each one holds the folder's lock for its whole run and opens the folder's store before it
changes anything (a store another process has open fails here, with nothing touched), then
finishes or undoes what an interrupted command left (the journal of
:mod:`kgjudge._run_folder`), reads the folder's ledger and counts (:mod:`._ledger`), records
itself as one entry of the manifest's ``runs``, and writes the manifest when it is done.

Steps the journal knows besides batches: ``drop`` (documents leave every record file, then the
store; :meth:`FolderRun.drop_documents`), ``restart`` (the store forgets every document, then
the files go) and ``rejudge`` (a new judge's decisions, staged in ``.rejudge.jsonl``, replace
the old ones in the files, then in the store; :meth:`FolderRun.apply_rejudge`). Each is done
again from its start when a run finds it unfinished: every write in it is idempotent.
"""

from __future__ import annotations

import platform
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, ClassVar, TypeVar

from kgjudge._build_folder import COUNTS, CURATION, GOLD, REJECTS, REJUDGE, BuildFolder
from kgjudge._config import KGJudgeConfig, parse_config
from kgjudge._jsonl import write_jsonl
from kgjudge._run_folder import MANIFEST, PENDING, PROGRESS, ResumableRun
from kgjudge.graph import StoredTriple
from kgjudge.pipeline._ledger import Counts, Ledger
from kgjudge.pipeline._shape import config_hash, prompt_versions
from kgjudge.pipeline._store_view import StoreView, store_view, write_view
from kgjudge.stages import JudgedTriple

T = TypeVar("T")
STAGE_OUTPUTS = ("documents", "chunks", "denoised", "triples", "judgements", "rejected", "failures")
"""The stage outputs of a build (the fields of :class:`~kgjudge.pipeline.BatchResult`)."""


class FolderRun(ResumableRun):
    """A command that changes a build folder: its lock, store, journal, ledger and manifest.

    Subclasses run their work through :meth:`execute`.
    """

    command: ClassVar[str] = "build"
    folder: BuildFolder

    def __init__(self, config: KGJudgeConfig | None, out: Any, *, restart: bool = False) -> None:
        super().__init__(BuildFolder(out), restart=restart)
        self.config = config if config is not None else folder_config(self.folder)
        self.input_hash = ""
        self.store: Any = None
        self.ledger = Ledger()
        self.counts = Counts()
        self.runs: list[dict[str, Any]] = []
        self.run_entry: dict[str, Any] = {}

    # -- the resumable run ---------------------------------------------------------------------

    @property
    def outputs(self) -> list[str]:
        return [*(BuildFolder.file(n) for n in STAGE_OUTPUTS), GOLD]

    def config_hash(self) -> str:
        return config_hash(self.config)

    def describe(self) -> dict[str, Any]:
        return {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            **self.folder.describe(self.config),
            "prompt_versions": prompt_versions(self.config),
            "runs": self.runs,
        }

    def committed_keys(self, line: dict[str, Any]) -> Iterable[Hashable]:
        return line.get("documents") or []

    def removed_keys(self, line: dict[str, Any]) -> Iterable[Hashable]:
        return line.get("removed") or []

    def record_key(self, file: str, record: dict[str, Any]) -> Hashable:
        return record.get("document_id", record.get("id"))

    def forget(self, keys: Sequence[Hashable]) -> None:
        for key in keys:
            self.store.delete_document(str(key))
        self.store.flush()

    def roll_forward(self, entry: dict[str, Any]) -> None:
        if entry.get("op") == "restart":
            self._finish_restart(entry)
        elif entry.get("op") == "rejudge":
            self.apply_rejudge(entry)
        else:
            super().roll_forward(entry)

    # -- the skeleton --------------------------------------------------------------------------

    def check(self) -> None:
        """Refuse, before anything is opened or written, what this command cannot do here."""

    def execute(self, work: Callable[[], T]) -> T:
        """Run ``work`` holding the folder's lock and its store, after finishing or undoing
        what an interrupted command left.

        Raises:
            FolderBusyError: another command is writing the folder.
        """
        with self.folder.lock():
            self.check()
            self.store = self.folder.open_store(self.config, file=self.config.source_file)
            try:
                self.claim()
                self.recover()
                self.ledger = Ledger.read(self.folder)
                self.counts = Counts.load(self.folder, self.ledger.lines)
                return work()
            finally:
                self.store.close()

    def claim(self) -> None:
        if self.restart:
            self._restart()
        else:
            self.folder.repair_progress()

    def restart_keys(self) -> set[str]:
        """Documents a restart deletes from the store besides those the folder holds."""
        return set()

    def _restart(self) -> None:
        keys = set(Ledger.read(self.folder).documents) | self.restart_keys()
        pending = self.folder.pending()
        if pending is not None:
            keys.update(str(k) for k in pending.get("keys") or [])
        self._finish_restart(self.folder.begin({"op": "restart", "keys": sorted(keys)}))

    def _finish_restart(self, entry: dict[str, Any]) -> None:
        # The store first: once the files are gone, nothing would say which documents it held.
        self.forget(entry.get("keys") or [])
        for name in [*self.outputs, PROGRESS, MANIFEST, COUNTS, REJECTS, REJUDGE]:
            (self.out / name).unlink(missing_ok=True)
        self.folder.end()

    def begin_run(self, **plan: Any) -> int:
        """Record this command as the newest entry of the manifest's ``runs`` (continuing the
        last one when it is an unfinished run of the same command) and write the manifest as
        unfinished. Returns the run's number."""
        manifest = self.folder.manifest() or {}
        runs = [r for r in manifest.get("runs") or [] if isinstance(r, dict)]
        last = runs[-1] if runs else None
        if last is not None and not last.get("finished") and last.get("command") == self.command:
            runs.pop()
            entry = last
            earlier_changed = set(entry.get("changed") or [])
            for key, ids in plan.items():
                if isinstance(ids, list):
                    # A changed document whose old version an interrupted run already removed
                    # looks new now; it is still a change.
                    merged = list(dict.fromkeys([*(entry.get(key) or []), *ids]))
                    if key == "added":
                        merged = [i for i in merged if i not in earlier_changed]
                    entry[key] = merged
                else:
                    entry[key] = ids
        else:
            entry = {"run": (int(last.get("run", 0)) + 1) if last else 1, "command": self.command,
                     "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **plan}
        entry["finished"] = False
        self.runs = [*runs, entry]
        self.run_entry = entry
        self.input_hash = str(manifest.get("input_hash") or "")
        self.write_manifest(finished=False, summary=manifest.get("summary"))
        return int(entry["run"])

    def unfinished_run(self) -> dict[str, Any]:
        """The manifest's last run when it is an unfinished run of this command (cut off), else
        an empty dict."""
        runs = (self.folder.manifest() or {}).get("runs") or []
        last = runs[-1] if runs and isinstance(runs[-1], dict) else {}
        return last if last.get("command") == self.command and not last.get("finished") else {}

    def summary_counts(self) -> dict[str, Any]:
        """The counts of the build summary as they are now (see ``BuildSummary``)."""
        c = self.counts
        return {
            "documents": len(self.ledger.documents), "chunks": c.chunks, "entities": len(c.degree),
            "triples": c.triples, "judged": c.judged, "rejected_triples": c.rejected_triples,
            "relations": len(c.relations), "failures": dict(sorted(c.failures.items())), "gold_triples": c.gold,
            "usage": {k: v.model_dump() for k, v in self.ledger.usage.items()},
            "top_relations": c.top("relations"), "top_entities": c.top("degree"),
            "store_stats": self.store.stats().model_dump(),
        }

    def finish_run(self, seconds: float, **extra: Any) -> None:
        """Save the counts and write the manifest as finished, with this run's usage."""
        self.counts.save(self.folder, self.ledger.lines)
        usage = self.ledger.runs.get(int(self.run_entry["run"]), {})
        self.run_entry.update(finished=True, seconds=round(seconds, 3),
                              usage={k: v.model_dump() for k, v in usage.items()})
        self.write_manifest(finished=True, **extra)

    # -- steps ---------------------------------------------------------------------------------

    def commit_step(self, line: dict[str, Any], token: str) -> None:
        """Append a progress line for a journalled step and keep the ledger in step."""
        self.folder.commit({**line, "token": token})
        self.ledger.lines += 1

    def drop_documents(self, ids: Sequence[str], run: int) -> None:
        """Remove documents from every record file and the store, as one journalled step; their
        triples, judgements, chunks and evidence go, and the entities and relations only they
        named leave the store."""
        if not ids:
            return
        entry = self.folder.begin({"op": "drop", "keys": list(ids), "line": {"removed": list(ids), "run": run}})
        doomed = set(ids)
        dropped = self.folder.drop_records(self.outputs, lambda file, r: self.record_key(file, r) not in doomed)
        for file, records in dropped.items():
            self.counts.add(file.removesuffix(".jsonl"), records, -1)
        self.forget(list(ids))
        self.commit_step({"removed": list(ids), "run": run}, entry["token"])
        self.folder.end()
        for doc_id in ids:
            self.ledger.documents.pop(doc_id, None)

    def apply_rejudge(self, entry: dict[str, Any], judged: list[JudgedTriple] | None = None,
                      before: StoreView | None = None) -> None:
        """Replace the judge's decisions in the files and the store with those staged in
        ``.rejudge.jsonl``, then commit (see the module docstring).

        Args:
            entry: the journal's entry of the step.
            judged: the staged judgements, when the caller has just read them.
            before: the folder's view before the step, when the caller knows the store agreed
                with it (not while recovering): a triple the store keeps as it was then gets
                only its new judgements written.
        """
        if judged is None:
            judged = [j for batch in read_staged(self.folder) for j in batch]
        folder = self.folder
        write_jsonl(folder.out / folder.file("judgements"), judged)
        write_jsonl(folder.out / folder.file("rejected"), [j for j in judged if not j.judgement.label])
        write_jsonl(folder.out / folder.file("triples"), [j.triple for j in judged if j.judgement.label])
        ids = [j.triple.id for j in judged]
        if entry.get("replace_judgements"):
            # Another judge: its predecessor's judgements must not stay beside the new ones.
            self.store.delete_triples(ids)
        view = store_view(folder)
        self.store.delete_triples([i for i in ids if i not in view.desired])
        records = [view.desired[i] for i in ids if i in view.desired]
        if before is not None and not entry.get("replace_judgements"):
            # The same judge again: the store already holds most kept triples as they are, so
            # only their judgements are written (rewriting a triple costs several times more).
            def stays(st: StoredTriple) -> bool:
                old = before.desired.get(st.triple.id)
                return old is not None and old.triple == st.triple

            self.store.upsert([], [j for st in records if stays(st) for j in st.judgements])
            records = [st for st in records if not stays(st)]
        write_view(self.store, records)
        self.store.flush()
        kept = [j.triple for j in judged if j.judgement.label]
        self.counts.triples, self.counts.relations, self.counts.degree = 0, {}, {}
        self.counts.add("triples", kept)
        self.counts.judged = len(judged)
        self.counts.rejected_triples = len(judged) - len(kept)
        self.commit_step({"rejudged": {"judge": entry.get("judge"), "triples": len(judged), "kept": len(kept)},
                          "usage": entry.get("usage") or {}, "run": entry.get("run")}, entry["token"])
        (folder.out / REJUDGE).unlink(missing_ok=True)
        manifest = folder.manifest()
        if manifest is not None and isinstance(entry.get("config"), dict):
            # The folder's config is the new judge's from now on, whichever command got here.
            for run in manifest.get("runs") or []:
                if isinstance(run, dict) and run.get("run") == entry.get("run") and run.get("command") == "rejudge":
                    run["finished"] = True
            lines = {"progress_lines": folder.progress_lines()} if manifest.get("finished") else {}
            folder.write_manifest({**manifest, "config": entry["config"], "config_hash": config_hash(
                parse_config(entry["config"])), **lines})
        folder.end()

    def curated_documents(self) -> set[str]:
        """Documents some curation decision is about (none when there is no decision log)."""
        found: set[str] = set()
        for value in self.folder.rows(CURATION):
            if isinstance(value.get("triple"), dict):
                doc = value["triple"].get("document_id")
                if isinstance(doc, str):
                    found.add(doc)
        return found


def folder_config(folder: BuildFolder) -> KGJudgeConfig:
    """The config of a build folder: the manifest's, or the new judge's while a ``kgjudge
    rejudge`` is being applied (it is the config the folder's files are moving to)."""
    entry = folder.pending()
    if entry is not None and entry.get("op") == "rejudge" and isinstance(entry.get("config"), dict):
        return parse_config(entry["config"], file=str(folder.out / PENDING))
    return folder.config()


def read_staged(folder: BuildFolder) -> list[list[JudgedTriple]]:
    """The judgements staged by an unfinished ``kgjudge rejudge``, one list per batch (a torn
    batch is left out)."""
    out: list[list[JudgedTriple]] = []
    for value in folder.rows(REJUDGE):
        if isinstance(value.get("judged"), list):
            out.append([JudgedTriple.model_validate(j) for j in value["judged"]])
    return out

