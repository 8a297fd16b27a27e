"""Triple judges: GraphJudger (``graphjudger.v1``) and Meta Ranking (``meta_ranking.v1``), their
prompts, the judge contract and factory, and model cascading. The names users need are on
:mod:`kgjudge.judges`."""
