"""KASFT data (knowledge-aware supervised fine-tuning): judge and extractor examples from gold
graphs and their texts.

Judge examples pair a document with one triple and a Yes/No label. Positives are the gold
triples; negatives are seeded corruptions of them (see :data:`CORRUPTION_KINDS`), never equal to
any gold triple of the corpus. Documents, not examples, are split into train/dev/test, so no text
is seen in two splits. Every random choice comes from a generator seeded with the corpus seed and
the document id, so the examples of a document do not depend on which other documents are loaded.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from kgjudge._errors import InputError
from kgjudge._extras import require
from kgjudge._jsonl import iter_jsonl
from kgjudge._records import Record, stable_id

Split = Literal["train", "dev", "test"]
Kind = Literal[
    "positive", "tail_swap", "head_swap", "relation_swap", "near_duplicate", "relation_twin", "date_swap", "curated",
    "extracted_self_loop", "extracted_absent", "extracted_wrong_relation",
]
CORRUPTION_KINDS: tuple[str, ...] = ("tail_swap", "head_swap", "relation_swap", "near_duplicate")
"""How negatives are made from a gold triple, in turn (the default kinds):

- ``tail_swap`` / ``head_swap``: the tail (head) is replaced by another entity of the same document;
- ``relation_swap``: the relation is replaced by another one of the corpus's relation vocabulary;
- ``near_duplicate``: an entity is replaced by a look-alike string: another entity of the corpus
  sharing a word with it (``Penn State University Press`` -> ``Oxford University Press``), or for
  entities with digits the same string with one digit changed (``1951`` -> ``1954``).

Examples of kind ``curated`` are a person's decisions about extracted triples (accepted, rejected
or corrected), written by ``kgjudge export-labels``; their label is the person's.
"""

TARGETED_KINDS: tuple[str, ...] = ("relation_twin", "date_swap")
"""Negatives aimed at an extractor's commonest false facts, made for every gold triple they
apply to, on top of the kinds taken in turn (only when listed in ``kinds``):

- ``relation_twin``: the relation is replaced by its twin, which cannot hold for the same head and
  tail (:data:`RELATION_TWINS`: ``date of birth`` <-> ``date of death`` and the like);
- ``date_swap``: a tail holding a year is replaced by another year the document mentions
  (``Ronni Reis | date of birth | May 10, 1966`` -> ``... | 1991``, the year she stopped playing).
"""

RELATION_TWINS: dict[str, str] = {
    "date of birth": "date of death", "date of death": "date of birth",
    "start time": "end time", "end time": "start time",
    "follows": "followed by", "followed by": "follows",
}
"""Relations (compared ignoring case and white space) that exclude each other for one head and tail."""

_YEAR = re.compile(r"(?<![0-9])(1[0-9]{3}|20[0-9]{2})(?![0-9])")


class GoldDocument(Record):
    """A text with its gold graph; a chunk of a document names that document in ``document_id``
    (splits follow the document, so all chunks of one document share its split).

    Example:
        >>> GoldDocument(id="d1", text="Paris is in France.", triples=[("Paris", "country", "France")])
    """

    id: str = Field(min_length=1)
    text: str
    triples: list[tuple[str, str, str]] = Field(default_factory=list)
    source: str | None = None
    line: int | None = None
    document_id: str | None = Field(default=None, description="the document a chunk comes from")

    @property
    def split_key(self) -> str:
        """The id the split is drawn from: the document's, for a chunk too."""
        return self.document_id or self.id


class GoldCorpus(Record):
    """Documents loaded from one source, with the count of malformed gold triples skipped."""

    documents: list[GoldDocument]
    malformed_triples: int = 0


class JudgeExample(Record):
    """A (document, triple) pair labelled supported or not.

    Example:
        >>> JudgeExample(id="e1", document_id="d1", document="Paris is in France.", head="Paris",
        ...              relation="country", tail="France", label=True, kind="positive", split="dev")
    """

    id: str = Field(min_length=1)
    document_id: str = Field(min_length=1)
    document: str
    head: str = Field(min_length=1)
    relation: str = Field(min_length=1)
    tail: str = Field(min_length=1)
    label: bool
    kind: Kind = "positive"
    split: Split = "train"
    source_triple: tuple[str, str, str] | None = None


