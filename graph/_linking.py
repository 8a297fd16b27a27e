"""Entity linking for GraphRAG: which stored entities a question is about.

Three ways a mention (a run of up to ``max_ngram`` words of the question, compared in the
:func:`~kgjudge.graph.normalise_name` form) matches an entity, tried in this order:

1. ``exact``/``alias``: the mention is the entity's name or one of its aliases (from entity
   resolution) — score 1.0 for a name, 0.95 for an alias;
2. ``fuzzy``: rapidfuzz ``ratio`` of the mention (of at most four words and four characters)
   and a name or alias that starts with the same letter reaches ``fuzzy_threshold``
   (misspellings) — score ``0.9 * ratio / 100``;
3. ``embedding``: only when nothing matched by spelling, the cosine similarity of the
   mention's and a name's all-MiniLM-L6-v2 embeddings reaches ``embedding_threshold``.

Longer mentions win: once a run of words matched, the runs inside it are not tried. Runs made
only of question words ("what", "is", "the") are never mentions.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from kgjudge._errors import KGJudgeWarning
from kgjudge._extras import require
from kgjudge._rag_config import LinkingConfig
from kgjudge._records import Entity, Record
from kgjudge.graph._resolution import normalise_name

Embedder = Callable[[Sequence[str]], Any]

STOPWORDS = frozenset(
    """a about after all also an and any are as at be been before being between by can could did
    do does done during each for from give had has have how i in into is it its list many me much
    my name named of on or other please s same show some tell than that the their them then there
    these they this those through to under up was we were what when where which while who whom
    whose why will with would you your""".split()
)


class LinkedEntity(Record):
    """A stored entity a question mentions: the words that matched, how and how well."""

    name: str
    mention: str
    matched: str
    method: Literal["exact", "alias", "fuzzy", "embedding"]
    score: float


class VectorCache:
    """Sentence embeddings of texts, computed once and kept in an ``.npz`` file when a path is
    given (rows are unit length, so a dot product is the cosine).

    Example:
        >>> cache = VectorCache(SentenceEmbedder(), Path("rag/embeddings.npz"))
        >>> vectors = cache.get(["Marie Curie", "born in"])
    """

    def __init__(self, embedder: Embedder, path: Path | None = None) -> None:
        self.np = require("numpy", "rag")
        self.embedder = embedder
        self.path = path
        self.rows: dict[str, int] = {}
        self._blocks: list[Any] = []
        self._matrix: Any = None
        self._dirty = False
        if path is not None and path.is_file():
            try:
                with self.np.load(path, allow_pickle=False) as data:
                    texts, vectors = json.loads(str(data["texts"])), data["vectors"]
                if not isinstance(texts, list) or len(texts) != len(vectors):
                    raise ValueError(f"{len(texts)} texts for {len(vectors)} vectors")
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                # A cache: an unreadable file is recomputed (and replaced on save), not fatal.
                warnings.warn(f"ignoring the unreadable embeddings file {path}: {exc}", KGJudgeWarning, stacklevel=2)
            else:
                self.rows = {t: i for i, t in enumerate(texts)}
                self._blocks = [vectors]

    @property
    def matrix(self) -> Any:
        """Every cached vector, one row per text (in ``rows`` order)."""
        if self._matrix is None or len(self._blocks) > 1:
            if self._blocks:
                self._matrix = self.np.concatenate(self._blocks) if len(self._blocks) > 1 else self._blocks[0]
            else:
                self._matrix = self.np.zeros((0, 0), dtype="float32")
            self._blocks = [self._matrix] if self._blocks else []
        return self._matrix

    def ensure(self, texts: Iterable[str]) -> None:
        """Embed the texts that are not cached yet, in one batch."""
        missing = [t for t in dict.fromkeys(texts) if t not in self.rows]
        if not missing:
            return
        vectors = self.np.asarray(self.embedder(missing), dtype="float32")
        start = len(self.rows)
        for i, text in enumerate(missing):
            self.rows[text] = start + i
        self._blocks.append(vectors)
        self._matrix = None
        self._dirty = True

    def get(self, texts: Sequence[str]) -> Any:
        """The vectors of ``texts`` (embedding the missing ones), one row each."""
        self.ensure(texts)
        matrix = self.matrix
        return matrix[[self.rows[t] for t in texts]] if texts else matrix[:0]

    def save(self) -> None:
        """Write the cache file if anything was added since it was read."""
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = sorted(self.rows, key=self.rows.__getitem__)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        # Texts as one JSON string: numpy's fixed-width strings would drop trailing NULs.
        self.np.savez(tmp, texts=self.np.array(json.dumps(texts)), vectors=self.matrix)
        tmp.replace(self.path)
        self._dirty = False


def _mentions(words: Sequence[str], max_ngram: int) -> list[tuple[int, int, str]]:
    """(start, end, text) of every run of words that is not only stopwords, longest first."""
    found = []
    for n in range(min(max_ngram, len(words)), 0, -1):
        for i in range(len(words) - n + 1):
            span = words[i : i + n]
            if all(w in STOPWORDS for w in span):
                continue
            found.append((i, i + n, " ".join(span)))
    return found


class EntityIndex:
    """Stored entity names and aliases, ready for linking questions to them.

    Args:
        entities: the store's entities (``store.iter_entities()``).
        vectors: embeddings for the ``embedding`` method and for ranking; none disables it.

    Example:
        >>> index = EntityIndex([Entity(name="Marie Curie", aliases=["Maria Skłodowska"])], LinkingConfig())
        >>> [link.name for link in index.link("Where was Maria Sklodowska born?")]
        ['Marie Curie']
    """

    def __init__(self, entities: Iterable[Entity], config: LinkingConfig, vectors: VectorCache | None = None) -> None:
        self.config = config
        self.vectors = vectors
        self.by_key: dict[str, list[tuple[str, str, bool]]] = {}
        self.names: list[str] = []
        for entity in entities:
            self.names.append(entity.name)
            for surface, alias in ((entity.name, False), *((a, True) for a in entity.aliases)):
                key = normalise_name(surface)
                if key:
                    self.by_key.setdefault(key, []).append((entity.name, surface, alias))
        self.keys = sorted(self.by_key)

    def __len__(self) -> int:
        return len(self.names)

    def warm(self) -> None:
        """Embed every name and alias now (instead of at the first embedding lookup)."""
        if self.vectors is not None and self.config.embeddings:
            self.vectors.ensure(self.keys)

    def link(self, question: str) -> list[LinkedEntity]:
        """The entities ``question`` mentions, best first (at most ``max_entities``)."""
        words = normalise_name(question).split()
        spans = _mentions(words, self.config.max_ngram)
        covered = [False] * len(words)
        links: list[LinkedEntity] = []

        def take(start: int, end: int, text: str, hits: list[LinkedEntity]) -> None:
            if hits and not any(covered[start:end]):
                links.extend(hits)
                covered[start:end] = [True] * (end - start)

        for start, end, text in spans:
            hits = [
                LinkedEntity(name=name, mention=text, matched=surface, method="alias" if alias else "exact",
                             score=0.95 if alias else 1.0)
                for name, surface, alias in self.by_key.get(text, ())
            ]
            take(start, end, text, hits)
        open_spans = [s for s in spans if not any(covered[s[0] : s[1]]) and len(s[2]) >= 4 and s[1] - s[0] <= 4]
        if open_spans and self.keys:
            for start, end, text, hits in sorted(self._fuzzy(open_spans), key=lambda x: (-x[3][0].score, x[0])):
                take(start, end, text, hits)
        if not links and self.vectors is not None and self.config.embeddings and self.keys:
            short = [s for s in spans if s[1] - s[0] <= 3]
            for start, end, text, hits in sorted(self._embedded(short), key=lambda x: (-x[3][0].score, x[0])):
                take(start, end, text, hits)
        best: dict[str, LinkedEntity] = {}
        for link in links:
            if link.score >= self.config.min_score and (link.name not in best or link.score > best[link.name].score):
                best[link.name] = link
        ranked = sorted(best.values(), key=lambda x: (-x.score, -len(x.mention), x.name))
        return ranked[: self.config.max_entities]

    def _fuzzy(self, spans: list[tuple[int, int, str]]) -> Iterable[tuple[int, int, str, list[LinkedEntity]]]:
        process = require("rapidfuzz.process", "rag")
        fuzz = require("rapidfuzz.fuzz", "rag")
        np = require("numpy", "rag")
        cutoff = self.config.fuzzy_threshold
        matrix = process.cdist([s[2] for s in spans], self.keys, scorer=fuzz.ratio, score_cutoff=cutoff, dtype=np.uint8)
        for row, (start, end, text) in zip(matrix, spans):
            # Misspellings seldom touch the first letter; requiring it keeps question words
            # ("instance") from matching names that differ there ("distance").
            cols = [c for c in np.nonzero(row)[0].tolist() if self.keys[c][:1] == text[:1]]
            if not cols:
                continue
            top = int(row[cols].max())
            hits = [
                LinkedEntity(name=name, mention=text, matched=surface, method="fuzzy", score=0.9 * top / 100)
                for col in cols
                if row[col] == top
                for name, surface, _ in self.by_key[self.keys[col]]
            ]
            yield start, end, text, hits

    def _embedded(self, spans: list[tuple[int, int, str]]) -> Iterable[tuple[int, int, str, list[LinkedEntity]]]:
        assert self.vectors is not None
        np = require("numpy", "rag")
        self.vectors.ensure(self.keys)
        keys = self.vectors.get(self.keys)
        queries = self.vectors.embedder([s[2] for s in spans]) if spans else []
        for query, (start, end, text) in zip(queries, spans):
            sims = keys @ np.asarray(query, dtype="float32")
            col = int(sims.argmax())
            score = float(sims[col])
            if score >= self.config.embedding_threshold:
                hits = [
                    LinkedEntity(name=name, mention=text, matched=surface, method="embedding", score=score)
                    for name, surface, _ in self.by_key[self.keys[col]]
                ]
                yield start, end, text, hits


def index_path(index_dir: str | Path | None, name: str) -> Path | None:
    """``index_dir / name``, or None for an index kept in memory only."""
    return None if index_dir is None else Path(index_dir) / name
