"""Judges that decide whether model output is supported: GraphJudger, Meta Ranking, cascades,
and the dataset filter built on them. Installed as ``kgjudge.judges``."""

__all__: list[str] = []
