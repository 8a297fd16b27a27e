"""Records shared by the graph store tests: ordinary ones covering every field, and hostile ones."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from _support import missing

from kgjudge import Judgement, ModelRef, Span, Triple
from kgjudge.graph import GraphStore, build_store

HOSTILE = [
    'double " quote',
    "single ' quote",
    "back`tick` `}",
    "{braces} [brackets] (parens) <angle>",
    '"}) DETACH DELETE n //',
    "'}) MATCH (n) DETACH DELETE n RETURN 1 //",
    "> ; DROP TABLE entities; --",
    "line\nbreak\r\nand\ttab",
    "nul\x00byte",
    "right-to-left \u200f mark \u202e override",
    "x" * 10_000,
    "http://example.org/has space#and-hash",
    "<http://example.org/iri> <p> <o> .",
    "\\u0000 escaped-looking \\ backslash",
    "$param ${env:HOME} %s {0}",
    "ﬁ ligature Ⅻ ünïcödé 🧪",
    "   ",
]


def sample_records() -> tuple[list[Triple], list[Judgement]]:
    """Triples using every field (and leaving each optional one out somewhere), with judgements."""
    text = "Marie Curie was born in Warsaw. Warsaw is in Poland."
    triples = [
        Triple(head="Marie Curie", relation="born in", tail="Warsaw", document_id="doc-1", chunk_id="doc-1#0",
               evidence=Span(start=0, end=30, text=text[0:30]),
               extractor=ModelRef(model="smollm2", adapter="kasft", prompt_version="extract.v1")),
        Triple(head="Warsaw", relation="located in", tail="Poland", document_id="doc-1", chunk_id="doc-1#1",
               evidence=Span(start=32, end=52, text=text[32:52]), extractor=ModelRef(model="smollm2")),
        Triple(head="Poland", relation="member of", tail="European Union", document_id="doc-2", origin="curated"),
        Triple(head="Marie Curie", relation="award received", tail="Nobel Prize", origin="gold"),
        Triple(id="explicit-id", head="Warsaw", relation="located in", tail="Poland", document_id="doc-2",
               evidence=Span(start=3, end=3, text="")),
    ]
    judgements = [
        Judgement(target_id=triples[0].id, judge="graphjudger.v1", score=0.875, label=True, threshold=0.5,
                  raw_output='{"Yes": -0.13}', model=ModelRef(model="smollm2", adapter="judge"),
                  reasons=["stated in the text", "second reason"], details={"logprobs": [-0.1, -2.3], "n": 1}),
        Judgement(target_id=triples[0].id, judge="metaranking.v1", score=0.1 + 0.2, label=False, threshold=0.4),
        Judgement(target_id=triples[1].id, judge="graphjudger.v1", score=0.0, label=False, threshold=1.0,
                  raw_output="No"),
    ]
    return triples, judgements


def hostile_records() -> tuple[list[Triple], list[Judgement]]:
    """Triples whose names, relations, ids and provenance are all hostile strings."""
    n = len(HOSTILE)
    triples = [
        Triple(
            id=f"{HOSTILE[(i + 1) % n]}#{i}",
            head=HOSTILE[i],
            relation=HOSTILE[(i + 3) % n],
            tail=HOSTILE[(i + 5) % n],
            document_id=HOSTILE[(i + 7) % n],
            chunk_id=HOSTILE[(i + 2) % n],
            evidence=Span(start=0, end=len(HOSTILE[i]), text=HOSTILE[i]),
            extractor=ModelRef(model=HOSTILE[(i + 4) % n], adapter=HOSTILE[(i + 6) % n]),
        )
        for i in range(n)
    ]
    judgements = [
        Judgement(target_id=t.id, judge=HOSTILE[i], score=0.5, label=True, threshold=0.5, raw_output=HOSTILE[-i],
                  reasons=[HOSTILE[i], HOSTILE[(i + 1) % n]], details={HOSTILE[i][:50]: HOSTILE[(i + 2) % n]})
        for i, t in enumerate(triples)
    ]
    return triples, judgements


NEEDS = {"networkx": ["networkx"], "rdf": ["rdflib", "oxrdflib", "pyoxigraph"], "neo4j": ["neo4j"]}


def open_test_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> GraphStore:
    """An empty store of ``kind`` (networkx, rdf in ``tmp_path``, or neo4j on the session's
    Bolt server); a missing library is reported through ``missing``."""
    for module in NEEDS[kind]:
        if importlib.util.find_spec(module) is None:
            missing(f"{module} is not installed")
    if kind == "networkx":
        return build_store({"type": "networkx.v1"})
    if kind == "rdf":
        return build_store({"type": "rdf.v1", "path": str(tmp_path / "rdf")})
    opened = build_store(request.getfixturevalue("bolt_server"))
    opened.clear()
    return opened
