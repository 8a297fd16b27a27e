"""Triple extraction from the denoised text given its entities, as JSON-schema output.

The prompt (``triple_extract.v1``) asks for a JSON array of [head, relation, tail] arrays;
objects with head/relation/tail keys (bare or under ``"triples"``) are accepted too. Replies are
validated item by item: each triple needs exactly three non-empty strings within
``max_element_chars``; whitespace is normalised; duplicates (ignoring case) are dropped. Invalid
items are reported as failures with the raw reply while the valid ones are kept. A reply that is
not JSON of the right shape gets the client's one repair request; if that fails too, whatever
valid triples the raw reply still holds are salvaged and the failure is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from kgjudge._errors import ParseError
from kgjudge._pipeline_config import ExtractConfig
from kgjudge._prompts import cut_document, render, reply_parser, section_parser
from kgjudge._records import ChatMessage, Document, ModelRef, Triple
from kgjudge.llm import LLM, LLMRequest, extract_json
from kgjudge.stages._chunking import SplitChunk
from kgjudge.stages._evidence import evidence_span
from kgjudge.stages._types import DenoisedChunk, StageFailure

EXTRACT_PROMPT = "triple_extract.v1"


def extract_schema(max_triples: int = 50, relations: Sequence[str] | None = None,
                   min_triples: int = 0) -> dict[str, Any]:
    """The reply: a JSON array of at least ``min_triples`` and at most ``max_triples`` [head,
    relation, tail] arrays (what :func:`extract_answer` writes), the relation one of
    ``relations`` when given. ``maxItems`` bounds a constrained reply, so a looping model closes
    the array instead of running out of tokens; ``minItems`` keeps a model that stops early
    listing candidates. An array root works with transformers, vLLM and llama.cpp; OpenAI's strict mode
    wants an object root, and a server that rejects the schema falls back to JSON mode.

    Example:
        >>> extract_schema(5, ["country"])["items"]["prefixItems"][1]
        {'enum': ['country']}
    """
    item: dict[str, Any] = {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3}
    if relations:
        item = {"type": "array", "prefixItems": [{"type": "string"}, {"enum": list(relations)}, {"type": "string"}],
                "items": False, "minItems": 3, "maxItems": 3}
    schema: dict[str, Any] = {"type": "array", "items": item, "maxItems": max_triples}
    if min_triples:
        schema["minItems"] = min_triples
    return schema


EXTRACT_SCHEMA: dict[str, Any] = extract_schema()
"""The extraction reply schema at the default ``max_triples`` (50)."""


def extract_messages(
    text: str,
    entities: Sequence[str] = (),
    *,
    prompt: str = EXTRACT_PROMPT,
    max_document_chars: int | None = None,
) -> list[ChatMessage]:
    """The user turn asking for the triples of ``text`` (optionally with its entities). The one
    builder of extraction prompts: ``kgjudge build``, extractor training and evaluation."""
    body = render(prompt, text=cut_document(text, max_document_chars), entities=list(entities))
    return [ChatMessage(role="user", content=body)]


def extract_answer(triples: Sequence[Sequence[str]]) -> str:
    """The reply for ``triples`` (training targets and few-shot examples)."""
    return json.dumps([list(t) for t in triples], ensure_ascii=False)


def extract_request(text: str, entities: Sequence[str], config: ExtractConfig) -> LLMRequest:
    """The extraction request, with the config's few-shot examples as earlier chat turns."""
    messages: list[ChatMessage] = []
    for example in config.few_shot:
        messages += extract_messages(example.text, example.entities, prompt=config.prompt)
        messages.append(ChatMessage(role="assistant", content=extract_answer(example.triples)))
    messages += extract_messages(text, entities, prompt=config.prompt)
    return LLMRequest(
        messages=messages,
        json_schema=extract_schema(config.max_triples, config.relations, config.min_triples),
        max_tokens=config.max_tokens,
        adapter=config.adapter,
    )


def _items(value: Any) -> Any:
    return value.get("triples") if isinstance(value, dict) else value


