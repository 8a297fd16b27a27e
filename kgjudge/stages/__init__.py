"""The stages of the document-to-KG path: chunking, entity-centric denoising, extraction.

Each stage has pure prompt-building and reply-parsing functions (versioned templates under
``kgjudge/prompts``) and one async function that runs it over a batch through the LLM client.
"""

from kgjudge.stages._chunking import Chunker, SplitChunk
from kgjudge.stages._denoise import (
    ENTITY_SCHEMA,
    denoise,
    entity_schema,
    entity_request,
    parse_entities,
    parse_rewrite,
    rewrite_request,
)
from kgjudge.stages._evidence import evidence_span
from kgjudge.stages._extract import (
    EXTRACT_PROMPT,
    EXTRACT_SCHEMA,
    extract,
    extract_answer,
    extract_messages,
    extract_request,
    extract_schema,
    parse_triples,
)
from kgjudge.stages._types import DenoisedChunk, DenoiseRound, JudgedTriple, StageFailure

__all__ = sorted(
    [
        "Chunker",
        "DenoiseRound",
        "DenoisedChunk",
        "ENTITY_SCHEMA",
        "EXTRACT_PROMPT",
        "EXTRACT_SCHEMA",
        "JudgedTriple",
        "SplitChunk",
        "StageFailure",
        "denoise",
        "entity_request",
        "entity_schema",
        "evidence_span",
        "extract",
        "extract_answer",
        "extract_messages",
        "extract_request",
        "extract_schema",
        "parse_entities",
        "parse_rewrite",
        "parse_triples",
        "rewrite_request",
    ]
)
