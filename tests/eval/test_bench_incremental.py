"""The incremental benchmark runs end to end on a tiny build (timings are not checked)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip("pyoxigraph")
pytest.importorskip("spacy")


def test_bench_incremental_runs_with_quick_and_writes_goals(tmp_path: Path) -> None:
    data = tmp_path / "val.target"
    data.write_text("".join(f"Person {i} was born in City {i}. City {i} lies in Land {i}.\n" for i in range(5)))
    out = tmp_path / "result.json"
    cmd = [sys.executable, str(REPO / "eval" / "bench_incremental.py"), "--quick", "--documents", "6", "--scale", "8",
           "--latency", "0", "--data", str(data), "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr + result.stdout
    report = json.loads(out.read_text())
    assert report["quick"] and report["documents"] == 6 and report["cores"] >= 1
    steps = report["steps"]
    assert set(steps) == {"build", "add", "change", "remove", "rejudge", "rebuild"}
    assert (steps["add"]["added"], steps["add"]["unchanged"]) == (1, 6)
    assert (steps["change"]["changed"], steps["change"]["added"]) == (1, 0)
    assert steps["remove"]["documents"] == 6 and steps["rebuild"]["documents"] == 7
    assert steps["rejudge"]["scores_kept"] and steps["rejudge"]["model_calls"] == 0
    assert report["scaled"]["documents"] == 8 and report["scaled"]["add"]["added"] == 1
    assert set(report["goals"]) == {"add_outside_model_s", "add_share_of_rebuild", "rejudge_model_calls", "rejudge_s"}
    assert all(isinstance(g["met"], bool) for g in report["goals"].values())
    assert len(report["load_average_at_start"]) == 3 and "add one:" in result.stdout
