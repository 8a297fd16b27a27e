"""``kgjudge build``: documents in, one JSONL file per stage out, resumable.

The output folder (a :class:`~kgjudge._build_folder.BuildFolder`) holds ``documents.jsonl``,
``chunks.jsonl``, ``denoised.jsonl``,
``triples.jsonl`` (the kept triples), ``judgements.jsonl`` and ``rejected.jsonl`` (with a
``judge:`` section: every decision, and the rejected triples with theirs),
``failures.jsonl`` (every reply a stage could not use, with its raw text),
and the graph store of the config's ``store:`` section (by default an on-disk RDF store in
``graph.oxigraph`` inside the folder), plus
``rejects.jsonl`` (bad input documents with file and line), ``gold.jsonl`` (gold triples from
aligned ``.source`` files, when present), ``progress.jsonl`` and ``manifest.json``.

Resumption: a batch's records are appended (and fsynced) to the stage files first, then one
line naming its documents goes to ``progress.jsonl``. On a re-run, records of documents without
a progress line (a batch cut off, even by kill -9) are dropped from the stage files and those
documents are processed again: at most the batch in flight is redone, nothing is lost or
duplicated. A finished build re-run makes no model calls; a fresh output folder over the same
inputs is answered from the response cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from kgjudge._build_folder import GOLD, REJECTS, BuildFolder
from kgjudge._config import KGJudgeConfig, config_to_dict, dump_config
from kgjudge._errors import ConfigError, InputError
from kgjudge._extras import require
from kgjudge._inputs import LoadedInputs, load_documents
from kgjudge._jsonl import write_jsonl
from kgjudge._progress import Progress
from kgjudge._prompts import prompt_fields
from kgjudge._records import Document
from kgjudge._run_folder import ResumableRun
from kgjudge.llm import Usage
from kgjudge.pipeline._batch import BatchResult, StageRunner, stage_sections

STAGE_FILES = {name: BuildFolder.file(name) for name in BatchResult.outputs()}
"""Stage output -> its file in the build folder."""


def prompt_versions(config: KGJudgeConfig) -> dict[str, Any]:
    """The prompt versions a build uses, per stage and for the judge: every ``*prompt`` setting
    (one: the version; several: a list; a disabled stage: none), so a new stage's prompts are
    recorded without a change here."""

    def versions(section: BaseModel) -> Any:
        found = list(prompt_fields(section).values())
        return found[0] if len(found) == 1 else found

    out: dict[str, Any] = {}
    for name, section in stage_sections(config).items():
        enabled = getattr(section, "enabled", True)
        if not enabled or prompt_fields(section):
            out[name] = versions(section) if enabled else []
    if config.judge is not None:
        out["judge"] = versions(config.judge)
    return out


class BuildSummary(BaseModel):
    """What a build produced (also the ``counts`` and ``usage`` of manifest.json)."""

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
    warnings: list[str] = Field(default_factory=list, description="what the user should know (no documents, ...)")


# Options added after builds were made, by component type: at their defaults they leave a
# config's hash as it was, so existing output folders keep opening.
_LATER_DEFAULTS: dict[str, dict[str, Any]] = {
    "hf.v1": {"constrain_json": True, "op_dtypes": {}},
    "graphjudger.v1": {"context": "document"},
}


def _config_hash(config: KGJudgeConfig) -> str:
    """The hash of what shapes a build's output; the ``rag:`` (queries) and ``filter:``
    (instruction data) sections do not."""
    data = yaml.safe_load(dump_config(config))
    data.pop("rag", None)
    data.pop("filter", None)
    for slot in [*data.get("backends", {}).values(), data.get("judge") or {}]:
        for key, default in _LATER_DEFAULTS.get(slot.get("type"), {}).items():
            if slot.get(key) == default:
                slot.pop(key)
    extract = data.get("pipeline", {}).get("extract", {})
    if "relations" in extract and extract["relations"] is None:
        extract.pop("relations")
    return hashlib.sha256(yaml.safe_dump(data, sort_keys=False).encode()).hexdigest()[:16]


def _batches(documents: Sequence[Document], size: int) -> Iterator[list[Document]]:
    for i in range(0, len(documents), size):
        yield list(documents[i : i + size])


class Build(ResumableRun):
    """A resumable build of one output folder.

    Args:
        config: the validated config (``pipeline:`` and the backends it names).
        out: the output folder.
        engine: ``local`` (this process) or ``ray`` (documents spread over Ray workers, each
            with its own backend; outputs are identical).
        workers: Ray workers.
        restart: discard what ``out`` holds instead of resuming it.
        progress: show progress on stderr when it is a terminal (documents, and the model
            requests of the batch in flight).
        backends: already-built backends to use instead of building the config's (local engine
            only; for embedding kgjudge in a program that holds its models, and for tests).

    Example:
        >>> summary = Build(load_config("configs/pipelines/default.yaml"), "out/").run(["docs/"])
    """

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
        super().__init__(BuildFolder(out), restart=restart)
        self.config = config
        self.backends = backends
        self.engine = engine
        self.workers = workers
        self.progress = progress

    # -- the resumable run ---------------------------------------------------------------------

    folder: BuildFolder

    @property
    def outputs(self) -> list[str]:
        return list(STAGE_FILES.values())

    def config_hash(self) -> str:
        return _config_hash(self.config)

    def describe(self) -> dict[str, Any]:
        return {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            **self.folder.describe(self.config),
            "prompt_versions": prompt_versions(self.config),
        }

    def committed_keys(self, line: dict[str, Any]) -> Iterable[Hashable]:
        return line["documents"]

    def record_key(self, file: str, record: dict[str, Any]) -> Hashable:
        return record.get("document_id", record.get("id"))

    def _store_label(self) -> str:
        slot = self.folder.store_slot(self.config)
        where = getattr(slot, "path", None) or getattr(slot, "uri", None) or "memory"
        return f"{slot.type} at {where}"

    def _append(self, result: BatchResult) -> None:
        # The store write is idempotent (upsert by triple id), so a batch redone after an
        # interruption overwrites rather than duplicates.
        kept = {t.id for t in result.triples}
        self.store.upsert(result.triples, [j.judgement for j in result.judgements if j.triple.id in kept])
        line = {"documents": result.document_ids, "usage": {k: v.model_dump() for k, v in result.usage.items()}}
        self.commit_batch({STAGE_FILES[name]: records for name, records in result.records().items()}, line)

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

    def run(self, inputs: Sequence[str | os.PathLike[str]]) -> BuildSummary:
        """Build (or resume) the graph of ``inputs``."""
        started = time.perf_counter()
        loaded = load_documents(inputs, self.config.pipeline.input)
        input_hash = hashlib.sha256(
            json.dumps([[d.id, hashlib.sha256(d.text.encode()).hexdigest()] for d in loaded.documents]).encode()
        ).hexdigest()[:16]
        done, dropped = self.start(input_hash)
        partial = {str(self.record_key("", r)) for r in dropped}
        write_jsonl(self.out / REJECTS, loaded.rejects)
        if loaded.gold:
            write_jsonl(self.out / GOLD, loaded.gold)
        self.store = self.folder.open_store(self.config, file=self.config.source_file)
        # The store may hold triples of an interrupted batch (written before its progress line)
        # or, on --restart, of an earlier build: those documents are cleared before they are redone.
        for doc_id in sorted(partial | ({d.id for d in loaded.documents} if self.restart else set())):
            self.store.delete_document(doc_id)
        todo = [d for d in loaded.documents if d.id not in done]
        batches = list(_batches(todo, self.config.pipeline.batch_size))
        this_run = Usage()
        bar = Progress("build", "documents", len(loaded.documents), initial=len(done), enabled=self.progress).start()
        try:
            if self.engine == "ray":
                for result in self._ray(batches):
                    self._after_batch(result, this_run, bar)
            else:
                asyncio.run(self._run_local(batches, this_run, bar))
        finally:
            bar.close()
            stats = self.store.stats()
            self.store.close()
        summary = self._summarise(loaded, len(batches), this_run, time.perf_counter() - started)
        summary = summary.model_copy(update={"store": self._store_label(), "store_stats": stats.model_dump(),
                                             "warnings": loaded.warnings})
        self.write_manifest(finished=True, summary=summary.model_dump(mode="json"))
        return summary

    async def _run_local(self, batches: list[list[Document]], this_run: Usage, bar: Any) -> None:
        async for result in self._local(batches):
            self._after_batch(result, this_run, bar)

    def _after_batch(self, result: BatchResult, this_run: Usage, bar: Any) -> None:
        self._append(result)
        for usage in result.usage.values():
            this_run.add(usage)
        bar.advance(len(result.document_ids))

    def _summarise(self, loaded: LoadedInputs, batches: int, this_run: Usage, wall: float) -> BuildSummary:
        read = self.folder.records
        triples = read("triples")
        usage: dict[str, Usage] = {}
        for line in self.folder.committed():
            for stage, counts in line.get("usage", {}).items():
                usage.setdefault(stage, Usage()).add(Usage.model_validate(counts))
        relations = Counter(t["relation"] for t in triples)
        degree = Counter([t["head"] for t in triples] + [t["tail"] for t in triples])
        failures = Counter(f["stage"] for f in read("failures"))
        judged = read("judgements")
        return BuildSummary(
            out=str(self.out),
            documents=len(read("documents")),
            rejected=len(loaded.rejects),
            chunks=len(read("chunks")),
            entities=len(degree),
            triples=len(triples),
            judged=len(judged),
            rejected_triples=sum(1 for j in judged if not j["judgement"]["label"]),
            relations=len(relations),
            failures=dict(failures),
            malformed_gold=loaded.malformed_gold,
            gold_triples=len(loaded.gold),
            batches_run=batches,
            usage=usage,
            this_run=this_run,
            wall_seconds=wall,
            top_relations=relations.most_common(5),
            top_entities=degree.most_common(5),
        )


def build(
    inputs: Sequence[str | os.PathLike[str]], config: KGJudgeConfig, out: str | os.PathLike[str], **kwargs: Any
) -> BuildSummary:
    """Build the graph of ``inputs`` into ``out``; see :class:`Build`."""
    if not inputs:
        raise InputError("no inputs given")
    return Build(config, out, **kwargs).run(inputs)
