"""One batch of documents through every stage; shared by the local and the Ray engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from kgjudge._cache import ResponseCache
from kgjudge._config import KGJudgeConfig
from kgjudge._errors import ConfigError
from kgjudge._records import Chunk, Document, Record, Triple
from kgjudge.llm import LLM, LLMBackend, Usage, build_backend, build_cache
from kgjudge.stages import Chunker, DenoisedChunk, JudgedTriple, StageFailure, denoise, extract


class BatchResult(Record):
    """Everything one batch produced, keyed by document and chunk ids."""

    document_ids: list[str]
    documents: list[Document]
    chunks: list[Chunk]
    denoised: list[DenoisedChunk]
    triples: list[Triple] = Field(description="the kept triples (all of them without a judge)")
    judged: list[JudgedTriple] = Field(default_factory=list, description="every judge decision")
    failures: list[StageFailure]
    usage: dict[str, Usage] = Field(default_factory=dict)


class StageRunner:
    """The chunker and the backends a build needs, built once per process (or Ray worker).

    Example:
        >>> runner = StageRunner(load_config("configs/pipelines/default.yaml"))
        >>> result = asyncio.run(runner.process(documents))
    """

    def __init__(self, config: KGJudgeConfig, backends: dict[str, LLMBackend] | None = None) -> None:
        self.config = config
        pipeline = config.pipeline
        names = {pipeline.extract.backend} | ({pipeline.denoise.backend} if pipeline.denoise.enabled else set())
        if config.judge is not None:
            names.add(config.judge.backend)  # type: ignore[attr-defined]
        for stage, name in (("denoise", pipeline.denoise.backend), ("extract", pipeline.extract.backend)):
            if name not in config.backends and (stage == "extract" or pipeline.denoise.enabled):
                raise ConfigError(
                    f"no backend named '{name}'", key=f"pipeline.{stage}.backend", choices=list(config.backends)
                )
        self.cache: ResponseCache | None = build_cache(config.cache)
        given = backends or {}
        self.backends: dict[str, LLMBackend] = {
            name: given.get(name) or build_backend(config.backends[name], file=config.source_file, key=f"backends.{name}")
            for name in sorted(names)
        }
        self.chunker = Chunker(pipeline.chunking)
        self.judge: Any = None
        if config.judge is not None:
            from kgjudge.judges import build_judge

            self.judge_llm = self.client(config.judge.backend)  # type: ignore[attr-defined]
            self.judge = build_judge(config.judge, self.judge_llm)

    def client(self, backend: str) -> LLM:
        """A fresh client (own usage counters) over a shared backend and cache."""
        return LLM(self.backends[backend], self.cache)

    async def process(self, documents: Sequence[Document]) -> BatchResult:
        """Chunk, denoise, extract and (with a judge) judge one batch of documents."""
        pipeline = self.config.pipeline
        splits = self.chunker.split_many(documents)
        ordered = [s for d in documents for s in splits[d.id]]
        denoise_llm = self.client(pipeline.denoise.backend) if pipeline.denoise.enabled else None
        extract_llm = self.client(pipeline.extract.backend)
        denoised, failures = await denoise([s.chunk for s in ordered], denoise_llm, pipeline.denoise)
        triples, extract_failures = await extract(
            ordered, denoised, {d.id: d for d in documents}, extract_llm, pipeline.extract,
            model=extract_llm.backend.model_id,
        )
        usage = {"extract": extract_llm.usage}
        if denoise_llm is not None:
            usage["denoise"] = denoise_llm.usage
        judged: list[JudgedTriple] = []
        if self.judge is not None and triples:
            before = self.judge_llm.usage.model_copy()
            judgements = await self.judge.judge(triples, {d.id: d.text for d in documents})
            usage["judge"] = self.judge_llm.usage.since(before)
            judged = [
                JudgedTriple(document_id=t.document_id or "", triple=t, judgement=j) for t, j in zip(triples, judgements)
            ]
            triples = [j.triple for j in judged if j.judgement.label]
        return BatchResult(
            document_ids=[d.id for d in documents],
            documents=list(documents),
            chunks=[s.chunk for s in ordered],
            denoised=denoised,
            triples=triples,
            judged=judged,
            failures=failures + extract_failures,
            usage=usage,
        )
