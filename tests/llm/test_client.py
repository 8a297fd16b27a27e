"""The LLM client over the fake backend: cache, JSON parsing and repair, capability checks."""

from pathlib import Path

import pytest

from kgjudge import ConfigError, ParseError
from kgjudge.llm import (
    LLM,
    Capabilities,
    ChoiceScores,
    FakeBackend,
    FakeConfig,
    LLMRequest,
    ResponseCache,
    Usage,
    check_json,
    extract_json,
)

SCHEMA = {
    "type": "object",
    "properties": {"triples": {"type": "array", "items": {"type": "array", "items": {"type": "string"}, "minItems": 3, "maxItems": 3}}},
    "required": ["triples"],
}


def make(tmp_path: Path | None = None, **config: object) -> tuple[LLM, FakeBackend]:
    backend = FakeBackend(FakeConfig(**config))
    cache = ResponseCache(tmp_path / "cache") if tmp_path else None
    return LLM(backend, cache), backend


async def test_generate_batch_keeps_order() -> None:
    llm, _ = make(rules=[{"match": "France", "reply": "Paris"}, {"match": "Italy", "reply": "Rome"}])
    out = await llm.generate([LLMRequest.chat("capital of Italy"), LLMRequest.chat("capital of France")])
    assert [r.text for r in out] == ["Rome", "Paris"]


async def test_cache_makes_rerun_free_and_keys_on_every_parameter(tmp_path: Path) -> None:
    llm, backend = make(tmp_path)
    reqs = [LLMRequest.chat(f"q{i}") for i in range(3)]
    first = await llm.generate(reqs)
    assert len(backend.calls) == 3 and not any(r.cached for r in first)
    again = await llm.generate(reqs)
    assert len(backend.calls) == 3, "a re-run must make zero model calls"
    assert all(r.cached for r in again) and [r.text for r in again] == [r.text for r in first]
    assert llm.usage.cache_hits == 3 and llm.usage.cache_misses == 3 and llm.usage.model_calls == 3
    for changed in (
        LLMRequest.chat("q0", temperature=0.7),
        LLMRequest.chat("q0", max_tokens=5),
        LLMRequest.chat("q0", seed=1),
        LLMRequest.chat("q0", system="be brief"),
        LLMRequest(prompt="q0"),
    ):
        await llm.generate([changed])
    assert len(backend.calls) == 8
    # A new client over the same cache directory (a new process) hits as well.
    llm2, backend2 = make(tmp_path)
    await llm2.generate(reqs)
    assert backend2.calls == []
    # Another model is another key.
    llm3, backend3 = make(tmp_path, model="other")
    await llm3.generate(reqs[:1])
    assert len(backend3.calls) == 1


async def test_score_choices_cached_and_normalised(tmp_path: Path) -> None:
    llm, backend = make(tmp_path, choice_logprobs={"Yes": -0.2, "No": -1.9})
    req = LLMRequest.chat("Is Paris in France?", choices=["Yes", "No"])
    (s,) = await llm.score_choices([req])
    assert s.best == "Yes" and s.prob("Yes") == pytest.approx(1 / (1 + 2.718281828 ** -1.7), rel=1e-6)
    (s2,) = await llm.score_choices([req])
    assert s2.cached and s2.logprobs == s.logprobs and len(backend.calls) == 1


async def test_json_schema_valid_reply_is_parsed() -> None:
    llm, _ = make(replies=['```json\n{"triples": [["Paris", "capital of", "France"]]}\n```'])
    (r,) = await llm.generate([LLMRequest.chat("extract", json_schema=SCHEMA)])
    assert r.parsed == {"triples": [["Paris", "capital of", "France"]]} and not r.repaired


async def test_json_repair_retry_fixes_a_malformed_reply() -> None:
    llm, backend = make(replies=['{"triples": [["Paris", "capital of"]]}', '{"triples": [["Paris", "capital of", "France"]]}'])
    (r,) = await llm.generate([LLMRequest.chat("extract", json_schema=SCHEMA)])
    assert r.repaired and r.parsed["triples"][0][2] == "France"
    repair = backend.calls[1][1]
    assert repair.messages[-2].role == "assistant" and repair.messages[-2].content.startswith('{"triples"')
    assert "schema violation at triples/0" in repair.messages[-1].content
    assert llm.usage.parse_repairs == 1 and llm.usage.parse_failures == 0


async def test_a_reply_cut_by_max_tokens_is_closed_at_its_last_complete_element() -> None:
    # A looping reply that ran out of tokens (the fake backend cuts at max_tokens words): its
    # complete items are kept without a repair request.
    loop = '{"triples": [["Python", "used for", "code"], ["Python", "used for", "code"], ["Python", "used for", "code"]]}'
    llm, backend = make(replies=[loop])
    (r,) = await llm.generate([LLMRequest.chat("extract", json_schema=SCHEMA, max_tokens=11)])
    assert r.finish_reason == "length" and not r.repaired
    assert r.parsed == {"triples": [["Python", "used for", "code"]]} and r.text == '{"triples": [["Python", "used for", "code"]]}'
    assert llm.usage.parse_repairs == 0 and len(backend.calls) == 1
    # A reply that ended by itself and is invalid still gets the repair round trip.
    llm, backend = make(replies=['{"triples": [["a", "b"]]}', '{"triples": [["a", "b", "c"]]}'])
    (r,) = await llm.generate([LLMRequest.chat("extract", json_schema=SCHEMA)])
    assert r.repaired and llm.usage.parse_repairs == 1


