"""The packaged SmolLM2-135M-Instruct through the transformers backend (the embedded default)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kgjudge import ParseError
from kgjudge.llm import LLM, HFBackend, HFConfig, LLMRequest, ResponseCache

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smol(smollm2_tokenizer_dir: Path) -> HFBackend:
    return HFBackend(HFConfig())


def test_dequantised_copy_is_cached_and_reloads_fast(smollm2_tokenizer_dir: Path) -> None:
    assert (smollm2_tokenizer_dir / "config.json").is_file()
    assert (smollm2_tokenizer_dir / "model.safetensors").is_file()
    started = time.perf_counter()
    HFBackend(HFConfig())
    assert time.perf_counter() - started < 20, "the plain copy must be reused, not re-dequantised"


def test_chat(smol: HFBackend) -> None:
    (r,) = LLM(smol).generate_sync([LLMRequest.chat("What is the capital of France?", max_tokens=20)])
    assert "Paris" in r.text and r.finish_reason == "stop" and r.model == "smollm2-135m-instruct"


def test_json_schema_generation_parses_or_keeps_the_raw_reply(smol: HFBackend) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    good = LLMRequest.chat('What is the capital of France? Reply in JSON like {"answer": "..."}', json_schema=schema, max_tokens=40)
    # The untuned model answers this one in prose, twice: a real malformed reply.
    prose = LLMRequest.chat('Return JSON {"answer": <the capital of Italy>}', json_schema=schema, max_tokens=40)
    first, second = LLM(smol).generate_sync([good, prose], return_exceptions=True)
    assert first.parsed["answer"] == "Paris"
    assert isinstance(second, ParseError) and "Rome" in second.raw


def test_score_choices_prefers_the_true_continuation(smol: HFBackend, tmp_path: Path) -> None:
    llm = LLM(smol, ResponseCache(tmp_path))
    reqs = [
        LLMRequest(prompt="The capital of France is", choices=[" Paris", " London", " Berlin"]),
        LLMRequest(prompt="The capital of Germany is", choices=[" Paris", " London", " Berlin"]),
        LLMRequest.chat("Is this true: Paris is the capital of France? Answer Yes or No.", choices=["Yes", "No"]),
    ]
    france, germany, yes_no = llm.score_choices_sync(reqs)
    assert france.best == " Paris" and germany.best == " Berlin"
    assert sum(yes_no.probs) == pytest.approx(1.0) and all(lp < 0 for lp in yes_no.logprobs)
    again = llm.score_choices_sync(reqs)
    assert all(s.cached for s in again) and llm.usage.model_calls == 3


def test_cli_llm_on_the_embedded_default(tmp_path: Path) -> None:
    from kgjudge.llm import hf_model_dir, resolve_model

    # A fresh response cache, but the machine's dequantised model copy (no second conversion).
    (tmp_path / "models").symlink_to(hf_model_dir(resolve_model("smollm2-135m-instruct")).parent)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "KGJUDGE_CACHE_DIR": str(tmp_path)}
    kgjudge = str(Path(sys.executable).with_name("kgjudge"))
    cmd = [kgjudge, "llm", "The capital of France is", "--raw", "--choice", " Paris", "--choice", " London", "--json"]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["choices"] == [" Paris", " London"] and out["probs"][0] > out["probs"][1]
    assert "cache hits 0/1" in result.stderr
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert "cache hits 1/1" in again.stderr and json.loads(again.stdout)["logprobs"] == out["logprobs"]
    chat = subprocess.run([kgjudge, "llm", "What is the capital of France?"], capture_output=True, text=True, env=env, timeout=300)
    assert chat.returncode == 0 and "Paris" in chat.stdout
