"""The store benchmarks run end to end on tiny inputs (their timings are not checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from _support import REPO

pytest.importorskip("oxrdflib")
pytest.importorskip("networkx")


def bench(script: str, tmp_path: Path, *args: str) -> dict:
    out = tmp_path / f"{script}.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "eval" / f"{script}.py"), *args, "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["machine"]["python"]
    return {"stdout": result.stdout, **data}


def test_ingest_benchmark_runs(tmp_path: Path) -> None:
    data = bench("bench_store_ingest", tmp_path, "--stores", "rdf,networkx", "--triples", "300", "--per-triple", "30")
    rdf, nx = data["results"]
    assert (rdf["store"], nx["store"]) == ("rdf.v1", "networkx.v1")
    assert rdf["batched"]["triples"] == 300 and rdf["per_triple"]["triples"] == 30
    assert rdf["batched"]["rdf_statements"] > 300
    assert rdf["batched_over_per_triple"] > 0 and "ratio" in data["stdout"]


def test_query_benchmark_runs(tmp_path: Path) -> None:
    data = bench("bench_store_query", tmp_path, "--stores", "networkx,rdf", "--triples", "300", "--queries", "5")
    assert [r["store"] for r in data["results"]] == ["networkx.v1", "rdf.v1"]
    for r in data["results"]:
        assert r["triples"] == 300 and set(r["hops"]) == {"1", "2"}
        assert r["hops"]["2"]["p95_ms"] >= r["hops"]["2"]["p50_ms"] > 0
    # Both stores answer the same queries with the same neighbourhoods.
    sizes = {r["store"]: [r["hops"][k]["mean_triples_returned"] for k in ("1", "2")] for r in data["results"]}
    assert sizes["networkx.v1"] == sizes["rdf.v1"]


@pytest.mark.bolt
def test_benchmarks_run_against_the_bolt_store(tmp_path: Path, bolt_server: dict) -> None:
    config = tmp_path / "bolt.yaml"
    config.write_text(yaml.safe_dump({"store": bolt_server}))
    ingest = bench("bench_store_ingest", tmp_path, "--stores", "bolt", "--bolt-triples", "120",
                   "--bolt-per-triple", "10", "--bolt-config", str(config))
    assert ingest["results"][0]["store"] == "neo4j.v1" and ingest["results"][0]["batched"]["triples"] == 120
    query = bench("bench_store_query", tmp_path, "--stores", "bolt,networkx", "--triples", "200", "--queries", "3",
                  "--bolt-config", str(config))
    sizes = [[r["hops"][k]["mean_triples_returned"] for k in ("1", "2")] for r in query["results"]]
    assert sizes[0] == sizes[1]


def test_graphrag_benchmark_runs(tmp_path: Path) -> None:
    data = bench("bench_graphrag", tmp_path, "--stores", "rdf,networkx", "--triples", "300", "--queries", "5",
                 "--no-embeddings")
    assert [r["store"] for r in data["results"]] == ["rdf.v1", "networkx.v1"]
    for r in data["results"]:
        assert r["triples"] == 300 and r["communities"] >= 1
        for mode in ("local", "global"):
            assert r[mode]["p95_ms"] >= r[mode]["p50_ms"] > 0
        # Every question names a stored head, so local search always finds its facts.
        assert r["local"]["nothing_found"] == 0 and r["local"]["hit_rate"] > 0
        assert r["local_ratio"] > 0
    assert "ratio" in data["stdout"] and data["goal_local_p50_ms"] == 50.0


def test_graphrag_quality_script_runs_with_the_fake_backend(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    people = range(80)
    (data_dir / "val.target").write_text("".join(f"Person {i} was born in City {i}, Land {i % 7}.\n" for i in people))
    (data_dir / "val.source").write_text("".join(
        f"[['Person {i}', 'place of birth', 'City {i}'], ['City {i}', 'country', 'Land {i % 7}']]\n" for i in people))
    data = bench("graphrag_quality", tmp_path, "--backend", "fake.v1", "--documents", "15", "--questions", "6",
                 "--no-embeddings", "--data", str(data_dir))
    assert 1 <= data["documents"] <= 15 and data["triples"] == 2 * data["documents"]
    assert set(data["modes"]) == {"local/generate", "local/select", "global/generate", "global/select"}
    for entry in data["modes"].values():
        assert entry["questions"] >= 1 and 0 <= entry["exact_match"] <= entry["contains"] <= 1
        assert entry["hit@1"] <= entry["hit@5"] <= entry["hit@all"]
    # Each question names its head exactly, so local retrieval always holds the answer.
    assert data["modes"]["local/generate"]["hit@all"] == 1.0
    retrieval = bench("graphrag_quality", tmp_path, "--retrieval-only", "--documents", "15", "--questions", "6",
                      "--no-embeddings", "--data", str(data_dir))
    assert retrieval["local"]["hit@all"] == 1.0 and retrieval["local"]["questions"] >= 1
