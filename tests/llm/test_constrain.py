"""Constrained JSON decoding in hf.v1: grammar masks, closing cut replies, ending repeated items."""

import json
from pathlib import Path

import pytest

from kgjudge.llm._constrain import JsonPrefix, close_json
from kgjudge.stages import entity_schema, extract_schema

EXTRACT = extract_schema(4)
ENTITIES = entity_schema(5)
LOOP = '[["Python", "used for", "programming language"], ["Python", "used for", "programming language"], ["Py'


def test_a_repeated_array_item_is_found_and_cut_before() -> None:
    prefix = JsonPrefix()
    for ch in LOOP:  # token by token or at once: the same result
        prefix.feed(ch)
    assert prefix.repeats == ['[["Python", "used for", "programming language"]]']
    whole = JsonPrefix()
    whole.feed(LOOP)
    assert whole.repeats == prefix.repeats
    # Equal strings inside one triple are a repeat too; the caller keeps only cuts that validate.
    self_loop = JsonPrefix()
    self_loop.feed('[["X", "is", "X"]')
    assert self_loop.repeats == ['[["X", "is"]]']
    assert close_json('[["X", "is", "X"]]', EXTRACT) == '[["X", "is", "X"]]'


@pytest.mark.parametrize(
    ("text", "schema", "closed"),
    [
        ('[["a", "b", "c"], ["d", "e', EXTRACT, '[["a", "b", "c"]]'),
        ("[[", EXTRACT, "[]"),
        ('{"entities": ["a", "b", "a", "b"', ENTITIES, '{"entities": ["a", "b"]}'),
        ('{"entities": ["a", "b\\"q', ENTITIES, '{"entities": ["a"]}'),
        ('{"ent', ENTITIES, None),
        ('{"x": 1.5, "y": [1, 2, 3', {"type": "object"}, '{"x": 1.5, "y": [1, 2]}'),
        ('[["a", "b", "c"]]', EXTRACT, '[["a", "b", "c"]]'),
        # a reply cut before the minimum number of triples it was asked for keeps those it has
        ('[["a", "b", "c"], ["d", "e', extract_schema(4, min_triples=3), '[["a", "b", "c"]]'),
        ('[["a", "b", "c"], ["d", "e", "f"]]', extract_schema(4, min_triples=3), '[["a", "b", "c"], ["d", "e", "f"]]'),
    ],
)
def test_close_json_keeps_the_longest_valid_cut(text: str, schema: dict, closed: str | None) -> None:
    assert close_json(text, schema) == closed


@pytest.mark.parametrize(
    ("text", "schema", "closed"),
    [
        ("[" + '["a", "b", "c"], ' * 60_000, EXTRACT, '[["a", "b", "c"]]'),  # a reply that looped
        ("[" + '["a", "b", "c"], ' * 60_000, {"type": "object"}, None),  # no cut validates
        ('{"entities": ["a", ' + "[" * 20_000, ENTITIES, '{"entities": ["a"]}'),  # too deep to close
    ],
)
def test_closing_a_huge_cut_reply_takes_memory_in_proportion_to_it(text: str, schema: dict, closed: str | None) -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        assert close_json(text, schema) == closed
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * len(text) + 10_000_000, f"{peak / 1e6:.0f} MB for a reply of {len(text) / 1e6:.1f} MB"


torch = pytest.importorskip("torch")
pytest.importorskip("llguidance")

from kgjudge.llm import LLM, HFBackend, HFConfig, LLMRequest  # noqa: E402
from kgjudge.llm._hf import _Decoding  # noqa: E402


@pytest.fixture(scope="module")
def plain(tiny_llama_dir: Path) -> HFBackend:
    return HFBackend(HFConfig(model=str(tiny_llama_dir), batch_size=4))


def test_a_random_model_under_a_schema_always_gives_valid_json(plain: HFBackend) -> None:
    assert plain.capabilities.json_schema
    llm = LLM(plain)
    requests = [
        LLMRequest(prompt=f"Triples {n}:", json_schema=schema, max_tokens=tokens, temperature=1.5, seed=n)
        for n in range(6)
        for schema, tokens in ((EXTRACT, 40), (ENTITIES, 25), (EXTRACT, 7))
    ]
    replies = llm.generate_sync(requests)
    assert llm.usage.parse_repairs == 0 and llm.usage.parse_failures == 0
    for request, reply in zip(requests, replies):
        assert reply.parsed == json.loads(reply.text)
        assert reply.completion_tokens <= request.max_tokens
        if request.json_schema == EXTRACT:
            assert len(reply.parsed) <= 4 and all(len(t) == 3 for t in reply.parsed)
        else:
            assert set(reply.parsed) == {"entities"} and len(reply.parsed["entities"]) <= 5


