"""GraphJudger on a scripted backend: scores, thresholds, the top-k floor, errors, batching."""

from __future__ import annotations

import json
import math

import pytest

from kgjudge import InputError, Judgement, Triple
from kgjudge.judges import GraphJudger, GraphJudgerConfig, build_judge, judge_request
from kgjudge.llm import LLMRequest

P_YES = {"good": 0.9, "fine": 0.6, "weak": 0.3, "bad": 0.05}


def by_tail(request: LLMRequest) -> list[float]:
    text = request.messages[-1].content  # type: ignore[index]
    tail = text.split("Is this true: ", 1)[1].split("?")[0].split()[-1]
    p = P_YES[tail]
    return [math.log(p), math.log(1 - p)]


def triples() -> list[Triple]:
    return [
        Triple(head="A", relation="r", tail=tail, document_id=doc)
        for doc, tail in [("d1", "good"), ("d1", "weak"), ("d2", "bad"), ("d1", "fine"), ("d2", "weak")]
    ]


DOCS = {"d1": "Document one. " * 30, "d2": "Document two. " * 30}


def test_scores_thresholds_and_judgement_records(scripted) -> None:
    llm = scripted(by_tail)
    judge = GraphJudger(llm, GraphJudgerConfig(threshold=0.5, adapter=None))
    out = judge.judge_sync(triples(), DOCS)
    assert [j.target_id for j in out] == [t.id for t in triples()]
    assert [round(j.score, 6) for j in out] == [0.9, 0.3, 0.05, 0.6, 0.3]
    assert [j.label for j in out] == [True, False, False, True, False]
    first = out[0]
    assert isinstance(first, Judgement) and first.judge == "graphjudger.v1" and first.threshold == 0.5
    assert json.loads(first.raw_output)["choices"] == ["Yes", "No"]
    assert first.model is not None and first.model.prompt_version == "triple_judge.v1"
    assert "P(Yes)=0.900 >= threshold 0.500" in first.reasons[0]


def test_document_comes_first_and_triple_last_in_every_prompt(scripted) -> None:
    llm = scripted(by_tail)
    GraphJudger(llm, GraphJudgerConfig(max_document_chars=40)).judge_sync(triples(), DOCS)
    (batch,) = llm.backend.score_calls
    for req in batch:
        text = req.messages[-1].content
        assert text.startswith("Document:\nDocument") and text.rstrip().endswith("Answer Yes or No.")
        assert len(text.split("\n\n")[0]) <= len("Document:\n") + 40
    # requests of one document are sent next to each other (shared prefix)
    docs = [req.messages[-1].content.split("\n")[1][:12] for req in batch]
    assert docs == sorted(docs)


def test_top_k_floor_keeps_the_best_of_each_document_and_says_so(scripted) -> None:
    judge = GraphJudger(scripted(by_tail), GraphJudgerConfig(threshold=0.95, keep_top_k=1))
    out = judge.judge_sync(triples(), DOCS)
    assert [j.label for j in out] == [True, False, False, False, True]
    assert out[0].details["kept_by_floor"] and "top-1 floor" in out[0].reasons[0]
    assert out[4].details["kept_by_floor"] and not out[2].details["kept_by_floor"]
    assert all(j.details["keep_top_k"] == 1 for j in out)


def test_missing_document_is_a_clear_error_before_any_model_call(scripted) -> None:
    llm = scripted(by_tail)
    bad = [*triples(), Triple(head="X", relation="r", tail="good", document_id="d9")]
    with pytest.raises(InputError, match="document 'd9' was not given"):
        GraphJudger(llm).judge_sync(bad, DOCS)
    assert llm.backend.score_calls == []


def test_batches_and_the_factory(scripted) -> None:
    llm = scripted(by_tail, adapters=["judge"])
    judge = build_judge({"type": "graphjudger.v1", "batch_size": 2, "adapter": "judge"}, {"default": llm})
    out = judge.judge_sync(triples(), DOCS)
    assert len(out) == 5 and [len(b) for b in llm.backend.score_calls] == [2, 2, 1]
    assert all(r.adapter == "judge" for b in llm.backend.score_calls for r in b)
    with pytest.raises(Exception, match="no backend named 'other'"):
        build_judge({"type": "graphjudger.v1", "backend": "other"}, {"default": llm})
    with pytest.raises(Exception, match="valid choices: graphjudger.v1, meta_ranking.v1"):
        build_judge({"type": "graphjudger.v9"}, llm)


