"""Records the stages hand to each other and write out."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kgjudge._records import Judgement, Record, Triple


class DenoiseRound(Record):
    """One round of entity-centric denoising of one chunk."""

    round: int = Field(ge=1)
    entities: list[str]
    text: str


class DenoisedChunk(Record):
    """A chunk after denoising: every round, and what extraction uses.

    ``stopped`` says why the rounds ended: ``converged`` (entities and text unchanged from the
    previous round), ``max_rounds``, ``failed`` (a reply could not be used; the last good round
    is kept), ``entities_only`` (``rewrite: false``: one entity step, the original text is used)
    or ``disabled`` (denoising switched off: the original text is used).
    """

    chunk_id: str
    document_id: str
    rounds: list[DenoiseRound] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list)
    text: str
    stopped: Literal["converged", "max_rounds", "failed", "entities_only", "disabled"]
    prompt_versions: list[str] = Field(default_factory=list)


class StageFailure(Record):
    """A model reply a stage could not use, with the raw text kept for inspection."""

    stage: Literal["denoise_entities", "denoise_rewrite", "extract", "judge"]
    document_id: str
    chunk_id: str | None = None
    round: int | None = None
    error: str
    raw: str | None = None


class JudgedTriple(Record):
    """A triple with the judge's decision about it (``judgement.label``: kept)."""

    document_id: str
    triple: Triple
    judgement: Judgement
