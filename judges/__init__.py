"""Judges that decide whether model output is supported: GraphJudger, Meta Ranking, cascades,
the instruction-data filter (`kgjudge filter`), KASFT data and LoRA training. Installed as ``kgjudge.judges``.

The build pipeline calls a judge through :func:`build_judge` and ``judge(triples, documents)``:

    >>> from kgjudge.judges import build_judge
    >>> judge = build_judge({"type": "graphjudger.v1", "adapter": "judge"}, llm)
    >>> judgements = judge.judge_sync(triples, {"d1": "Paris is the capital of France."})

Importing this package needs only the core dependencies; training needs the ``hf`` extra and
metrics, plots and embeddings the ``judges`` extra.
"""

from kgjudge._faces import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, __file__)