class ExtractorExample(Record):
    """A text (with its entities) and the triples an extractor should return."""

    id: str = Field(min_length=1)
    document_id: str = Field(min_length=1)
    text: str
    entities: list[str] = Field(default_factory=list)
    triples: list[tuple[str, str, str]]
    split: Split = "train"


class KasftStats(Record):
    """What a data build produced: documents per split and examples per kind and split."""

    documents: dict[str, int]
    examples: dict[str, dict[str, int]]
    skipped_corruptions: dict[str, int] = Field(default_factory=dict)
    malformed_triples: int = 0


def _parse_graph(raw: str, *, file: str, line: int) -> tuple[list[tuple[str, str, str]], int]:
    try:
        value = ast.literal_eval(raw.strip() or "[]")
    except (ValueError, SyntaxError) as exc:
        raise InputError(f"the gold graph is not a Python/JSON list literal ({exc})", file=file, line=line) from exc
    if not isinstance(value, list):
        raise InputError(f"the gold graph is a {type(value).__name__}, not a list", file=file, line=line)
    good, bad = [], 0
    for item in value:
        if isinstance(item, (list, tuple)) and len(item) == 3 and all(str(x).strip() for x in item):
            good.append(tuple(str(x).strip() for x in item))
        else:
            bad += 1
    return good, bad  # type: ignore[return-value]


def load_text_graph_pair(text_file: str | Path, graph_file: str | Path, *, name: str | None = None) -> GoldCorpus:
    """Load a line-aligned pair: one document per line of ``text_file`` (``*.target``), its gold
    graph (a list literal of [head, relation, tail]) on the same line of ``graph_file``
    (``*.source``). Triples without exactly three non-empty parts are counted, not loaded.

    Raises:
        InputError: naming the file and line of an unreadable graph, or when the line counts differ.
    """
    text_file, graph_file = Path(text_file), Path(graph_file)
    try:
        texts = text_file.read_text(encoding="utf-8").splitlines()
        graphs = graph_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", file=str(exc.filename)) from exc
    if len(texts) != len(graphs):
        raise InputError(
            f"{len(graphs)} graph lines but {text_file} has {len(texts)} text lines", file=str(graph_file)
        )
    prefix = name or f"{text_file.parent.name}/{text_file.stem}"
    docs, malformed = [], 0
    for lineno, (text, graph) in enumerate(zip(texts, graphs), start=1):
        triples, bad = _parse_graph(graph, file=str(graph_file), line=lineno)
        malformed += bad
        docs.append(GoldDocument(id=f"{prefix}:{lineno}", text=text, triples=triples, source=str(text_file), line=lineno))
    return GoldCorpus(documents=docs, malformed_triples=malformed)


def load_gold_jsonl(path: str | Path) -> GoldCorpus:
    """Load ``{"id", "text", "triples": [[h, r, t], ...]}`` lines (the JSONL form of a gold corpus)."""
    docs, malformed = [], 0
    for lineno, row in enumerate(iter_jsonl(path), start=1):
        assert isinstance(row, dict)
        if not isinstance(row.get("text"), str) or not isinstance(row.get("triples"), list):
            raise InputError("expected string 'text' and list 'triples'", file=str(path), line=lineno)
        triples, bad = _parse_graph(json.dumps(row["triples"]), file=str(path), line=lineno)
        malformed += bad
        doc_id = str(row.get("id") or f"{Path(path).stem}:{lineno}")
        docs.append(GoldDocument(id=doc_id, text=row["text"], triples=triples, source=str(path), line=lineno))
    return GoldCorpus(documents=docs, malformed_triples=malformed)