async def test_a_root_min_items_asks_for_more_but_a_shorter_reply_is_no_error() -> None:
    """extract's min_triples (the reply's root minItems) steers a constrained decoder; a backend
    without constraints that gives fewer gets no repair round trip for it."""
    from kgjudge.stages import extract_schema

    llm, backend = make(replies=['[["Paris", "country", "France"]]'])
    (r,) = await llm.generate([LLMRequest.chat("extract", json_schema=extract_schema(50, min_triples=4))])
    assert r.parsed == [["Paris", "country", "France"]] and not r.repaired
    assert llm.usage.parse_repairs == 0 and len(backend.calls) == 1
    # The items' own minItems (three elements a triple) still holds.
    llm, backend = make(replies=['[["Paris", "France"]]', '[["Paris", "country", "France"]]'])
    (r,) = await llm.generate([LLMRequest.chat("extract", json_schema=extract_schema(50, min_triples=4))])
    assert r.repaired and llm.usage.parse_repairs == 1


async def test_unrepairable_reply_raises_parse_error_with_raw_text() -> None:
    llm, _ = make(replies=["Sure! Here are the triples: (Paris, capital, France)", "I cannot do JSON."])
    with pytest.raises(ParseError) as info:
        await llm.generate([LLMRequest.chat("extract", json_schema=SCHEMA)])
    assert info.value.raw == "I cannot do JSON."
    assert "first reply: not JSON" in str(info.value)


async def test_return_exceptions_keeps_the_rest_of_the_batch() -> None:
    good = '{"triples": []}'
    llm, _ = make(rules=[{"match": "bad", "reply": "nope"}, {"match": "good", "reply": good}])
    out = await llm.generate(
        [LLMRequest.chat("good 1", json_schema=SCHEMA), LLMRequest.chat("bad", json_schema=SCHEMA),
         LLMRequest.chat("good 2", json_schema=SCHEMA)],
        return_exceptions=True,
    )
    assert out[0].parsed == {"triples": []} and out[2].parsed == {"triples": []}
    assert isinstance(out[1], ParseError) and out[1].raw == "nope"


async def test_raw_prompt_repair_appends_to_prompt() -> None:
    llm, backend = make(replies=["{oops", '{"triples": []}'])
    (r,) = await llm.generate([LLMRequest(prompt="Triples:", json_schema=SCHEMA)])
    assert r.repaired
    assert backend.calls[1][1].prompt.startswith("Triples:{oops\n\nYour previous reply was not valid JSON")


async def test_capability_and_adapter_checks() -> None:
    llm, _ = make(adapters=["judge"])
    with pytest.raises(ConfigError, match="unknown adapter 'nope'.*judge"):
        await llm.generate([LLMRequest.chat("x", adapter="nope")])
    (r,) = await llm.generate([LLMRequest.chat("x", adapter="judge")])
    assert r.adapter == "judge"
    with pytest.raises(ConfigError, match="needs 'choices'"):
        await llm.score_choices([LLMRequest.chat("x")])
    llm.backend.capabilities = Capabilities(logprobs=False)
    with pytest.raises(ConfigError, match="cannot score choices"):
        await llm.score_choices([LLMRequest.chat("x", choices=["A", "B"])])
    with pytest.raises(ConfigError, match="beam search"):
        await llm.generate([LLMRequest.chat("x", num_beams=4)])
    with pytest.raises(ConfigError, match="LoRA"):
        await llm.generate([LLMRequest.chat("x", adapter="judge")])


def test_request_validation() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        LLMRequest(prompt="a", messages=[{"role": "user", "content": "b"}])
    with pytest.raises(ValueError, match="exactly one"):
        LLMRequest()
    with pytest.raises(ValueError, match="duplicates"):
        LLMRequest(prompt="a", choices=["A", "A"])
    with pytest.raises(ValueError, match="at least two"):
        LLMRequest(prompt="a", choices=["A"])


def test_sync_wrappers_refuse_inside_a_running_loop() -> None:
    llm, _ = make(replies=["x"])
    assert llm.generate_sync([LLMRequest.chat("a")])[0].text == "x"

    async def inner() -> None:
        with pytest.raises(RuntimeError, match="await"):
            llm.generate_sync([LLMRequest.chat("a")])

    import asyncio

    asyncio.run(inner())


def test_json_helpers() -> None:
    assert extract_json('Here: {"a": [1, 2]} done') == {"a": [1, 2]}
    assert extract_json("```\n[1]\n```") == [1]
    with pytest.raises(ValueError, match="no JSON"):
        extract_json("nothing here")
    with pytest.raises(ValueError, match="schema violation at <root>"):
        check_json("{}", SCHEMA)


def test_choice_scores_probabilities() -> None:
    s = ChoiceScores(choices=["A", "B", "C"], logprobs=[-1.0, -1.0, float("-inf")])
    assert s.probs == pytest.approx([0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="differ in length"):
        ChoiceScores(choices=["A"], logprobs=[])


def test_usage_counters_add_up() -> None:
    llm, _ = make(replies=["a b c"])
    llm.generate_sync([LLMRequest.chat("one two"), LLMRequest.chat("three")])
    total = Usage()
    total.add(llm.usage)
    total.add(llm.usage)
    assert total.requests == 4 and total.model_calls == 4 and total.completion_tokens == 12


async def test_identical_requests_in_a_batch_are_sent_once(tmp_path: Path) -> None:
    for cache in (None, tmp_path):
        llm, backend = make(cache)
        out = await llm.generate([LLMRequest.chat("same"), LLMRequest.chat("other"), LLMRequest.chat("same")])
        assert len(backend.calls) == 2 and out[0].text == out[2].text
        assert [r.cached for r in out] == [False, False, True]
        assert llm.usage.model_calls == 2 and llm.usage.requests == 3 and llm.usage.cache_hits == 1
