"""The judge evaluation scripts run end to end on a tiny model and tiny data (numbers are not
checked, only that each writes its report)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("data")
    texts, graphs = [], []
    for i in range(40):
        texts.append(f"Town{i} lies in Land{i % 5} near River{i % 7}. It was founded in {1800 + i}.")
        graphs.append(repr([[f"Town{i}", "country", f"Land{i % 5}"], [f"Town{i}", "inception", str(1800 + i)],
                            [f"Town{i}", "located next to", f"River{i % 7}"]]))
    (data / "val.target").write_text("\n".join(texts) + "\n")
    (data / "val.source").write_text("\n".join(graphs) + "\n")
    return data


@pytest.fixture(scope="module")
def tiny_adapter(tmp_path_factory: pytest.TempPathFactory, tiny_llama_dir: Path, tiny_data: Path) -> Path:
    root = tmp_path_factory.mktemp("adapter")
    config = root / "train.yaml"
    config.write_text(yaml.safe_dump({
        "model": str(tiny_llama_dir), "output": str(root / "judge"),
        "data": {"sources": [{"text": str(tiny_data / "val.target"), "graph": str(tiny_data / "val.source")}],
                 "dev_fraction": 0.25, "test_fraction": 0.25},
        "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "training": {"max_steps": 1, "batch_size": 2, "dev_judge_examples": 2},
    }))
    run([str(Path(sys.executable).parent / "kgjudge"), "train", "judge", "--config", str(config)])
    return root / "judge"


def run(cmd: list[str]) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_judge_quality_script(tiny_llama_dir: Path, tiny_adapter: Path, tiny_data: Path, tmp_path: Path) -> None:
    out, png = tmp_path / "q.json", tmp_path / "pr.png"
    stdout = run([sys.executable, "eval/judge_quality.py", "--model", str(tiny_llama_dir), "--adapter", str(tiny_adapter),
                  "--data", str(tiny_data), "--test-examples", "12", "--dev-examples", "8", "--out", str(out),
                  "--png", str(png)])
    report = json.loads(out.read_text())
    assert "filtering:" in stdout and png.read_bytes()[:4] == b"\x89PNG"
    assert report["test_examples"] == 12 and set(report["tuned"]["at_0.5"]) >= {"accuracy", "auroc", "ece", "f1"}
    assert report["filtering"]["triples"] == 12


def test_meta_ranking_and_cascade_scripts(tiny_llama_dir: Path, tiny_adapter: Path, tiny_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "mr.json"
    run([sys.executable, "eval/meta_ranking_quality.py", "--model", str(tiny_llama_dir), "--data", str(tiny_data),
         "--targets", "4", "--references", "6", "--out", str(out)])
    report = json.loads(out.read_text())
    assert set(report["by_n"]) == {"1", "3", "5"} and 0 <= report["by_n"]["3"]["prefix_reuse_share"] <= 1
    out = tmp_path / "cascade.json"
    run([sys.executable, "eval/cascade_quality.py", "--model", str(tiny_llama_dir), "--strong-adapter", str(tiny_adapter),
         "--data", str(tiny_data), "--queries", "4", "--reference-pool", "6", "--out", str(out)])
    report = json.loads(out.read_text())
    assert report["queries"] == 4 and set(report["report"]["tokens"]) == {"weak", "judge", "strong"}
