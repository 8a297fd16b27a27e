"""``kgjudge build``: documents in, one JSONL file per stage out, resumable.

The output folder holds ``documents.jsonl``, ``chunks.jsonl``, ``denoised.jsonl``,
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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field
from tqdm import tqdm

from kgjudge._config import KGJudgeConfig, dump_config
from kgjudge._errors import ConfigError, InputError
from kgjudge._extras import require
from kgjudge._inputs import LoadedInputs, load_documents
from kgjudge._jsonl import iter_jsonl, write_jsonl
from kgjudge._records import Document
from kgjudge._run_folder import RunFolder
from kgjudge.llm import Usage
from kgjudge.pipeline._batch import BatchResult, StageRunner

STAGE_FILES = {
    "documents": "documents.jsonl",
    "chunks": "chunks.jsonl",
    "denoised": "denoised.jsonl",
    "triples": "triples.jsonl",
    "judged": "judgements.jsonl",
    "failures": "failures.jsonl",
}



def output_store_slot(config: KGJudgeConfig, out: Path) -> Any:
    """The store a build into ``out`` writes: the config's store, where a file-backed store
    without an explicit path lives in ``out``."""
    slot = config.store
    default = {"rdf.v1": "graph.oxigraph", "networkx.v1": "graph.json"}.get(getattr(slot, "type", ""))
    if slot is not None and default and "path" not in slot.model_fields_set:
        slot = slot.model_copy(update={"path": str(out / default)})
    return slot

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


def _config_hash(config: KGJudgeConfig) -> str:
    """The hash of what shapes a build's output; the ``rag:`` (queries) and ``filter:``
    (instruction data) sections do not."""
    data = yaml.safe_load(dump_config(config))
    data.pop("rag", None)
    data.pop("filter", None)
    return hashlib.sha256(yaml.safe_dump(data, sort_keys=False).encode()).hexdigest()[:16]


def _batches(documents: Sequence[Document], size: int) -> Iterator[list[Document]]:
    for i in range(0, len(documents), size):
        yield list(documents[i : i + size])


class Build:
    """A resumable build of one output folder.

    Args:
        config: the validated config (``pipeline:`` and the backends it names).
        out: the output folder.
        engine: ``local`` (this process) or ``ray`` (documents spread over Ray workers, each
            with its own backend; outputs are identical).
        workers: Ray workers.
        restart: discard what ``out`` holds instead of resuming it.
        progress: show a progress bar on stderr.
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
        self.config = config
        self.backends = backends
        self.out = Path(out)
        self.folder = RunFolder(self.out, "build")
        self.engine = engine
        self.workers = workers
        self.restart = restart
        self.progress = progress

    # -- output folder state -----------------------------------------------------------------

    def _prepare(self, loaded: LoadedInputs, input_hash: str) -> tuple[set[str], set[str]]:
        """Check the folder belongs to this config and inputs; return the finished documents and
        those an interrupted batch left partial records of."""
        self.folder.claim(config_hash=_config_hash(self.config), input_hash=input_hash, restart=self.restart,
                          outputs=[*STAGE_FILES.values(), "rejected.jsonl"])
        self._write_manifest(input_hash, finished=False)
        write_jsonl(self.out / "rejects.jsonl", loaded.rejects)
        if loaded.gold:
            write_jsonl(self.out / "gold.jsonl", loaded.gold)
        done: set[str] = set()
        for line in self.folder.committed():
            done.update(line["documents"])
        partial: set[str] = set()
        for name in [*STAGE_FILES.values(), "rejected.jsonl"]:
            path = self.out / name
            if path.is_file():
                # Drop what an interrupted batch left behind (and any torn line).
                records = list(iter_jsonl(path, errors=[]))
                partial.update(str(self._doc_of(r)) for r in records if self._doc_of(r) not in done)
                write_jsonl(path, [r for r in records if self._doc_of(r) in done])
        return done, partial

    @staticmethod
    def _doc_of(record: dict[str, Any]) -> str | None:
        return record.get("document_id", record.get("id"))

    def _store_slot(self) -> Any:
        return output_store_slot(self.config, self.out)

    def _open_store(self) -> Any:
        from kgjudge.graph import build_store

        return build_store(self._store_slot(), file=self.config.source_file)

    def _store_label(self) -> str:
        slot = self._store_slot()
        where = getattr(slot, "path", None) or getattr(slot, "uri", None) or "memory"
        return f"{slot.type} at {where}"

    def _append(self, result: BatchResult) -> None:
        for key, name in STAGE_FILES.items():
            write_jsonl(self.out / name, getattr(result, key), append=True)
        write_jsonl(self.out / "rejected.jsonl", [j for j in result.judged if not j.judgement.label], append=True)
        # The store write is idempotent (upsert by triple id), so a batch redone after an
        # interruption overwrites rather than duplicates.
        kept = {t.id for t in result.triples}
        self.store.upsert(result.triples, [j.judgement for j in result.judged if j.triple.id in kept])
        line = {"documents": result.document_ids, "usage": {k: v.model_dump() for k, v in result.usage.items()}}
        self.folder.commit(line)

    def _write_manifest(self, input_hash: str, *, finished: bool, summary: BuildSummary | None = None) -> None:
        from kgjudge import __version__

        data: dict[str, Any] = {
            "kgjudge": __version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "finished": finished,
            "config_hash": _config_hash(self.config),
            "input_hash": input_hash,
            "config": json.loads(json.dumps(self._config_dict())),
            "prompt_versions": {
                "denoise": [self.config.pipeline.denoise.entities_prompt, self.config.pipeline.denoise.rewrite_prompt]
                if self.config.pipeline.denoise.enabled else [],
                "extract": self.config.pipeline.extract.prompt,
            },
        }
        if summary is not None:
            data["summary"] = summary.model_dump(mode="json")
        self.folder.write_manifest(data)

    def _config_dict(self) -> dict[str, Any]:
        data = self.config.model_dump(mode="json")
        data["backends"] = {k: v.model_dump(mode="json") for k, v in self.config.backends.items()}
        return data

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
            config = json.dumps(self._config_dict())
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
        done, partial = self._prepare(loaded, input_hash)
        self.store = self._open_store()
        # The store may hold triples of an interrupted batch (written before its progress line)
        # or, on --restart, of an earlier build: those documents are cleared before they are redone.
        for doc_id in sorted(partial | ({d.id for d in loaded.documents} if self.restart else set())):
            self.store.delete_document(doc_id)
        todo = [d for d in loaded.documents if d.id not in done]
        batches = list(_batches(todo, self.config.pipeline.batch_size))
        this_run = Usage()
        bar = None
        if self.progress:
            bar = tqdm(total=len(loaded.documents), initial=len(done), unit="doc", desc="build", file=sys.stderr)
        try:
            if self.engine == "ray":
                for result in self._ray(batches):
                    self._after_batch(result, this_run, bar)
            else:
                asyncio.run(self._run_local(batches, this_run, bar))
        finally:
            if bar is not None:
                bar.close()
            stats = self.store.stats()
            self.store.close()
        summary = self._summarise(loaded, len(batches), this_run, time.perf_counter() - started)
        summary = summary.model_copy(update={"store": self._store_label(), "store_stats": stats.model_dump(),
                                             "warnings": loaded.warnings})
        self._write_manifest(input_hash, finished=True, summary=summary)
        return summary

    async def _run_local(self, batches: list[list[Document]], this_run: Usage, bar: Any) -> None:
        async for result in self._local(batches):
            self._after_batch(result, this_run, bar)

    def _after_batch(self, result: BatchResult, this_run: Usage, bar: Any) -> None:
        self._append(result)
        for usage in result.usage.values():
            this_run.add(usage)
        if bar is not None:
            bar.update(len(result.document_ids))
            bar.set_postfix(
                tokens=this_run.prompt_tokens + this_run.completion_tokens,
                cache=f"{this_run.cache_hits}/{this_run.requests}",
                calls=this_run.model_calls,
            )

    def _summarise(self, loaded: LoadedInputs, batches: int, this_run: Usage, wall: float) -> BuildSummary:
        def read(name: str) -> list[dict[str, Any]]:
            path = self.out / name
            return list(iter_jsonl(path)) if path.is_file() else []

        triples = read("triples.jsonl")
        usage: dict[str, Usage] = {}
        for line in self.folder.committed():
            for stage, counts in line.get("usage", {}).items():
                usage.setdefault(stage, Usage()).add(Usage.model_validate(counts))
        relations = Counter(t["relation"] for t in triples)
        degree = Counter([t["head"] for t in triples] + [t["tail"] for t in triples])
        failures = Counter(f["stage"] for f in read("failures.jsonl"))
        judged = read("judgements.jsonl")
        return BuildSummary(
            out=str(self.out),
            documents=len(read("documents.jsonl")),
            rejected=len(loaded.rejects),
            chunks=len(read("chunks.jsonl")),
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