def _unit(seed: int, document_id: str) -> float:
    digest = hashlib.sha256(f"{seed}:{document_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(document_id: str, *, seed: int, dev_fraction: float, test_fraction: float) -> Split:
    """The split of a document: a seeded hash of its id, so it never depends on load order."""
    u = _unit(seed, document_id)
    if u < test_fraction:
        return "test"
    if u < test_fraction + dev_fraction:
        return "dev"
    return "train"


DEV_SPLIT_SEED = 0
DEV_SPLIT_FRACTION = 0.2
DEV_TUNE_FRACTION = 0.05
DevPart = Literal["eval", "tune"]


def dev_part(document_id: str) -> DevPart | None:
    """The part of the fixed dev split a document belongs to, or None (a training document).

    The dev split is every document whose hash ``sha256("0:" + id)`` (read as a number in [0, 1))
    is below 0.2; no packaged adapter trains on it. Its ``eval`` part (below 0.15) gives every
    published number; its ``tune`` part (0.15 to 0.2) gives dev losses and judge thresholds.
    In a training config's terms (seed 0, ``test_fraction: 0.15``, ``dev_fraction: 0.05``) the
    eval part is the ``test`` split and the tune part the ``dev`` split; the first packaged
    adapters (seed 0, ``test_fraction: 0.2``) held out the whole dev split as ``test``.

    Example:
        >>> dev_part("rebel_sub/val:12")
    """
    u = _unit(DEV_SPLIT_SEED, document_id)
    if u < DEV_SPLIT_FRACTION - DEV_TUNE_FRACTION:
        return "eval"
    if u < DEV_SPLIT_FRACTION:
        return "tune"
    return None


def dev_documents(documents: Iterable[GoldDocument], part: DevPart | None = "eval") -> list[GoldDocument]:
    """The documents of the dev split (``part``: ``eval``, ``tune``, or None for both), in order."""
    return [d for d in documents if (p := dev_part(d.split_key)) is not None and (part is None or p == part)]


def _key(triple: Sequence[str]) -> tuple[str, ...]:
    return tuple(" ".join(x.split()).casefold() for x in triple)


_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


class _Vocabulary:
    """Corpus-wide relations and entities, for relation swaps and look-alike entities."""

    def __init__(self, documents: Iterable[GoldDocument]) -> None:
        relations, entities = set(), set()
        for doc in documents:
            for h, r, t in doc.triples:
                relations.add(r)
                entities.update((h, t))
        self.relations = sorted(relations)
        self.entities = sorted(entities)
        self._by_word: dict[str, list[str]] = defaultdict(list)
        for entity in self.entities:
            for word in set(_WORD.findall(entity.casefold())):
                self._by_word[word].append(entity)

    def look_alikes(self, entity: str) -> list[str]:
        """Entities sharing a word with ``entity``, most similar first (word-set Jaccard);
        strings that contain one another are left out (they often name the same thing)."""
        words = set(_WORD.findall(entity.casefold()))
        low = entity.casefold()
        seen: dict[str, float] = {}
        for word in words:
            for other in self._by_word.get(word, ()):
                o = other.casefold()
                if other in seen or o in low or low in o:
                    continue
                other_words = set(_WORD.findall(o))
                seen[other] = len(words & other_words) / len(words | other_words)
        return sorted(seen, key=lambda e: (-seen[e], e))


def _change_digit(entity: str, rng: random.Random) -> str | None:
    positions = [i for i, c in enumerate(entity) if c.isdigit()]
    if not positions:
        return None
    # The last digit of a number is the one that keeps the string plausible (1951 -> 1954).
    i = positions[-1]
    new = (int(entity[i]) + rng.randint(1, 9)) % 10
    return entity[:i] + str(new) + entity[i + 1 :]


def _corrupt(
    kind: str,
    triple: tuple[str, str, str],
    doc: GoldDocument,
    vocab: _Vocabulary,
    rng: random.Random,
) -> tuple[str, str, str] | None:
    h, r, t = triple
    if kind in ("tail_swap", "head_swap"):
        entities = sorted({e for tr in doc.triples for e in (tr[0], tr[2])})
        keep = h if kind == "tail_swap" else t
        old = t if kind == "tail_swap" else h
        options = [e for e in entities if _key([e]) not in (_key([old]), _key([keep]))]
        if not options:
            return None
        new = rng.choice(options)
        return (h, r, new) if kind == "tail_swap" else (new, r, t)
    if kind == "relation_swap":
        linked = {tr[1] for tr in doc.triples if (tr[0], tr[2]) == (h, t)}
        options = [x for x in vocab.relations if x not in linked]
        return (h, rng.choice(options), t) if options else None
    if kind == "relation_twin":
        twin = RELATION_TWINS.get(_key([r])[0])
        return (h, twin, t) if twin else None
    if kind == "date_swap":
        years = set(_YEAR.findall(t))
        if not years:
            return None
        others = sorted(set(_YEAR.findall(doc.text)) - years)
        return (h, r, rng.choice(others)) if others else None
    if kind == "near_duplicate":
        side = rng.choice((0, 2))
        for pos in (side, 2 - side):
            entity = triple[pos]
            new = _change_digit(entity, rng)
            if new is None:
                alikes = vocab.look_alikes(entity)[:3]
                new = rng.choice(alikes) if alikes else None
            if new is not None and _key([new]) != _key([entity]):
                out = list(triple)
                out[pos] = new
                return (out[0], out[1], out[2])
        return None
    raise ValueError(f"unknown corruption kind '{kind}'")


def build_judge_examples(
    corpus: GoldCorpus | Sequence[GoldDocument],
    *,
    seed: int = 0,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.2,
    kinds: Sequence[str] = CORRUPTION_KINDS,
    negatives_per_positive: int = 1,
) -> tuple[list[JudgeExample], KasftStats]:
    """Judge examples (positives and seeded corruptions) for every document, with counts.

    Kinds of :data:`CORRUPTION_KINDS` are used in turn, starting at a seeded offset per document,
    so each kind gets about the same share; when a kind has no candidate (a document with one
    entity pair has nothing to swap) the next kind is tried, and the miss is counted in
    ``skipped_corruptions``. Kinds of :data:`TARGETED_KINDS` add one negative each to every gold
    triple they apply to (a miss there is not counted).

    Example:
        >>> examples, stats = build_judge_examples(load_text_graph_pair("val.target", "val.source"))
        >>> stats.examples["train"]["tail_swap"]
    """
    unknown = [k for k in kinds if k not in CORRUPTION_KINDS + TARGETED_KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown corruption kinds {unknown}; valid: {', '.join(CORRUPTION_KINDS + TARGETED_KINDS)}")
    targeted = [k for k in kinds if k in TARGETED_KINDS]
    kinds = [k for k in kinds if k not in TARGETED_KINDS]
    documents = corpus.documents if isinstance(corpus, GoldCorpus) else list(corpus)
    malformed = corpus.malformed_triples if isinstance(corpus, GoldCorpus) else 0
    vocab = _Vocabulary(documents)
    gold = {_key(t) for doc in documents for t in doc.triples}
    examples: list[JudgeExample] = []
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    doc_counts: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for doc in documents:
        split = split_of(doc.split_key, seed=seed, dev_fraction=dev_fraction, test_fraction=test_fraction)
        doc_counts[split] += 1
        rng = random.Random(f"{seed}:{doc.id}")
        turn = rng.randrange(len(kinds)) if kinds else 0
        made: set[tuple[str, ...]] = set()
        for triple in dict.fromkeys(doc.triples):
            examples.append(_example(doc, triple, True, "positive", split, None))
            counts[split]["positive"] += 1
            for _ in range(negatives_per_positive if kinds else 0):
                for attempt in range(len(kinds)):
                    kind = kinds[(turn + attempt) % len(kinds)]
                    negative = _corrupt(kind, triple, doc, vocab, rng)
                    if negative is None or _key(negative) in gold or _key(negative) in made:
                        skipped[kind] += 1
                        continue
                    made.add(_key(negative))
                    examples.append(_example(doc, negative, False, kind, split, triple))
                    counts[split][kind] += 1
                    break
                turn += 1
            for kind in targeted:
                negative = _corrupt(kind, triple, doc, vocab, random.Random(f"{seed}:{doc.id}:{kind}:{triple}"))
                key = _key(negative) if negative is not None else None
                if key is not None and key not in gold and key not in made:
                    made.add(key)
                    examples.append(_example(doc, negative, False, kind, split, triple))
                    counts[split][kind] += 1
    stats = KasftStats(
        documents=dict(sorted(doc_counts.items())),
        examples={s: dict(sorted(c.items())) for s, c in sorted(counts.items())},
        skipped_corruptions=dict(sorted(skipped.items())),
        malformed_triples=malformed,
    )
    return examples, stats


def _example(
    doc: GoldDocument, triple: tuple[str, str, str], label: bool, kind: str, split: Split, source: tuple[str, str, str] | None
) -> JudgeExample:
    return JudgeExample(
        id=stable_id("kasft", doc.id, *triple, label),
        document_id=doc.id,
        document=doc.text,
        head=triple[0],
        relation=triple[1],
        tail=triple[2],
        label=label,
        kind=kind,  # type: ignore[arg-type]
        split=split,
        source_triple=source,
    )


def build_extractor_examples(
    corpus: GoldCorpus | Sequence[GoldDocument],
    *,
    seed: int = 0,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.2,
    with_entities: bool = False,
    max_chars: int | None = None,
) -> list[ExtractorExample]:
    """One example per document with at least one gold triple: text (and, with
    ``with_entities``, its entities in order of first mention) -> the gold triples.

    With ``max_chars`` the text is cut as the prompt builder cuts it, and triples with an entity
    that the full text mentions only after the cut are dropped, so that no example teaches the
    extractor to state facts its text does not show.
    """
    from kgjudge.judges.triples._prompting import cut_document

    documents = corpus.documents if isinstance(corpus, GoldCorpus) else list(corpus)
    out = []
    for doc in documents:
        if max_chars is not None and len(doc.text) > max_chars:
            kept = cut_document(doc.text, max_chars).casefold()
            full = doc.text.casefold()
            visible = [t for t in doc.triples if not any(e.casefold() in full and e.casefold() not in kept for e in (t[0], t[2]))]
            doc = doc.model_copy(update={"triples": visible})
        if not doc.triples:
            continue
        entities: list[str] = []
        if with_entities:
            names = dict.fromkeys(e for t in doc.triples for e in (t[0], t[2]))
            entities = sorted(names, key=lambda e: (doc.text.find(e) % (len(doc.text) + 1), e))
        out.append(
            ExtractorExample(
                id=stable_id("kasft-x", doc.id),
                document_id=doc.id,
                text=doc.text,
                entities=entities,
                triples=list(dict.fromkeys(doc.triples)),
                split=split_of(doc.split_key, seed=seed, dev_fraction=dev_fraction, test_fraction=test_fraction),
            )
        )
    return out


class ChunkAssignment(Record):
    """How gold triples were assigned to chunks (see :func:`chunk_documents`)."""

    documents: int = 0
    chunks: int = 0
    chunks_without_triples: int = 0
    triples: int = 0
    both_elements_found: int = 0
    one_element_found: int = 0
    none_found: int = 0
    assigned_to_several_chunks: int = 0


def mentions(entity: str, text: str) -> bool:
    """Whether ``text`` names ``entity``: as whole words ignoring case and whitespace runs
    (``Eta`` is not in ``Beta``), or for entities of 6+ characters with a rapidfuzz partial
    ratio of at least 90 (small spelling differences)."""
    e = " ".join(entity.split()).casefold()
    t = " ".join(text.split()).casefold()
    if not e:
        return False
    if re.search(rf"(?<!\w){re.escape(e)}(?!\w)", t):
        return True
    if len(e) < 6:
        return False
    fuzz = require("rapidfuzz.fuzz", "nlp")
    return fuzz.partial_ratio(e, t) >= 90


def chunk_documents(documents: Sequence[GoldDocument], chunking: Any = None) -> tuple[list[GoldDocument], ChunkAssignment]:
    """Split gold documents into the chunks ``kgjudge build`` makes of them (the pipeline's
    :class:`~kgjudge.stages.Chunker` with ``chunking``, a ``ChunkingConfig``) and give each chunk
    the gold triples it states.

    Rule: a triple goes to every chunk that names both its head and its tail (:func:`mentions`;
    more than one only where chunks overlap or repeat a pair); failing that, to the first chunk
    that names one of them; failing that (neither is written in the text), to the first chunk,
    where a document introduces its subject. Chunk ids are the pipeline's (``<document id>#<n>``).

    Example:
        >>> chunks, stats = chunk_documents(corpus.documents, ChunkingConfig(max_tokens=160, overlap_tokens=32))
    """
    from kgjudge._records import Document
    from kgjudge.stages import Chunker

    chunker = Chunker(chunking)
    splits = chunker.split_many(Document(id=d.id, text=d.text) for d in documents)
    counts: Counter[str] = Counter()
    out: list[GoldDocument] = []
    for doc in documents:
        chunks = [s.chunk for s in splits[doc.id]]
        counts["documents"] += 1
        counts["chunks"] += len(chunks)
        if not chunks:
            continue
        assigned: list[list[tuple[str, str, str]]] = [[] for _ in chunks]
        for triple in dict.fromkeys(doc.triples):
            counts["triples"] += 1
            found = [mentions(triple[0], c.text) + mentions(triple[2], c.text) for c in chunks]
            best = max(found)
            if best == 2:
                targets = [i for i, n in enumerate(found) if n == 2]
            else:
                targets = [found.index(1)] if best == 1 else [0]
            counts[("none_found", "one_element_found", "both_elements_found")[best]] += 1
            counts["assigned_to_several_chunks"] += len(targets) > 1
            for i in targets:
                assigned[i].append(triple)
        for chunk, triples in zip(chunks, assigned):
            counts["chunks_without_triples"] += not triples
            out.append(GoldDocument(id=chunk.id, text=chunk.text, triples=triples, source=doc.source,
                                    line=doc.line, document_id=doc.id))
    return out, ChunkAssignment(**counts)


HARD_NEGATIVE_KINDS: tuple[str, ...] = ("extracted_self_loop", "extracted_absent", "extracted_wrong_relation")
"""Negatives taken from an extractor's own replies on a chunk (none of them a gold triple of the
document, compared ignoring case and whitespace):

- ``extracted_self_loop``: head and tail are the same (``Erul Heights | mountain range | Erul Heights``);
- ``extracted_absent``: the head or the tail is not written in the chunk (:func:`mentions`);
- ``extracted_wrong_relation``: head and tail are a gold pair of the document, the relation is
  none of the pair's gold relations.

Other wrong-looking replies are left out: the gold graphs are incomplete, so a triple that is
merely not gold may still be true.
"""


def hard_negatives(
    chunks: Sequence[GoldDocument],
    extracted: Mapping[str, Sequence[tuple[str, str, str]]],
    gold: Mapping[str, Sequence[tuple[str, str, str]]],
    *,
    seed: int = 0,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.2,
) -> tuple[list[JudgeExample], dict[str, int]]:
    """Judge negatives (:data:`HARD_NEGATIVE_KINDS`) from an extractor's triples per chunk id
    (``extracted``), with ``chunks`` the chunk-level gold documents (:func:`chunk_documents`) and
    ``gold`` the whole gold graph per document id; the counts per kind (and ``unjudged``: replies
    that are neither gold nor of a kind)."""
    counts: Counter[str] = Counter()
    out: list[JudgeExample] = []
    for chunk in chunks:
        replies = extracted.get(chunk.id)
        if not replies:
            continue
        document_gold = gold.get(chunk.split_key, ())
        gold_keys = {_key(t) for t in document_gold}
        relations: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for h, r, t in document_gold:
            relations[_key((h, t))].add(_key([r])[0])
        split = split_of(chunk.split_key, seed=seed, dev_fraction=dev_fraction, test_fraction=test_fraction)
        seen: set[tuple[str, ...]] = set()
        for triple in replies:
            key = _key(triple)
            if key in gold_keys or key in seen:
                continue
            seen.add(key)
            h, r, t = triple
            if _key([h]) == _key([t]):
                kind = "extracted_self_loop"
            elif not (mentions(h, chunk.text) and mentions(t, chunk.text)):
                kind = "extracted_absent"
            elif _key((h, t)) in relations and _key([r])[0] not in relations[_key((h, t))]:
                kind = "extracted_wrong_relation"
            else:
                counts["unjudged"] += 1
                continue
            counts[kind] += 1
            out.append(_example(chunk, (h, r, t), False, kind, split, None))
    return out, dict(sorted(counts.items()))


def extracted_by_chunk(folder: str | Path) -> dict[str, list[tuple[str, str, str]]]:
    """Every triple a ``kgjudge build`` output folder extracted, per chunk id (from
    ``judgements.jsonl`` when the build judged, else ``triples.jsonl``)."""
    folder = Path(folder)
    judged = folder / "judgements.jsonl"
    rows = [j["triple"] for j in iter_jsonl(judged)] if judged.is_file() and judged.stat().st_size else list(
        iter_jsonl(folder / "triples.jsonl"))
    out: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for t in rows:
        if t.get("chunk_id"):
            out[t["chunk_id"]].append((t["head"], t["relation"], t["tail"]))
    return dict(out)


def data_hash(examples: Iterable[Record]) -> str:
    """A short, order-sensitive hash of a set of examples (recorded in adapter metadata)."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(ex.model_dump_json().encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]