def test_an_ontology_schema_allows_only_its_relations(plain: HFBackend) -> None:
    schema = extract_schema(3, ["country", "date of birth", "part of"])
    tok = plain.tokenizer

    def accepted(text: str) -> bool:
        matcher = plain._grammar().matcher(schema)
        return bool(matcher.consume_tokens(tok(text, add_special_tokens=False)["input_ids"])) and not matcher.is_error()

    assert accepted('[["Paris", "country", "France"], ["Ada", "date of birth", "1815"]]')
    assert accepted('[["Paris", "part')  # a prefix of an allowed relation
    assert not accepted('[["Paris", "capital of", "France"]]')
    assert not accepted('[["Paris", "countryside", "France"]]')
    # a random model under it writes nothing else
    llm = LLM(plain)
    replies = llm.generate_sync([LLMRequest(prompt=f"Facts {n}:", json_schema=schema, max_tokens=64,
                                            temperature=1.5, seed=n) for n in range(4)])
    assert llm.usage.parse_failures == 0
    assert all(t[1] in schema["items"]["prefixItems"][1]["enum"] for reply in replies for t in reply.parsed)


def test_min_triples_keeps_a_constrained_model_listing(plain: HFBackend) -> None:
    schema = extract_schema(8, min_triples=3)
    tok = plain.tokenizer

    def finished(text: str, schema: dict) -> bool:
        matcher = plain._grammar().matcher(schema)
        ok = bool(matcher.consume_tokens(tok(text, add_special_tokens=False)["input_ids"]))
        return ok and not matcher.is_error() and matcher.is_accepting()

    two = '[["Paris", "country", "France"], ["Ada", "date of birth", "1815"]]'
    three = two[:-1] + ', ["Rome", "country", "Italy"]]'
    assert finished(two, extract_schema(8)) and not finished(two, schema) and finished(three, schema)


def test_generation_stops_when_the_value_closes_and_finished_rows_leave_the_batch(plain: HFBackend) -> None:
    rows_per_step: list[int] = []
    model = plain.model
    original = model.forward

    def counting(*args: object, **kwargs: object) -> object:
        rows_per_step.append(int(kwargs["input_ids"].shape[0]))  # type: ignore[union-attr]
        return original(*args, **kwargs)

    short = LLMRequest(prompt="Say ok:", json_schema={"enum": ["ok"]}, max_tokens=30)
    free = LLMRequest(prompt="Keep talking:", max_tokens=30)
    model.forward = counting  # type: ignore[method-assign]
    try:
        closed, running = LLM(plain).generate_sync([short, free])
    finally:
        model.forward = original  # type: ignore[method-assign]
    assert closed.text == '"ok"' and closed.finish_reason == "stop" and closed.completion_tokens <= 3
    assert rows_per_step[0] == 2 and rows_per_step[-1] == 1
    # The free row alone decodes after the constrained one closed: it costs no second row.
    assert rows_per_step.count(2) <= 1 + closed.completion_tokens
    assert len(rows_per_step) >= running.completion_tokens


def test_batched_constrained_generation_equals_one_at_a_time(plain: HFBackend) -> None:
    llm = LLM(plain)
    requests = [LLMRequest(prompt=p, json_schema=EXTRACT, max_tokens=24) for p in ("A", "A longer prompt here", "B c")]
    batched = [r.text for r in llm.generate_sync(requests)]
    assert batched == [llm.generate_sync([r])[0].text for r in requests]


def test_a_looping_reply_ends_at_the_repeated_item(plain: HFBackend) -> None:
    request = LLMRequest(prompt="x", json_schema=EXTRACT, max_tokens=160)
    row = _Decoding(0, request, [1])
    row.constrain(plain._grammar().matcher(EXTRACT))
    tokens = plain.tokenizer(LOOP, add_special_tokens=False)["input_ids"]
    eos = plain.tokenizer.eos_token_id
    taken = 0
    for token in tokens:
        taken += 1
        if not row.step(token, eos, plain.tokenizer):
            break
    assert taken < len(tokens) and row.finish == "stop"
    row.finalise(plain.tokenizer)
    assert json.loads(row.text) == [["Python", "used for", "programming language"]]


def test_without_constraints_the_schema_is_left_to_the_client(tiny_llama_dir: Path) -> None:
    backend = HFBackend(HFConfig(model=str(tiny_llama_dir), constrain_json=False))
    assert not backend.capabilities.json_schema
    (reply,) = LLM(backend).generate_sync(
        [LLMRequest(prompt="x", json_schema=EXTRACT, max_tokens=5)], return_exceptions=True
    )
    assert reply.raw is not None  # a ParseError keeping the random model's free text


def test_a_schema_the_grammar_cannot_express_falls_back_to_validation(plain: HFBackend) -> None:
    # uniqueItems is not enforceable by the grammar: the row decodes freely and the client
    # validates (and repairs) the reply, as for a backend without constraints.
    schema = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    (reply,) = LLM(plain).generate_sync([LLMRequest(prompt="x", json_schema=schema, max_tokens=5)], return_exceptions=True)
    assert reply.raw is not None if hasattr(reply, "raw") else isinstance(reply.parsed, list)
