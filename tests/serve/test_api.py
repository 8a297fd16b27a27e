"""The HTTP API over a real build (RDF store on disk, fake backend): every endpoint, its caps,
its errors, and curation written back to the store and the decision log."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from _serving import HOSTILE, client_for

from kgjudge import CURATION_JUDGE, Entity, Triple
from kgjudge.graph import build_store


def kept(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "triples.jsonl").read_text().splitlines()]


def rejected(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "rejected.jsonl").read_text().splitlines()]


def triple_id(out: Path, head: str, relation: str) -> str:
    return next(t["id"] for t in kept(out) if t["head"] == head and t["relation"] == relation)


def test_info_stats_and_the_generated_schema(api) -> None:  # noqa: ANN001
    info = api.get("/api/info").json()
    assert info["source"] == "build" and info["store"] == "rdf.v1" and not info["allow_edit"]
    assert info["documents"] and info["judge"] == "graphjudger.v1" and info["model"] == "fake.v1"
    assert info["runs"] == [{"index": 0, "kind": "build", "folder": info["name"]}]
    stats = api.get("/api/stats").json()
    assert stats["triples"] == 9 and stats["documents"] == 3 and stats["origins"] == {"extracted": 9}
    schema = api.get("/api/openapi.json").json()
    assert {"/api/entities", "/api/neighbourhood", "/api/triples/{triple_id}", "/api/documents/{document_id}",
            "/api/query", "/api/judge", "/api/curation/{triple_id}", "/api/runs/{index}"} <= set(schema["paths"])
    # the response models are kgjudge's records
    assert {"Triple", "Judgement", "Span", "Entity", "Answer", "Citation", "CurationDecision", "StoreStats"} <= \
        set(schema["components"]["schemas"])
    # no interactive docs page: it would load scripts from a CDN
    assert api.get("/docs").status_code == 404


def test_search_links_names_aliases_misspellings_and_substrings(build_copy: Path) -> None:
    with build_store({"type": "rdf.v1", "path": str(build_copy / "graph.oxigraph")}) as store:
        store.upsert_entities([Entity(name="Marie Curie", aliases=["Maria Skłodowska"])])
    for api in client_for(build_copy):
        def hits(q: str) -> list[tuple[str, str]]:
            found = api.get("/api/entities", params={"q": q}).json()["hits"]
            return [(h["name"], h["method"]) for h in found]

        assert hits("Marie Curie")[0] == ("Marie Curie", "exact")
        assert hits("maria skłodowska")[0] == ("Marie Curie", "alias")      # as kgjudge query links it
        assert hits("Maria Sklodowska")[0] == ("Marie Curie", "fuzzy")
        assert hits("Marie Cuire")[0] == ("Marie Curie", "fuzzy")
        assert hits("curie") == [("Marie Curie", "substring")]
        assert hits("war") == [("Warsaw", "prefix")]
        assert hits("Atlantis") == []
        found = api.get("/api/entities", params={"q": "a", "limit": 2}).json()["hits"]
        assert len(found) == 2 and all(h["degree"] >= 1 for h in found)
        warsaw = api.get("/api/entities", params={"q": "Warsaw"}).json()["hits"][0]
        assert warsaw["degree"] == 3


def test_neighbourhood_is_capped_paged_and_hides_rejected_facts(api, build_copy: Path) -> None:  # noqa: ANN001
    nb = api.get("/api/neighbourhood", params={"entity": "Marie Curie"}).json()
    assert len(nb["facts"]) == 4 and nb["more"] == {} and not nb["truncated"]
    assert {e["name"] for e in nb["entities"]} == {"Marie Curie", "Warsaw", "Paris", "Nobel Prize in Physics"}
    fact = nb["facts"][0]
    assert fact["source"] == "store" and not fact["rejected"] and fact["judgements"][0]["judge"] == "graphjudger.v1"
    assert fact["confidence"] == pytest.approx(fact["judgements"][0]["score"], abs=1e-4)

    first = api.get("/api/neighbourhood", params={"entity": "Marie Curie", "limit": 3}).json()
    assert len(first["facts"]) == 3 and first["more"] == {"Marie Curie": 1} and first["truncated"] is False
    rest = api.get("/api/neighbourhood", params={"entity": "Marie Curie", "limit": 3, "offset": 3}).json()
    assert len(rest["facts"]) == 1 and rest["more"] == {}
    assert {f["triple"]["id"] for f in first["facts"] + rest["facts"]} == {f["triple"]["id"] for f in nb["facts"]}

    two = api.get("/api/neighbourhood", params={"entity": "Marie Curie", "hops": 2}).json()
    assert {"Mallory", "Marie Curie"} <= {e["name"] for e in two["entities"]}
    capped = api.get("/api/neighbourhood", params={"entity": "Marie Curie", "hops": 2, "limit": 4}).json()
    assert len(capped["facts"]) == 4 and capped["truncated"]

    # The build's judge rejected "Danube flows through Vienna": it is in rejected.jsonl, not the graph.
    danube = api.get("/api/neighbourhood", params={"entity": "Danube"}).json()
    assert sorted(f["triple"]["relation"] for f in danube["facts"]) == ["capital of", "source"]
    shown = api.get("/api/neighbourhood", params={"entity": "Danube", "rejected": True}).json()
    extra = [f for f in shown["facts"] if f["rejected"]]
    assert [(f["triple"]["relation"], f["source"]) for f in extra] == [("flows through", "build_rejected")]
    assert extra[0]["judgements"][0]["label"] is False


def test_neighbourhood_and_query_errors_are_json(api) -> None:  # noqa: ANN001
    r = api.get("/api/neighbourhood", params={"entity": "Atlantis"})
    assert r.status_code == 404 and r.json() == {"error": "no entity named 'Atlantis'", "status": 404}
    for params, field in (({"entity": "Warsaw", "hops": 9}, "query.hops"), ({"entity": "Warsaw", "limit": 100000}, "query.limit"),
                          ({}, "query.entity")):
        r = api.get("/api/neighbourhood", params=params)
        assert r.status_code == 422 and field in r.json()["error"], r.json()
    r = api.get("/api/no-such-thing")
    assert r.status_code == 404 and r.json()["error"] == "nothing at /api/no-such-thing"


def test_triple_by_id_with_provenance_judgements_and_document(api, build_copy: Path) -> None:  # noqa: ANN001
    tid = triple_id(build_copy, "Marie Curie", "place of birth")
    detail = api.get(f"/api/triples/{tid}").json()
    t = detail["fact"]["triple"]
    assert (t["head"], t["relation"], t["tail"], t["document_id"]) == ("Marie Curie", "place of birth", "Warsaw", "curie")
    assert t["extractor"] == {"model": "fake", "adapter": None, "prompt_version": "triple_extract.v1"}
    assert t["evidence"]["text"] == "Marie Curie was born in Warsaw."
    assert [j["judge"] for j in detail["fact"]["judgements"]] == ["graphjudger.v1"]
    assert detail["document"]["id"] == "curie" and detail["document"]["line"] == 1 and detail["decisions"] == []
    missing = api.get("/api/triples/tri-0000000000000000")
    assert missing.status_code == 404 and missing.json()["error"] == "no triple with id 'tri-0000000000000000'"
    # a triple of rejected.jsonl is found too
    gone = next(r["triple"]["id"] for r in rejected(build_copy) if r["triple"]["relation"] == "flows through")
    assert api.get(f"/api/triples/{gone}").json()["fact"]["source"] == "build_rejected"


def test_ids_with_any_characters_are_looked_up_verbatim(build_copy: Path) -> None:
    weird = Triple(id="weird/id ?#%&..", head="a/b", relation="rel", tail=HOSTILE, document_id="curie")
    with build_store({"type": "rdf.v1", "path": str(build_copy / "graph.oxigraph")}) as store:
        store.upsert([weird])
    for api in client_for(build_copy):
        got = api.get("/api/triples/" + quote(weird.id, safe="")).json()
        assert got["fact"]["triple"] == weird.model_dump(mode="json")
        nb = api.get("/api/neighbourhood", params={"entity": HOSTILE}).json()
        assert any(f["triple"]["id"] == weird.id for f in nb["facts"])


def test_documents_window_and_spans(api) -> None:  # noqa: ANN001
    view = api.get("/api/documents/curie").json()
    assert view["text"].startswith("Marie Curie was born in Warsaw.") and view["offset"] == 0
    assert view["document"]["length"] == len(view["text"])
    assert len(view["facts"]) == 4 and all(f["triple"]["document_id"] == "curie" for f in view["facts"])
    window = api.get("/api/documents/curie", params={"offset": 70, "length": 10}).json()
    assert window["offset"] == 70 and len(window["text"]) == 10
    assert {f["triple"]["relation"] for f in window["facts"]} == {"work location"}
    hostile = api.get("/api/documents/hostile").json()
    assert HOSTILE in hostile["text"]        # data, as it was
    assert api.get("/api/documents/nope").status_code == 404
    too_long = api.get("/api/documents/curie", params={"length": 10**9})
    assert too_long.status_code == 422 and "query.length" in too_long.json()["error"]


def test_query_answers_with_cited_facts(api) -> None:  # noqa: ANN001
    answer = api.post("/api/query", json={"question": "Where was Marie Curie born?"}).json()
    assert answer["found"] and answer["answer"] == "Warsaw"
    cited = [c for c in answer["citations"] if c["source"] == "cited"]
    assert cited and cited[0]["key"] == "T1" and cited[0]["document_id"] == "curie"
    nothing = api.post("/api/query", json={"question": "Who founded Atlantis?"}).json()
    assert not nothing["found"] and nothing["answer"].startswith("Nothing found")
    for body, field in (({"question": ""}, "question"), ({"question": "x" * 2001}, "question"),
                        ({"question": "Where?", "mode": "sideways"}, "mode"), ({"question": "Where?", "extra": 1}, "extra")):
        r = api.post("/api/query", json=body)
        assert r.status_code == 422 and field in r.json()["error"], r.json()


def test_judge_one_triple_against_its_document(api, build_copy: Path) -> None:  # noqa: ANN001
    tid = triple_id(build_copy, "Marie Curie", "place of birth")
    stored = next(j for j in (json.loads(x) for x in (build_copy / "judgements.jsonl").read_text().splitlines())
                  if j["triple"]["id"] == tid)["judgement"]
    again = api.post("/api/judge", json={"triple_id": tid}).json()
    assert again["judge"] == "graphjudger.v1" and again["target_id"] == tid
    assert again["score"] == pytest.approx(stored["score"])     # the same judge on the same document
    given = api.post("/api/judge", json={"head": "Marie Curie", "relation": "place of birth", "tail": "Paris",
                                         "text": "Marie Curie was born in Paris."}).json()
    assert 0 <= given["score"] <= 1 and given["judge"] == "graphjudger.v1"
    assert api.post("/api/judge", json={"triple_id": "nope"}).status_code == 404
    r = api.post("/api/judge", json={"head": "a", "relation": "b", "tail": "c"})
    assert r.status_code == 400 and "no document to judge against" in r.json()["error"]
    assert api.post("/api/judge", json={"head": "a"}).status_code == 400


def test_a_config_without_judge_or_documents_says_so(built: Path, tmp_path: Path) -> None:
    config = tmp_path / "store.yaml"
    config.write_text(yaml.safe_dump({
        "backends": {"default": {"type": "fake.v1"}}, "cache": {"enabled": False},
        "store": {"type": "rdf.v1", "path": str(tmp_path / "copy.oxigraph")},
        "rag": {"linking": {"embeddings": False}},
    }))
    with build_store({"type": "rdf.v1", "path": str(built / "graph.oxigraph")}) as source, \
            build_store({"type": "rdf.v1", "path": str(tmp_path / "copy.oxigraph")}) as target:
        target.upsert([s.triple for s in source.iter_triples()], [j for s in source.iter_triples() for j in s.judgements])
    for api in client_for(None, config=config, allow_edit=True):  # type: ignore[arg-type]
        info = api.get("/api/info").json()
        assert info["source"] == "store" and not info["documents"] and info["judge"] is None and info["runs"] == []
        assert api.get("/api/stats").json()["triples"] == 9
        r = api.get("/api/documents/curie")
        assert r.status_code == 404 and "no documents" in r.json()["error"]
        tid = api.get("/api/neighbourhood", params={"entity": "Warsaw"}).json()["facts"][0]["triple"]["id"]
        r = api.post("/api/judge", json={"triple_id": tid})
        assert r.status_code == 409 and "no judge: section" in r.json()["error"]
        r = api.post(f"/api/curation/{tid}", json={"action": "accept"})
        assert r.status_code == 403 and "--curation-log" in r.json()["error"]


def test_curation_is_refused_read_only(api, build_copy: Path) -> None:  # noqa: ANN001
    tid = triple_id(build_copy, "Marie Curie", "place of birth")
    r = api.post(f"/api/curation/{tid}", json={"action": "reject"})
    assert r.status_code == 403 and "--allow-edit" in r.json()["error"]
    assert not (build_copy / "curation.jsonl").exists()


def test_reject_accept_and_correct_are_stored_logged_and_used(editable, build_copy: Path) -> None:  # noqa: ANN001
    api = editable
    born = triple_id(build_copy, "Marie Curie", "place of birth")
    died = triple_id(build_copy, "Marie Curie", "place of death")

    result = api.post(f"/api/curation/{died}", json={"action": "reject", "note": "she died in Passy"}).json()
    assert result["decision"]["action"] == "reject" and result["decision"]["note"] == "she died in Passy"
    [fact] = result["facts"]
    assert fact["rejected"] and fact["curated"] and fact["confidence"] == 0.0 and fact["triple"]["origin"] == "curated"
    assert [j["judge"] for j in fact["judgements"]] == [CURATION_JUDGE, "graphjudger.v1"]
    # hidden from the explorer unless asked for, and never shown to the model again
    nb = api.get("/api/neighbourhood", params={"entity": "Marie Curie"}).json()
    assert died not in {f["triple"]["id"] for f in nb["facts"]} and nb["hidden_rejected"] == 1
    shown = api.get("/api/neighbourhood", params={"entity": "Marie Curie", "rejected": True}).json()
    assert died in {f["triple"]["id"] for f in shown["facts"]}
    answer = api.post("/api/query", json={"question": "Where was Marie Curie born?"}).json()
    assert died not in {f["triple"]["id"] for f in answer["context"]["facts"]}

    fixed = api.post(f"/api/curation/{born}", json={"action": "correct", "tail": " Warsaw, Poland "}).json()
    old, new = sorted(fixed["facts"], key=lambda f: f["triple"]["tail"])
    assert old["triple"]["id"] == born and old["rejected"] and old["judgements"][0]["details"]["corrected_to"] == new["triple"]["id"]
    assert new["triple"]["tail"] == "Warsaw, Poland" and new["triple"]["origin"] == "curated" and not new["rejected"]
    assert new["triple"]["evidence"] == old["triple"]["evidence"] and new["triple"]["document_id"] == "curie"
    assert new["confidence"] == 1.0 and new["triple"]["extractor"] is None
    assert api.get("/api/entities", params={"q": "Warsaw, Poland"}).json()["hits"][0]["name"] == "Warsaw, Poland"

    # overrule the build's judge: accept a triple it rejected; it enters the graph
    gone = next(r["triple"]["id"] for r in rejected(build_copy) if r["triple"]["relation"] == "flows through")
    accepted = api.post(f"/api/curation/{gone}", json={"action": "accept"}).json()["facts"][0]
    assert not accepted["rejected"] and accepted["source"] == "store" and accepted["confidence"] == 1.0
    assert [j["judge"] for j in accepted["judgements"]] == [CURATION_JUDGE, "graphjudger.v1"]
    assert api.get("/api/stats").json()["triples"] == 11

    detail = api.get(f"/api/triples/{born}").json()
    assert [d["action"] for d in detail["decisions"]] == ["correct"]
    assert [d["action"] for d in api.get(f"/api/triples/{new['triple']['id']}").json()["decisions"]] == ["correct"]

    r = api.post(f"/api/curation/{gone}", json={"action": "correct", "head": "Danube"})
    assert r.status_code == 400 and "changes nothing" in r.json()["error"]
    r = api.post(f"/api/curation/{gone}", json={"action": "accept", "tail": "x"})
    assert r.status_code == 400 and "use 'correct'" in r.json()["error"]
    assert api.post("/api/curation/nope", json={"action": "accept"}).status_code == 404

    log = [json.loads(x) for x in (build_copy / "curation.jsonl").read_text().splitlines()]
    assert [d["action"] for d in log] == ["reject", "correct", "accept"]


def test_decisions_persist_across_restarts(build_copy: Path) -> None:
    died = triple_id(build_copy, "Marie Curie", "place of death")
    for api in client_for(build_copy, allow_edit=True):
        assert api.post(f"/api/curation/{died}", json={"action": "reject"}).status_code == 200
    with build_store({"type": "rdf.v1", "path": str(build_copy / "graph.oxigraph")}) as store:
        [stored] = store.get_triples([died])
        assert stored.rejected_by_curation() and stored.triple.origin == "curated"
    for api in client_for(build_copy):
        detail = api.get(f"/api/triples/{died}").json()
        assert detail["fact"]["rejected"] and [d["action"] for d in detail["decisions"]] == ["reject"]


def test_runs_view_counts_histograms_and_rejects(api, build_copy: Path) -> None:  # noqa: ANN001
    run = api.get("/api/runs/0").json()
    assert run["kind"] == "build" and run["finished"]
    assert run["counts"]["triples"] == 9 and run["counts"]["rejected_triples"] == 2 and run["counts"]["documents"] == 3
    assert set(run["usage"]) == {"extract", "judge"} and run["usage"]["judge"]["requests"] == 11
    [(judge, bins)] = run["histograms"].items()
    assert judge == "graphjudger.v1" and len(bins) == 20 and sum(b["count"] for b in bins) == 11
    assert run["rejected_inputs"] == 1 and run["rejected"] == 2
    rejects = api.get("/api/runs/0/rejects").json()
    assert rejects["total"] == 1 and rejects["items"][0]["reject"]["line"] == 2
    assert "invalid JSON" in rejects["items"][0]["reject"]["reason"]
    page = api.get("/api/runs/0/rejected", params={"limit": 1}).json()
    assert page["total"] == 2 and len(page["facts"]) == 1 and page["facts"][0]["rejected"]
    assert api.get("/api/runs/0/rejected", params={"offset": 1}).json()["facts"][0]["triple"]["id"] != page["facts"][0]["triple"]["id"]
    assert api.get("/api/runs/5").status_code == 404


def test_runs_view_of_a_filter_run(build_copy: Path, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    pytest.importorskip("matplotlib")
    from kgjudge.judges import Filter, parse_filter_config

    data = tmp_path / "data.jsonl"
    rows = [{"instruction": f"Question {i}?", "input": "", "output": f"Answer {i}."} for i in range(6)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{broken\n")
    base, config = parse_filter_config({"backends": {"default": {"type": "fake.v1"}}, "cache": {"enabled": False},
                                        "filter": {"judges": [{"type": "direct.v1"}], "batch_size": 3}})
    summary = Filter(base, config, tmp_path / "filtered", progress=False).run([data])
    assert summary.rejected >= 1
    for api in client_for(build_copy, runs=[tmp_path / "filtered"]):
        assert [r["kind"] for r in api.get("/api/info").json()["runs"]] == ["build", "filter"]
        run = api.get("/api/runs/1").json()
        assert run["kind"] == "filter" and run["finished"] and run["counts"]["kept"] == summary.kept
        assert run["rejected"] == summary.rejected and run["rejected_inputs"] == 1
        assert sum(b["count"] for b in run["histograms"]["combined"]) == 6 and "direct.v1" in run["histograms"]
        assert run["usage"]["filter"]["requests"] >= 6
        page = api.get("/api/runs/1/rejected").json()
        assert page["total"] == summary.rejected and all(not d["kept"] and d["reasons"] for d in page["decisions"])
        reject = api.get("/api/runs/1/rejects").json()["items"][0]["reject"]
        assert reject["line"] == 7 and reject["file"] == str(data)
    for api in client_for(build_copy):
        assert api.get("/api/runs/1").status_code == 404


def test_a_networkx_store_through_a_config_with_a_curation_log(built: Path, tmp_path: Path) -> None:
    """The in-memory store (every call serialised by the server) and --curation-log."""
    graph = tmp_path / "graph.json"
    with build_store({"type": "rdf.v1", "path": str(built / "graph.oxigraph")}) as source, \
            build_store({"type": "networkx.v1", "path": str(graph)}) as target:
        found = list(source.iter_triples())
        target.upsert([s.triple for s in found], [j for s in found for j in s.judgements])
    config = tmp_path / "nx.yaml"
    config.write_text(yaml.safe_dump({"backends": {"default": {"type": "fake.v1"}}, "cache": {"enabled": False},
                                      "store": {"type": "networkx.v1", "path": str(graph)},
                                      "rag": {"linking": {"embeddings": False}}}))
    log = tmp_path / "decisions" / "log.jsonl"
    for api in client_for(None, config=config, allow_edit=True, curation_log=log):  # type: ignore[arg-type]
        assert api.get("/api/info").json()["store"] == "networkx.v1"
        assert api.get("/api/entities", params={"q": "Marie Cuire"}).json()["hits"][0]["name"] == "Marie Curie"
        nb = api.get("/api/neighbourhood", params={"entity": "Marie Curie", "limit": 2}).json()
        assert len(nb["facts"]) == 2 and nb["more"] == {"Marie Curie": 2}
        tid = nb["facts"][0]["triple"]["id"]
        assert api.post(f"/api/curation/{tid}", json={"action": "reject"}).json()["facts"][0]["rejected"]
    assert [json.loads(x)["triple"]["id"] for x in log.read_text().splitlines()] == [tid]
    with build_store({"type": "networkx.v1", "path": str(graph)}) as store:     # saved on close
        assert store.get_triples([tid])[0].rejected_by_curation()
