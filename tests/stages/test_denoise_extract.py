"""Denoising and extraction over the fake backend: rounds, stopping, malformed replies, wrong
arity, empty lists, huge outputs, provenance."""

import json

import pytest

from kgjudge._pipeline_config import DenoiseConfig, ExtractConfig, FewShotExample
from kgjudge._records import Chunk, Document
from kgjudge.llm import LLM, FakeBackend, FakeConfig, LLMRequest
from kgjudge.llm._constrain import schema_valid
from kgjudge.stages import (
    Chunker,
    DenoisedChunk,
    denoise,
    entity_request,
    evidence_span,
    extract,
    extract_request,
    extract_schema,
    parse_entities,
    parse_triples,
)

pytest.importorskip("spacy")
TEXT = "Marie Curie was born in Warsaw. She won the Nobel Prize in 1903."


def chunk(text: str = TEXT, doc: str = "d1") -> Chunk:
    return Chunk(id=f"{doc}#0", document_id=doc, index=0, text=text, start=0, end=len(text))


def llm_for(responder) -> tuple[LLM, FakeBackend]:
    backend = FakeBackend(FakeConfig(), responder=responder)
    return LLM(backend), backend


def kind(req: LLMRequest) -> str:
    text = req.messages[-1].content
    if text.startswith("Your previous reply"):
        return "repair"
    if text.startswith("List the named entities"):
        return "entities"
    if text.startswith("Rewrite the text"):
        return "rewrite"
    return "extract"


async def test_denoise_converges_and_keeps_every_round() -> None:
    def respond(req: LLMRequest) -> str:
        if kind(req) == "entities":
            return json.dumps({"entities": ["Marie Curie", "Warsaw", "marie curie", " Nobel  Prize "]})
        return "Marie Curie was born in Warsaw. Marie Curie won the Nobel Prize in 1903."

    llm, backend = llm_for(respond)
    (out,), failures = await denoise([chunk()], llm, DenoiseConfig(rounds=4))
    assert failures == []
    assert out.stopped == "converged" and len(out.rounds) == 2  # round 2 changed nothing
    assert out.entities == ["Marie Curie", "Warsaw", "Nobel Prize"]
    assert out.text.startswith("Marie Curie was born")
    assert len(backend.calls) == 4  # 2 calls per round, no third round


async def test_denoise_max_rounds_and_disabled() -> None:
    counter = iter(range(100))

    def respond(req: LLMRequest) -> str:
        if kind(req) == "entities":
            return '{"entities": ["Marie Curie"]}'
        return f"Marie Curie statement {next(counter)}."

    llm, _ = llm_for(respond)
    (out,), _ = await denoise([chunk()], llm, DenoiseConfig(rounds=3))
    assert out.stopped == "max_rounds" and [r.round for r in out.rounds] == [1, 2, 3]
    (off,), _ = await denoise([chunk()], llm, DenoiseConfig(enabled=False))
    assert off.stopped == "disabled" and off.text == TEXT and off.rounds == []


async def test_denoise_without_rewrite_runs_one_entity_step_and_keeps_the_text() -> None:
    def respond(req: LLMRequest) -> str:
        assert kind(req) == "entities", "no rewrite may be asked"
        return '{"entities": ["Marie Curie", "Warsaw"]}' if "Warsaw" in req.messages[-1].content else '{"entities": []}'

    backend = FakeBackend(FakeConfig(adapters=["entities"]), responder=respond)
    llm = LLM(backend)
    config = DenoiseConfig(rounds=3, rewrite=False, adapter="entities")
    (out, other), failures = await denoise([chunk(), chunk("Nothing here.", "d2")], llm, config)
    assert failures == [] and len(backend.calls) == 2 and all(r.adapter == "entities" for _, r in backend.calls)
    assert out.stopped == "entities_only" and out.text == TEXT and out.entities == ["Marie Curie", "Warsaw"]
    assert [(r.round, r.text) for r in out.rounds] == [(1, TEXT)]
    assert other.stopped == "converged" and other.text == "Nothing here." and other.entities == []
    # the extractor then gets the original text with the entity list
    request = extract_request(out.text, out.entities, ExtractConfig())
    assert "Entities: Marie Curie; Warsaw" in request.messages[-1].content and TEXT in request.messages[-1].content


async def test_denoise_malformed_entities_keep_original_text_and_record_raw() -> None:
    def respond(req: LLMRequest) -> str:
        return "Marie Curie, Warsaw" if kind(req) in ("entities", "repair") else "x"

    llm, _ = llm_for(respond)
    (out, other), failures = await denoise([chunk(), chunk("Other text.", "d2")], llm, DenoiseConfig())
    assert out.stopped == "failed" and out.text == TEXT and other.text == "Other text."
    assert [f.stage for f in failures] == ["denoise_entities", "denoise_entities"]
    assert failures[0].raw == "Marie Curie, Warsaw" and failures[0].chunk_id == "d1#0" and failures[0].round == 1


