"""The transformers backend on a tiny random Llama: batching, scoring maths, LoRA, beams."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from kgjudge.llm import LLM, HFBackend, HFConfig, LLMRequest  # noqa: E402

# The scoring maths is checked exactly, in float32 (the CPU default scores under bfloat16 autocast
# where the CPU has bfloat16 instructions).
FP32 = {"score": "float32", "prefill": "float32", "decode": "float32"}
PROMPTS = ["Paris is the capital of", "A much longer prompt that needs padding when batched with short ones:", "Hi"]


@pytest.fixture(scope="module")
def tiny(tiny_llama_dir: Path, tiny_lora_dirs: dict[str, Path]) -> HFBackend:
    return HFBackend(HFConfig(model=str(tiny_llama_dir), batch_size=4, adapters={k: str(v) for k, v in tiny_lora_dirs.items()},
                              op_dtypes=FP32))


@pytest.fixture(scope="module")
def plain(tiny_llama_dir: Path) -> HFBackend:
    return HFBackend(HFConfig(model=str(tiny_llama_dir), batch_size=4, op_dtypes=FP32))


def manual_logprob(backend: HFBackend, prompt_ids: list[int], continuation: list[int]) -> float:
    """log P(continuation | prompt) from one unpadded forward pass of the base model."""
    model = backend.model.get_base_model() if hasattr(backend.model, "get_base_model") else backend.model
    ids = torch.tensor([prompt_ids + continuation])
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return float(sum(logp[len(prompt_ids) - 1 + k, tok] for k, tok in enumerate(continuation)))


def test_batched_generation_equals_one_at_a_time(plain: HFBackend) -> None:
    llm = LLM(plain)
    reqs = [LLMRequest(prompt=p, max_tokens=6) for p in PROMPTS] + [LLMRequest.chat("Hello there", max_tokens=6)]
    batched = [r.text for r in llm.generate_sync(reqs)]
    single = [llm.generate_sync([r])[0].text for r in reqs]
    assert batched == single
    assert all(r.completion_tokens <= 6 for r in llm.generate_sync(reqs))


def test_single_token_choice_scores_match_a_manual_forward_pass(plain: HFBackend) -> None:
    tok = plain.tokenizer
    choices = ["Yes", "No", " the"]
    assert all(len(tok(c, add_special_tokens=False)["input_ids"]) == 1 for c in choices)
    reqs = [LLMRequest(prompt=p, choices=choices) for p in PROMPTS]
    scores = LLM(plain).score_choices_sync(reqs)
    for prompt, s in zip(PROMPTS, scores):
        ids = tok(prompt)["input_ids"]
        for choice, lp in zip(choices, s.logprobs):
            expected = manual_logprob(plain, ids, tok(choice, add_special_tokens=False)["input_ids"])
            assert lp == pytest.approx(expected, abs=1e-4)


def test_multi_token_choices_are_scored_exactly_and_batching_does_not_change_them(plain: HFBackend) -> None:
    tok = plain.tokenizer
    choices = [" France and Spain", " Germany", " the united kingdom of"]
    reqs = [LLMRequest(prompt=p, choices=choices) for p in PROMPTS]
    batched = LLM(plain).score_choices_sync(reqs)
    for req, s in zip(reqs, batched):
        (alone,) = LLM(plain).score_choices_sync([req])
        assert s.logprobs == pytest.approx(alone.logprobs, abs=1e-4)
        ids = tok(req.prompt)["input_ids"]
        expected = [manual_logprob(plain, ids, tok(c, add_special_tokens=False)["input_ids"]) for c in choices]
        assert s.logprobs == pytest.approx(expected, abs=1e-4)


def test_lora_adapters_are_chosen_per_request(tiny: HFBackend, plain: HFBackend) -> None:
    choices = ["Yes", "No"]
    reqs = [
        LLMRequest.chat("Is this true?", choices=choices),
        LLMRequest.chat("Is this true?", choices=choices, adapter="a"),
        LLMRequest.chat("Is this true?", choices=choices, adapter="b"),
    ]
    base, a, b = (s.logprobs for s in LLM(tiny).score_choices_sync(reqs))
    assert base != pytest.approx(a) and a != pytest.approx(b)
    (reference,) = LLM(plain).score_choices_sync(reqs[:1])
    assert base == pytest.approx(reference.logprobs, abs=1e-5), "no adapter must mean the base model"
    (a_again,) = LLM(tiny).score_choices_sync(reqs[1:2])
    assert a == pytest.approx(a_again.logprobs, abs=1e-5)
    gens = LLM(tiny).generate_sync([r.model_copy(update={"choices": None, "max_tokens": 5}) for r in reqs])
    assert [g.adapter for g in gens] == [None, "a", "b"]


def test_beam_search_and_stop_strings(plain: HFBackend) -> None:
    llm = LLM(plain)
    (beam,) = llm.generate_sync([LLMRequest(prompt=PROMPTS[0], max_tokens=8, num_beams=4)])
    assert beam.completion_tokens >= 1
    (free,) = llm.generate_sync([LLMRequest(prompt=PROMPTS[1], max_tokens=12)])
    cut = next(free.text[i : i + 2] for i in range(1, len(free.text) - 1) if free.text[i : i + 2].strip())
    (stopped,) = llm.generate_sync([LLMRequest(prompt=PROMPTS[1], max_tokens=12, stop=[cut])])
    assert stopped.finish_reason == "stop"
    assert cut not in stopped.text and free.text.startswith(stopped.text)


def test_seeded_sampling_is_reproducible(plain: HFBackend) -> None:
    req = LLMRequest(prompt=PROMPTS[0], max_tokens=8, temperature=1.0, seed=7)
    first = LLM(plain).generate_sync([req])[0].text
    assert LLM(plain).generate_sync([req])[0].text == first


def test_shared_prefix_scoring_equals_plain_scoring(tiny_llama_dir: Path) -> None:
    """Requests sharing a long prefix (one document, many triples) reuse its KV cache; the scores
    must equal scoring every sequence in full."""
    document = "Document: " + " ".join(f"word{i}" for i in range(60)) + "\n"
    questions = ["Is this true: a b c?", "Is this true: a much longer question d e f g h?", "Is this true: x?"]
    reqs = [LLMRequest(prompt=document + q, choices=["Yes", "No"]) for q in questions]
    reqs += [LLMRequest(prompt=document + q, choices=[" Yes indeed", " No"]) for q in questions[:2]]
    reqs += [LLMRequest(prompt="Unrelated short prompt", choices=["Yes", "No"])]
    shared = HFBackend(HFConfig(model=str(tiny_llama_dir), batch_size=2, prefix_min_tokens=16, op_dtypes=FP32))
    plain = HFBackend(HFConfig(model=str(tiny_llama_dir), batch_size=2, prefix_min_tokens=10_000, op_dtypes=FP32))
    from kgjudge.llm._hf import _prefix_groups, _Row

    rows = [_Row(i, None, shared._prompt_ids(r), []) for i, r in enumerate(reqs[:3])]
    groups = _prefix_groups(rows, 16)
    assert len(groups) == 1 and len(groups[0][0]) >= 16 and len(groups[0][1]) == 3
    with_prefix = LLM(shared).score_choices_sync(reqs)
    without = LLM(plain).score_choices_sync(reqs)
    tok = plain.tokenizer
    for req, a, b in zip(reqs, with_prefix, without):
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
        ids = tok(req.prompt)["input_ids"]
        manual = [manual_logprob(plain, ids, tok(c, add_special_tokens=False)["input_ids"]) for c in req.choices]
        assert a.logprobs == pytest.approx(manual, abs=1e-4)


def test_scoring_batches_pad_little_and_keep_every_item() -> None:
    """One-pass scoring spends compute on every pad: a 70-token prompt is not padded to 480
    beside a long one, similar lengths still share a batch, and no item is lost or repeated."""
    from kgjudge.llm._hf import _padded_batches

    lengths = [483, 69, 173, 77, 115, 417, 153, 189, 20, 22, 25, 21]
    batches = list(_padded_batches(list(range(len(lengths))), lambda i: lengths[i], 16))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for batch in batches:
        real = sum(lengths[i] for i in batch)
        assert len(batch) * max(lengths[i] for i in batch) - real <= max(0.25 * real, 64)
    assert any({8, 9, 10, 11} <= set(b) for b in batches)  # short prompts of similar length batch
    assert not any({1, 0} <= set(b) for b in batches)
    assert [len(b) for b in _padded_batches([5] * 10, lambda n: n, 4)] == [4, 4, 2]


def test_the_response_cache_tells_adapters_under_one_name_apart(
    tiny_llama_dir: Path, tiny_lora_dirs: dict[str, Path], tmp_path: Path
) -> None:
    """Swapping the weights behind an adapter name (a config moving from one packaged adapter
    to its successor) must not answer from the old adapter's cached replies."""
    from kgjudge.llm import ResponseCache

    cache = ResponseCache(tmp_path / "cache")
    request = LLMRequest.chat("Paris is in", adapter="extractor", max_tokens=4)
    replies = []
    for name in ("a", "b"):
        backend = HFBackend(HFConfig(model=str(tiny_llama_dir), adapters={"extractor": str(tiny_lora_dirs[name])}))
        llm = LLM(backend, cache=cache)
        replies.append(llm.generate_sync([request])[0])
        assert llm.usage.cache_hits == 0
    assert replies[0].text != replies[1].text
    same = HFBackend(HFConfig(model=str(tiny_llama_dir), adapters={"extractor": str(tiny_lora_dirs["b"])}))
    again = LLM(same, cache=cache)
    assert again.generate_sync([request])[0].text == replies[1].text and again.usage.cache_hits == 1


