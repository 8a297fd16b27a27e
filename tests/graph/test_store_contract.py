"""The same tests against every store: what goes in comes back equal, queries agree, hostile
text stays data, failed batches resume."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _corpus import HOSTILE, hostile_records, open_test_store, sample_records

from kgjudge import CURATION_JUDGE, Entity, Judgement, StoreError, Triple
from kgjudge.graph import GraphStore, NetworkXConfig, NetworkXStore, copy_store

@pytest.fixture(params=["networkx", "rdf", pytest.param("neo4j", marks=pytest.mark.bolt)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    opened = open_test_store(request.param, request, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def by_id(store: GraphStore) -> dict[str, tuple[Triple, list[Judgement]]]:
    return {s.triple.id: (s.triple, s.judgements) for s in store.iter_triples()}


def expected(triples: list[Triple], judgements: list[Judgement]) -> dict[str, tuple[Triple, list[Judgement]]]:
    out = {}
    for t in triples:
        found = {j.judge: j for j in judgements if j.target_id == t.id}
        out[t.id] = (t, [found[k] for k in sorted(found)])
    return out


def test_records_round_trip(store: GraphStore) -> None:
    triples, judgements = sample_records()
    assert store.upsert(triples, judgements) == len(triples)
    assert by_id(store) == expected(triples, judgements)
    got = store.get_triples([triples[1].id, triples[0].id, "no-such-id"])
    assert [s.triple for s in got] == sorted(triples[:2], key=lambda t: t.id)
    doc1 = {s.triple.id for s in store.iter_triples("doc-1")}
    assert doc1 == {t.id for t in triples if t.document_id == "doc-1"}
    stats = store.stats()
    assert (stats.triples, stats.judgements, stats.documents) == (5, 3, 2)
    assert stats.entities == 5 and stats.relations == 4
    assert stats.origins == {"curated": 1, "extracted": 3, "gold": 1}


def test_upsert_is_idempotent_and_replaces(store: GraphStore) -> None:
    triples, judgements = sample_records()
    store.upsert(triples, judgements)
    store.upsert(triples, judgements)
    assert store.stats().triples == len(triples) and store.stats().judgements == len(judgements)

    changed = triples[0].model_copy(update={"chunk_id": None, "evidence": None, "extractor": None})
    newer = judgements[0].model_copy(update={"score": 0.25, "label": False, "reasons": []})
    extra = Judgement(target_id=triples[2].id, judge="cascade.v1", score=1.0, label=True, threshold=0.5)
    store.upsert([changed], [newer, extra])
    got = by_id(store)
    assert got[changed.id][0] == changed
    assert got[changed.id][1] == sorted([newer, judgements[1]], key=lambda j: j.judge)
    assert got[triples[2].id][1] == [extra]
    assert store.stats().triples == len(triples)

    # The same id between other entities (its names were resolved since): the old edge goes.
    moved = triples[3].model_copy(update={"head": "Maria Skłodowska-Curie"})
    store.upsert([moved])
    assert by_id(store)[moved.id][0] == moved
    assert store.stats().triples == len(triples)
    assert moved.id in {s.triple.id for s in store.neighbours("Maria Skłodowska-Curie").triples}
    assert moved.id not in {s.triple.id for s in store.neighbours("Marie Curie").triples}


def test_failed_batch_resumes_without_duplicates(store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    triples = [Triple(head=f"e{i}", relation="next", tail=f"e{i + 1}", document_id="d") for i in range(25)]
    real = store._write_batch
    calls = []

    def flaky(batch, judgements):  # noqa: ANN001, ANN202
        calls.append(len(batch))
        if len(calls) == 2:
            raise StoreError("simulated failure in the second batch")
        return real(batch, judgements)

    monkeypatch.setattr(store, "_write_batch", flaky)
    with pytest.raises(StoreError, match="second batch"):
        store.upsert(triples, batch_size=10)
    assert store.stats().triples == 10
    monkeypatch.setattr(store, "_write_batch", real)
    assert store.upsert(triples, batch_size=10) == 25
    ids = [s.triple.id for s in store.iter_triples()]
    assert sorted(ids) == sorted(t.id for t in triples)
    assert store.stats().triples == 25 and store.stats().entities == 26


def test_judgement_about_unknown_triple_is_refused(store: GraphStore) -> None:
    triples, _ = sample_records()
    store.upsert(triples[:1])
    stray = Judgement(target_id="never-stored", judge="graphjudger.v1", score=0.5, label=True, threshold=0.5)
    with pytest.raises(StoreError, match="never-stored"):
        store.upsert(triples[1:2], [stray])
    assert store.stats().triples == 1 and store.stats().judgements == 0
    late = Judgement(target_id=triples[0].id, judge="late.v1", score=0.5, label=True, threshold=0.5)
    store.upsert([], [late])
    assert store.get_triples([triples[0].id])[0].judgements == [late]


def test_neighbours_and_subgraph(store: GraphStore) -> None:
    chain = [Triple(head=a, relation="to", tail=b) for a, b in ("AB", "BC", "CD")]
    loop = Triple(head="B", relation="self", tail="B")
    store.upsert([*chain, loop])
    store.upsert_entities([Entity(name="E")])
    assert store.neighbours("A", 0).names() == {"A"} and store.neighbours("A", 0).triples == []
    one = store.neighbours("A", 1)
    assert one.names() == {"A", "B"} and [s.triple for s in one.triples] == [chain[0]]
    assert store.neighbours("A", 2).names() == {"A", "B", "C"}
    assert {s.triple.id for s in store.neighbours("A", 2).triples} == {chain[0].id, chain[1].id, loop.id}
    assert store.neighbours("C", 1).names() == {"B", "C", "D"}
    assert store.neighbours("E", 3).names() == {"E"}
    assert store.neighbours("nobody", 2).entities == []
    induced = store.subgraph(["A", "C"])
    assert induced.names() == {"A", "C"} and induced.triples == []
    induced = store.subgraph(["A", "B", "C", "nobody"])
    assert {s.triple.id for s in induced.triples} == {chain[0].id, chain[1].id, loop.id}
    assert {s.triple.id for s in store.subgraph(["D"], hops=1).triples} == {chain[2].id}
    with pytest.raises(StoreError):
        store.neighbours("A", -1)


def test_triples_of_pages_through_an_entity_and_degree_counts_them(store: GraphStore) -> None:
    hub = [Triple(head="Hub", relation="links", tail=f"leaf {i}", document_id="d") for i in range(23)]
    inbound = [Triple(head=f"source {i}", relation="points at", tail="Hub") for i in range(4)]
    loop = Triple(head="Hub", relation="self", tail="Hub")
    judged = Judgement(target_id=hub[0].id, judge="graphjudger.v1", score=0.9, label=True, threshold=0.5)
    store.upsert([*hub, *inbound, loop, Triple(head="leaf 0", relation="next", tail="leaf 1")], [judged])
    assert store.degree("Hub") == 28 and store.degree("leaf 0") == 2 and store.degree("nobody") == 0
    pages = [store.triples_of("Hub", offset=o, limit=10) for o in (0, 10, 20, 30)]
    assert [len(p) for p in pages] == [10, 10, 8, 0]
    ids = [st.triple.id for page in pages for st in page]
    assert len(ids) == len(set(ids)) == 28
    assert set(ids) == {t.id for t in (*hub, *inbound, loop)}
    assert all([st.triple.id for st in page] == sorted(st.triple.id for st in page) for page in pages)
    # the same pages again: the order is stable while the store does not change
    assert [[st.triple.id for st in store.triples_of("Hub", offset=o, limit=10)] for o in (0, 10, 20)] == \
        [[st.triple.id for st in page] for page in pages[:3]]
    with_judgement = next(st for page in pages for st in page if st.triple.id == hub[0].id)
    assert with_judgement.judgements == [judged] and with_judgement.triple == hub[0]
    assert store.triples_of("Hub", limit=0) == [] and store.triples_of("nobody") == []
    with pytest.raises(StoreError):
        store.triples_of("Hub", offset=-1)


def test_a_curation_judgement_decides_whether_a_triple_is_rejected(store: GraphStore) -> None:
    t = Triple(head="Paris", relation="capital of", tail="Spain", document_id="d")
    model_says_no = Judgement(target_id=t.id, judge="graphjudger.v1", score=0.2, label=False, threshold=0.5)
    store.upsert([t], [model_says_no])
    [st] = store.get_triples([t.id])
    assert st.rejected() and st.curation() is None and not st.rejected_by_curation()
    person = Judgement(target_id=t.id, judge=CURATION_JUDGE, score=1.0, label=True, threshold=0.5)
    store.upsert([t.model_copy(update={"origin": "curated"})], [person])
    [st] = store.get_triples([t.id])
    assert not st.rejected() and st.curation() == person and st.triple.origin == "curated"
    assert len(st.judgements) == 2
    store.upsert([], [person.model_copy(update={"score": 0.0, "label": False})])
    [st] = store.get_triples([t.id])
    assert st.rejected() and st.rejected_by_curation()


def test_stores_that_allow_concurrent_reads_answer_threads_while_one_writes(store: GraphStore) -> None:
    if not store.concurrent_reads:
        pytest.skip(f"{store.name} serialises its callers")
    from concurrent.futures import ThreadPoolExecutor

    first = [Triple(head="Hub", relation="to", tail=f"n{i}", document_id="d") for i in range(200)]
    store.upsert(first)

    def read(k: int) -> int:
        seen = 0
        for _ in range(15):
            page = store.triples_of("Hub", offset=k * 10, limit=50)
            assert all(st.triple.head == "Hub" for st in page)
            seen += len(store.get_triples([t.id for t in first[k :: 7]])) + len(store.neighbours("n1").triples)
        return seen

    with ThreadPoolExecutor(4) as pool:
        readers = [pool.submit(read, k) for k in range(4)]
        for batch in range(5):
            store.upsert([Triple(head="Hub", relation="also", tail=f"m{batch}-{i}") for i in range(40)])
        assert all(r.result() > 0 for r in readers)
    assert store.degree("Hub") == 400 and store.stats().triples == 400


def test_entities_and_search(store: GraphStore) -> None:
    store.upsert([
        Triple(head="Paris", relation="capital of", tail="France"),
        Triple(head="Paris Hilton", relation="born in", tail="New York City"),
        Triple(head="Comparison", relation="is a", tail="Straße"),
    ])
    paris = Entity(id="Q90", name="Paris", type="city", aliases=["Ville Lumière", "Paree", "Paris"])
    assert store.upsert_entities([paris]) == 1
    assert store.get_entity("Paris") == paris.model_copy(update={"aliases": ["Paree", "Ville Lumière"]})
    assert store.get_entity("France") == Entity(name="France")
    assert store.get_entity("france") is None
    hits = store.search("PARIS")
    assert [h.entity.name for h in hits] == ["Paris", "Paris Hilton", "Comparison"]
    assert [h.score for h in hits] == [1.0, 0.75, 0.5]
    assert [h.entity.name for h in store.search("lumière")] == ["Paris"]
    assert [h.entity.name for h in store.search("STRASSE")] == ["Straße"]
    assert store.search("paris", limit=1)[0].entity.name == "Paris"
    assert store.search("zzz") == []
    with pytest.raises(StoreError):
        store.search()


def test_embedding_search_where_available(store: GraphStore) -> None:
    store.upsert([Triple(head="Paris", relation="capital of", tail="France")])
    vectors = {"Paris": [1.0, 0.0, 0.0], "France": [0.6, 0.8, 0.0], "Berlin": [0.0, 0.0, 1.0]}
    if not store.features.embeddings:
        with pytest.raises(StoreError, match="embeddings"):
            store.set_embeddings(vectors)
        with pytest.raises(StoreError, match="embeddings"):
            store.search(embedding=[1.0, 0.0, 0.0])
        return
    assert store.set_embeddings(vectors) == 3
    hits = store.search(embedding=[0.9, 0.1, 0.0], limit=2)
    assert [h.entity.name for h in hits] == ["Paris", "France"]
    assert hits[0].method == "embedding" and hits[0].score > hits[1].score
    assert store.get_entity("Berlin") == Entity(name="Berlin")


def test_delete_document(store: GraphStore) -> None:
    triples, judgements = sample_records()
    store.upsert(triples, judgements)
    assert store.delete_document("doc-1") == 2
    left = by_id(store)
    assert set(left) == {t.id for t in triples if t.document_id != "doc-1"}
    assert store.stats().judgements == 0
    # Warsaw and Poland still have doc-2 triples; Marie Curie keeps her gold triple.
    assert {e.name for e in store.iter_entities()} == {"Marie Curie", "Nobel Prize", "Poland", "Warsaw", "European Union"}
    assert store.delete_document("doc-1") == 0
    assert store.delete_document("doc-2") == 2
    assert {e.name for e in store.iter_entities()} == {"Marie Curie", "Nobel Prize"}
    assert store.stats().relations == 1


def test_hostile_text_is_stored_verbatim_and_never_executed(store: GraphStore) -> None:
    sentinel = [Triple(head="sentinel", relation="keeps", tail="watch")]
    store.upsert(sentinel)
    triples, judgements = hostile_records()
    store.upsert(triples, judgements, batch_size=7)
    assert by_id(store) == {**expected(triples, judgements), **expected(sentinel, [])}
    names = {n for t in triples for n in (t.head, t.tail)} | {"sentinel", "watch"}
    assert {e.name for e in store.iter_entities()} == names
    assert store.get_entities(HOSTILE) == [Entity(name=n) for n in HOSTILE if n in names]
    stats = store.stats()
    assert (stats.triples, stats.entities, stats.judgements) == (len(triples) + 1, len(names), len(judgements))
    for name in HOSTILE:
        hood = store.neighbours(name, 1)
        assert {s.triple.id for s in hood.triples} == {t.id for t in triples if name in (t.head, t.tail)}
    assert store.search(HOSTILE[4])[0].entity.name == HOSTILE[4]
    assert store.delete_document(HOSTILE[7 % len(HOSTILE)]) == 1
    assert store.get_triples([sentinel[0].id])[0].triple == sentinel[0]


def test_copy_between_stores(store: GraphStore) -> None:
    triples, judgements = sample_records()
    store.upsert(triples, judgements)
    store.upsert_entities([Entity(name="Warsaw", type="city", aliases=["Warszawa"])])
    target = NetworkXStore(NetworkXConfig())
    assert copy_store(store, target, batch_size=2) == len(triples)
    assert by_id(target) == by_id(store)
    assert target.get_entity("Warsaw") == store.get_entity("Warsaw")
    store.clear()
    assert store.stats().triples == 0
    assert copy_store(target, store) == len(triples)
    assert by_id(store) == expected(triples, judgements)
    assert store.get_entity("Warsaw") == Entity(name="Warsaw", type="city", aliases=["Warszawa"])