async def test_denoise_empty_entity_list_and_empty_rewrite() -> None:
    llm, _ = llm_for(lambda req: '{"entities": []}')
    (out,), failures = await denoise([chunk()], llm, DenoiseConfig())
    assert out.stopped == "converged" and out.text == TEXT and out.entities == [] and failures == []

    llm, _ = llm_for(lambda req: '{"entities": ["Warsaw"]}' if kind(req) == "entities" else "   ")
    (out,), failures = await denoise([chunk()], llm, DenoiseConfig())
    assert out.stopped == "failed" and out.text == TEXT
    assert failures[0].stage == "denoise_rewrite" and "empty rewrite" in failures[0].error


def test_parse_entities_caps_the_list() -> None:
    names = {"entities": [f"E{i}" for i in range(100)]}
    assert len(parse_entities(names, DenoiseConfig(max_entities=5))) == 5


def test_parse_triples_validates_item_by_item() -> None:
    value = {
        "triples": [
            {"head": " Marie  Curie ", "relation": "born in", "tail": "Warsaw"},
            {"head": "marie curie", "relation": "Born in", "tail": "warsaw"},  # duplicate ignoring case
            ["Marie Curie", "won", "Nobel Prize"],  # list form is accepted
            ["Marie Curie", "won"],  # wrong arity
            ["a", "b", "c", "d"],  # wrong arity
            {"head": "", "relation": "r", "tail": "t"},  # empty
            {"head": "x" * 500, "relation": "r", "tail": "t"},  # too long
            {"head": "a", "relation": "r", "tail": 3},  # not a string
            {"head": "a", "relation": "r", "tail": "t", "score": 1},  # unexpected key
            "a r t",
        ]
    }
    triples, problems = parse_triples(value, ExtractConfig())
    assert triples == [("Marie Curie", "born in", "Warsaw"), ("Marie Curie", "won", "Nobel Prize")]
    assert len(problems) == 7
    assert any("2 elements" in p for p in problems) and any("4 elements" in p for p in problems)
    assert parse_triples({"triples": []}, ExtractConfig()) == ([], [])
    assert parse_triples({"nothing": 1}, ExtractConfig())[1] == ["the reply holds no list of triples"]


def test_an_ontologys_relations_bound_the_triples() -> None:
    config = ExtractConfig(relations=["place of birth", "award  received", "place of birth"])
    assert config.relations == ["place of birth", "award received"]
    value = [["Marie Curie", "Place of  Birth", "Warsaw"], ["Marie Curie", "won", "Nobel Prize"],
             ["Marie Curie", "award received", "Nobel Prize"]]
    triples, problems = parse_triples(value, config)
    # the ontology's spelling is kept; a relation outside it is dropped and reported
    assert triples == [("Marie Curie", "place of birth", "Warsaw"), ("Marie Curie", "award received", "Nobel Prize")]
    assert problems == ["item 1: relation 'won' is not one of pipeline.extract.relations"]
    schema = extract_request(TEXT, [], config).json_schema
    assert schema_valid([["a", "award received", "b"]], schema)
    assert not schema_valid([["a", "won", "b"]], schema) and not schema_valid([["a", "award received"]], schema)
    assert schema == extract_schema(50) | {"items": schema["items"]} and extract_request(TEXT, [], ExtractConfig()).json_schema == extract_schema(50)
    with pytest.raises(ValueError, match="non-empty"):
        ExtractConfig(relations=[])
    with pytest.raises(ValueError, match="non-empty"):
        ExtractConfig(relations=["born in", "  "])


async def test_without_constrained_decoding_a_relation_outside_the_ontology_gets_a_repair_then_is_dropped() -> None:
    doc = Document(id="d1", text=TEXT)
    (split,) = Chunker().split(doc)
    denoised = [DenoisedChunk(chunk_id=split.chunk.id, document_id="d1", text=TEXT, stopped="disabled")]
    reply = json.dumps([["Marie Curie", "born in", "Warsaw"], ["Marie Curie", "place of birth", "Warsaw"]])
    llm, backend = llm_for(lambda req: reply)
    config = ExtractConfig(relations=["place of birth"])
    triples, failures = await extract([split], denoised, {"d1": doc}, llm, config, model="fake")
    assert [t.as_tuple() for t in triples] == [("Marie Curie", "place of birth", "Warsaw")]
    assert len(backend.calls) == 2 and "is not one of" in backend.calls[1][1].messages[-1].content
    assert any("relation 'born in' is not one of" in f.error for f in failures)


