"""One batch of documents through every stage; shared by the local and the Ray engine.

Adding a stage: its module in ``kgjudge.stages`` (with its prompt and parser), its step in
:meth:`StageRunner.process`, and, when it writes records, a field of :class:`BatchResult`: each
output field is a file of the build folder named after it (``<field>.jsonl``), and any
``*prompt`` setting of its config section is recorded in the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from kgjudge._cache import ResponseCache
from kgjudge._config import KGJudgeConfig, backend_of
from kgjudge._prompts import prompt_fields, section_parser
from kgjudge._records import Chunk, Document, Record, Triple
from kgjudge.judges import Judge, build_judge
from kgjudge.llm import LLM, LLMBackend, Usage, build_backend, build_cache
from kgjudge.stages import Chunker, DenoisedChunk, JudgedTriple, StageFailure, denoise, extract


class BatchResult(Record):
    """Everything one batch produced, keyed by document and chunk ids.

    Every field but ``document_ids`` and ``usage`` is a stage output: the file of that name
    (``<field>.jsonl``) of the build folder gets its records.
    """

    document_ids: list[str]
    documents: list[Document]
    chunks: list[Chunk]
    denoised: list[DenoisedChunk]
    triples: list[Triple] = Field(description="the kept triples (all of them without a judge)")
    judgements: list[JudgedTriple] = Field(default_factory=list, description="every judge decision")
    rejected: list[JudgedTriple] = Field(default_factory=list, description="the triples the judge rejected")
    failures: list[StageFailure]
    usage: dict[str, Usage] = Field(default_factory=dict)

    @classmethod
    def outputs(cls) -> list[str]:
        """The names of the stage outputs, in file order."""
        return [name for name in cls.model_fields if name not in ("document_ids", "usage")]

    def records(self) -> dict[str, list[Record]]:
        """The records of each stage output."""
        return {name: getattr(self, name) for name in self.outputs()}


def stage_sections(config: KGJudgeConfig) -> dict[str, BaseModel]:
    """The config sections of the pipeline's stages (``pipeline.<stage>``), in order."""
    pipeline = config.pipeline
    return {name: value for name in type(pipeline).model_fields if isinstance(value := getattr(pipeline, name), BaseModel)}


class StageRunner:
    """The chunker and the backends a build needs, built once per process (or Ray worker).

    Example:
        >>> runner = StageRunner(load_config("configs/pipelines/default.yaml"))
        >>> result = asyncio.run(runner.process(documents))
    """

    def __init__(self, config: KGJudgeConfig, backends: dict[str, LLMBackend] | None = None) -> None:
        self.config = config
        pipeline = config.pipeline
        uses = {"pipeline.extract.backend": pipeline.extract.backend}
        if pipeline.denoise.enabled:
            uses["pipeline.denoise.backend"] = pipeline.denoise.backend
        if config.judge is not None:
            uses["judge.backend"] = config.judge.backend  # type: ignore[attr-defined]
        slots = {name: backend_of(config.backends, name, key=key) for key, name in uses.items()}
        self.cache: ResponseCache | None = build_cache(config.cache)
        given = backends or {}
        self.backends: dict[str, LLMBackend] = {
            name: given.get(name) or build_backend(slots[name], file=config.source_file, key=f"backends.{name}")
            for name in sorted(slots)
        }
        for stage, section in stage_sections(config).items():
            if getattr(section, "enabled", True):
                # A prompt's replies are read by the parser of its version: a version without
                # one is refused now, before any model call.
                for name in prompt_fields(section):
                    section_parser(section, name, key=f"pipeline.{stage}.{name}")
        self.chunker = Chunker(pipeline.chunking)
        self.judge: Judge | None = None
        if config.judge is not None:
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
            # Chunk texts by chunk id beside the documents: a judge with ``context: chunk`` reads
            # the chunk a triple was extracted from.
            texts = {**{s.chunk.id: s.chunk.text for s in ordered}, **{d.id: d.text for d in documents}}
            judgements = await self.judge.judge(triples, texts)
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
            judgements=judged,
            rejected=[j for j in judged if not j.judgement.label],
            failures=failures + extract_failures,
            usage=usage,
        )
