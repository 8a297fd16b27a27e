"""The judge-throughput benchmark runs end to end on a tiny input (timings are not checked)."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_benchmark_runs_and_writes_json(tiny_llama_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "val.target").write_text("Paris is the capital of France.\nRome is in Italy.\n")
    (data / "val.source").write_text("[['Paris', 'capital of', 'France']]\n[['Rome', 'country', 'Italy'], ['x', 'y']]\n")
    out = tmp_path / "result.json"
    cmd = [sys.executable, str(REPO / "eval" / "bench_judge_throughput.py"), "--model", str(tiny_llama_dir),
           "--data", str(data), "--triples", "2", "--baseline-triples", "1", "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "ratio:" in result.stdout
    report = json.loads(out.read_text())
    assert report["batched"]["triples"] == 2 and report["generation_beam4"]["triples"] == 1
    assert report["ratio"] > 0 and report["generation_beam4"]["num_beams"] == 4
    goal = report["goals"]["batched vs generation, triples per second"]
    assert goal["goal"] == ">= 20" and goal["met"] == (goal["value"] >= 20)
