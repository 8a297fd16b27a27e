"""KASFT data: seeded negatives, no collisions with positives, split by document, file errors."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kgjudge import InputError
from kgjudge.judges import (
    CORRUPTION_KINDS,
    TARGETED_KINDS,
    GoldDocument,
    build_extractor_examples,
    build_judge_examples,
    load_gold_jsonl,
    load_text_graph_pair,
)


def key(t: tuple[str, str, str]) -> tuple[str, ...]:
    return tuple(x.casefold() for x in t)


def test_negative_sampling_is_deterministic_and_independent_of_document_order(corpus: list[GoldDocument]) -> None:
    first, stats = build_judge_examples(corpus, seed=3)
    again, stats_again = build_judge_examples(corpus, seed=3)
    assert [e.model_dump() for e in first] == [e.model_dump() for e in again]
    assert stats == stats_again
    shuffled = list(corpus)
    random.Random(1).shuffle(shuffled)
    reordered, _ = build_judge_examples(shuffled, seed=3)
    assert sorted(e.id for e in reordered) == sorted(e.id for e in first)
    other_seed, _ = build_judge_examples(corpus, seed=4)
    assert {e.id for e in other_seed} != {e.id for e in first}


def test_negatives_never_collide_with_positives_and_cover_every_kind(corpus: list[GoldDocument]) -> None:
    examples, stats = build_judge_examples(corpus, seed=0, dev_fraction=0.0, test_fraction=0.0)
    gold = {key(t) for d in corpus for t in d.triples}
    positives = [e for e in examples if e.label]
    negatives = [e for e in examples if not e.label]
    assert len(positives) == sum(len(d.triples) for d in corpus)
    assert all(key((e.head, e.relation, e.tail)) in gold for e in positives)
    assert negatives and all(key((e.head, e.relation, e.tail)) not in gold for e in negatives)
    assert len({key((e.head, e.relation, e.tail)) + (e.document_id,) for e in negatives}) == len(negatives)
    assert {e.kind for e in negatives} == set(CORRUPTION_KINDS)
    for e in negatives:  # each negative changes one part of its source triple
        assert e.source_triple is not None and sum(a != b for a, b in zip(e.source_triple, (e.head, e.relation, e.tail))) == 1
    counted = stats.examples["train"]
    assert counted["positive"] == len(positives)
    assert sum(v for k, v in counted.items() if k != "positive") == len(negatives)
    for e in (e for e in negatives if e.kind == "near_duplicate"):  # look-alike strings
        assert e.source_triple is not None
        (old, new), = [(a, b) for a, b in zip(e.source_triple, (e.head, e.relation, e.tail)) if a != b]
        one_digit = len(old) == len(new) and sum(a != b for a, b in zip(old, new)) == 1 and any(c.isdigit() for c in old)
        shared_word = {w for w in old.split() if len(w) >= 3} & set(new.split())
        assert one_digit or shared_word, (old, new)


def test_documents_not_examples_are_split(corpus: list[GoldDocument]) -> None:
    examples, stats = build_judge_examples(corpus * 1, seed=0, dev_fraction=0.3, test_fraction=0.3)
    split_of_doc: dict[str, set[str]] = {}
    for e in examples:
        split_of_doc.setdefault(e.document_id, set()).add(e.split)
    assert all(len(s) == 1 for s in split_of_doc.values())
    assert sum(stats.documents.values()) == len(corpus)
    extractor = build_extractor_examples(corpus, seed=0, dev_fraction=0.3, test_fraction=0.3, with_entities=True)
    assert {x.document_id: x.split for x in extractor} == {d: next(iter(s)) for d, s in split_of_doc.items()}
    assert extractor[0].entities[0] == "City0"  # entities in order of first mention


def test_text_graph_pairs_count_malformed_triples_and_name_bad_lines(tmp_path: Path) -> None:
    text, graph = tmp_path / "val.target", tmp_path / "val.source"
    text.write_text("A is in B.\nC is in D.\n")
    graph.write_text("[['A', 'in', 'B'], ['A', 'in']]\n[[\"C\", \"in\", \"D\", \"x\"]]\n")
    corpus = load_text_graph_pair(text, graph)
    assert corpus.malformed_triples == 2
    assert [d.id for d in corpus.documents] == [f"{tmp_path.name}/val:1", f"{tmp_path.name}/val:2"]
    assert corpus.documents[0].triples == [("A", "in", "B")]
    graph.write_text("[['A', 'in', 'B']]\n[['C', 'in', 'D'\n")
    with pytest.raises(InputError) as err:
        load_text_graph_pair(text, graph)
    assert err.value.line == 2 and str(graph) in str(err.value)
    graph.write_text("[]\n")
    with pytest.raises(InputError, match="2 text lines"):
        load_text_graph_pair(text, graph)


def test_gold_jsonl_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text('{"id": "a", "text": "A is in B.", "triples": [["A", "in", "B"]]}\n{"id": "b", "text": 3}\n')
    with pytest.raises(InputError) as err:
        load_gold_jsonl(path)
    assert err.value.line == 2


def test_the_dev_split_is_fixed_by_document_id_and_held_out_of_new_training_configs() -> None:
    from kgjudge.judges import dev_documents, dev_part, split_of

    ids = [f"rebel_sub/val:{i}" for i in range(1, 2001)]
    parts = [dev_part(i) for i in ids]
    assert 0.17 < sum(p is not None for p in parts) / len(ids) < 0.23
    assert 0.03 < parts.count("tune") / len(ids) < 0.07
    # the config fractions of the training configs map onto it exactly
    for i, p in zip(ids, parts):
        new = split_of(i, seed=0, dev_fraction=0.05, test_fraction=0.15)
        old = split_of(i, seed=0, dev_fraction=0.1, test_fraction=0.2)
        assert {"eval": "test", "tune": "dev", None: "train"}[p] == new or (p is None and new == "train")
        assert (p is not None) == (old == "test")  # the first adapters held out the whole dev split
    docs = [GoldDocument(id=i, text="t") for i in ids[:50]]
    chunk = GoldDocument(id=ids[0] + "#1", text="t", document_id=ids[0])
    assert [d.id for d in dev_documents(docs, None)] == [i for i, p in zip(ids[:50], parts) if p is not None]
    assert dev_part(chunk.split_key) == parts[0]  # chunks follow their document


def test_chunks_get_the_gold_triples_they_state() -> None:
    pytest.importorskip("spacy")
    from kgjudge._pipeline_config import ChunkingConfig
    from kgjudge.judges import chunk_documents

    first = "Alpha Town lies in Beta Land. " * 5
    second = "Gamma River flows through Delta Vale. " * 5
    doc = GoldDocument(id="d", text=first + second, triples=[
        ("Alpha Town", "country", "Beta Land"),        # both in chunk 0
        ("Gamma River", "located in", "Delta Vale"),   # both in chunk 1
        ("Gamma River", "mouth", "Epsilon Sea"),       # only the head is written: its first chunk
        ("Zeta", "named after", "Eta"),                # nothing written: the first chunk
    ])
    chunks, stats = chunk_documents([doc], ChunkingConfig(max_tokens=40, overlap_tokens=0))
    assert len(chunks) >= 2 and all(c.document_id == "d" and c.id.startswith("d#") for c in chunks)
    where = {t: [c.id for c in chunks if t in c.triples] for t in doc.triples}
    assert where[doc.triples[0]] == ["d#0"] and where[doc.triples[3]] == ["d#0"]
    gamma = [c.id for c in chunks if "Gamma River" in c.text]
    assert where[doc.triples[1]] == gamma and where[doc.triples[2]] == gamma[:1]
    assert (stats.both_elements_found, stats.one_element_found, stats.none_found) == (2, 1, 1)


def test_hard_negatives_come_from_the_extractors_own_mistakes() -> None:
    from kgjudge.judges import hard_negatives

    gold = {"d": [("Erul Heights", "mountain range", "Zagros"), ("Erul Heights", "country", "Iran")]}
    chunk = GoldDocument(id="d#0", document_id="d", text="Erul Heights is a peak of the Zagros in Iran.",
                         triples=gold["d"])
    replies = {"d#0": [
        ("Erul Heights", "mountain range", "Zagros"),       # gold: not a negative
        ("erul heights", "Mountain Range", "ZAGROS"),        # gold again, other case
        ("Erul Heights", "mountain range", "Erul Heights"),  # self-loop
        ("Erul Heights", "located in", "Turkey"),            # Turkey is not in the text
        ("Erul Heights", "located in", "Iran"),              # a gold pair, another relation
        ("Zagros", "country", "Iran"),                       # not gold, maybe true: left out
    ]}
    examples, counts = hard_negatives([chunk], replies, gold)
    assert [(e.kind, e.head, e.relation, e.tail) for e in examples] == [
        ("extracted_self_loop", "Erul Heights", "mountain range", "Erul Heights"),
        ("extracted_absent", "Erul Heights", "located in", "Turkey"),
        ("extracted_wrong_relation", "Erul Heights", "located in", "Iran"),
    ]
    assert all(not e.label and e.document == chunk.text and e.document_id == "d#0" for e in examples)
    assert counts == {"extracted_absent": 1, "extracted_self_loop": 1, "extracted_wrong_relation": 1, "unjudged": 1}


def test_targeted_negatives_swap_life_dates_and_years_on_top_of_the_kinds_in_turn() -> None:
    docs = [
        GoldDocument(id="a", text="Ronni Reis (born May 10, 1966) played tennis until 1991 and won in 1986.",
                     triples=[("Ronni Reis", "date of birth", "May 10, 1966"), ("Ronni Reis", "sport", "tennis")]),
        GoldDocument(id="b", text="Ivar (1903 - 1998) was a goldsmith.",
                     triples=[("Ivar", "date of birth", "1903"), ("Ivar", "date of death", "1998")]),
        GoldDocument(id="c", text="EVG was founded in 2010.", triples=[("EVG", "inception", "2010")]),
    ]
    plain, _ = build_judge_examples(docs, seed=0, dev_fraction=0.0, test_fraction=0.0)
    both, stats = build_judge_examples(docs, seed=0, dev_fraction=0.0, test_fraction=0.0,
                                       kinds=[*CORRUPTION_KINDS, "relation_twin", "date_swap"])
    # the kinds in turn make exactly the negatives they made without the targeted kinds
    assert [e.model_dump() for e in plain] == [e.model_dump() for e in both if e.kind not in TARGETED_KINDS]
    targeted = {(e.document_id, e.kind, e.head, e.relation, e.tail) for e in both if e.kind in TARGETED_KINDS}
    assert ("a", "relation_twin", "Ronni Reis", "date of death", "May 10, 1966") in targeted
    # Ivar: the twin of his birth date; the other year as his birth date was made by a kind in
    # turn (a tail swap) or a year swap, once; his death date's twin and year swap are the same two
    assert ("b", "relation_twin", "Ivar", "date of death", "1903") in targeted
    ivar = [(e.relation, e.tail) for e in both if e.document_id == "b" and not e.label]
    assert ivar.count(("date of birth", "1998")) == 1 and ivar.count(("date of death", "1903")) == 1
    # a year of the text other than the gold tail's
    swaps = {t for t in targeted if t[1] == "date_swap" and t[0] == "a"}
    assert len(swaps) == 1 and swaps <= {("a", "date_swap", "Ronni Reis", "date of birth", y) for y in ("1991", "1986")}
    assert not any(t[0] == "c" for t in targeted)  # no twin for inception, no other year in its text
    assert stats.examples["train"]["relation_twin"] == sum(1 for t in targeted if t[1] == "relation_twin")
    assert all(not e.label and e.source_triple for e in both if e.kind in TARGETED_KINDS)
    gold = {key(t) for d in docs for t in d.triples}
    assert all(key((e.head, e.relation, e.tail)) not in gold for e in both if not e.label)
    with pytest.raises(ValueError, match="unknown corruption kinds"):
        build_judge_examples(docs, kinds=["relation_twin", "nonsense"])