def test_cpu_scoring_dtype_is_chosen_per_operation(tiny_llama_dir: Path) -> None:
    from kgjudge.llm._hf import cpu_has_bf16

    auto = HFBackend(HFConfig(model=str(tiny_llama_dir), device="cpu"))
    fp32 = HFBackend(HFConfig(model=str(tiny_llama_dir), device="cpu", op_dtypes=FP32))
    assert auto._op_dtype("score") == ("bfloat16" if cpu_has_bf16() else None)
    assert auto._op_dtype("prefill") == ("bfloat16" if cpu_has_bf16() else None)
    assert auto._op_dtype("decode") is None
    assert fp32._op_dtype("prefill") is None
    assert fp32._op_dtype("score") is None  # the weights' own dtype
    # The compute dtype changes the numbers, so it keys the response cache.
    assert (auto.fingerprint() != fp32.fingerprint()) == cpu_has_bf16()
    reqs = [LLMRequest(prompt=p, choices=["Yes", "No"]) for p in PROMPTS]
    for a, b in zip(LLM(auto).score_choices_sync(reqs), LLM(fp32).score_choices_sync(reqs)):
        assert a.logprobs == pytest.approx(b.logprobs, abs=0.5)


def test_requests_are_reported_finished_micro_batch_by_micro_batch(plain: HFBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Progress moves within a batch: batch_size 4, so ten requests finish in three steps."""
    from kgjudge._progress import Progress

    from _support import record_requests_done

    events = record_requests_done(monkeypatch)
    llm = LLM(plain)
    with Progress("test", "requests", 10, enabled=False) as progress:
        results = llm.generate_sync([LLMRequest(prompt=f"{p} {i}", max_tokens=3) for i, p in enumerate(PROMPTS * 4)][:10])
        assert [e[0] for e in events] == [4, 4, 2]
        assert sum(e[3] for e in events) == sum(r.prompt_tokens + r.completion_tokens for r in results)
        events.clear()
        # scoring: one request at a time as its last row is scored (multi-token choices: 2 rows each)
        llm.score_choices_sync([LLMRequest(prompt=f"{p} {i}", choices=[" France and Spain", " Germany"])
                                for i, p in enumerate(PROMPTS * 2)])
        assert [e[0] for e in events] == [1] * 6
        assert progress.finished == progress.sent == 16
