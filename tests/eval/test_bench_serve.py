"""The server benchmark runs end to end on a tiny graph (timings are not checked)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip("fastapi")
pytest.importorskip("pyoxigraph")
pytest.importorskip("rapidfuzz")


def test_bench_serve_runs_and_writes_goals(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    cmd = [sys.executable, str(REPO / "eval" / "bench_serve.py"), "--quick", "--triples", "300", "--requests", "6",
           "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr + result.stdout
    report = json.loads(out.read_text())
    assert report["triples"] == 300 and report["store"] == "rdf.v1" and report["cores"] >= 1
    assert set(report["latency"]) == {"search", "neighbourhood", "triple"}
    assert all(v["requests"] == 6 and v["p95_ms"] >= v["p50_ms"] > 0 for v in report["latency"].values())
    assert set(report["goals"]) == {"search_p50_ms", "neighbourhood_p50_ms", "triple_p50_ms"}
    assert all(g["goal"] == "<= 50 ms" and isinstance(g["met"], bool) for g in report["goals"].values())
    assert len(report["load_average_at_start"]) == 3 and "search: p50" in result.stdout
