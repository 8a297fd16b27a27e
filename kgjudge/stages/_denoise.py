"""Entity-centric denoising: (1) extract the chunk's entities as structured output, (2) rewrite
the chunk into short statements about those entities; repeat up to ``rounds`` times, stopping
early once a round changes neither the entity set nor the text. With ``rewrite: false`` only
step (1) runs, once, and the extractor reads the original text with the entities. Every round is
kept, and the original text stays with the chunk for the judge.

Prompt building and reply parsing are pure functions; :func:`denoise` runs them over a batch of
chunks with one batched model call per step."""

from __future__ import annotations

import json
from collections.abc import Sequence

from kgjudge._errors import ParseError
from kgjudge._pipeline_config import DenoiseConfig
from kgjudge._prompts import cut_document, render, reply_parser, section_parser
from kgjudge._records import ChatMessage, Chunk
from kgjudge.llm import LLM, LLMRequest
from kgjudge.stages._types import DenoisedChunk, DenoiseRound, StageFailure

def entity_schema(max_entities: int = 40) -> dict:
    """The entity reply: ``{"entities": [...]}`` with at most ``max_entities`` names (a bound for
    constrained decoding; the parser keeps the same number)."""
    return {
        "type": "object",
        "properties": {"entities": {"type": "array", "items": {"type": "string"}, "maxItems": max_entities}},
        "required": ["entities"],
        "additionalProperties": False,
    }


ENTITY_SCHEMA = entity_schema()
ENTITIES_PROMPT = "denoise_entities.v1"


def _collapse(text: str) -> str:
    return " ".join(text.split())


def entity_messages(
    text: str, *, prompt: str = ENTITIES_PROMPT, max_document_chars: int | None = None
) -> list[ChatMessage]:
    """The user turn asking for the entities of ``text``: the one builder of entity prompts
    (``kgjudge build`` and entity-adapter training)."""
    return [ChatMessage(role="user", content=render(prompt, text=cut_document(text, max_document_chars)))]


def entity_answer(entities: Sequence[str]) -> str:
    """The reply listing ``entities`` (training targets)."""
    return json.dumps({"entities": list(entities)}, ensure_ascii=False)


def entity_request(text: str, config: DenoiseConfig) -> LLMRequest:
    """The request that asks for the entities of ``text``."""
    return LLMRequest(
        messages=entity_messages(text, prompt=config.entities_prompt),
        json_schema=entity_schema(config.max_entities),
        max_tokens=config.entities_max_tokens,
        adapter=config.adapter,
    )


@reply_parser("denoise_entities.v1", reads="entities")
def parse_entities(value: dict, config: DenoiseConfig) -> list[str]:
    """Entities from a schema-valid reply: whitespace-normalised, de-duplicated ignoring case,
    in first-seen order, at most ``max_entities``."""
    seen: set[str] = set()
    out = []
    for item in value.get("entities", []):
        name = _collapse(str(item))
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            out.append(name)
    return out[: config.max_entities]


def rewrite_request(text: str, entities: Sequence[str], config: DenoiseConfig) -> LLMRequest:
    """The request that rewrites ``text`` around ``entities``."""
    return LLMRequest.chat(
        render(config.rewrite_prompt, text=text, entities=list(entities)),
        max_tokens=config.max_tokens,
        adapter=config.adapter,
    )


@reply_parser("denoise_rewrite.v1", reads="rewrite")
def parse_rewrite(text: str) -> str:
    """The rewritten text; an empty reply is a ParseError."""
    cleaned = _collapse(text)
    if not cleaned:
        raise ParseError("empty rewrite", raw=text)
    return cleaned


async def denoise(
    chunks: Sequence[Chunk], llm: LLM | None, config: DenoiseConfig
) -> tuple[list[DenoisedChunk], list[StageFailure]]:
    """Denoise a batch of chunks; results come back in the chunks' order. ``llm`` may be None
    only when denoising is disabled."""
    versions = [config.entities_prompt, config.rewrite_prompt]
    if not config.enabled:
        return [
            DenoisedChunk(chunk_id=c.id, document_id=c.document_id, text=c.text, stopped="disabled") for c in chunks
        ], []
    if llm is None:
        raise ValueError("denoising is enabled but no LLM client was given")
    read_entities = section_parser(config, "entities_prompt", key="pipeline.denoise.entities_prompt")
    read_rewrite = section_parser(config, "rewrite_prompt", key="pipeline.denoise.rewrite_prompt")
    failures: list[StageFailure] = []
    rounds: dict[str, list[DenoiseRound]] = {c.id: [] for c in chunks}
    stopped: dict[str, str] = {}
    current = {c.id: c.text for c in chunks}
    by_id = {c.id: c for c in chunks}
    for number in range(1, config.rounds + 1):
        active = [cid for cid in current if cid not in stopped]
        if not active:
            break
        replies = await llm.generate([entity_request(current[cid], config) for cid in active], return_exceptions=True)
        entities: dict[str, list[str]] = {}
        for cid, reply in zip(active, replies):
            if isinstance(reply, ParseError):
                failures.append(StageFailure(stage="denoise_entities", document_id=by_id[cid].document_id,
                                             chunk_id=cid, round=number, error=str(reply), raw=reply.raw))
                stopped[cid] = "failed"
            else:
                found = read_entities(reply.parsed, config)
                if found:
                    entities[cid] = found
                else:
                    # Nothing to centre a rewrite on: the text stays as it is.
                    rounds[cid].append(DenoiseRound(round=number, entities=[], text=current[cid]))
                    stopped[cid] = "converged"
        active = [cid for cid in active if cid in entities]
        if not config.rewrite:
            # Entities only: the extractor reads the original text with them.
            for cid in active:
                rounds[cid].append(DenoiseRound(round=number, entities=entities[cid], text=current[cid]))
                stopped[cid] = "entities_only"
            break
        rewrites = await llm.generate([rewrite_request(current[cid], entities[cid], config) for cid in active])
        for cid, reply in zip(active, rewrites):
            try:
                text = read_rewrite(reply.text)
            except ParseError as exc:
                failures.append(StageFailure(stage="denoise_rewrite", document_id=by_id[cid].document_id,
                                             chunk_id=cid, round=number, error=str(exc), raw=exc.raw))
                stopped[cid] = "failed"
                continue
            previous = rounds[cid][-1] if rounds[cid] else None
            rounds[cid].append(DenoiseRound(round=number, entities=entities[cid], text=text))
            current[cid] = text
            if previous is not None and previous.text == text and (
                {e.casefold() for e in previous.entities} == {e.casefold() for e in entities[cid]}
            ):
                stopped[cid] = "converged"
    out = []
    for c in chunks:
        done = rounds[c.id]
        out.append(
            DenoisedChunk(
                chunk_id=c.id,
                document_id=c.document_id,
                rounds=done,
                entities=done[-1].entities if done else [],
                text=done[-1].text if done else c.text,
                stopped=stopped.get(c.id, "max_rounds"),  # type: ignore[arg-type]
                prompt_versions=versions,
            )
        )
    return out, failures