@reply_parser("triple_extract.v1", reads="triples")
def parse_triples(value: Any, config: ExtractConfig) -> tuple[list[tuple[str, str, str]], list[str]]:
    """Valid, normalised, de-duplicated triples from a reply value, and a note per invalid item.

    Items may be objects with head/relation/tail or lists of three strings. With
    ``config.relations``, a triple whose relation is not one of them is invalid.
    """
    items = _items(value)
    if not isinstance(items, list):
        return [], ["the reply holds no list of triples"]
    triples: list[tuple[str, str, str]] = []
    problems: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    # With an ontology, a relation outside it is dropped (backends without constrained decoding
    # can write one); one that differs only in case or spacing takes the ontology's spelling.
    allowed = {r.casefold(): r for r in config.relations} if config.relations else None
    for n, item in enumerate(items):
        if isinstance(item, dict):
            parts = [item.get("head"), item.get("relation"), item.get("tail")]
            extra = set(item) - {"head", "relation", "tail"}
            if extra:
                problems.append(f"item {n}: unexpected keys {sorted(extra)}")
                continue
        elif isinstance(item, (list, tuple)):
            if len(item) != 3:
                problems.append(f"item {n}: {len(item)} elements, expected 3")
                continue
            parts = list(item)
        else:
            problems.append(f"item {n}: not an object or a list")
            continue
        if not all(isinstance(p, str) for p in parts):
            problems.append(f"item {n}: head, relation and tail must be strings")
            continue
        h, r, t = (" ".join(p.split()) for p in parts)  # type: ignore[union-attr]
        if not (h and r and t):
            problems.append(f"item {n}: empty head, relation or tail")
            continue
        if max(len(h), len(r), len(t)) > config.max_element_chars:
            problems.append(f"item {n}: an element is longer than {config.max_element_chars} characters")
            continue
        if allowed is not None:
            if r.casefold() not in allowed:
                problems.append(f"item {n}: relation {r!r} is not one of pipeline.extract.relations")
                continue
            r = allowed[r.casefold()]
        key = (h.casefold(), r.casefold(), t.casefold())
        if key in seen:
            continue
        seen.add(key)
        triples.append((h, r, t))
    if len(triples) > config.max_triples:
        problems.append(f"{len(triples) - config.max_triples} triples over max_triples={config.max_triples} dropped")
        triples = triples[: config.max_triples]
    return triples, problems


def parse_reply(text: str, config: ExtractConfig) -> tuple[list[tuple[str, str, str]] | None, list[str]]:
    """The triples of a reply's raw text, through the parser of ``config.prompt``, and a note per
    invalid item; None when the text holds no JSON list of triples (bare or under ``"triples"``).

    Example:
        >>> parse_reply('[["Paris", "capital of", "France"]]', ExtractConfig())
        ([('Paris', 'capital of', 'France')], [])
    """
    try:
        value = extract_json(text)
    except ValueError:
        return None, []
    if not isinstance(_items(value), list):
        return None, ["the reply holds no list of triples"]
    return section_parser(config, "prompt", key="pipeline.extract.prompt")(value, config)  # type: ignore[no-any-return]


async def extract(
    chunks: Sequence[SplitChunk],
    denoised: Sequence[DenoisedChunk],
    documents: dict[str, Document],
    llm: LLM,
    config: ExtractConfig,
    *,
    model: str,
) -> tuple[list[Triple], list[StageFailure]]:
    """Triples with provenance for a batch of chunks (aligned with ``denoised`` by chunk id)."""
    read = section_parser(config, "prompt", key="pipeline.extract.prompt")
    text_of = {d.chunk_id: d for d in denoised}
    requests = [extract_request(text_of[c.chunk.id].text, text_of[c.chunk.id].entities, config) for c in chunks]
    replies = await llm.generate(requests, return_exceptions=True)
    ref = ModelRef(model=model, adapter=config.adapter, prompt_version=config.prompt)
    triples: list[Triple] = []
    failures: list[StageFailure] = []
    for split, reply in zip(chunks, replies):
        chunk = split.chunk
        if isinstance(reply, ParseError):
            raw = reply.raw
            salvaged, problems = parse_reply(raw, config)
            found = salvaged or []
            failures.append(StageFailure(stage="extract", document_id=chunk.document_id, chunk_id=chunk.id,
                                         error=str(reply) + (f"; salvaged {len(found)} triples" if found else ""), raw=raw))
        else:
            raw = reply.text
            found, problems = read(reply.parsed, config)
        for problem in problems:
            failures.append(StageFailure(stage="extract", document_id=chunk.document_id, chunk_id=chunk.id,
                                         error=problem, raw=raw))
        text = documents[chunk.document_id].text
        for h, r, t in found:
            triples.append(
                Triple(
                    head=h, relation=r, tail=t, document_id=chunk.document_id, chunk_id=chunk.id,
                    evidence=evidence_span(text, split.sentences, h, t), extractor=ref,
                )
            )
    return triples, failures
