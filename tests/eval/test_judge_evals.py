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


@pytest.fixture(scope="module")
def dev_data(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path) -> Path:
    """The tiny corpus laid out as the development data (``rebel_sub/val.*``), for KGJUDGE_DEV_DATA."""
    root = tmp_path_factory.mktemp("dev-data")
    (root / "rebel_sub").mkdir()
    for name in ("val.target", "val.source"):
        (root / "rebel_sub" / name).symlink_to(tiny_data / name)
    return root


def run_env(cmd: list[str], **env: str) -> str:
    import os

    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=REPO,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", **env})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_extractor_and_judge_quality_scripts_score_builds_of_dev_documents(
    tiny_llama_dir: Path, tiny_adapter: Path, dev_data: Path, tmp_path: Path
) -> None:
    pytest.importorskip("spacy")
    out, keep = tmp_path / "x.json", tmp_path / "builds"
    # the tiny judge adapter stands in for an extractor adapter too: only the plumbing is checked
    stdout = run_env([sys.executable, "eval/extractor_quality.py", "--variant", f"tiny={tiny_adapter}@{tiny_llama_dir}",
                      "--judge", str(tiny_adapter), "--documents", "3", "--keep", str(keep), "--out", str(out)],
                     KGJUDGE_DEV_DATA=str(dev_data))
    report = json.loads(out.read_text())
    tiny = report["variants"]["tiny"]
    assert "tiny: before judge" in stdout and report["documents"] == 3 == tiny["documents"]
    assert set(tiny["before_judge"]["exact"]) == {"precision", "recall", "f1"} and "g_bleu" in tiny["before_judge"]
    assert tiny["after_judge"] is not None and tiny["unusable_replies"] >= 0
    assert all(i.startswith("rebel_sub/val:") for i in report["document_ids"])

    out, png = tmp_path / "q.json", tmp_path / "pr.png"
    stdout = run_env([sys.executable, "eval/judge_quality.py", "--judge", f"old={tiny_adapter}:document@{tiny_llama_dir}",
                      "--judge", f"new={tiny_adapter}:chunk@{tiny_llama_dir}", "--builds", str(keep / "tiny"),
                      "--examples", "12", "--tune-examples", "8", "--threshold", "0.5", "--out", str(out), "--png", str(png),
                      "--kinds", "tail_swap,head_swap,relation_swap,near_duplicate,relation_twin,date_swap"],
                     KGJUDGE_DEV_DATA=str(dev_data))
    report = json.loads(out.read_text())
    hard = sum(v for k, v in report["kinds"].items() if k.startswith("extracted_"))  # every one is kept
    assert png.read_bytes()[:4] == b"\x89PNG" and report["examples"] == 12 + hard and set(report["judges"]) == {"old", "new"}
    new = report["judges"]["new"]
    assert new["context"] == "chunk" and set(new["at_0.5"]) >= {"accuracy", "auroc", "ece", "f1"}
    assert set(new["builds"]["tiny"]) >= {"before", "after_at_tune_threshold", "after_at_given_threshold"}


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


def test_training_builds_cover_training_documents_only(tiny_llama_dir: Path, tiny_adapter: Path, dev_data: Path,
                                                       tmp_path: Path) -> None:
    pytest.importorskip("spacy")
    from kgjudge.judges import dev_part

    out = tmp_path / "negatives"
    stdout = run_env([sys.executable, "eval/training_builds.py", "--adapter", str(tiny_adapter), "--model",
                      str(tiny_llama_dir), "--documents", "3", "--out", str(out)], KGJUDGE_DEV_DATA=str(dev_data))
    ids = [json.loads(line)["id"] for line in (out / "documents.jsonl").read_text().splitlines()]
    assert "3 training documents" in stdout and len(ids) == 3
    assert all(i.startswith("rebel_sub/val:") and dev_part(i) is None for i in ids)


def test_bench_embedded_compares_old_and_new_on_dev_documents(tiny_llama_dir: Path, tiny_adapter: Path, dev_data: Path,
                                                              tmp_path: Path) -> None:
    pytest.importorskip("spacy")
    out = tmp_path / "bench.json"
    stdout = run_env([sys.executable, "eval/bench_embedded.py", "--quick", "--documents", "3", "--model",
                      str(tiny_llama_dir), "--adapter", str(tiny_adapter), "--out", str(out)],
                     KGJUDGE_DEV_DATA=str(dev_data))
    report = json.loads(out.read_text())
    assert set(report["variants"]) == {"old", "new"} and report["documents"] == 3
    old, new = report["variants"]["old"], report["variants"]["new"]
    assert old["judge"]["context"] == "document" and new["judge"]["context"] == "chunk"
    assert not old["judge"]["require_in_context"] and new["judge"]["require_in_context"]
    assert old["min_triples"] == 0 and new["min_triples"] == 4
    for entry in (old, new):
        assert entry["documents_per_minute"] > 0 and entry["chunks"] >= 3 and entry["unusable_replies"] >= 0
        assert {"extract", "judge", "other"} <= set(entry["stage_seconds"])
        assert set(entry["after_judge"]["exact"]) == {"precision", "recall", "f1"} and "g_bleu" in entry["before_judge"]
    assert set(report["goals"]) == {"documents_per_minute", "unusable_extraction_replies", "exact_f1_after_judge"}
    assert all(set(g) == {"value", "goal", "met"} for g in report["goals"].values())
    assert len(report["machine"]["load_start"]) == 3 and "goal exact_f1_after_judge" in stdout
