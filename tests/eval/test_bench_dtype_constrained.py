"""The dtype and constrained-decoding benchmarks run end to end on a tiny input (timings are not
checked)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def tiny_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "val.target").write_text("Paris is the capital of France.\nRome is in Italy.\n")
    (data / "val.source").write_text("[['Paris', 'capital of', 'France']]\n[['Rome', 'country', 'Italy'], ['x', 'y']]\n")
    return data


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(REPO / "eval" / script), *args], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr
    return result


def test_bench_dtype_runs_and_writes_goals(tiny_llama_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "dtype.json"
    run("bench_dtype.py", "--quick", "--model", str(tiny_llama_dir), "--data", str(tiny_data(tmp_path)), "--out", str(out))
    report = json.loads(out.read_text())
    assert set(report["variants"]) >= {"float32", "bf16 autocast: score", "bf16 weights"}
    assert report["variants"]["float32"]["max_p_yes_difference"] == 0
    assert all({"value", "goal", "met"} <= set(g) for g in report["goals"].values())


def test_bench_constrained_runs_and_checks_llguidance(tiny_llama_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("llguidance")
    out = tmp_path / "constrained.json"
    run("bench_constrained.py", "--quick", "--model", str(tiny_llama_dir), "--data", str(tiny_data(tmp_path)),
        "--libraries", "llguidance", "--out", str(out))
    report = json.loads(out.read_text())
    llg = report["libraries"]["llguidance"]
    assert llg["all_correct"] and llg["schemas"]["extract"]["invalid_refused"] == "5/5"
    assert report["goals"]["a library is correct on every schema"]["met"]
