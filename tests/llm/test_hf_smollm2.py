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


ANSWER_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
GOOD = LLMRequest.chat('What is the capital of France? Reply in JSON like {"answer": "..."}', json_schema=ANSWER_SCHEMA, max_tokens=40)
# Unconstrained, the untuned model answers this one in prose, twice: a real malformed reply.
PROSE = LLMRequest.chat('Return JSON {"answer": <the capital of Italy>}', json_schema=ANSWER_SCHEMA, max_tokens=40)


def test_json_schema_generation_parses_or_keeps_the_raw_reply(smollm2_tokenizer_dir: Path) -> None:
    # The client's repair round trip, as for a backend without constrained decoding.
    free = HFBackend(HFConfig(constrain_json=False))
    assert not free.capabilities.json_schema
    first, second = LLM(free).generate_sync([GOOD, PROSE], return_exceptions=True)
    assert first.parsed["answer"] == "Paris"
    assert isinstance(second, ParseError) and "Rome" in second.raw


def test_constrained_json_always_parses_and_stops_when_the_value_closes(smol: HFBackend) -> None:
    assert smol.capabilities.json_schema
    llm = LLM(smol)
    first, second = llm.generate_sync([GOOD, PROSE])
    assert first.parsed["answer"] == "Paris" and "Rome" in second.parsed["answer"]
    assert llm.usage.parse_repairs == 0
    # The value closed before the 40-token budget and nothing followed it.
    assert first.finish_reason == "stop" and first.completion_tokens < 40 and first.text.endswith("}")


def test_packaged_extractor_does_not_loop_on_the_python_document(smollm2_tokenizer_dir: Path) -> None:
    # Unconstrained, this reply repeated ["Python", "used for", "programming language"] until
    # its 160 tokens ran out, then a 160-token repair failed too.
    from kgjudge.stages import EXTRACT_SCHEMA, extract_messages

    backend = HFBackend(HFConfig(adapters={"extractor": "packaged:smollm2-extractor.v1"}))
    text = (REPO / "examples" / "documents" / "python.txt").read_text(encoding="utf-8")
    request = LLMRequest(messages=extract_messages(text), json_schema=EXTRACT_SCHEMA, max_tokens=160, adapter="extractor")
    llm = LLM(backend)
    (reply,) = llm.generate_sync([request])
    assert llm.usage.parse_repairs == 0 and reply.finish_reason == "stop"
    assert reply.completion_tokens < 80
    assert len({tuple(t) for t in reply.parsed}) == len(reply.parsed) >= 1


def test_min_triples_makes_the_packaged_extractor_list_more_of_the_curie_paragraph(smollm2_tokenizer_dir: Path) -> None:
    """min_triples (the reply's minItems, enforced while decoding): asked for six triples of the
    Curie paragraph, the packaged extractor lists more distinct ones than on its own, and its
    reply closes by itself (at the sixth, or where it starts repeating itself)."""
    from kgjudge.stages import extract_messages, extract_schema

    backend = HFBackend(HFConfig(adapters={"extractor": "packaged:smollm2-extractor.v3"}))
    text = (REPO / "examples" / "documents" / "curie.txt").read_text(encoding="utf-8")
    llm = LLM(backend)
    free, asked = llm.generate_sync([
        LLMRequest(messages=extract_messages(text), json_schema=extract_schema(50, min_triples=n), max_tokens=160,
                   adapter="extractor")
        for n in (0, 6)
    ])
    assert llm.usage.parse_repairs == 0 and asked.finish_reason == "stop"
    assert len(free.parsed) < len({tuple(t) for t in asked.parsed}) <= 6


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
    # A fresh response cache; the converted model comes from the machine's model store.
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


def test_two_response_caches_share_one_converted_model(tmp_path: Path) -> None:
    """The model store ($KGJUDGE_MODEL_DIR) is apart from the response cache ($KGJUDGE_CACHE_DIR):
    a new response cache does not convert the GGUF again."""
    kgjudge = str(Path(sys.executable).with_name("kgjudge"))
    store = tmp_path / "store"

    def run(cache: str, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "KGJUDGE_MODEL_DIR": str(store),
               "KGJUDGE_CACHE_DIR": str(tmp_path / cache)}
        result = subprocess.run([kgjudge, *args], capture_output=True, text=True, env=env, timeout=900)
        assert result.returncode == 0, result.stderr
        return result

    first = run("cache-a", "model", "path")
    folder = Path(first.stdout.strip())
    assert folder.parent == store and (folder / "config.json").is_file()
    notes = [line for line in first.stderr.splitlines() if "converting" in line]
    assert len(notes) == 1 and "once" in notes[0] and str(store) in notes[0]
    assert "de-quantizing" not in first.stderr, "no per-tensor progress lines"
    assert run("cache-a", "model", "path", "--store").stdout.strip() == str(store)
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    question = ["llm", "The capital of France is", "--raw", "--choice", " Paris", "--choice", " London"]
    for cache in ("cache-b", "cache-c"):
        second = run(cache, *question)
        assert "converting" not in second.stderr and "cache hits 0/1" in second.stderr
        assert (tmp_path / cache / "responses").is_dir()
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
    assert sorted(p.name for p in store.iterdir() if p.is_dir()) == [folder.name]
    assert not (tmp_path / "cache-a" / "models").exists()
