"""People's decisions about triples: what a decision writes to the store, the decision log, and
judge training data made from the log (``kgjudge export-labels``).

A decision makes the triple ``origin="curated"`` (exempt from judging) and adds a
:data:`~kgjudge.CURATION_JUDGE` judgement, which overrules the model judges: accepted (score 1.0)
or rejected (0.0). A correction rejects the triple and stores the corrected one, with the same
document, chunk and evidence, as accepted. The judgements the models gave stay with the triple.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from kgjudge._errors import InputError
from kgjudge._jsonl import iter_jsonl, write_jsonl
from kgjudge._records import CURATION_JUDGE, CurationDecision, Judgement, Triple, stable_id
from kgjudge.graph import StoredTriple
from kgjudge.judges import JudgeExample, split_of
from kgjudge.serve._models import CurationRequest


class CurationLog:
    """The decision log: one :class:`~kgjudge.CurationDecision` per line, appended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._by_triple: dict[str, list[CurationDecision]] | None = None

    def decisions(self) -> list[CurationDecision]:
        """Every logged decision, oldest first (unreadable lines are skipped)."""
        if not self.path.is_file():
            return []
        return list(iter_jsonl(self.path, CurationDecision, errors=[]))  # type: ignore[arg-type]

    def about(self, triple_id: str) -> list[CurationDecision]:
        """The decisions about one triple (or that produced it by a correction), oldest first."""
        with self._lock:
            if self._by_triple is None:
                self._by_triple = {}
                for d in self.decisions():
                    self._index(d)
            return list(self._by_triple.get(triple_id, []))

    def _index(self, decision: CurationDecision) -> None:
        assert self._by_triple is not None
        self._by_triple.setdefault(decision.triple.id, []).append(decision)
        if decision.corrected is not None and decision.corrected.id != decision.triple.id:
            self._by_triple.setdefault(decision.corrected.id, []).append(decision)

    def append(self, decision: CurationDecision) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_jsonl(self.path, [decision], append=True)
            if self._by_triple is not None:
                self._index(decision)


def _verdict(target: str, label: bool, decision: CurationDecision, **details: str) -> Judgement:
    return Judgement(target_id=target, judge=CURATION_JUDGE, score=1.0 if label else 0.0, label=label, threshold=0.5,
                     reasons=[decision.note] if decision.note else [],
                     details={"decision": decision.id, "action": decision.action, "at": decision.at, **details})


def decide(stored: StoredTriple, request: CurationRequest, now: Callable[[], datetime] | None = None
           ) -> tuple[CurationDecision, list[Triple], list[Judgement]]:
    """The decision a request makes about ``stored``, and the triples and judgements to upsert.

    Raises:
        InputError: a correction that changes no element, or an accept/reject that gives some.
    """
    at = (now or (lambda: datetime.now(timezone.utc)))().isoformat(timespec="milliseconds")
    original = stored.triple
    changes = {k: v for k, v in (("head", request.head), ("relation", request.relation), ("tail", request.tail))
               if v is not None}
    curated = original.model_copy(update={"origin": "curated"})
    # The model judgements come along: a triple the build's judge rejected is not in the store yet.
    keep = [j for j in stored.judgements if j.judge != CURATION_JUDGE]
    if request.action != "correct":
        if changes:
            raise InputError(f"'{request.action}' takes no head, relation or tail; use 'correct' to change them")
        decision = CurationDecision(action=request.action, triple=original, note=request.note, at=at)
        return decision, [curated], [*keep, _verdict(original.id, request.action == "accept", decision)]
    values = {k: v.strip() for k, v in changes.items()}
    if any(not v for v in values.values()):
        raise InputError("a corrected head, relation or tail cannot be blank")
    if not values or all(getattr(original, k) == v for k, v in values.items()):
        raise InputError("the correction changes nothing: give a new head, relation or tail")
    fixed = Triple(**{**original.model_dump(exclude={"id", "extractor", "origin"}), **values, "origin": "curated"})
    decision = CurationDecision(action="correct", triple=original, corrected=fixed, note=request.note, at=at)
    return decision, [curated, fixed], [
        *keep,
        _verdict(original.id, False, decision, corrected_to=fixed.id),
        _verdict(fixed.id, True, decision, corrects=original.id),
    ]


def labelled_triples(decisions: list[CurationDecision]) -> list[tuple[Triple, bool, Triple | None]]:
    """(triple, label, the corrected triple a negative came from) of the latest decision about
    each triple; a triple labelled twice keeps its latest label."""
    latest: dict[str, CurationDecision] = {}
    for d in decisions:
        latest.pop(d.triple.id, None)
        latest[d.triple.id] = d
    out: dict[tuple[str | None, str, str, str], tuple[Triple, bool, Triple | None]] = {}
    for d in latest.values():
        rows = [(d.triple, d.action == "accept", None)]
        if d.corrected is not None:
            rows = [(d.triple, False, d.corrected), (d.corrected, True, None)]
        for triple, label, source in rows:
            key = (triple.document_id, *triple.as_tuple())
            out.pop(key, None)
            out[key] = (triple, label, source)
    return list(out.values())


def export_labels(
    decisions: list[CurationDecision],
    document_text: Callable[[str], str | None],
    *,
    seed: int = 0,
    dev_fraction: float = 0.1,
    test_fraction: float = 0.2,
) -> tuple[list[JudgeExample], dict[str, int]]:
    """Judge training examples (KASFT :class:`~kgjudge.judges.JudgeExample` records, kind
    ``curated``) from people's decisions: accepted and corrected triples are positives,
    rejected triples and the originals of corrections negatives.

    Args:
        document_text: a document id's text, or None; a triple without a document is judged
            against its evidence sentence, and left out (counted) when it has neither.

    Returns:
        the examples and counts (``positive``, ``negative``, ``skipped``).
    """
    examples: list[JudgeExample] = []
    counts: Counter[str] = Counter()
    for triple, label, source in labelled_triples(decisions):
        text = document_text(triple.document_id) if triple.document_id is not None else None
        if text is None and triple.evidence is not None and triple.evidence.text.strip():
            text = triple.evidence.text
        if text is None:
            counts["skipped"] += 1
            continue
        doc_id = triple.document_id or stable_id("evidence", text)
        examples.append(JudgeExample(
            id=stable_id("kasft", doc_id, *triple.as_tuple(), label), document_id=doc_id, document=text,
            head=triple.head, relation=triple.relation, tail=triple.tail, label=label, kind="curated",
            split=split_of(doc_id, seed=seed, dev_fraction=dev_fraction, test_fraction=test_fraction),
            source_triple=source.as_tuple() if source is not None else None,
        ))
        counts["positive" if label else "negative"] += 1
    return examples, {k: counts.get(k, 0) for k in ("positive", "negative", "skipped")}


def read_decisions(path: Path) -> list[CurationDecision]:
    """The decisions of a log file.

    Raises:
        InputError: the file is missing, or a line is not a decision (file and line named).
    """
    if not path.is_file():
        raise InputError("no decision log here (decisions are logged by kgjudge serve --allow-edit)", file=str(path))
    return list(iter_jsonl(path, CurationDecision))  # type: ignore[arg-type]
