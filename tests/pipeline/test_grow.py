"""Growing a build: add, change and remove documents, judge again, on every store; the result
equals a build of the final documents from scratch (files, store, entities; ids stable)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from _folders import backend, config_dict, docs, grow, state, store_section, write_docs
from typer.testing import CliRunner

from kgjudge import ConfigError, InputError, parse_config
from kgjudge.cli import app
from kgjudge.pipeline import BuildFolder, Rejudge, Remove

pytest.importorskip("spacy")

STORES = ["networkx", "rdf", pytest.param("neo4j", marks=pytest.mark.bolt)]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> dict | None:
    return {"section": store_section(request.param, request, tmp_path), "kind": request.param}


def scratch(tmp_path: Path, final: dict[str, str], cfg: dict, name: str = "scratch") -> dict:
    """The state of a build of ``final`` from scratch (a store of the same kind; a server's
    store is emptied first, the grown build's state having been taken)."""
    if cfg.get("store", {}).get("type") == "neo4j.v1":
        from kgjudge.graph import build_store

        with build_store(cfg["store"]) as s:
            s.clear()
    out = tmp_path / name
    grow(out, final, cfg)
    return state(out)


def test_add_change_remove_equal_a_build_from_scratch(store: dict, tmp_path: Path) -> None:
    cfg = config_dict(store["section"])
    out = tmp_path / "grown"
    first = docs(6)
    grow(out, first, cfg)

    # One new document, one changed; the other five are unchanged and cost nothing.
    second = {**first, "d2": "Grace Hopper worked at Harvard. Harvard is in Cambridge.", **docs(1, start=6)}
    model = backend()
    summary = grow(out, second, cfg, model=model)
    assert (summary.added, summary.changed, summary.unchanged, summary.removed) == (1, 1, 5, 0)
    asked = {m.content for _, r in model.calls for m in r.messages or []}
    assert all("Document 0." not in text for text in asked), "an unchanged document was not sent to the model"
    assert any("Grace Hopper" in text for text in asked) and any("Document 6." in text for text in asked)

    # --sync removes what the inputs no longer hold.
    third = {k: v for k, v in second.items() if k != "d4"}
    summary = grow(out, third, cfg, sync=True)
    assert (summary.added, summary.changed, summary.removed) == (0, 0, 1)
    assert summary.this_run.model_calls == 0

    grown = state(out)
    assert grown == scratch(tmp_path, third, cfg)
    manifest = json.loads((out / "manifest.json").read_text())
    runs = [(r["command"], r["added"], r["changed"], r["removed"]) for r in manifest["runs"]]
    assert runs == [("build", sorted(first), [], []), ("build", ["d6"], ["d2"], []), ("build", [], [], ["d4"])]
    assert manifest["runs"][1]["usage"]["extract"]["requests"] == 2
    assert manifest["summary"]["documents"] == 6


def test_remove_takes_what_only_that_document_named(store: dict, tmp_path: Path) -> None:
    cfg = config_dict(store["section"], judge=False)
    out = tmp_path / "grown"
    texts = {"a": "Marie Curie was born in Warsaw.", "b": "Marie Curie lived in Paris.", "c": "Ada Lovelace met Charles Babbage."}
    grow(out, texts, cfg)
    with BuildFolder(out).open_store(parse_config(cfg)) as s:
        assert s.get_entity("Warsaw") is not None
    summary = Remove(out).run(["a", "c"])
    assert summary.removed == ["a", "c"] and summary.documents == 1
    with BuildFolder(out).open_store(parse_config(cfg)) as s:
        names = {e.name for e in s.iter_entities()}
        relations = s.stats().relations
    # Warsaw, Ada Lovelace and Charles Babbage were named by removed documents only; Marie
    # Curie is still named by document b.
    assert names == {"Marie Curie", "Paris"} and relations == 1
    for name in ("triples.jsonl", "chunks.jsonl", "documents.jsonl"):
        assert all(json.loads(line).get("document_id", json.loads(line).get("id")) == "b"
                   for line in (out / name).read_text().splitlines())
    assert state(out) == scratch(tmp_path, {"b": texts["b"]}, cfg)


def test_removing_a_document_that_is_not_there_is_an_error_and_removes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "grown"
    grow(out, docs(3), config_dict())
    before = state(out)
    with pytest.raises(InputError, match=r"holds no document 'nope'.*nothing was removed"):
        Remove(out).run(["d1", "nope"])
    assert state(out) == before
    result = CliRunner().invoke(app, ["remove", str(out), "d9"])
    assert result.exit_code == 2 and "holds no document 'd9'" in result.output
    result = CliRunner().invoke(app, ["remove", str(out), "d1"])
    assert result.exit_code == 0 and "removed 1 document(s)" in result.output and "2 documents" in result.output


def test_a_threshold_only_rejudge_makes_no_model_call_and_equals_a_build_with_that_threshold(
    store: dict, tmp_path: Path
) -> None:
    out = tmp_path / "grown"
    cfg = config_dict(store["section"], threshold=0.5)
    grow(out, docs(6), cfg)
    judge_file = tmp_path / "judge.yaml"
    judge_file.write_text(yaml.safe_dump({"backends": cfg["backends"], "judge": {**cfg["judge"], "threshold": 0.7}}))
    model = backend()
    summary = Rejudge(out, judge_file, progress=False, backends={"default": model}).run()
    assert summary.scores_kept and model.calls == [] and summary.this_run.requests == 0
    assert summary.labels_changed > 0 and summary.kept < summary.judged
    cfg_new = config_dict(store["section"], threshold=0.7)
    assert state(out) == scratch(tmp_path, docs(6), cfg_new)
    assert BuildFolder(out).config().judge.threshold == 0.7  # type: ignore[union-attr]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"][-1]["command"] == "rejudge" and manifest["runs"][-1]["scores_kept"]
    # The folder's config now has the new judge: documents added later are judged by it.
    grow(out, docs(7), cfg_new)
    assert state(out) == scratch(tmp_path, docs(7), cfg_new, name="scratch-7")


def test_another_judge_calls_the_model_and_equals_a_build_with_that_judge(store: dict, tmp_path: Path) -> None:
    out = tmp_path / "grown"
    cfg = config_dict(store["section"], judge=False)
    grow(out, docs(4), cfg)
    # A build without a judge gets one: every triple is judged now.
    judged = config_dict(store["section"], threshold=0.6)
    judge_file = tmp_path / "judge.yaml"
    judge_file.write_text(yaml.safe_dump({"backends": {"default": {"type": "fake.v1", "model": "judge"}},
                                          "judge": judged["judge"]}))
    model = backend()
    summary = Rejudge(out, judge_file, progress=False, backends={"default-judge": model}).run()
    assert not summary.scores_kept and summary.this_run.model_calls > 0 and summary.judged > 0
    config = BuildFolder(out).config()
    assert config.judge is not None and config.judge.backend == "default-judge"  # type: ignore[attr-defined]
    assert state(out) == scratch(tmp_path, docs(4), judged)


def test_changed_extraction_needs_restart_and_says_which_keys_differ(tmp_path: Path) -> None:
    out = tmp_path / "grown"
    grow(out, docs(2), config_dict())
    other = config_dict()
    other["pipeline"]["chunking"]["max_tokens"] = 99
    with pytest.raises(ConfigError, match=r"another config; use --restart.*pipeline\.chunking\.max_tokens: 64 -> 99"):
        grow(out, docs(3), other)
    with pytest.raises(ConfigError, match=r"another judge \(judge\.threshold: 0\.5 -> 0\.8\).*kgjudge rejudge"):
        grow(out, docs(3), config_dict(threshold=0.8))
    # rag:, cache: and filter: settings shape no output.
    harmless = config_dict()
    harmless["rag"] = {"hops": 3}
    assert grow(out, docs(3), harmless).added == 1
    assert grow(out, docs(3), other, restart=True).added == 3


def test_the_cli_grows_a_build_with_its_own_config(tmp_path: Path) -> None:
    config_file = tmp_path / "c.yaml"
    config_file.write_text(yaml.safe_dump(config_dict()))
    out = tmp_path / "out"
    first = write_docs(tmp_path / "first.jsonl", docs(3))
    runner = CliRunner()
    result = runner.invoke(app, ["build", str(first), "-c", str(config_file), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    more = write_docs(tmp_path / "more.jsonl", docs(1, start=3))
    # Without --config the build's own config is used.
    result = runner.invoke(app, ["build", str(more), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "documents this run: 1 added, 0 changed, 0 removed, 0 unchanged" in result.output
    assert "from 4 documents" in result.output
    result = runner.invoke(app, ["build", str(more), "-o", str(out), "--sync", "--no-progress"])
    assert result.exit_code == 0 and "0 added, 0 changed, 3 removed, 1 unchanged" in result.output
    judge_file = tmp_path / "judge.yaml"
    judge_file.write_text(yaml.safe_dump({"backends": {"default": {"type": "fake.v1"}},
                                          "judge": {"type": "graphjudger.v1", "threshold": 0.9}}))
    result = runner.invoke(app, ["rejudge", str(out), "-c", str(judge_file), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "from the stored scores, no model call" in result.output


def test_communities_of_untouched_components_keep_their_summaries(tmp_path: Path) -> None:
    pytest.importorskip("networkx")
    from kgjudge.graph import GraphRAG
    from kgjudge.llm import LLM, FakeBackend, FakeConfig

    out = tmp_path / "grown"
    cfg = config_dict(judge=False)
    grow(out, docs(4), cfg)
    summariser = FakeBackend(FakeConfig(default_reply="A summary."))
    with BuildFolder(out).open_store() as s:
        rag = GraphRAG(s, LLM(summariser), index_dir=out / "rag", revision=lambda: BuildFolder(out).revision())
        first = rag.update_communities()
    assert first is not None and first.summarised > 0
    grow(out, {**docs(4), "new": "Emmy Noether taught in Erlangen. Erlangen is in Bavaria."}, cfg)
    calls = len(summariser.calls)
    with BuildFolder(out).open_store() as s:
        rag = GraphRAG(s, LLM(summariser), index_dir=out / "rag", revision=lambda: BuildFolder(out).revision())
        assert rag.update_communities() is not None, "the index is stale once the build grew"
        again = rag.update_communities()
    assert again is None
    # The new document is a component of its own: one new community, the others kept.
    report = json.loads((out / "rag" / "communities.meta.json").read_text())
    assert report["fingerprint"]["revision"] == BuildFolder(out).revision()
    assert len(summariser.calls) - calls == 1


def test_a_running_server_sees_what_a_removal_and_a_new_judge_changed(tmp_path: Path) -> None:
    """``kgjudge serve`` follows the folder: after a removal and a rejudge by another command,
    the next request answers from the new state (the networkx store re-reads its file)."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from kgjudge.serve import create_app, open_explorer

    out = tmp_path / "grown"
    cfg = config_dict({"type": "networkx.v1"}, threshold=0.5)
    grow(out, docs(4), cfg)
    explorer = open_explorer(out)
    with TestClient(create_app(explorer), base_url="http://127.0.0.1") as client:
        before = client.get("/api/stats").json()["triples"]
        kept = [json.loads(line) for line in (out / "triples.jsonl").read_text().splitlines()]
        named = {d: {n for t in kept if t["document_id"] == d for n in (t["head"], t["tail"])} for d in docs(4)}
        [only, *_] = sorted(named["d0"] - set().union(*(v for k, v in named.items() if k != "d0")))
        assert any(h["name"] == only for h in client.get("/api/entities", params={"q": only}).json()["hits"])
        Remove(out).run(["d0"])
        after = client.get("/api/stats").json()["triples"]
        assert after < before
        assert all(h["name"] != only for h in client.get("/api/entities", params={"q": only}).json()["hits"])
        judge_file = tmp_path / "judge.yaml"
        judge_file.write_text(yaml.safe_dump({"backends": cfg["backends"], "judge": {**cfg["judge"], "threshold": 0.9}}))
        Rejudge(out, judge_file, progress=False, backends={"default": backend()}).run()
        assert client.get("/api/stats").json()["triples"] == len((out / "triples.jsonl").read_text().splitlines()) < after


@pytest.mark.parametrize("kind", ["networkx", "rdf"])
def test_stats_verify_finds_and_repairs_what_differs_between_store_and_files(kind: str, tmp_path: Path) -> None:
    from kgjudge import Judgement, Triple

    cfg = config_dict({"type": "networkx.v1"} if kind == "networkx" else None)
    out = tmp_path / "out"
    grow(out, docs(4), cfg)
    reference = state(out)
    kept = [json.loads(line) for line in (out / "triples.jsonl").read_text().splitlines()]
    # The store: one kept triple lost, one orphan that no file holds, one judgement changed.
    orphan = Triple(head="Nobody", relation="related to", tail="Nowhere", document_id="d0")
    with BuildFolder(out).open_store(parse_config(cfg)) as s:
        s.delete_triples([kept[0]["id"]])
        s.upsert([orphan], [Judgement(target_id=orphan.id, judge="graphjudger.v1", score=0.9, label=True, threshold=0.5)])
        changed = Triple.model_validate(kept[1])
        s.upsert([changed], [Judgement(target_id=changed.id, judge="graphjudger.v1", score=0.01, label=True, threshold=0.5)])
        s.flush()
    # The files: a chunk line written twice, the records of a document no progress line holds.
    chunks = (out / "chunks.jsonl").read_text().splitlines()
    (out / "chunks.jsonl").write_text("\n".join([*chunks, chunks[0]]) + "\n")
    ghost = Triple(head="Ghost", relation="related to", tail="Town", document_id="ghost")
    with (out / "triples.jsonl").open("a") as f:
        f.write(ghost.model_dump_json() + "\n")
    counts = json.loads((out / "counts.json").read_text())
    (out / "counts.json").write_text(json.dumps({**counts, "triples": counts["triples"] + 5}))
    assert state(out) != reference

    result = CliRunner().invoke(app, ["stats", "--out", str(out), "--verify"])
    assert result.exit_code == 0, result.output
    for expected in ("uncommitted document(s): ghost", "1 repeated line(s) of chunks.jsonl",
                     f"the files do not hold: {orphan.id}", f"missing from the store: {kept[0]['id']}",
                     f"store copy differed: {kept[1]['id']}", "counted counts.json again"):
        assert expected in result.output, result.output
    assert state(out) == reference
    with BuildFolder(out).open_store(parse_config(cfg)) as s:
        assert s.get_entity("Nobody") is None
    again = CliRunner().invoke(app, ["stats", "--out", str(out), "--verify"])
    assert again.exit_code == 0 and f"store and files agree: {len(kept)} triple(s)" in again.output
    assert json.loads((out / "manifest.json").read_text())["runs"][-1]["command"] == "verify"
    assert json.loads((out / "counts.json").read_text())["triples"] == len(kept)
