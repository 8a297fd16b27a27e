"""The pipeline benchmark runs end to end on a tiny input (timings are not checked)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip("spacy")


def test_bench_build_runs_and_writes_json(tmp_path: Path) -> None:
    data = tmp_path / "val.target"
    data.write_text("Marie Curie was born in Warsaw. She moved to Paris.\nThe Danube flows through Vienna and Budapest.\n")
    out = tmp_path / "result.json"
    cmd = [sys.executable, str(REPO / "eval" / "bench_build.py"), "--data", str(data), "--documents", "2",
           "--latency", "0.01", "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["documents"] == 2
    assert report["calls"]["1"]["rerun_model_calls"] == 0 and report["calls"]["3"]["graphjudger_calls_per_document"] == 7
    assert 0 <= report["overhead"]["outside_model_share"] < 1 and report["overhead"]["triples"] > 0
    assert "model calls/document" in result.stdout