def test_the_request_builder_is_the_training_prompt() -> None:
    req = judge_request("Doc.", "A", "r", "B", adapter="judge")
    assert req.choices == ["Yes", "No"] and req.adapter == "judge"
    assert req.messages[-1].content == "Document:\nDoc.\n\nIs this true: A r B?\nAnswer Yes or No."


def test_judge_triples_command_and_adapter_path(tmp_path) -> None:
    import yaml
    from typer.testing import CliRunner

    from kgjudge import Document, read_jsonl, write_jsonl
    from kgjudge.cli import app

    config = tmp_path / "judge.yaml"
    config.write_text(yaml.safe_dump({"backends": {"default": {"type": "fake.v1"}}, "cache": {"enabled": False},
                                      "judge": {"type": "graphjudger.v1", "threshold": 0.5}}))
    write_jsonl(tmp_path / "t.jsonl", triples())
    write_jsonl(tmp_path / "d.jsonl", [Document(id=k, text=v) for k, v in DOCS.items()])
    out = tmp_path / "j.jsonl"
    result = CliRunner().invoke(app, ["judge", "triples", "-c", str(config), "-t", str(tmp_path / "t.jsonl"),
                                      "--documents", str(tmp_path / "d.jsonl"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    judgements = read_jsonl(out, Judgement)
    assert [j.target_id for j in judgements] == [t.id for t in triples()]
    assert json.loads(result.stdout)["kept"] == sum(j.label for j in judgements)
    result = CliRunner().invoke(app, ["model", "adapter", "packaged:nope"])
    assert result.exit_code == 2 and "unknown packaged adapter 'nope'" in result.output


def test_chunk_context_judges_against_the_triples_chunk_never_a_prefix(scripted) -> None:
    """A fact stated near the end of a long document: the document context cuts it off, the
    chunk context holds it (regression: true late triples were judged unsupported)."""
    from kgjudge import Span

    late = "Beta lies in Gamma."
    document = "Alpha is a town. " * 60 + late + " Delta is big." * 5
    start = document.index(late)
    triple = Triple(head="Beta", relation="country", tail="good", document_id="d", chunk_id="d#3",
                    evidence=Span(start=start, end=start + len(late), text=late))
    orphan = triple.model_copy(update={"chunk_id": None})
    texts = {"d": document, "d#3": "Alpha is a town. " + late}

    llm = scripted(by_tail)
    GraphJudger(llm, GraphJudgerConfig(max_document_chars=120)).judge_sync([triple], texts)
    GraphJudger(llm, GraphJudgerConfig(context="chunk", max_document_chars=120)).judge_sync([triple, orphan], texts)
    (old,), contexts = [[r.messages[-1].content.split("\n\n")[0] for r in call] for call in llm.backend.score_calls]
    chunk, window = sorted(contexts, key=len)
    assert late not in old  # the prefix of the document
    assert chunk == "Document:\nAlpha is a town. " + late  # the chunk, whole
    # no chunk: the sentences around the evidence, within the limit
    assert late in window and len(window) <= len("Document:\n") + 120 and not window.endswith("Alpha is a town.")


def test_evidence_window_takes_whole_sentences_around_the_evidence() -> None:
    from kgjudge.judges.triples._graphjudger import evidence_window

    text = "One two. Three four. Beta lies in Gamma. Five six. Seven eight."
    t = Triple(head="Beta", relation="r", tail="Gamma", document_id="d")
    assert evidence_window(text, t, None) == text == evidence_window(text, t, len(text))
    assert evidence_window(text, t, 30) == "Beta lies in Gamma. Five six."
    assert evidence_window(text, t, 19) == "Beta lies in Gamma."
    # no mention at all: the first sentences, not a crash
    assert evidence_window(text, Triple(head="Q", relation="r", tail="Z", document_id="d"), 20) == "One two. Three four."
    # one sentence longer than the limit: a window around the mention
    long = "word " * 100 + "Beta lies in Gamma " + "word " * 100
    cut = evidence_window(long, t, 60)
    assert "Gamma" in cut and len(cut) <= 60


def test_deciding_again_from_stored_scores_equals_judging_with_the_new_settings(scripted) -> None:
    """redecide (kgjudge rejudge with a new threshold or floor) gives exactly the judgements a
    judge with those settings gives, and a triple whose reply had no usable score stays a failed
    judgement, never kept (by the threshold or the floor)."""

    def with_a_broken_reply(request: LLMRequest) -> list[float]:
        if "weak" in request.messages[-1].content:  # type: ignore[index]
            return [-math.inf, -math.inf]
        return by_tail(request)

    first = GraphJudger(scripted(with_a_broken_reply), GraphJudgerConfig(threshold=0.5, adapter=None))
    stored = first.judge_sync(triples(), DOCS)
    assert stored[1].details.get("failed") and not stored[1].label
    for settings in ({"threshold": 0.2}, {"threshold": 0.95, "keep_top_k": 2}):
        config = GraphJudgerConfig(adapter=None, **settings)
        fresh = GraphJudger(scripted(with_a_broken_reply), config).judge_sync(triples(), DOCS)
        again = config.redecide(triples(), stored)
        assert [j.model_dump() for j in again] == [j.model_dump() for j in fresh]
        assert again[1].details.get("failed") and not again[1].label


def test_require_in_context_rejects_self_loops_and_absent_elements_without_a_model_call(scripted) -> None:
    """A self-loop, or a head or tail its whole chunk does not hold, is rejected with its reason and
    never reaches the model (nor the top-k floor); the others are scored as before."""
    text = "Marie Curie was born in Warsaw in 1867. She moved to Paris,  where she studied."
    made = [
        Triple(head="Marie Curie", relation="place of birth", tail="Warsaw", document_id="d", chunk_id="d#0"),
        Triple(head="Marie Curie", relation="date of death", tail="1913", document_id="d", chunk_id="d#0"),
        Triple(head="Paris", relation="located in", tail="paris", document_id="d", chunk_id="d#0"),
        Triple(head="marie  curie", relation="residence", tail="Paris", document_id="d", chunk_id="d#0"),
        Triple(head="Pierre Curie", relation="spouse", tail="Marie Curie", document_id="d", chunk_id="d#0"),
    ]
    # The document (a prefix of another text) lacks what the chunk holds: the chunk is what counts.
    texts = {"d": "Unrelated preface.", "d#0": text}
    llm = scripted(lambda request: [math.log(0.9), math.log(0.1)])
    config = GraphJudgerConfig(context="chunk", require_in_context=True, threshold=0.5, keep_top_k=5)
    out = GraphJudger(llm, config).judge_sync(made, texts)
    assert [j.label for j in out] == [True, False, False, True, False]
    asked = [r.messages[-1].content for batch in llm.backend.score_calls for r in batch]
    assert len(asked) == 2 and not any("1913" in a or "Pierre" in a for a in asked)
    assert [j.details.get("rule") for j in out] == [None, "not_in_context", "self_loop", None, "not_in_context"]
    assert out[1].score == 0.0 and out[1].reasons[0].startswith("tail not found in the text")
    assert out[4].reasons[0].startswith("head not found in the text") and out[4].model is None
    assert out[2].reasons == ["head and tail are the same: rejected without a model call"]
    assert not any(j.details.get("kept_by_floor") for j in out)
    # Off (the default), every triple is asked.
    llm = scripted(lambda request: [math.log(0.9), math.log(0.1)])
    out = GraphJudger(llm, GraphJudgerConfig(context="chunk", threshold=0.5)).judge_sync(made, texts)
    assert all(j.label for j in out) and sum(len(b) for b in llm.backend.score_calls) == 5
    # Deciding again from stored judgements keeps the rule's decisions.
    again = GraphJudgerConfig(context="chunk", require_in_context=True, threshold=0.1, keep_top_k=5).redecide(
        made, GraphJudger(scripted(lambda r: [math.log(0.9), math.log(0.1)]), config).judge_sync(made, texts))
    assert [j.label for j in again] == [True, False, False, True, False]
    assert [j.details.get("rule") for j in again] == [None, "not_in_context", "self_loop", None, "not_in_context"]


def test_require_in_context_with_document_context_reads_the_whole_document(scripted) -> None:
    """``context: document`` cuts what the model reads to a prefix, but the rule looks in the
    whole document."""
    doc = "Filler sentence. " * 60 + "Radium was discovered by Marie Curie."
    made = [Triple(head="Radium", relation="discoverer", tail="Marie Curie", document_id="d")]
    llm = scripted(lambda request: [math.log(0.9), math.log(0.1)])
    config = GraphJudgerConfig(require_in_context=True, max_document_chars=100, threshold=0.5)
    (j,) = GraphJudger(llm, config).judge_sync(made, {"d": doc})
    assert j.label and j.details.get("rule") is None
