"""An end-to-end build of a few REBEL-Sub val documents with the packaged SmolLM2."""

import json
from pathlib import Path

import pytest

from kgjudge import parse_config
from kgjudge.pipeline import build

pytestmark = pytest.mark.slow
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "rebel_sub"


def test_build_rebel_documents_with_the_packaged_model(tmp_path: Path, smollm2_tokenizer_dir: Path) -> None:
    if not DATA.is_dir():
        pytest.skip("development data not present")
    lines = (DATA / "val.target").read_text(encoding="utf-8").splitlines()[:3]
    gold = (DATA / "val.source").read_text(encoding="utf-8").splitlines()[:3]
    (tmp_path / "val.target").write_text("\n".join(lines) + "\n")
    (tmp_path / "val.source").write_text("\n".join(gold) + "\n")
    config = parse_config({
        "backends": {"default": {"type": "hf.v1", "model": "smollm2-135m-instruct"}},
        "cache": {"enabled": True, "path": str(tmp_path / "cache")},
        "pipeline": {"denoise": {"rounds": 1, "entities_max_tokens": 96, "max_tokens": 160},
                     "extract": {"max_tokens": 192}},
    })
    summary = build([tmp_path / "val.target"], config, tmp_path / "out", progress=False)
    out = tmp_path / "out"
    assert summary.documents == 3 and summary.gold_triples > 0
    manifest = json.loads((out / "manifest.json").read_text())
    usage = manifest["summary"]["usage"]
    # One extraction per chunk and at most two denoise calls per chunk and round, each plus its
    # repair requests: nothing skipped silently.
    assert usage["extract"]["requests"] - usage["extract"]["parse_repairs"] == summary.chunks
    assert usage["denoise"]["requests"] - usage["denoise"]["parse_repairs"] <= 2 * summary.chunks
    triples = [json.loads(line) for line in (out / "triples.jsonl").read_text().splitlines()]
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert all(t["extractor"]["model"] == "smollm2-135m-instruct" for t in triples)
    assert all(t["document_id"] in {f"val.target:{i}" for i in (1, 2, 3)} for t in triples)
    assert all(f["raw"] is not None for f in failures), "every unusable reply keeps its raw text"
    chunk_ids = {json.loads(line)["id"] for line in (out / "chunks.jsonl").read_text().splitlines()}
    # Every chunk ends in triples, a recorded failure, or a valid empty reply.
    assert {t["chunk_id"] for t in triples} | {f["chunk_id"] for f in failures} <= chunk_ids
    again = build([tmp_path / "val.target"], config, tmp_path / "out2", progress=False)
    assert again.this_run.model_calls == 0 and again.triples == summary.triples
