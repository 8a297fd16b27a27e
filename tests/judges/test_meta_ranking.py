"""Meta Ranking: the aggregation rule on scripted comparisons, reference files, selection,
prompt order and position swap, prefix reuse, triples."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from kgjudge import InputError, Triple
from kgjudge.judges import (
    Comparison,
    MetaRanker,
    MetaRankingConfig,
    QAPair,
    aggregate,
    load_references,
    prefix_stats,
)
from kgjudge.llm import LLMRequest


def cmp(correct: bool, p: float) -> Comparison:
    return Comparison(reference_id="r", reference_correct=correct, p_target=p)


def test_aggregation_rule_on_scripted_comparisons() -> None:
    assert aggregate([]) == 0.5
    assert aggregate([cmp(True, 1.0)]) == 1.0  # confidently beats a correct reference
    assert aggregate([cmp(False, 0.0)]) == 0.0  # confidently loses to an incorrect reference
    # beating an incorrect reference / losing to a correct one count with the weak weight
    assert aggregate([cmp(False, 1.0)], weak_weight=0.25) == pytest.approx(0.625)
    assert aggregate([cmp(True, 0.0)], weak_weight=0.25) == pytest.approx(0.375)
    assert aggregate([cmp(True, 0.0)], weak_weight=0.0) == 0.5
    # mixed: (1*0.6 + 1*(-0.8) + 0.5*0.2) / 3 = -0.0333 -> 0.5 - 0.01667
    mixed = [cmp(True, 0.8), cmp(False, 0.1), cmp(False, 0.6)]
    assert aggregate(mixed, weak_weight=0.5) == pytest.approx(0.5 + 0.5 * (0.6 - 0.8 + 0.1) / 3)
    assert all(0.0 <= aggregate([cmp(c, p)] * 3, w) <= 1.0 for c in (True, False) for p in (0, 0.3, 1) for w in (0, 1))


def write_refs(path: Path, n: int = 6) -> Path:
    lines = [QAPair(query=f"question {i}?", response=f"answer {i}", correct=i % 2 == 0).model_dump_json() for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_malformed_reference_files_name_the_line(tmp_path: Path) -> None:
    good = write_refs(tmp_path / "refs.jsonl")
    assert len(load_references(good)) == 6
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text(good.read_text().splitlines()[0] + "\n\n{not json\n")
    with pytest.raises(InputError) as err:
        load_references(bad_json)
    assert err.value.line == 3 and str(bad_json) in str(err.value)
    no_label = tmp_path / "nolabel.jsonl"
    no_label.write_text(good.read_text().splitlines()[0] + '\n{"query": "q?", "response": "a"}\n')
    with pytest.raises(InputError) as err:
        load_references(no_label)
    assert err.value.line == 2 and "correct" in str(err.value)
    wrong_field = tmp_path / "field.jsonl"
    wrong_field.write_text('{"query": "q?", "response": "a", "correct": true, "extra": 1}\n')
    with pytest.raises(InputError, match="extra") as err:
        load_references(wrong_field)
    assert err.value.line == 1
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(InputError, match="no reference"):
        load_references(empty)


def target_wins(p_target: float):
    """Scripted A/B scores: the target (whose response starts with 'T') wins with p_target."""

    def fn(request: LLMRequest) -> list[float]:
        text = request.messages[-1].content  # type: ignore[index]
        a_part = text.split("Candidate A", 1)[1].split("Candidate B", 1)[0]
        target_is_a = "Response: T" in a_part
        p_a = p_target if target_is_a else 1 - p_target
        return [math.log(p_a), math.log(1 - p_a)]

    return fn


def test_prompts_put_the_reference_first_and_swap_cancels_position(scripted, tmp_path: Path) -> None:
    refs = load_references(write_refs(tmp_path / "refs.jsonl"))
    llm = scripted(target_wins(0.8))
    ranker = MetaRanker(llm, MetaRankingConfig(n_references=2, swap=False), references=refs)
    [j] = ranker.rank_sync([QAPair(query="my question?", response="T answer")])
    requests = [r for batch in llm.backend.score_calls for r in batch]
    assert len(requests) == 2
    for r in requests:  # reference is candidate A: instruction + reference are the shared prefix
        assert "Response: T answer" in r.messages[-1].content.split("Candidate B", 1)[1]
    comps = j.details["comparisons"]
    assert {c["reference_correct"] for c in comps} == {True, False}  # balanced
    assert all(c["p_target"] == pytest.approx(0.8) for c in comps)
    # one correct beaten (0.6 * 1), one incorrect beaten (0.6 * 0.25): 0.5 + 0.5 * 0.75 / 2
    assert j.score == pytest.approx(0.5 + 0.5 * (0.6 + 0.15) / 2)

    # A model that always says "A": without swap the target (B) always loses; with swap it
    # wins in one order and loses in the other, so the comparisons come out even.
    always_a = scripted(lambda r: [math.log(0.9), math.log(0.1)])
    plain = MetaRanker(always_a, MetaRankingConfig(n_references=2), references=refs).rank_sync(
        [QAPair(query="q?", response="T")])[0]
    swapped = MetaRanker(always_a, MetaRankingConfig(n_references=2, swap=True), references=refs).rank_sync(
        [QAPair(query="q?", response="T")])[0]
    assert plain.score < 0.5
    assert swapped.score == pytest.approx(0.5)
    assert all(c["p_target_first"] == pytest.approx(0.9) for c in swapped.details["comparisons"])


def test_random_selection_is_seeded_balanced_nested_and_skips_the_same_query(scripted, tmp_path: Path) -> None:
    refs = load_references(write_refs(tmp_path / "refs.jsonl", 10))
    llm = scripted(target_wins(0.5))
    target = QAPair(query="question 3?", response="T")
    picks = {n: MetaRanker(llm, MetaRankingConfig(n_references=n, seed=1), references=refs).select([target])[0]
             for n in (1, 3, 5)}
    assert all(r.query != "question 3?" for r in picks[5])
    assert [r.id for r in picks[3]] == [r.id for r in picks[5]][:3]
    assert [r.id for r in picks[1]] == [r.id for r in picks[5]][:1]
    assert sorted(r.correct for r in picks[5][:4]) == [False, False, True, True]
    again = MetaRanker(llm, MetaRankingConfig(n_references=5, seed=1), references=refs).select([target])[0]
    assert again == picks[5]


class StubEmbedder:
    """Embeds the number in a text onto a circle, so nearby numbers are nearest."""

    def encode(self, texts):
        nums = [int("".join(c for c in t.split("\n")[0] if c.isdigit()) or 0) for t in texts]
        return np.array([[math.cos(n / 5), math.sin(n / 5)] for n in nums])


def test_nearest_selection_uses_embeddings(scripted, tmp_path: Path) -> None:
    refs = load_references(write_refs(tmp_path / "refs.jsonl", 10))
    config = MetaRankingConfig(n_references=2, selection="nearest")
    ranker = MetaRanker(scripted(target_wins(0.5)), config, references=refs, embedder=StubEmbedder())
    [picked] = ranker.select([QAPair(query="question 4?", response="T")])
    assert {r.correct for r in picked} == {True, False}
    assert all(abs(int(r.query.split()[1][:-1]) - 4) <= 2 for r in picked)  # nearest of each label
    assert "question 4?" not in {r.query for r in picked}
    plain = MetaRanker(scripted(target_wins(0.5)), config.model_copy(update={"balanced": False}),
                       references=refs, embedder=StubEmbedder())
    assert sorted(r.query for r in plain.select([QAPair(query="question 4?", response="T")])[0]) == [
        "question 3?", "question 5?"]


def test_prefix_reuse_share(scripted, tmp_path: Path) -> None:
    assert prefix_stats([[1, 2, 3], [1, 2, 4], [5]], "ids").reusable_tokens == 2
    refs = load_references(write_refs(tmp_path / "refs.jsonl", 4))
    ranker = MetaRanker(scripted(target_wins(0.6)), MetaRankingConfig(n_references=2), references=refs)
    ranker.rank_sync([QAPair(query=f"target {i}?", response="T") for i in range(6)])
    stats = ranker.last_prefix_stats
    assert stats is not None and stats.prompts == 12 and 0.5 < stats.share < 1.0


def test_triples_are_judged_as_pairs(scripted, tmp_path: Path) -> None:
    refs = load_references(write_refs(tmp_path / "refs.jsonl"))
    ranker = MetaRanker(scripted(target_wins(0.7)), MetaRankingConfig(n_references=2, threshold=0.55), references=refs)
    triples = [Triple(head="T", relation="r", tail="x", document_id="d")]
    [j] = ranker.judge_sync(triples, {"d": "A document."})
    assert j.target_id == triples[0].id and j.judge == "meta_ranking.v1" and j.label
    with pytest.raises(InputError, match="not given"):
        ranker.judge_sync([Triple(head="T", relation="r", tail="x", document_id="nope")], {})
