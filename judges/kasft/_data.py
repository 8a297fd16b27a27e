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
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from kgjudge._errors import InputError
from kgjudge._jsonl import iter_jsonl
from kgjudge._records import Record, stable_id

Split = Literal["train", "dev", "test"]
Kind = Literal["positive", "tail_swap", "head_swap", "relation_swap", "near_duplicate", "curated"]
CORRUPTION_KINDS: tuple[str, ...] = ("tail_swap", "head_swap", "relation_swap", "near_duplicate")
"""How negatives are made from a gold triple:

- ``tail_swap`` / ``head_swap``: the tail (head) is replaced by another entity of the same document;
- ``relation_swap``: the relation is replaced by another one of the corpus's relation vocabulary;
- ``near_duplicate``: an entity is replaced by a look-alike string: another entity of the corpus
  sharing a word with it (``Penn State University Press`` -> ``Oxford University Press``), or for
  entities with digits the same string with one digit changed (``1951`` -> ``1954``).

Examples of kind ``curated`` are a person's decisions about extracted triples (accepted, rejected
or corrected), written by ``kgjudge export-labels``; their label is the person's.
"""


class GoldDocument(Record):
    """A text with its gold graph.

    Example:
        >>> GoldDocument(id="d1", text="Paris is in France.", triples=[("Paris", "country", "France")])
    """

    id: str = Field(min_length=1)
    text: str
    triples: list[tuple[str, str, str]] = Field(default_factory=list)
    source: str | None = None
    line: int | None = None


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


def split_of(document_id: str, *, seed: int, dev_fraction: float, test_fraction: float) -> Split:
    """The split of a document: a seeded hash of its id, so it never depends on load order."""
    digest = hashlib.sha256(f"{seed}:{document_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test_fraction:
        return "test"
    if u < test_fraction + dev_fraction:
        return "dev"
    return "train"


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

    Kinds are used in turn, starting at a seeded offset per document, so each kind gets about the
    same share; when a kind has no candidate (a document with one entity pair has nothing to swap)
    the next kind is tried, and the miss is counted in ``skipped_corruptions``.

    Example:
        >>> examples, stats = build_judge_examples(load_text_graph_pair("val.target", "val.source"))
        >>> stats.examples["train"]["tail_swap"]
    """
    unknown = [k for k in kinds if k not in CORRUPTION_KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown corruption kinds {unknown}; valid: {', '.join(CORRUPTION_KINDS)}")
    documents = corpus.documents if isinstance(corpus, GoldCorpus) else list(corpus)
    malformed = corpus.malformed_triples if isinstance(corpus, GoldCorpus) else 0
    vocab = _Vocabulary(documents)
    gold = {_key(t) for doc in documents for t in doc.triples}
    examples: list[JudgeExample] = []
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    doc_counts: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for doc in documents:
        split = split_of(doc.id, seed=seed, dev_fraction=dev_fraction, test_fraction=test_fraction)
        doc_counts[split] += 1
        rng = random.Random(f"{seed}:{doc.id}")
        turn = rng.randrange(len(kinds))
        made: set[tuple[str, ...]] = set()
        for triple in dict.fromkeys(doc.triples):
            examples.append(_example(doc, triple, True, "positive", split, None))
            counts[split]["positive"] += 1
            for _ in range(negatives_per_positive):
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
                split=split_of(doc.id, seed=seed, dev_fraction=dev_fraction, test_fraction=test_fraction),
            )
        )
    return out


def data_hash(examples: Iterable[Record]) -> str:
    """A short, order-sensitive hash of a set of examples (recorded in adapter metadata)."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(ex.model_dump_json().encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]
