"""``kgjudge build``: documents in, one JSONL file per stage out, resumable and incremental.

The output folder (a :class:`~kgjudge._build_folder.BuildFolder`) holds ``documents.jsonl``,
``chunks.jsonl``, ``denoised.jsonl``,
``triples.jsonl`` (the kept triples), ``judgements.jsonl`` and ``rejected.jsonl`` (with a
``judge:`` section: every decision, and the rejected triples with theirs),
``failures.jsonl`` (every reply a stage could not use, with its raw text),
and the graph store of the config's ``store:`` section (by default an on-disk RDF store in
``graph.oxigraph`` inside the folder), plus
``rejects.jsonl`` (bad input documents with file and line), ``gold.jsonl`` (gold triples from
aligned ``.source`` files, when present), ``progress.jsonl``, ``counts.json`` and
``manifest.json``.

Growing a build: documents are known by id and a hash of their text. A build into a folder
that holds a build of the same config processes only what is new: a new document is added, a
document whose text changed is removed (its triples, judgements, chunks and evidence leave
every file and the store) and processed again, an unchanged one costs nothing (no model call,
no store write); with ``sync`` the documents missing from the inputs are removed. Nothing that
is the same is read again: which documents the folder holds and its counts come from the
progress lines and ``counts.json``, and a batch is appended. Each run is an entry of the
manifest's ``runs`` (what it added, changed and removed, and its usage). Another config is
refused with the keys that differ (``restart`` discards the folder); another judge is
``kgjudge rejudge``'s work.

Resumption: see :mod:`kgjudge._run_folder`. A batch is journalled, its records appended (and
fsynced), its triples written to the store, and one line naming its documents goes to
``progress.jsonl``; a batch cut off (even by kill -9) is undone on the next run, in the files
and the store, and redone: at most the batch in flight is redone, nothing is lost or
duplicated. A finished build re-run makes no model calls; a fresh output folder over the same
inputs is answered from the response cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from kgjudge._build_folder import GOLD, REJECTS, BuildFolder
from kgjudge._config import KGJudgeConfig, config_to_dict
from kgjudge._errors import ConfigError, InputError
from kgjudge._extras import require
from kgjudge._inputs import LoadedInputs, load_documents
from kgjudge._jsonl import write_jsonl
from kgjudge._progress import Progress
from kgjudge._records import Document, Triple
from kgjudge.llm import Usage
from kgjudge.pipeline._batch import BatchResult, StageRunner
from kgjudge.pipeline._folder_run import FolderRun, folder_config
from kgjudge.pipeline._ledger import text_hash
from kgjudge.pipeline._shape import differences, extraction_part, judge_part, listed
from kgjudge.pipeline._store_view import store_view, write_view

STAGE_FILES = {name: BuildFolder.file(name) for name in BatchResult.outputs()}
"""Stage output -> its file in the build folder."""


class BuildSummary(BaseModel):
    """What a build produced (also the ``counts`` and ``usage`` of manifest.json).

    ``added``, ``changed``, ``removed`` and ``unchanged`` count the documents of this run (see
    the manifest's ``runs`` for their ids).
    """

    out: str
    documents: int
    rejected: int
    chunks: int
    entities: int
    triples: int
    judged: int = 0
    rejected_triples: int = 0
    relations: int
    failures: dict[str, int]
    malformed_gold: int = 0
    gold_triples: int = 0
    batches_run: int
    usage: dict[str, Usage]
    this_run: Usage
    wall_seconds: float
    top_relations: list[tuple[str, int]] = Field(default_factory=list)
    top_entities: list[tuple[str, int]] = Field(default_factory=list)
    store: str | None = None
    store_stats: dict[str, Any] = Field(default_factory=dict)
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    warnings: list[str] = Field(default_factory=list, description="what the user should know (no documents, ...)")


def _batches(documents: Sequence[Document], size: int) -> Iterator[list[Document]]:
    for i in range(0, len(documents), size):
        yield list(documents[i : i + size])


class Build(FolderRun):
    """A resumable, incremental build of one output folder.

    Args:
        config: the validated config (``pipeline:`` and the backends it names).
        out: the output folder.
        engine: ``local`` (this process) or ``ray`` (documents spread over Ray workers, each
            with its own backend; outputs are identical).
        workers: Ray workers.
        restart: discard what ``out`` holds instead of resuming or growing it.
        progress: show progress on stderr when it is a terminal (documents, and the model
            requests of the batch in flight).
        backends: already-built backends to use instead of building the config's (local engine
            only; for embedding kgjudge in a program that holds its models, and for tests).

    Example:
        >>> summary = Build(load_config("configs/pipelines/default.yaml"), "out/").run(["docs/"])
        >>> summary = Build(config, "out/").run(["new-docs/"])       # adds what is new
        >>> summary = Build(config, "out/").run(["docs/"], sync=True)  # also removes what is gone
    """

    command = "build"

    def __init__(
        self,
        config: KGJudgeConfig,
        out: str | os.PathLike[str],
        *,
        engine: Literal["local", "ray"] = "local",
        workers: int = 2,
        restart: bool = False,
        progress: bool = True,
        backends: dict[str, Any] | None = None,
    ) -> None:
        if backends and engine == "ray":
            raise ConfigError("pre-built backends cannot travel to Ray workers", key="engine")
        super().__init__(config, out, restart=restart)
        self.backends = backends
        self.engine = engine
        self.workers = workers
        self.progress = progress
        self._input_ids: set[str] = set()

    # -- the folder ----------------------------------------------------------------------------

    def check(self) -> None:
        """Refuse a folder that holds a build of another extraction or another judge."""
        manifest = self.folder.manifest()
        pending = self.folder.pending() or {}
        if self.restart or manifest is None or (
            manifest.get("config_hash") == self.config_hash() and pending.get("op") != "rejudge"
        ):
            return
        old = folder_config(self.folder)
        extraction = differences(extraction_part(old), extraction_part(self.config))
        if extraction:
            raise ConfigError(
                f"{self.out} holds a build of another config; use --restart to discard it, or another --out "
                f"(what differs: {listed(extraction)})"
            )
        judging = differences(judge_part(old), judge_part(self.config))
        if judging:
            raise ConfigError(
                f"{self.out} holds a build with another judge ({listed(judging)}); change a build's judge with "
                f"`kgjudge rejudge {self.out} --config FILE`, or use --restart to discard it"
            )

    def restart_keys(self) -> set[str]:
        # A store outside the folder may hold these documents from an earlier build.
        return self._input_ids

    def _store_label(self) -> str:
        slot = self.folder.store_slot(self.config)
        where = getattr(slot, "path", None) or getattr(slot, "uri", None) or "memory"
        return f"{slot.type} at {where}"

    # -- engines -------------------------------------------------------------------------------

    async def _local(self, batches: list[list[Document]]) -> Any:
        runner = StageRunner(self.config, self.backends)
        for batch in batches:
            yield await runner.process(batch)

    def _ray(self, batches: list[list[Document]]) -> Iterator[BatchResult]:
        ray = require("ray", "ray")
        from kgjudge.pipeline._ray import RayWorker

        started_here = not ray.is_initialized()
        if started_here:
            ray.init(num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
        try:
            actor = ray.remote(RayWorker)
            config = json.dumps(config_to_dict(self.config))
            actors = [actor.remote(config) for _ in range(min(self.workers, max(1, len(batches))))]
            pool = ray.util.ActorPool(actors)
            # ActorPool.map yields in submission order, so files are written in input order.
            for payload in pool.map(lambda a, b: a.process.remote([d.model_dump() for d in b]), batches):
                yield BatchResult.model_validate(payload)
        finally:
            if started_here:
                ray.shutdown()

    # -- run -----------------------------------------------------------------------------------

    def run(self, inputs: Sequence[str | os.PathLike[str]], *, sync: bool = False) -> BuildSummary:
        """Build (resume, or grow) the graph of ``inputs``.

        Args:
            sync: also remove the documents the folder holds that ``inputs`` lack (a document
                that ``inputs`` hold but could not be read stays).

        Raises:
            FolderBusyError: another command is writing the output folder.
            ConfigError: the folder holds a build of another config or another judge.
        """
        started = time.perf_counter()
        loaded = load_documents(inputs, self.config.pipeline.input)
        self._input_ids = {d.id for d in loaded.documents}
        return self.execute(lambda: self._run(loaded, sync, started))

    def _run(self, loaded: LoadedInputs, sync: bool, started: float) -> BuildSummary:
        ledger = self.ledger
        hashes = {d.id: text_hash(d.text) for d in loaded.documents}
        ledger.known_hashes(self.folder, hashes)
        added = [d.id for d in loaded.documents if d.id not in ledger.documents]
        changed = [d.id for d in loaded.documents if d.id in ledger.documents and ledger.documents[d.id] != hashes[d.id]]
        removed: list[str] = []
        if sync:
            present = set(hashes) | {r.document_id for r in loaded.rejects if r.document_id is not None}
            removed = [i for i in ledger.documents if i not in present]
        unchanged = len(loaded.documents) - len(added) - len(changed)
        run = self.begin_run(inputs=len(loaded.documents), added=added, changed=changed, removed=removed,
                             unchanged=unchanged)
        self.input_hash = hashlib.sha256(json.dumps(sorted(hashes.items())).encode()).hexdigest()[:16]
        write_jsonl(self.out / REJECTS, loaded.rejects)
        self.drop_documents([*changed, *removed], run)
        todo_ids = {*added, *changed}
        todo = [d for d in loaded.documents if d.id in todo_ids]
        self._gold: dict[str, list[Triple]] = {}
        for triple in loaded.gold:
            if triple.document_id in todo_ids:
                self._gold.setdefault(triple.document_id or "", []).append(triple)
        self._curated = self.curated_documents() if todo else set()
        self._hashes = hashes
        self._run_no = run
        batches = list(_batches(todo, self.config.pipeline.batch_size))
        this_run = Usage()
        bar = Progress("build", "documents", len(loaded.documents), initial=unchanged, enabled=self.progress).start()
        try:
            if self.engine == "ray":
                for result in self._ray(batches):
                    self._after_batch(result, this_run, bar)
            else:
                asyncio.run(self._run_local(batches, this_run, bar))
        finally:
            bar.close()
        summary = self._summarise(loaded, len(batches), this_run, time.perf_counter() - started)
        summary = summary.model_copy(update={
            "added": len(added), "changed": len(changed), "removed": len(removed), "unchanged": unchanged,
            "warnings": loaded.warnings,
        })
        self.finish_run(summary.wall_seconds, summary=summary.model_dump(mode="json"))
        return summary

    async def _run_local(self, batches: list[list[Document]], this_run: Usage, bar: Any) -> None:
        async for result in self._local(batches):
            self._after_batch(result, this_run, bar)

    def _after_batch(self, result: BatchResult, this_run: Usage, bar: Any) -> None:
        records: dict[str, Sequence[Any]] = {STAGE_FILES[name]: items for name, items in result.records().items()}
        gold = [t for doc in result.document_ids for t in self._gold.get(doc, [])]
        if gold:
            records[GOLD] = gold
        line = {"documents": result.document_ids, "hashes": [self._hashes[d] for d in result.document_ids],
                "usage": {k: v.model_dump() for k, v in result.usage.items()}, "run": self._run_no}

        def store_write() -> None:
            # The store write is idempotent (upsert by triple id); a batch cut off is deleted
            # from the store before it is redone.
            kept = {t.id for t in result.triples}
            self.store.upsert(result.triples, [j.judgement for j in result.judgements if j.triple.id in kept])
            curated = self._curated.intersection(result.document_ids)
            if curated:
                # People's decisions about triples these documents yield again still hold.
                view = store_view(self.folder, curated)
                write_view(self.store, [st for st in view.desired.values() if st.triple.origin == "curated"])
            self.store.flush()

        self.commit_batch(records, line, result.document_ids, also=store_write)
        self.ledger.lines += 1
        for doc, digest in zip(result.document_ids, line["hashes"]):
            self.ledger.documents[doc] = digest
        for name, items in result.records().items():
            self.counts.add(name, items)
        self.counts.add("gold", gold)
        for stage, usage in result.usage.items():
            self.ledger.usage.setdefault(stage, Usage()).add(usage)
            self.ledger.runs.setdefault(self._run_no, {}).setdefault(stage, Usage()).add(usage)
            this_run.add(usage)
        bar.advance(len(result.document_ids))

    def _summarise(self, loaded: LoadedInputs, batches: int, this_run: Usage, wall: float) -> BuildSummary:
        return BuildSummary(
            out=str(self.out), rejected=len(loaded.rejects), malformed_gold=loaded.malformed_gold, batches_run=batches,
            this_run=this_run, wall_seconds=wall, store=self._store_label(), **self.summary_counts(),
        )


def build(
    inputs: Sequence[str | os.PathLike[str]], config: KGJudgeConfig, out: str | os.PathLike[str], *,
    sync: bool = False, **kwargs: Any,
) -> BuildSummary:
    """Build (or grow) the graph of ``inputs`` into ``out``; see :class:`Build`."""
    if not inputs:
        raise InputError("no inputs given")
    return Build(config, out, **kwargs).run(inputs, sync=sync)
