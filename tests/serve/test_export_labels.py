"""`kgjudge export-labels`: people's decisions become KASFT judge examples that `kgjudge train
judge` reads (checked by training a LoRA adapter on them with a tiny random model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from _serving import client_for
from typer.testing import CliRunner

from kgjudge import ConfigError, CurationDecision, Triple, read_jsonl
from kgjudge.cli import app
from kgjudge.judges import JudgeExample
from kgjudge.judges import build_examples, load_train_config
from kgjudge.serve import export_labels


def kept_id(out: Path, relation: str) -> str:
    return next(json.loads(x)["id"] for x in (out / "triples.jsonl").read_text().splitlines()
                if json.loads(x)["relation"] == relation)


def curate(out: Path) -> dict[str, str]:
    """Accept one triple, reject one, correct one, and overrule the judge on a rejected one."""
    ids = {r: kept_id(out, r) for r in ("place of birth", "place of death", "work location")}
    gone = next(json.loads(x)["triple"]["id"] for x in (out / "rejected.jsonl").read_text().splitlines()
                if json.loads(x)["triple"]["relation"] == "flows through")
    for api in client_for(out, allow_edit=True):
        assert api.post(f"/api/curation/{ids['place of birth']}", json={"action": "accept"}).status_code == 200
        assert api.post(f"/api/curation/{ids['place of death']}", json={"action": "reject"}).status_code == 200
        assert api.post(f"/api/curation/{ids['work location']}", json={"action": "correct", "relation": "employer"}).status_code == 200
        assert api.post(f"/api/curation/{gone}", json={"action": "reject"}).status_code == 200
        assert api.post(f"/api/curation/{gone}", json={"action": "accept", "note": "changed my mind"}).status_code == 200
    return ids


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_export_labels_writes_judge_examples_from_the_latest_decisions(build_copy: Path) -> None:
    curate(build_copy)
    code, out, err = run("export-labels", str(build_copy))
    assert code == 0, err
    report = json.loads(out)
    assert report["examples"] == 5 and (report["positive"], report["negative"], report["skipped"]) == (3, 2, 0)
    assert report["train_with"] == {"data": {"sources": [{"examples": str(build_copy / "labels.jsonl")}]}}
    examples = read_jsonl(build_copy / "labels.jsonl", JudgeExample)
    got = {(e.head, e.relation, e.tail): e.label for e in examples}
    assert got == {
        ("Marie Curie", "place of birth", "Warsaw"): True,
        ("Marie Curie", "place of death", "Warsaw"): False,
        ("Marie Curie", "work location", "Paris"): False,      # the original of a correction
        ("Marie Curie", "employer", "Paris"): True,            # the correction
        ("Danube", "flows through", "Vienna"): True,           # the latest decision wins
    }
    curie = next(e for e in examples if e.relation == "employer")
    assert curie.kind == "curated" and curie.document_id == "curie" and curie.document.startswith("Marie Curie was born")
    wrong = next(e for e in examples if e.relation == "work location")
    assert wrong.source_triple == ("Marie Curie", "employer", "Paris")
    assert all(e.split in ("train", "dev", "test") for e in examples)


def test_export_labels_errors_and_a_log_without_documents(tmp_path: Path) -> None:
    code, _, err = run("export-labels", str(tmp_path))
    assert code == 2 and "manifest.json is missing" in err
    log = tmp_path / "decisions.jsonl"
    code, _, err = run("export-labels", str(log))
    assert code == 2 and "no decision log here" in err and str(log) in err
    from kgjudge import Span

    with_evidence = Triple(head="A", relation="r", tail="B", evidence=Span(start=0, end=5, text="A r B"))
    bare = Triple(head="C", relation="r", tail="D", document_id="d9")
    rows = [CurationDecision(action="accept", triple=with_evidence, at="t1"), CurationDecision(action="reject", triple=bare, at="t2")]
    log.write_text("".join(r.model_dump_json() + "\n" for r in rows) + '{"action": "accept"}\n')
    code, _, err = run("export-labels", str(log))
    assert code == 2 and f"{log}:3" in err and "triple" in err
    log.write_text("".join(r.model_dump_json() + "\n" for r in rows))
    code, out, err = run("export-labels", str(log), "--out", str(tmp_path / "ex.jsonl"))
    assert code == 0, err
    assert json.loads(out)["skipped"] == 1          # no document text and no evidence to judge against
    [example] = read_jsonl(tmp_path / "ex.jsonl", JudgeExample)
    assert example.document == "A r B" and example.label


def test_export_labels_keeps_only_the_latest_label_of_a_triple() -> None:
    t = Triple(head="A", relation="r", tail="B", document_id="d")
    decisions = [CurationDecision(action="reject", triple=t, at="1"), CurationDecision(action="accept", triple=t, at="2")]
    examples, counts = export_labels(decisions, lambda _: "A r B.")
    assert [e.label for e in examples] == [True] and counts == {"positive": 1, "negative": 0, "skipped": 0}


def test_training_reads_exported_examples_and_rejects_them_where_they_do_not_fit(tmp_path: Path) -> None:
    labels = tmp_path / "labels.jsonl"
    rows = [JudgeExample(id=f"e{i}", document_id=f"doc{i % 5}", document=f"Town{i} lies in Land{i}.", head=f"Town{i}",
                         relation="country", tail=f"Land{i}", label=i % 2 == 0, kind="curated", split="test")
            for i in range(10)]
    labels.write_text("".join(r.model_dump_json() + "\n" for r in rows))
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({"output": str(tmp_path / "a"), "data": {"sources": [{"examples": str(labels)}],
                                                                             "dev_fraction": 0.2, "test_fraction": 0.2}}))
    examples, summary = build_examples("judge", load_train_config(config))
    assert len(examples) == 10 and summary["labelled"] == [{"file": str(labels), "examples": 10}]
    # the split is the one the document gets under this config, not the one in the file
    from kgjudge.judges import split_of

    assert all(e.split == split_of(e.document_id, seed=0, dev_fraction=0.2, test_fraction=0.2) for e in examples)
    with pytest.raises(ConfigError, match="train a judge with it"):
        build_examples("extractor", load_train_config(config))
    config.write_text(yaml.safe_dump({"output": "x", "data": {"sources": [{"examples": str(labels), "jsonl": "g.jsonl"}]}}))
    with pytest.raises(ConfigError, match="give it alone"):
        build_examples("judge", load_train_config(config))


def test_exported_labels_train_a_judge_adapter_that_loads(build_copy: Path, tiny_llama_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("peft")
    curate(build_copy)
    code, out, err = run("export-labels", str(build_copy), "--test-fraction", "0", "--dev-fraction", "0")
    assert code == 0, err
    config = tmp_path / "train.yaml"
    config.write_text(yaml.safe_dump({
        "model": str(tiny_llama_dir), "output": str(tmp_path / "judge-adapter"), "max_document_chars": 200,
        "data": {"sources": [{"examples": json.loads(out)["file"]}], "dev_fraction": 0.0, "test_fraction": 0.0},
        "lora": {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]},
        "training": {"max_steps": 2, "batch_size": 2, "learning_rate": 0.01, "warmup_steps": 0, "logging_steps": 1,
                     "dev_judge_examples": 0, "seed": 7},
    }))
    code, _, err = run("train", "judge", "--config", str(config))
    assert code == 0, err
    from kgjudge.judges import read_metadata
    from kgjudge.llm import LLM, HFBackend, HFConfig, LLMRequest

    meta = read_metadata(tmp_path / "judge-adapter")
    assert meta.task == "judge" and meta.training["steps"] == 2 and meta.data["labelled"][0]["examples"] == 5
    assert meta.data["train_examples"] == 5
    backend = HFBackend(HFConfig(model=str(tiny_llama_dir), adapters={"judge": str(tmp_path / "judge-adapter")}))
    llm = LLM(backend, cache=None)
    try:
        [scores] = llm.score_choices_sync([LLMRequest.chat("Is it true?", choices=["Yes", "No"], adapter="judge")])
        assert len(scores.logprobs) == 2
    finally:
        llm.close()
