"""The names of kgjudge.stages (see __init__.py); each is imported from its module on first use."""

from ._chunking import (
    Chunker as Chunker,
    SplitChunk as SplitChunk,
)
from ._denoise import (
    denoise as denoise,
    entity_answer as entity_answer,
    entity_messages as entity_messages,
    entity_request as entity_request,
    ENTITIES_PROMPT as ENTITIES_PROMPT,
    ENTITY_SCHEMA as ENTITY_SCHEMA,
    entity_schema as entity_schema,
    parse_entities as parse_entities,
    parse_rewrite as parse_rewrite,
    rewrite_request as rewrite_request,
)
from ._evidence import (
    evidence_span as evidence_span,
)
from ._extract import (
    extract as extract,
    extract_answer as extract_answer,
    extract_messages as extract_messages,
    EXTRACT_PROMPT as EXTRACT_PROMPT,
    extract_request as extract_request,
    EXTRACT_SCHEMA as EXTRACT_SCHEMA,
    extract_schema as extract_schema,
    parse_reply as parse_reply,
    parse_triples as parse_triples,
)
from ._types import (
    DenoisedChunk as DenoisedChunk,
    DenoiseRound as DenoiseRound,
    JudgedTriple as JudgedTriple,
    StageFailure as StageFailure,
)
