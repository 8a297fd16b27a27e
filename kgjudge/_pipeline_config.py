"""Config sections of the document-to-KG pipeline (``pipeline:`` in a config file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from kgjudge._sections import Section, prompt_field


class InputConfig(Section):
    """How documents are read and what counts as bad input."""

    id_field: str = "id"
    text_field: str = "text"
    max_chars: int = Field(default=1_000_000, ge=1, description="longer documents are rejected")
    on_bad_input: Literal["skip", "fail"] = Field(
        default="skip", description="skip: report bad documents and go on; fail: stop before any model call"
    )


class ChunkingConfig(Section):
    """Sentence-aligned chunks of at most ``max_tokens`` spaCy tokens."""

    max_tokens: int = Field(default=256, ge=8)
    overlap_tokens: int = Field(default=32, ge=0, description="sentences carried into the next chunk")

    @model_validator(mode="after")
    def _check(self) -> ChunkingConfig:
        if self.overlap_tokens >= self.max_tokens:
            raise ValueError("overlap_tokens must be smaller than max_tokens")
        return self


class DenoiseConfig(Section):
    """Entity-centric denoising: extract entities, rewrite the text around them, iterate."""

    enabled: bool = True
    backend: str = "default"
    adapter: str | None = None
    rounds: int = Field(default=2, ge=1, le=10)
    rewrite: bool = Field(
        default=True,
        description="false: only the entity step runs (one round), and the extractor reads the original "
        "text with the entities (for an extractor trained with entity lists, `data.with_entities`)",
    )
    max_entities: int = Field(default=40, ge=1)
    entities_max_tokens: int = Field(default=160, ge=16, description="generation budget of an entity list")
    max_tokens: int = Field(default=384, ge=16, description="generation budget of a rewrite")
    entities_prompt: str = prompt_field("denoise_entities.v1", reads="entities")
    rewrite_prompt: str = prompt_field("denoise_rewrite.v1", reads="rewrite")


class FewShotExample(Section):
    """A worked example shown to the extractor before the real text."""

    text: str
    entities: list[str] = Field(default_factory=list)
    triples: list[tuple[str, str, str]]


class ExtractConfig(Section):
    """Triple extraction from the (denoised) text given its entities."""

    backend: str = "default"
    adapter: str | None = None
    prompt: str = prompt_field("triple_extract.v1", reads="triples")
    max_triples: int = Field(default=50, ge=1, description="per chunk; more are dropped and reported")
    min_triples: int = Field(
        default=0, ge=0,
        description="ask for at least this many triples per chunk (JSON-schema minItems): enforced while decoding "
        "by backends with JSON-schema constraints, a hint elsewhere. A small model that stops early then lists "
        "more candidates, and the judge filters them",
    )
    max_element_chars: int = Field(default=200, ge=1, description="longer heads, relations or tails are invalid")
    max_tokens: int = Field(default=512, ge=16)
    few_shot: list[FewShotExample] = Field(default_factory=list)
    relations: list[str] | None = Field(
        default=None,
        description="the only relations a triple may have (an ontology's): enforced while decoding by "
        "backends with JSON-schema constraints, and by the parser on every backend (other relations are "
        "dropped and reported); none: any relation",
    )

    @model_validator(mode="after")
    def _check_relations(self) -> ExtractConfig:
        if self.min_triples > self.max_triples:
            raise ValueError(f"min_triples ({self.min_triples}) is above max_triples ({self.max_triples})")
        if self.relations is not None:
            names = [" ".join(r.split()) for r in self.relations]
            if not names or not all(names):
                raise ValueError("relations must be a non-empty list of non-empty names")
            self.relations = list(dict.fromkeys(names))
        return self


class PipelineConfig(Section):
    """The ``pipeline:`` section: inputs, stages and batching of ``kgjudge build``."""

    batch_size: int = Field(default=8, ge=1, description="documents per batch (the unit of resumption)")
    input: InputConfig = Field(default_factory=InputConfig)
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)
    denoise: DenoiseConfig = Field(default_factory=DenoiseConfig)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
