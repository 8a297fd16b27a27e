"""What the graph store of a build folder should hold, derived from the folder's files: the
triples the judge kept (``triples.jsonl``) with their judgements (``judgements.jsonl``), and
what people decided about triples (``curation.jsonl``, applied in order as the server applied
them). Commands that change a build compare the store with this view and write only the
difference; ``kgjudge stats --verify`` compares all of it and repairs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from kgjudge._build_folder import CURATION, BuildFolder
from kgjudge._curated import decision_effects
from kgjudge._jsonl import iter_jsonl
from kgjudge._records import CurationDecision, Judgement, Triple
from kgjudge.graph import GraphStore, StoredTriple


@dataclass
class StoreView:
    """The store's content as the files define it.

    Attributes:
        extracted: every extracted triple (kept or rejected) by id.
        judged: the build judge's judgement of each judged triple, by triple id.
        desired: the triples the store holds, with their judgements, by id.
    """

    extracted: dict[str, Triple] = field(default_factory=dict)
    judged: dict[str, Judgement] = field(default_factory=dict)
    desired: dict[str, StoredTriple] = field(default_factory=dict)


def decisions(folder: BuildFolder) -> list[CurationDecision]:
    """The folder's curation decisions, oldest first (unreadable lines are skipped)."""
    path = folder.out / CURATION
    return list(iter_jsonl(path, CurationDecision, errors=[])) if path.is_file() else []  # type: ignore[arg-type]


def store_view(folder: BuildFolder, documents: Collection[str] | None = None) -> StoreView:
    """The view of the whole folder, or of the triples of ``documents`` only."""
    view = StoreView()
    kept: dict[str, Triple] = {}

    def wanted(doc: object) -> bool:
        return documents is None or doc in documents

    for value in folder.rows(folder.file("judgements")):
        if wanted(value.get("document_id")):
            triple = Triple.model_validate(value["triple"])
            view.extracted[triple.id] = triple
            view.judged[triple.id] = Judgement.model_validate(value["judgement"])
    for value in folder.rows(folder.file("triples")):
        if wanted(value.get("document_id")):
            triple = Triple.model_validate(value)
            view.extracted.setdefault(triple.id, triple)
            kept[triple.id] = triple
    judgements: dict[str, dict[str, Judgement]] = {}
    for triple_id, triple in kept.items():
        view.desired[triple_id] = StoredTriple(triple=triple)
        if triple_id in view.judged:
            judgements[triple_id] = {view.judged[triple_id].judge: view.judged[triple_id]}
    for decision in decisions(folder):
        original = decision.triple.id
        # A decision counts while the triple it is about exists: one of a removed document, or
        # about a triple a changed document no longer yields, is history only.
        if original not in view.extracted and original not in view.desired:
            continue
        if not wanted(decision.triple.document_id):
            continue
        model = [view.judged[original]] if original in view.judged else []
        triples, made = decision_effects(decision, model)
        for triple in triples:
            view.desired[triple.id] = StoredTriple(triple=triple)
        for judgement in made:
            judgements.setdefault(judgement.target_id, {})[judgement.judge] = judgement
    for triple_id, stored in view.desired.items():
        found = judgements.get(triple_id, {})
        view.desired[triple_id] = StoredTriple(triple=stored.triple, judgements=[found[k] for k in sorted(found)])
    return view


def write_view(store: GraphStore, records: Iterable[StoredTriple]) -> int:
    """Upsert stored triples with their judgements; returns how many triples."""
    records = list(records)
    if not records:
        return 0
    return store.upsert([st.triple for st in records], [j for st in records for j in st.judgements])
