"""Replies no parser should crash on, and the response cache never serving a reply that failed
to parse (or scores a judge could not use) as if it were good: it keeps raw replies, and every
one it serves is parsed again. The property-based version over every stage and judge parser is
tests/test_fuzz_replies.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kgjudge import ParseError, Triple
from kgjudge._cache import ResponseCache
from kgjudge.llm import LLM, FakeBackend, FakeConfig, LLMRequest, extract_json

SCHEMA = {"type": "object", "properties": {"entities": {"type": "array", "items": {"type": "string"}}},
          "required": ["entities"]}


def request(text: str = "List the entities of: Marie Curie was born in Warsaw.") -> LLMRequest:
    return LLMRequest.chat(text, json_schema=SCHEMA)


@pytest.mark.parametrize("reply", [
    "[" * 5000 + "]" * 5000,
    '{"entities": ' + "[" * 3000 + '"x"' + "]" * 3000 + "}",
    "[" * 100_000,
    '{"entities": ["\\ud800"]}',
    '{"entities": ["a"], "n": NaN}',
])
def test_extract_json_says_why_instead_of_crashing(reply: str) -> None:
    with pytest.raises(ValueError) as info:
        extract_json(reply)
    assert "nested more than 100 levels" in str(info.value) or "surrogate" in str(info.value) \
        or "NaN" in str(info.value)


def test_an_unusable_reply_is_a_parse_failure_with_its_raw_text(tmp_path: Path) -> None:
    deep = '{"entities": ' + "[" * 3000 + "]" * 3000 + "}"
    llm = LLM(FakeBackend(FakeConfig(default_reply=deep)), ResponseCache(tmp_path / "cache"))
    (result,) = llm.generate_sync([request()], return_exceptions=True)
    assert isinstance(result, ParseError) and result.raw == deep
    assert "nested more than 100 levels deep" in str(result)


def test_lone_surrogates_in_a_reply_are_replaced(tmp_path: Path) -> None:
    backend = FakeBackend(FakeConfig(), responder=lambda req: '{"entities": ["Paris\ud800"]}')
    llm = LLM(backend, ResponseCache(tmp_path / "cache"))
    (first,) = llm.generate_sync([request()])
    assert first.text == '{"entities": ["Paris\ufffd"]}' and first.parsed == {"entities": ["Paris\ufffd"]}
    first.text.encode("utf-8")  # can be written and hashed
    (again,) = llm.generate_sync([request()])
    assert again.cached and again.text == first.text
    # The repair request holds the reply: its cache key is computed too.
    backend.responder = lambda req: "not JSON \udfff"
    (failed,) = llm.generate_sync([request("other")], return_exceptions=True)
    assert isinstance(failed, ParseError) and failed.raw == "not JSON \ufffd"


def test_a_cached_reply_that_failed_to_parse_fails_again_and_never_passes_for_good(tmp_path: Path) -> None:
    backend = FakeBackend(FakeConfig(), responder=lambda req: "Sorry, I cannot do that.")
    cache = ResponseCache(tmp_path / "cache")
    llm = LLM(backend, cache)
    (failed,) = llm.generate_sync([request()], return_exceptions=True)
    assert isinstance(failed, ParseError) and len(backend.calls) == 2  # the reply and one repair
    again = LLM(backend, cache)
    (still,) = again.generate_sync([request()], return_exceptions=True)
    assert isinstance(still, ParseError) and still.raw == failed.raw, "parsed again: the same failure"
    assert len(backend.calls) == 2 and again.usage.cache_hits == 2, "a re-run makes no model call"


def test_a_bad_reply_left_in_an_old_cache_is_not_served_as_good(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "cache")
    backend = FakeBackend(FakeConfig(default_reply='{"entities": ["Warsaw"]}'))
    llm = LLM(backend, cache)
    key = llm._key("generate", request())
    # A reply nested 5000 deep, as a version that crashed on it left it in the cache: parsed
    # again, it is a failure that gets its repair request, not a crash.
    cache.set(key, {"text": "[" * 5000 + "]" * 5000, "model": "fake"})
    (result,) = llm.generate_sync([request()])
    assert result.parsed == {"entities": ["Warsaw"]} and result.repaired
    cache.set(key, {"text": 12, "model": "fake"})  # an entry that no longer validates is a miss
    (result,) = llm.generate_sync([request()])
    assert result.parsed == {"entities": ["Warsaw"]} and not result.cached


def test_scores_a_judge_cannot_use_are_a_recorded_failure(tmp_path: Path) -> None:
    from kgjudge.judges import GraphJudger

    backend = FakeBackend(FakeConfig(choice_logprobs={"Yes": math.nan, "No": -math.inf}))
    cache = ResponseCache(tmp_path / "cache")
    judge = GraphJudger(LLM(backend, cache))
    triple = Triple(head="Marie Curie", relation="born in", tail="Warsaw", document_id="d1")
    (j,) = judge.judge_sync([triple], {"d1": "Marie Curie was born in Warsaw."})
    assert not j.label and j.score == 0.0 and j.details["failed"]
    assert "no usable log-probability" in j.reasons[0] and "NaN" in (j.raw_output or "")
    (again,) = GraphJudger(LLM(backend, cache)).judge_sync([triple], {"d1": "Marie Curie was born in Warsaw."})
    assert again == j, "served from the cache, the scores are judged unusable again"


@pytest.mark.parametrize("cut", [
    '{"entities": ["a", "b", ' + "[" * 3000 + " x y z",  # closing it would nest 3000 deep
    '{"entities": ["a", "\\ud800", x y z',  # closing it would keep a lone surrogate escape
    '{"entities": ["a"], "n": NaN, x y z',
])
def test_a_hostile_reply_cut_by_max_tokens_is_closed_strictly(cut: str) -> None:
    llm = LLM(FakeBackend(FakeConfig(default_reply=cut)))
    req = LLMRequest.chat("List the entities.", json_schema=SCHEMA, max_tokens=len(cut.split()) - 3)
    (result,) = llm.generate_sync([req], return_exceptions=True)
    if isinstance(result, ParseError):
        assert result.raw is not None
    else:  # closed at an element before the bad part, which parses strictly
        assert result.finish_reason == "length" and result.parsed["entities"] in (["a"], ["a", "b"])
        assert extract_json(result.text) == result.parsed
