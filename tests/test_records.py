import pytest
from pydantic import ValidationError

from kgjudge import Chunk, Document, Entity, Judgement, ModelRef, Span, Triple, stable_id


def test_records_reject_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Document(id="d1", text="x", colour="red")
    with pytest.raises(ValidationError, match="extra"):
        Triple(head="a", relation="r", tail="b", confidence=0.3)


def test_records_are_immutable() -> None:
    t = Triple(head="a", relation="r", tail="b")
    with pytest.raises(ValidationError):
        t.head = "c"  # type: ignore[misc]
    assert t.model_copy(update={"head": "c"}).head == "c"


def test_triple_ids_are_stable_and_content_derived() -> None:
    a = Triple(head="Paris", relation="capital of", tail="France", document_id="d1")
    b = Triple(head="Paris", relation="capital of", tail="France", document_id="d1")
    c = Triple(head="Paris", relation="capital of", tail="France", document_id="d2")
    assert a.id == b.id != c.id
    assert a.id.startswith("tri-")
    assert Triple(id="mine", head="a", relation="r", tail="b").id == "mine"
    assert stable_id("x", 1, "a") == stable_id("x", 1, "a") != stable_id("x", "1", "a")


def test_triple_requires_three_non_empty_parts() -> None:
    with pytest.raises(ValidationError, match="head"):
        Triple(head="", relation="r", tail="b")
    with pytest.raises(ValidationError, match="tail"):
        Triple(head="a", relation="r")


def test_chunk_offsets_must_match_text() -> None:
    doc = Document(id="d", text="Paris is in France.")
    ok = Chunk(id="d#0", document_id="d", index=0, text=doc.text[0:5], start=0, end=5)
    assert doc.text[ok.start : ok.end] == ok.text
    with pytest.raises(ValidationError, match="offsets"):
        Chunk(id="d#0", document_id="d", index=0, text="Paris", start=0, end=7)
    with pytest.raises(ValidationError, match="before start"):
        Span(start=5, end=2, text="")


def test_entity_default_id_ignores_case() -> None:
    assert Entity(name="Paris", document_id="d").id == Entity(name="PARIS", document_id="d").id
    assert Entity(name="Paris", document_id="d").id != Entity(name="Paris", document_id="e").id


def test_judgement_score_bounds_and_round_trip() -> None:
    j = Judgement(
        target_id="tri-1", judge="graphjudger.v1", score=0.8, label=True, threshold=0.5,
        raw_output='{"Yes": -0.2}', model=ModelRef(model="smol", adapter="judge", prompt_version="judge.v1"),
    )
    assert Judgement.model_validate_json(j.model_dump_json()) == j
    with pytest.raises(ValidationError, match="less than or equal"):
        Judgement(target_id="t", judge="j", score=1.5, label=True, threshold=0.5)
