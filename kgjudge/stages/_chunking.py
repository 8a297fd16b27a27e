"""Sentence-aligned chunking with spaCy's blank English pipeline and sentencizer (no model
download). Chunks hold at most ``max_tokens`` spaCy tokens, carry up to ``overlap_tokens`` of
trailing sentences into the next chunk, and keep character offsets into the document."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kgjudge._extras import require
from kgjudge._pipeline_config import ChunkingConfig
from kgjudge._records import Chunk, Document


@dataclass(frozen=True)
class SplitChunk:
    """A chunk and its sentences' character spans in the document (for evidence matching)."""

    chunk: Chunk
    sentences: list[tuple[int, int]]


class Chunker:
    """Splits documents into chunks.

    Example:
        >>> chunker = Chunker(ChunkingConfig(max_tokens=128))
        >>> [c.chunk.text for c in chunker.split(Document(id="d", text="A b. C d."))]
        ['A b. C d.']
    """

    def __init__(self, config: ChunkingConfig | None = None) -> None:
        self.config = config or ChunkingConfig()
        spacy = require("spacy", "nlp")
        self.nlp = spacy.blank("en")
        self.nlp.add_pipe("sentencizer")

    def _units(self, doc: object) -> list[tuple[int, int, int]]:
        """(start, end, tokens) per sentence; sentences over the budget are cut into windows."""
        budget = self.config.max_tokens
        units = []
        for sent in doc.sents:  # type: ignore[attr-defined]
            tokens = [t for t in sent if not t.is_space]
            if not tokens:
                continue
            for i in range(0, len(tokens), budget):
                window = tokens[i : i + budget]
                units.append((window[0].idx, window[-1].idx + len(window[-1].text), len(window)))
        return units

    def _pack(self, document: Document, units: list[tuple[int, int, int]]) -> list[SplitChunk]:
        budget, overlap = self.config.max_tokens, self.config.overlap_tokens
        chunks: list[SplitChunk] = []
        i = 0
        while i < len(units):
            j, used = i, 0
            while j < len(units) and (j == i or used + units[j][2] <= budget):
                used += units[j][2]
                j += 1
            members = units[i:j]
            start, end = members[0][0], members[-1][1]
            chunk = Chunk(
                id=f"{document.id}#{len(chunks)}",
                document_id=document.id,
                index=len(chunks),
                text=document.text[start:end],
                start=start,
                end=end,
            )
            chunks.append(SplitChunk(chunk, [(s, e) for s, e, _ in members]))
            if j >= len(units):
                break
            # Step back over trailing sentences that fit in the overlap, always moving forward.
            k, carried = j, 0
            while k - 1 > i and carried + units[k - 1][2] <= overlap:
                carried += units[k - 1][2]
                k -= 1
            i = k
        return chunks

    def split(self, document: Document) -> list[SplitChunk]:
        """The chunks of one document."""
        return self._pack(document, self._units(self.nlp(document.text)))

    def split_many(self, documents: Iterable[Document]) -> dict[str, list[SplitChunk]]:
        """Chunks of many documents, keyed by document id (spaCy processes them as a stream)."""
        documents = list(documents)
        texts = (d.text for d in documents)
        return {d.id: self._pack(d, self._units(parsed)) for d, parsed in zip(documents, self.nlp.pipe(texts))}