def test_huge_outputs_are_capped_and_reported() -> None:
    value = {"triples": [[f"h{i}", "r", "t"] for i in range(1000)]}
    triples, problems = parse_triples(value, ExtractConfig(max_triples=50))
    assert len(triples) == 50 and problems == ["950 triples over max_triples=50 dropped"]


def test_few_shot_examples_become_chat_turns() -> None:
    config = ExtractConfig(few_shot=[FewShotExample(text="A is in B.", entities=["A", "B"], triples=[("A", "in", "B")])])
    req = extract_request(TEXT, ["Marie Curie"], config)
    assert [m.role for m in req.messages] == ["user", "assistant", "user"]
    assert json.loads(req.messages[1].content) == [["A", "in", "B"]]
    assert req.messages[0].content.startswith("Text:\nA is in B.") and "Entities: A; B" in req.messages[0].content
    assert "Marie Curie" in req.messages[2].content and req.json_schema is not None
    assert entity_request(TEXT, DenoiseConfig()).json_schema["required"] == ["entities"]


async def test_extract_attaches_provenance_and_evidence() -> None:
    doc = Document(id="d1", text="Intro line. " + TEXT)
    (split,) = Chunker().split(doc)
    denoised = [DenoisedChunk(chunk_id=split.chunk.id, document_id="d1", text="Marie Curie was born in Warsaw.",
                              entities=["Marie Curie", "Warsaw"], stopped="max_rounds")]
    reply = json.dumps([["Marie Curie", "born in", "Warsaw"], ["Zeus", "lives on", "Olympus"]])
    llm, backend = llm_for(lambda req: reply)
    triples, failures = await extract([split], denoised, {"d1": doc}, llm, ExtractConfig(adapter=None), model="fake")
    assert failures == []
    born, zeus = triples
    assert born.document_id == "d1" and born.chunk_id == "d1#0"
    assert born.evidence.text == "Marie Curie was born in Warsaw." and doc.text[born.evidence.start : born.evidence.end] == born.evidence.text
    assert born.extractor.model == "fake" and born.extractor.prompt_version == "triple_extract.v1"
    assert zeus.evidence is None, "no sentence mentions Zeus or Olympus"
    assert "Marie Curie was born in Warsaw." in backend.calls[0][1].messages[-1].content


async def test_extract_salvages_valid_triples_from_an_unrepairable_reply() -> None:
    doc = Document(id="d1", text=TEXT)
    (split,) = Chunker().split(doc)
    denoised = [DenoisedChunk(chunk_id=split.chunk.id, document_id="d1", text=TEXT, stopped="disabled")]
    bad = '[["Marie Curie", "born in", "Warsaw"], ["only", "two"]]'
    llm, backend = llm_for(lambda req: bad)
    triples, failures = await extract([split], denoised, {"d1": doc}, llm, ExtractConfig(), model="fake")
    assert [t.as_tuple() for t in triples] == [("Marie Curie", "born in", "Warsaw")]
    assert len(backend.calls) == 2, "one repair retry"
    assert failures[0].raw == bad and "salvaged 1 triples" in failures[0].error
    assert "2 elements" in failures[1].error


async def test_extract_unparseable_reply_records_failure_and_no_triples() -> None:
    doc = Document(id="d1", text=TEXT)
    (split,) = Chunker().split(doc)
    denoised = [DenoisedChunk(chunk_id=split.chunk.id, document_id="d1", text=TEXT, stopped="disabled")]
    llm, _ = llm_for(lambda req: "I think Marie Curie was born in Warsaw.")
    triples, failures = await extract([split], denoised, {"d1": doc}, llm, ExtractConfig(), model="fake")
    assert triples == [] and len(failures) == 1 and failures[0].raw.startswith("I think")


def test_evidence_span_across_sentences() -> None:
    parts = ["Marie Curie worked hard.", "Later she moved.", "The city was Paris."]
    text = " ".join(parts)
    starts = [text.index(p) for p in parts]
    sentences = [(s, s + len(p)) for s, p in zip(starts, parts)]
    span = evidence_span(text, sentences, "Marie Curie", "Paris")
    assert span.start == 0 and span.end == len(text)
    assert evidence_span(text, sentences, "Marie Curie", "London").text == "Marie Curie worked hard."


def test_min_triples_asks_for_at_least_that_many_and_stays_within_max() -> None:
    schema = extract_request(TEXT, [], ExtractConfig(min_triples=4, max_triples=10)).json_schema
    assert schema["minItems"] == 4 and schema["maxItems"] == 10
    assert "minItems" not in extract_request(TEXT, [], ExtractConfig()).json_schema
    with pytest.raises(ValueError, match=r"min_triples \(11\) is above max_triples \(10\)"):
        ExtractConfig(min_triples=11, max_triples=10)
