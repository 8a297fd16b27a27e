"""eval/filter_quality.py runs end to end on a tiny model and tiny data (numbers are not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip("sklearn")


def test_filter_quality_script(tiny_llama_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    texts = [f"Town{i} lies in Land{i % 5}. It was founded in {1800 + i}." for i in range(60)]
    graphs = [repr([[f"Town{i}", "country", f"Land{i % 5}"], [f"Town{i}", "inception", str(1800 + i)]]) for i in range(60)]
    (data / "val.target").write_text("\n".join(texts) + "\n")
    (data / "val.source").write_text("\n".join(graphs) + "\n")
    out = tmp_path / "q.json"
    result = subprocess.run(
        [sys.executable, "eval/filter_quality.py", "--model", str(tiny_llama_dir), "--extractor-adapter", "",
         "--judge-adapter", "", "--data", str(data), "--documents", "4", "--references", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["examples"] == 4 and report["errors"] == 2
    assert set(report["judges"]) == {"direct.v1", "kg_grounded.v1", "meta_ranking.v1"}
    assert set(report["combinations"]) == {"weighted_mean", "all_pass"}
    assert set(report["combinations"]["all_pass"]["wrong_removed_at_keep_rate"]) == {"0.5", "0.7"}
    assert "weighted_mean: error precision" in result.stdout
