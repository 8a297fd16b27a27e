"""`kgjudge filter` through the CLI with the packaged SmolLM2 and its packaged adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kgjudge.cli import app

pytestmark = pytest.mark.slow


def test_cli_filter_with_the_packaged_model(tmp_path: Path, smollm2_tokenizer_dir: Path) -> None:
    from kgjudge import Triple
    from kgjudge.graph import build_store

    store = {"type": "networkx.v1", "path": str(tmp_path / "graph.json")}
    with build_store(store) as s:
        s.upsert([Triple(head="Paris", relation="capital of", tail="France", document_id="geo")], [])
    config = {
        "backends": {"default": {"type": "hf.v1", "threads": 1, "adapters": {
            "extractor": "packaged:smollm2-extractor.v1", "judge": "packaged:smollm2-judge.v1"}}},
        "cache": {"enabled": True, "path": str(tmp_path / "cache")},
        "filter": {
            "judges": [
                {"type": "direct.v1"},
                {"type": "kg_grounded.v1", "store": store, "extractor_adapter": "extractor",
                 "judge_adapter": "judge", "extract_max_tokens": 48},
            ],
        },
    }
    path = tmp_path / "filter.yaml"
    path.write_text(yaml.safe_dump(config))
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"instruction": "What is the capital of France?", "output": "Paris is the capital of France."}) + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "Capital of Spain?"},
                                   {"role": "assistant", "content": "Berlin is the capital of Spain."}]}) + "\n"
        + "not json\n"
    )
    runner = CliRunner()
    result = runner.invoke(app, ["filter", str(src), "-c", str(path), "-o", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "1 malformed" in result.output
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["kept"] + report["rejected"] == 2 and report["malformed"] == 1
    assert report["this_run"]["model_calls"] > 0
    decisions = [json.loads(x) for x in (tmp_path / "out" / "decisions.jsonl").read_text().splitlines()]
    for d in decisions:
        assert [j["judge"] for j in d["judgements"]] == ["direct.v1", "kg_grounded.v1"]
        assert all(0.0 <= j["score"] <= 1.0 for j in d["judgements"])
        assert d["judgements"][1]["raw_output"]  # the extractor's reply is kept

    # The same work again, in a fresh folder, is answered from the cache.
    again = runner.invoke(app, ["filter", str(src), "-c", str(path), "-o", str(tmp_path / "again"), "--no-progress"])
    assert again.exit_code == 0, again.output
    assert "this run: 0 model calls" in again.output
    assert (tmp_path / "again" / "kept.jsonl").read_text() == (tmp_path / "out" / "kept.jsonl").read_text()
