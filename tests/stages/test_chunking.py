import pytest
from pydantic import ValidationError

from kgjudge._pipeline_config import ChunkingConfig
from kgjudge._records import Document
from kgjudge.stages import Chunker

pytest.importorskip("spacy")


def test_small_document_is_one_chunk_with_offsets() -> None:
    doc = Document(id="d", text="  Paris is in France.  It is big. ")
    (split,) = Chunker().split(doc)
    assert split.chunk.text == "Paris is in France.  It is big."
    assert doc.text[split.chunk.start : split.chunk.end] == split.chunk.text
    assert [doc.text[s:e] for s, e in split.sentences] == ["Paris is in France.", "It is big."]


def test_budget_and_overlap() -> None:
    sentences = [f"Sentence number {i} has exactly seven tokens." for i in range(12)]  # 8 tokens with '.'
    doc = Document(id="d", text=" ".join(sentences))
    chunks = Chunker(ChunkingConfig(max_tokens=24, overlap_tokens=8)).split(doc)
    assert len(chunks) > 3
    for c in chunks:
        assert doc.text[c.chunk.start : c.chunk.end] == c.chunk.text
        assert len(c.sentences) <= 3
    # consecutive chunks share exactly one sentence (8 tokens of overlap), and all are covered
    for a, b in zip(chunks, chunks[1:]):
        assert a.sentences[-1] == b.sentences[0]
    assert chunks[0].chunk.start == 0 and chunks[-1].chunk.end == len(doc.text)
    assert [c.chunk.index for c in chunks] == list(range(len(chunks)))
    assert chunks[1].chunk.id == "d#1"


def test_sentence_longer_than_budget_is_cut() -> None:
    doc = Document(id="d", text=" ".join(["word"] * 50) + ".")
    chunks = Chunker(ChunkingConfig(max_tokens=16, overlap_tokens=0)).split(doc)
    assert len(chunks) == 4 and all(len(c.chunk.text.split()) <= 16 for c in chunks)
    assert "".join(doc.text[c.chunk.start : c.chunk.end] for c in chunks).replace(" ", "") == doc.text.replace(" ", "")


def test_whitespace_only_document_has_no_chunks() -> None:
    assert Chunker().split(Document(id="d", text=" \n\t ")) == []


def test_split_many_keys_by_document() -> None:
    docs = [Document(id="a", text="One. Two."), Document(id="b", text="Three.")]
    out = Chunker().split_many(docs)
    assert [c.chunk.document_id for c in out["b"]] == ["b"]


def test_overlap_must_be_below_budget() -> None:
    with pytest.raises(ValidationError, match="overlap_tokens"):
        ChunkingConfig(max_tokens=16, overlap_tokens=16)
