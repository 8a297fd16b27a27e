"""eval/kept_precision.py: the sample to label and the precision estimate from labels, on a
hand-made build folder over tiny development data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kgjudge.judges import dev_documents, load_text_graph_pair

REPO = Path(__file__).resolve().parents[2]
pytest.importorskip("scipy")


@pytest.fixture()
def setup(tmp_path: Path) -> tuple[Path, Path, list[tuple[str, str]]]:
    """Development data of 40 towns, and a build folder whose kept triples are, per eval-part
    document, one gold triple and two that the gold graph lacks."""
    data = tmp_path / "data" / "rebel_sub"
    data.mkdir(parents=True)
    texts = [f"Town{i} lies in Land{i % 5}. It was founded in {1800 + i} by Person{i}." for i in range(40)]
    graphs = [repr([[f"Town{i}", "country", f"Land{i % 5}"]]) for i in range(40)]
    (data / "val.target").write_text("\n".join(texts) + "\n")
    (data / "val.source").write_text("\n".join(graphs) + "\n")
    docs = dev_documents(load_text_graph_pair(data / "val.target", data / "val.source", name="rebel_sub/val").documents,
                         "eval")
    assert len(docs) >= 2
    build = tmp_path / "build"
    build.mkdir()
    (build / "manifest.json").write_text(json.dumps({"config": {"judge": {"type": "graphjudger.v1"}}}))
    triples, judgements, chunks = [], [], []
    for doc in docs:
        n = doc.triples[0][0].removeprefix("Town")
        chunks.append({"id": f"{doc.id}#0", "document_id": doc.id, "index": 0, "text": doc.text})
        for k, (h, r, t) in enumerate([doc.triples[0], (f"Town{n}", "inception", "1800"),
                                       (f"Town{n}", "founded by", f"Person{n}"), (f"town{n}", "Founded  by", f"person{n}")]):
            triple = {"id": f"{doc.id}-{k}", "head": h, "relation": r, "tail": t, "document_id": doc.id,
                      "chunk_id": f"{doc.id}#0"}
            triples.append(triple)
            judgements.append({"document_id": doc.id, "triple": triple, "judgement": {"label": True}})
    (build / "triples.jsonl").write_text("".join(json.dumps(t) + "\n" for t in triples))
    (build / "judgements.jsonl").write_text("".join(json.dumps(j) + "\n" for j in judgements))
    (build / "chunks.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chunks))
    return tmp_path / "data", build, [(d.id, d.triples[0][0].removeprefix("Town")) for d in docs]


def run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "eval/kept_precision.py", *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env={**os.environ, "KGJUDGE_DEV_DATA": str(data)})


def test_sample_then_score_estimates_precision_from_labels(setup: tuple[Path, Path, list[tuple[str, str]]], tmp_path: Path) -> None:
    data, build, ids = setup
    labels = tmp_path / "labels.jsonl"
    common = ["--build", str(build), "--documents", "1000", "--labels", str(labels)]
    result = run(data, "sample", *common, "--n", "3")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in labels.read_text().splitlines()]
    assert len(lines) == 3
    for line in lines:
        assert line["supported"] is None
        assert line["relation"] in {"inception", "founded by"}  # never the gold triple; the duplicate counts once
        assert line["context"].startswith(line["head"])  # the chunk that states it
    assert "exists" in run(data, "sample", *common).stderr  # never overwrites labels

    result = run(data, "score", *common, "--out", str(tmp_path / "r.json"))
    assert result.returncode != 0 and "no line has 'supported' set" in result.stderr

    # every non-gold triple labelled: "founded by" supported, "inception" (1800) not
    with labels.open("w") as f:
        for doc_id, n in ids:
            f.write(json.dumps({"document_id": doc_id, "head": f"Town{n}", "relation": "inception", "tail": "1800",
                                "supported": False}) + "\n")
            f.write(json.dumps({"document_id": doc_id, "head": f"Town{n}", "relation": "founded by",
                                "tail": f"Person{n}", "supported": True}) + "\n")
    result = run(data, "score", *common, "--out", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["kept"] == 3 * len(ids) and report["exact_matches"] == len(ids)
    assert report["labelled"] == 2 * len(ids) and report["share_supported"] == 0.5
    assert report["exact_precision"] == round(1 / 3, 4)
    assert report["estimated_precision"] == round(2 / 3, 4)
    low, high = report["estimated_precision_95"]
    assert low < 2 / 3 < high
    assert report["unsupported_by_relation"] == {"inception": len(ids)}

    # another build of the documents that no longer keeps the first document's "inception"
    first = ids[0][0]
    triples = [json.loads(line) for line in (build / "triples.jsonl").read_text().splitlines()]
    (build / "triples.jsonl").write_text("".join(
        json.dumps(t) + "\n" for t in triples if not (t["document_id"] == first and t["relation"] == "inception")))
    result = run(data, "recheck", *common, "--out", str(tmp_path / "again.json"))
    assert result.returncode == 0, result.stderr
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["supported"]["labelled"] == again["supported"]["still_kept"] == len(ids)
    assert again["unsupported"] == {"labelled": len(ids), "still_kept": len(ids) - 1,
                                    "dropped": [f"Town{ids[0][1]} | inception | 1800"]}


def test_bad_labels_name_their_line(setup: tuple[Path, Path, list[tuple[str, str]]], tmp_path: Path) -> None:
    data, build, ids = setup
    labels = tmp_path / "labels.jsonl"
    common = ["score", "--build", str(build), "--documents", "1000", "--labels", str(labels), "--out",
              str(tmp_path / "r.json")]
    doc_id, n = ids[0]
    good = json.dumps({"document_id": doc_id, "head": f"Town{n}", "relation": "inception", "tail": "1800",
                       "supported": True})
    labels.write_text(good + "\n{not json\n")
    result = run(data, *common)
    assert result.returncode != 0 and f"{labels}:2: not JSON" in result.stderr
    labels.write_text(json.dumps({"document_id": doc_id, "head": "Nowhere", "relation": "r", "tail": "t",
                                  "supported": True}) + "\n")
    result = run(data, *common)
    assert result.returncode != 0 and f"{labels}:1:" in result.stderr and "not a kept triple" in result.stderr
    labels.write_text(json.dumps({"document_id": doc_id, "head": "x", "relation": "r", "tail": "t",
                                  "supported": "yes"}) + "\n")
    result = run(data, *common)
    assert result.returncode != 0 and f"{labels}:1: field 'supported'" in result.stderr
    assert not (tmp_path / "r.json").exists()
