"""Store files and formats: networkx JSON/GraphML, the persistent RDF store, RDF exports,
SPARQL, IRI minting, export through a copy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _corpus import HOSTILE, hostile_records, sample_records

from kgjudge import ConfigError, Entity, StoreError
from kgjudge.graph import (
    NetworkXConfig,
    NetworkXStore,
    RDFConfig,
    RDFStore,
    build_store,
    export_store,
    mint_iri,
    slugify,
)

pytest.importorskip("networkx")
pytest.importorskip("oxrdflib")


def contents(store) -> dict:  # noqa: ANN001
    return {s.triple.id: (s.triple, s.judgements) for s in store.iter_triples()}


@pytest.mark.parametrize("suffix", [".json", ".graphml"])
def test_networkx_files_round_trip_everything(tmp_path: Path, suffix: str) -> None:
    triples, judgements = sample_records()
    hostile, hostile_judgements = hostile_records()
    path = tmp_path / f"kg{suffix}"
    with build_store({"type": "networkx.v1", "path": str(path)}) as store:
        store.upsert([*triples, *hostile], [*judgements, *hostile_judgements])
        store.upsert_entities([Entity(id="Q1", name=HOSTILE[7], type=HOSTILE[8], aliases=[HOSTILE[9], HOSTILE[0]])])
        store.set_embeddings({"Warsaw": [0.25, -1.5]})
        before = contents(store)
        entities = sorted(store.iter_entities(), key=lambda e: e.name)
    assert path.exists()
    again = NetworkXStore(NetworkXConfig(path=str(path)))
    assert contents(again) == before
    assert sorted(again.iter_entities(), key=lambda e: e.name) == entities
    assert again.graph.nodes["Warsaw"]["embedding"] == [0.25, -1.5]
    assert again.stats() == NetworkXStore(NetworkXConfig(path=str(path))).stats()


def test_graphml_is_plain_graphml(tmp_path: Path) -> None:
    import networkx as nx

    triples, judgements = sample_records()
    store = NetworkXStore()
    store.upsert(triples, judgements)
    path = store.save(tmp_path / "kg.graphml")
    graph = nx.read_graphml(path, force_multigraph=True)
    assert sorted(d["name"] for _, d in graph.nodes(data=True)) == sorted({n for t in triples for n in (t.head, t.tail)})
    assert sorted(d["relation"] for _, _, d in graph.edges(data=True)) == sorted(t.relation for t in triples)


def test_networkx_rejects_foreign_files(tmp_path: Path) -> None:
    bad = tmp_path / "other.json"
    bad.write_text('{"nodes": [], "links": []}')
    with pytest.raises(StoreError, match="other.json"):
        NetworkXStore(NetworkXConfig(path=str(bad)))
    with pytest.raises(StoreError, match="suffix"):
        NetworkXStore().save(tmp_path / "kg.txt")


def test_rdf_store_persists_and_reopens(tmp_path: Path) -> None:
    import rdflib

    triples, judgements = sample_records()
    config = RDFConfig(path=str(tmp_path / "store"))
    store = RDFStore(config)
    store.upsert(triples, judgements)
    store.upsert_entities([Entity(name="Warsaw", type="city", aliases=["Warszawa"])])
    before = contents(store)
    store.close()
    reopened = RDFStore(config)
    assert contents(reopened) == before
    assert reopened.get_entity("Warsaw") == Entity(name="Warsaw", type="city", aliases=["Warszawa"])
    # The rdflib Graph with the fixed identifier sees the entity descriptions after reopening.
    assert len(reopened.graph) > 0
    labels = {str(o) for o in reopened.graph.objects(predicate=rdflib.RDFS.label)}
    assert {"Warsaw", "Marie Curie", "born in"} <= labels
    reopened.close()


def test_rdf_exports_parse_back(tmp_path: Path) -> None:
    import pyoxigraph as ox
    import rdflib

    triples, judgements = sample_records()
    hostile, hostile_judgements = hostile_records()
    store = RDFStore(RDFConfig(path=None))
    store.upsert([*triples, *hostile], [*judgements, *hostile_judgements])
    total = len(store._store)
    for fmt, ox_format in (("trig", ox.RdfFormat.TRIG), ("nquads", ox.RdfFormat.N_QUADS),
                           ("jsonld", ox.RdfFormat.JSON_LD)):
        path = store.export(tmp_path / f"kg.{fmt}", fmt)
        copy = ox.Store()
        copy.load(path=str(path), format=ox_format)
        assert len(copy) == total, fmt
    dataset = rdflib.Dataset()
    dataset.parse(tmp_path / "kg.trig", format="trig")
    assert len(list(dataset.quads())) == total
    for fmt in ("turtle", "nt"):
        graph = rdflib.Graph()
        graph.parse(store.export(tmp_path / f"kg.{fmt}", fmt), format=fmt)
        facts = {(str(graph.value(s, rdflib.RDFS.label)), str(graph.value(p, rdflib.RDFS.label)),
                  str(graph.value(o, rdflib.RDFS.label))) for s, p, o in graph
                 if str(p).startswith("urn:kgjudge:relation/")}
        assert facts == {t.as_tuple() for t in [*triples, *hostile]}, fmt
        # Turtle and N-Triples carry the knowledge graph, not the provenance.
        assert not any(str(p) == "urn:kgjudge:vocab:document" for p in graph.predicates())
    # Every exported file is pure data: no hostile name appears as an IRI.
    iris = re.findall(r"<([^>]*)>", (tmp_path / "kg.nt").read_text(encoding="utf-8"))
    assert iris and all(re.fullmatch(r"[A-Za-z0-9:/#._~-]+", iri) for iri in iris)


def test_rdf_export_reloads_into_a_store(tmp_path: Path) -> None:
    import pyoxigraph as ox

    triples, judgements = sample_records()
    source = RDFStore(RDFConfig(path=None))
    source.upsert(triples, judgements)
    path = source.export(tmp_path / "kg.nq", "nquads")
    target = RDFStore(RDFConfig(path=None))
    target._store.load(path=str(path), format=ox.RdfFormat.N_QUADS)
    assert contents(target) == contents(source)


def test_sparql_is_read_only_by_default(tmp_path: Path) -> None:
    triples, _ = sample_records()
    store = RDFStore(RDFConfig(path=str(tmp_path / "s")))
    store.upsert(triples)
    rows = list(store.query(
        "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
        "SELECT ?h ?t WHERE { GRAPH ?g { ?hs ?r ?ts } ?hs rdfs:label ?h . ?ts rdfs:label ?t . "
        "?r rdfs:label 'born in' }"
    ))
    assert [(str(r.h), str(r.t)) for r in rows] == [("Marie Curie", "Warsaw")]
    before = store.stats()
    with pytest.raises(StoreError, match="read-only|SPARQL"):
        store.query("DELETE WHERE { GRAPH ?g { ?s ?p ?o } }")
    with pytest.raises(StoreError, match="allow_update"):
        store.update("DELETE WHERE { GRAPH ?g { ?s ?p ?o } }")
    assert store.stats() == before
    store.close()
    writable = RDFStore(RDFConfig(path=str(tmp_path / "s"), allow_update=True))
    writable.update("CLEAR ALL")
    assert writable.stats().triples == 0


def test_iris_are_safe_stable_and_distinct() -> None:
    assert mint_iri("urn:kgjudge:", "entity", "Marie Curie") == "urn:kgjudge:entity/marie-curie-f49d0583f2ce007f"
    assert slugify("Ⅻ ﬁve  Straße!") == "xii-five-strasse"
    minted = {mint_iri("urn:kgjudge:", "entity", n) for n in HOSTILE}
    assert len(minted) == len(HOSTILE)
    for iri in minted:
        assert re.fullmatch(r"urn:kgjudge:entity/([a-z0-9-]+-)?[0-9a-f]{16}", iri), iri
        assert len(iri) < 100
    assert mint_iri("urn:kgjudge:", "entity", "東京").startswith("urn:kgjudge:entity/")
    assert mint_iri("urn:kgjudge:", "entity", "Paris") != mint_iri("urn:kgjudge:", "entity", "paris")
    with pytest.raises(ConfigError, match="base IRI"):
        RDFConfig(base_iri="http://example.org/a b/")
    with pytest.raises(ConfigError, match="base IRI"):
        RDFConfig(base_iri="urn:x")


def test_export_store_reaches_other_stores_formats(tmp_path: Path) -> None:
    import rdflib

    triples, judgements = sample_records()
    store = NetworkXStore()
    store.upsert(triples, judgements)
    rdf = RDFStore(RDFConfig(path=None))
    rdf.upsert(triples, judgements)
    trig = export_store(store, tmp_path / "kg.trig", "trig")
    assert len(list(rdflib.Dataset().parse(trig, format="trig").quads())) == len(rdf._store)
    graphml = export_store(rdf, tmp_path / "kg.graphml", "graphml")
    assert contents(NetworkXStore(NetworkXConfig(path=str(graphml)))) == contents(store)
    with pytest.raises(StoreError, match="formats"):
        export_store(store, tmp_path / "kg.xyz", "xyz")
