"""Model replies are untrusted input: every stage parser (denoise, extract) and every judge
(GraphJudger, Meta Ranking, the filter's direct, Meta Ranking and KG-grounded judges) is driven
with arbitrary replies (lone surrogates, control characters, JSON nested thousands of levels
deep, huge replies, non-finite log-probabilities), whole or cut by ``max_tokens`` (which the
client tries to close at its last complete element). Each reply must become usable output or a
recorded failure with its raw text, never an exception, and whatever comes out must be writable
as JSONL and readable back.

The drivers go through the real client (:class:`~kgjudge.llm.LLM`, with an on-disk response
cache) over a backend that returns the fuzzed reply verbatim.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kgjudge._cache import ResponseCache
from kgjudge._jsonl import read_jsonl, write_jsonl
from kgjudge._pipeline_config import DenoiseConfig, ExtractConfig
from kgjudge._records import Chunk, Document, InstructionExample, Judgement, Triple
from kgjudge.llm import LLM, Capabilities, ChoiceScores, GenerationResult, LLMBackend, LLMRequest, extract_json
from kgjudge.llm._base import check_json

pytest.importorskip("spacy")

# -- replies -----------------------------------------------------------------------------------

SURROGATE = st.integers(0xD800, 0xDFFF).map(chr)
ODD = st.sampled_from([chr(c) for c in range(32)] + ["\x7f", "\x85", "\x9b", "\u2028", "\u202e", "\ufeff", "\ufffe", "\U0010ffff"])
CHAR = st.one_of(st.characters(), SURROGATE, ODD)
TEXT = st.text(CHAR, max_size=40)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT)
VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4), max_leaves=16)
TRIPLE_ITEM = st.one_of(
    st.lists(TEXT, min_size=3, max_size=3),
    st.lists(TEXT, max_size=5),
    st.fixed_dictionaries({"head": TEXT, "relation": TEXT, "tail": TEXT}),
    VALUE,
)
SHAPED = st.one_of(
    st.lists(TRIPLE_ITEM, max_size=6),
    st.fixed_dictionaries({"triples": st.lists(TRIPLE_ITEM, max_size=6)}),
    st.fixed_dictionaries({"entities": st.lists(st.one_of(TEXT, VALUE), max_size=6)}),
    VALUE,
)


def _render(value: Any, ascii_only: bool) -> str:
    # ensure_ascii=True writes lone surrogates as \udXXX escapes, False leaves them in the text.
    return json.dumps(value, ensure_ascii=ascii_only)


def _deep(depth: int, kind: int) -> str:
    if kind == 0:
        return "[" * depth + "]" * depth
    if kind == 1:
        return '{"a":' * depth + "1" + "}" * depth
    if kind == 2:
        return '{"entities": ' + "[" * depth + '"x"' + "]" * depth + "}"
    return "[" * depth  # never closed


JSON_REPLY = st.builds(_render, SHAPED, st.booleans())
DEEP = st.builds(_deep, st.integers(200, 20_000), st.integers(0, 3))
HUGE = st.builds(
    lambda unit, n: unit * n if not unit.startswith("[") else "[" + unit * n + '["a","b","c"]]',
    st.sampled_from(["x", "\ud800", '["a","b","c"],', '["\\ud800","r","t"],', "{", "\x1b[31m"]),
    st.integers(1_000, 60_000),
)
WRAPPED = st.builds(lambda pre, body, post: f"{pre}```json\n{body}\n```{post}", TEXT, JSON_REPLY, TEXT)
REPLY = st.one_of(TEXT, JSON_REPLY, DEEP, HUGE, WRAPPED, st.builds(lambda a, b: a + b, TEXT, JSON_REPLY))
LOGPROB = st.one_of(st.floats(), st.just(-math.inf), st.just(math.nan), st.floats(-30, 0))
LOGPROBS = st.lists(LOGPROB, min_size=2, max_size=2)


# -- a backend returning the fuzzed reply verbatim ---------------------------------------------


class Scripted(LLMBackend):
    """Replies ``reply`` to every generate request and ``logprobs`` to every score request."""

    name = "scripted.v1"

    def __init__(self) -> None:
        self.model_id = "scripted"
        self.capabilities = Capabilities(logprobs=True, exact_choice_scores=True, json_schema=False)
        self.reply = ""
        self.finish = "stop"
        self.logprobs: list[float] = [-0.5, -1.0]
        self.nonce = 0

    def fingerprint(self) -> str:
        # A new fingerprint per example: the cache never answers one example with another's reply.
        return f"scripted-{self.nonce}"

    async def generate_batch(self, requests: Sequence[LLMRequest]) -> list[GenerationResult]:
        return [GenerationResult(text=self.reply, finish_reason=self.finish, model=self.model_id) for _ in requests]

    async def score_batch(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        out = []
        for req in requests:
            choices = list(req.choices or [])
            values = (self.logprobs * len(choices))[: len(choices)]
            out.append(ChoiceScores(choices=choices, logprobs=values, model=self.model_id))
        return out


_COUNTER = itertools.count()
_DIR = Path(tempfile.mkdtemp(prefix="kgjudge-fuzz-"))
_BACKEND = Scripted()
_LLM = LLM(_BACKEND, ResponseCache(_DIR / "cache"))


def _client(reply: str = "", logprobs: Sequence[float] = (-0.5, -1.0), *, cut: bool = False) -> LLM:
    _BACKEND.reply = reply
    _BACKEND.finish = "length" if cut else "stop"
    _BACKEND.logprobs = list(logprobs)
    _BACKEND.nonce = next(_COUNTER)
    return _LLM


def _roundtrip(records: Sequence[Any]) -> None:
    """Everything a stage or judge returns can be written as JSONL and read back."""
    path = _DIR / "out.jsonl"
    assert write_jsonl(path, records) == len(records)
    assert len(read_jsonl(path)) == len(records)
    assert not list(_DIR.glob(".out.jsonl.tmp*"))


def _check_judgement(j: Judgement, target: str) -> None:
    assert j.target_id == target
    assert 0.0 <= j.score <= 1.0 and math.isfinite(j.score)
    if j.details.get("failed"):
        assert not j.label and j.reasons


# -- drivers: each raises when a reply crashes something or is lost -----------------------------

TEXT_DOC = "Marie Curie was born in Warsaw. She won the Nobel Prize in 1903."


def _chunk() -> Chunk:
    return Chunk(id="d1#0", document_id="d1", index=0, text=TEXT_DOC, start=0, end=len(TEXT_DOC))


def drive_extract_json(reply: str) -> None:
    for parse in (extract_json, lambda r: check_json(r, {"type": "array"})):
        try:
            parse(reply)
        except ValueError:
            pass


def drive_denoise(reply: str, cut: bool = False) -> None:
    from kgjudge.llm import run_sync
    from kgjudge.stages import denoise

    llm = _client(reply, cut=cut)
    (out,), failures = run_sync(denoise([_chunk()], llm, DenoiseConfig(rounds=2)), llm._runner)
    if out.stopped == "failed":
        assert failures and all(f.raw is not None for f in failures)
    _roundtrip([out, *failures])


_SPLIT: Any = None


def drive_extract(reply: str, cut: bool = False) -> None:
    global _SPLIT
    from kgjudge.llm import run_sync
    from kgjudge.stages import Chunker, extract
    from kgjudge.stages._types import DenoisedChunk

    doc = Document(id="d1", text=TEXT_DOC)
    if _SPLIT is None:
        _SPLIT = Chunker().split(doc)[0]
    split = _SPLIT
    denoised = DenoisedChunk(chunk_id=split.chunk.id, document_id="d1", text=TEXT_DOC, stopped="disabled")
    llm = _client(reply, cut=cut)
    triples, failures = run_sync(
        extract([split], [denoised], {"d1": doc}, llm, ExtractConfig(), model="scripted"), llm._runner
    )
    if not triples and not cut:  # a cut reply may close to an empty list
        try:
            empty = extract_json(reply) in ([], {"triples": []})
        except ValueError:
            empty = False
        assert failures or empty, "a reply that gave nothing must leave a failure record"
    assert all(f.raw is not None for f in failures)
    _roundtrip([*triples, *failures])
    _store_roundtrip(triples)


def _store_roundtrip(triples: Sequence[Triple]) -> None:
    from kgjudge.graph import build_store

    for slot in ({"type": "networkx.v1"}, {"type": "rdf.v1", "path": None}):
        with build_store(slot) as store:
            store.upsert(triples)
            assert store.stats().triples == len(triples)


def drive_graphjudger(logprobs: list[float]) -> None:
    from kgjudge.judges import GraphJudger

    llm = _client(logprobs=logprobs)
    triple = Triple(head="Marie Curie", relation="born in", tail="Warsaw", document_id="d1")
    (j,) = GraphJudger(llm).judge_sync([triple], {"d1": TEXT_DOC})
    _check_judgement(j, triple.id)
    _roundtrip([j])


def _references() -> list[Any]:
    from kgjudge.judges import QAPair

    return [QAPair(id=f"r{i}", query=f"Question {i}?", response=f"Answer {i}", correct=i % 2 == 0) for i in range(4)]


def drive_meta_ranking(logprobs: list[float]) -> None:
    from kgjudge.judges import MetaRanker, MetaRankingConfig, QAPair

    llm = _client(logprobs=logprobs)
    ranker = MetaRanker(llm, MetaRankingConfig(n_references=2, swap=True), references=_references())
    (j,) = ranker.rank_sync([QAPair(id="t", query="Where was Marie Curie born?", response="Warsaw")])
    _check_judgement(j, "t")
    _roundtrip([j])


def _example() -> InstructionExample:
    from kgjudge._records import ChatMessage

    return InstructionExample(id="e1", messages=[ChatMessage(role="user", content="Where was Marie Curie born?"),
                                                 ChatMessage(role="assistant", content="Marie Curie was born in Warsaw.")])


def drive_filter_judges(logprobs: list[float]) -> None:
    from kgjudge.judges import DirectConfig, DirectJudge, MetaRankingFilter, MetaRankingFilterConfig

    refs = _DIR / "references.jsonl"
    if not refs.is_file():
        write_jsonl(refs, _references())
    llm = _client(logprobs=logprobs)
    judges = [DirectJudge(llm, DirectConfig()),
              MetaRankingFilter(llm, MetaRankingFilterConfig(references=str(refs), n_references=2))]
    for judge in judges:
        (j,) = judge.judge_sync([_example()])
        _check_judgement(j, "e1")
        _roundtrip([j])


_KG_STORE: Any = None


def drive_kg_grounded(reply: str, logprobs: list[float], cut: bool = False) -> None:
    global _KG_STORE
    from kgjudge.graph import build_store
    from kgjudge.judges import KGGroundedConfig, KGGroundedJudge
    from kgjudge.stages import parse_reply

    if _KG_STORE is None:
        _KG_STORE = build_store({"type": "networkx.v1"})
        _KG_STORE.upsert([Triple(head="Marie Curie", relation="born in", tail="Warsaw", document_id="d1"),
                          Triple(head="Marie Curie", relation="won", tail="Nobel Prize", document_id="d1")])
    parse_reply(reply, ExtractConfig())
    llm = _client(reply, logprobs, cut=cut)
    judge = KGGroundedJudge(llm, KGGroundedConfig(store={"type": "networkx.v1"}), store=_KG_STORE)
    (j,) = judge.judge_sync([_example()])
    _check_judgement(j, "e1")
    _roundtrip([j])


def drive_rag_answer(reply: str) -> None:
    from kgjudge.graph import parse_answer

    found, text, keys = parse_answer(reply)
    assert isinstance(found, bool) and isinstance(text, str) and all(isinstance(k, str) for k in keys)


# -- the properties ----------------------------------------------------------------------------

# KGJUDGE_FUZZ_EXAMPLES raises the count for a longer hunt (the fast set keeps it short).
FUZZ = settings(max_examples=int(os.environ.get("KGJUDGE_FUZZ_EXAMPLES", "60")), deadline=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def _cleanup() -> Iterator[None]:
    yield
    _LLM.close()
    shutil.rmtree(_DIR, ignore_errors=True)


@FUZZ
@given(REPLY)
def test_extract_json_never_crashes(reply: str) -> None:
    drive_extract_json(reply)


@FUZZ
@given(REPLY, st.booleans())
def test_denoise_reply_is_output_or_failure(reply: str, cut: bool) -> None:
    drive_denoise(reply, cut)


@FUZZ
@given(REPLY, st.booleans())
def test_extract_reply_is_output_or_failure(reply: str, cut: bool) -> None:
    drive_extract(reply, cut)


@FUZZ
@given(LOGPROBS)
def test_graphjudger_scores_never_crash(logprobs: list[float]) -> None:
    drive_graphjudger(logprobs)


@FUZZ
@given(LOGPROBS)
def test_meta_ranking_scores_never_crash(logprobs: list[float]) -> None:
    drive_meta_ranking(logprobs)


@FUZZ
@given(LOGPROBS)
def test_filter_judges_scores_never_crash(logprobs: list[float]) -> None:
    drive_filter_judges(logprobs)


@FUZZ
@given(REPLY, LOGPROBS, st.booleans())
def test_kg_grounded_reply_never_crashes(reply: str, logprobs: list[float], cut: bool) -> None:
    drive_kg_grounded(reply, logprobs, cut)


@FUZZ
@given(REPLY)
def test_rag_answer_parser_never_crashes(reply: str) -> None:
    drive_rag_answer(reply)
