"""What a person's decision (:class:`~kgjudge.CurationDecision`) writes to a graph store.

One function says it, for the server that applies a decision when it is made and for the
commands that rebuild the store's view of a build folder later (a new judge, a changed
document, ``kgjudge stats --verify``): the decided triple as ``origin="curated"`` with the
model judgements it has and a :data:`~kgjudge.CURATION_JUDGE` verdict, and for a correction
also the corrected triple, accepted.
"""

from __future__ import annotations

from collections.abc import Sequence

from kgjudge._records import CURATION_JUDGE, CurationDecision, Judgement, Triple


def verdict(target: str, label: bool, decision: CurationDecision, **details: str) -> Judgement:
    """The curation judgement a decision gives ``target``: score 1.0 accepted, 0.0 rejected."""
    return Judgement(target_id=target, judge=CURATION_JUDGE, score=1.0 if label else 0.0, label=label, threshold=0.5,
                     reasons=[decision.note] if decision.note else [],
                     details={"decision": decision.id, "action": decision.action, "at": decision.at, **details})


def decision_effects(decision: CurationDecision, model_judgements: Sequence[Judgement] = ()
                     ) -> tuple[list[Triple], list[Judgement]]:
    """The triples and judgements a decision upserts.

    Args:
        model_judgements: the judgements the models gave the decided triple (they stay with it;
            any curation judgement among them is replaced by this decision's).
    """
    original = decision.triple
    curated = original.model_copy(update={"origin": "curated"})
    keep = [j for j in model_judgements if j.judge != CURATION_JUDGE]
    if decision.corrected is None:
        return [curated], [*keep, verdict(original.id, decision.action == "accept", decision)]
    fixed = decision.corrected
    return [curated, fixed], [
        *keep,
        verdict(original.id, False, decision, corrected_to=fixed.id),
        verdict(fixed.id, True, decision, corrects=original.id),
    ]
