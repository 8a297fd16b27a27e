"""``kgjudge query`` and ``kgjudge communities`` over a build output, and the packaged model
answering from a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_rag import CURIE_TEXT, curie_graph
from typer.testing import CliRunner

from kgjudge import Document, write_jsonl
from kgjudge.cli import app
from kgjudge.graph import build_store

pytest.importorskip("pyoxigraph")
pytest.importorskip("rapidfuzz")


def build_output(out: Path, backend: dict) -> list[str]:
    """A build output folder as ``kgjudge build`` leaves it: manifest, documents, RDF store."""
    out.mkdir()
    config = {"backends": {"default": backend}, "cache": {"enabled": False}, "rag": {"linking": {"embeddings": False}}}
    (out / "manifest.json").write_text(json.dumps({"config": config, "finished": True}))
    write_jsonl(out / "documents.jsonl", [Document(id="d1", text=CURIE_TEXT, source="docs/curie.txt"),
                                          Document(id="d2", text="Paris is the capital of France.")])
    triples, judgements = curie_graph()
    with build_store({"type": "rdf.v1", "path": str(out / "graph.oxigraph")}) as store:
        store.upsert(triples, judgements)
    return [t.id for t in triples]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_query_cli_answers_with_citations_and_json(tmp_path: Path) -> None:
    ids = build_output(tmp_path / "out", {"type": "fake.v1", "rules": [{"match": "born", "reply": "Warsaw [T1] [T42]"}]})
    code, out, err = run("query", "Where was Marie Curie born?", "--out", str(tmp_path / "out"), "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["found"] and answer["answer"] == "Warsaw" and answer["invalid_citations"] == ["T42"]
    cited = [c for c in answer["citations"] if c["source"] == "cited"]
    assert [c["key"] for c in cited] == ["T1"] and cited[0]["triple_id"] in ids
    assert cited[0]["document_source"] == "docs/curie.txt"
    assert {f["triple"]["id"] for f in answer["context"]["facts"]} <= set(ids)

    code, out, _ = run("query", "Where was Marie Curie born?", "--out", str(tmp_path / "out"), "--show-context")
    assert code == 0 and "[T1] Marie Curie | place of birth | Warsaw (confidence 0.95)" in out
    assert "<- d1 (docs/curie.txt), characters 24-30: 'Warsaw'" in out
    assert "not in the context (ignored): T42" in out

    code, out, _ = run("query", "Who founded Atlantis?", "--out", str(tmp_path / "out"))
    assert code == 1 and out.startswith("Nothing found: no entity of the question was found in the graph")
    code, out, _ = run("query", "Where was Marie Curie born?", "--out", str(tmp_path / "out"), "--retrieve-only", "--budget", "16")
    assert code == 1 and "nothing found: no fact fits the token budget" in out


def test_communities_cli_and_global_query(tmp_path: Path) -> None:
    build_output(tmp_path / "out", {"type": "fake.v1", "default_reply": "NOT FOUND",
                                    "rules": [{"match": "Write a short summary", "reply": "Facts about a person."},
                                              {"match": "capital", "reply": "France [T1]"}]})
    code, out, err = run("communities", "--out", str(tmp_path / "out"))
    assert code == 0, err
    assert "2 communities" in out and "2 summarised" in out
    assert (tmp_path / "out" / "rag" / "communities.jsonl").is_file()
    code, out, _ = run("communities", "--out", str(tmp_path / "out"))
    assert "up to date" in out
    code, out, err = run("query", "What is Paris the capital of?", "--mode", "global", "--out", str(tmp_path / "out"), "--json")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["found"] and answer["answer"] == "France" and answer["partial_answers"] == ["France [T1]"]
    assert answer["citations"][0]["tail"] == "France"


def test_query_cli_errors_name_what_is_wrong(tmp_path: Path) -> None:
    code, _, err = run("query", "Where?", "--out", str(tmp_path))
    assert code == 2 and "manifest.json is missing" in err and str(tmp_path) in err
    for text in ('{"config": ', '{"finished": true}'):
        (tmp_path / "manifest.json").write_text(text)
        code, _, err = run("query", "Where?", "--out", str(tmp_path))
        assert code == 2 and "unreadable build manifest" in err and str(tmp_path / "manifest.json") in err
    build_output(tmp_path / "out", {"type": "fake.v1"})
    code, _, err = run("query", "Where?", "--out", str(tmp_path / "out"), "--mode", "sideways")
    assert code == 2 and "--mode must be local or global" in err
    code, _, err = run("query", "  ", "--out", str(tmp_path / "out"))
    assert code == 2 and "the question is empty" in err


@pytest.mark.slow
def test_packaged_model_answers_from_the_embedded_store(tmp_path: Path, smollm2_tokenizer_dir: Path) -> None:
    """The real packaged SmolLM2 through transformers, over an on-disk RDF store, with embeddings."""
    out = tmp_path / "out"
    ids = build_output(out, {"type": "hf.v1"})
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["config"]["rag"] = {}
    (out / "manifest.json").write_text(json.dumps(manifest))
    code, stdout, err = run("query", "Where was Marie Curie born?", "--out", str(out), "--json")
    assert code in (0, 1), err
    answer = json.loads(stdout)
    assert answer["context"]["linked"][0]["name"] == "Marie Curie"
    assert answer["context"]["facts"] and answer["raw"]
    assert {c["triple_id"] for c in answer["citations"]} <= set(ids)
    assert answer["found"] == (code == 0)


def test_rag_settings_do_not_change_a_builds_config_hash() -> None:
    from kgjudge import parse_config
    from kgjudge.pipeline._shape import config_hash as _config_hash

    base = {"backends": {"default": {"type": "fake.v1"}}}
    assert _config_hash(parse_config(base)) == _config_hash(parse_config({**base, "rag": {"answer_style": "select", "hops": 2}}))
    with_filter = {**base, "filter": {"judges": [{"type": "direct.v1", "backend": "default"}]}}
    assert _config_hash(parse_config(base)) == _config_hash(parse_config(with_filter))
    # Builds made before the rag: and filter: sections existed keep their hash.
    assert _config_hash(parse_config(base)) == "d1a9bf634453199d"
    assert _config_hash(parse_config(base)) != _config_hash(parse_config({**base, "pipeline": {"batch_size": 3}}))
