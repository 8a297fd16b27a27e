"""Config sections of GraphRAG retrieval and question answering (``rag:`` in a config file)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kgjudge._sections import Section, prompt_field


class LinkingConfig(Section):
    """How entity mentions in a question are matched to stored entities (names and aliases)."""

    max_ngram: int = Field(default=6, ge=1, le=12, description="longest mention tried, in words")
    fuzzy_threshold: float = Field(
        default=85.0, ge=0, le=100, description="rapidfuzz ratio a misspelt mention needs (0-100)"
    )
    embeddings: bool = Field(default=True, description="use sentence embeddings (all-MiniLM-L6-v2)")
    embedding_threshold: float = Field(
        default=0.8, ge=-1, le=1, description="cosine a mention needs when nothing matched by spelling"
    )
    embedding_model: str | None = Field(
        default=None, description="sentence-transformers folder; the packaged all-MiniLM-L6-v2 when null"
    )
    min_score: float = Field(default=0.5, ge=0, le=1, description="weaker links are ignored")
    max_entities: int = Field(default=5, ge=1, description="seed entities kept per question")


class RankingConfig(Section):
    """How retrieved triples are ordered: relevance to the question, then judge confidence.

    ``score = relevance * (1 - confidence_weight + confidence_weight * confidence)``; relevance
    combines the link score of the nearest seed entity, the similarity of the question to the
    triple's relation and entities, and word overlap, and halves per hop from the seeds.
    """

    confidence_weight: float = Field(default=0.5, ge=0, le=1)
    unjudged_confidence: float = Field(
        default=0.5, ge=0, le=1, description="confidence of an extracted triple no judge has scored"
    )
    min_confidence: float = Field(default=0.0, ge=0, le=1, description="triples below are left out")
    min_community_score: float = Field(
        default=0.15, ge=0, le=1, description="global search: weaker communities are not used"
    )


class CommunityConfig(Section):
    """Communities for global search: Louvain (networkx) within each connected component."""

    resolution: float = Field(default=1.0, gt=0, description="Louvain resolution; higher gives smaller communities")
    seed: int = 0
    min_size: int = Field(default=2, ge=1, description="communities with fewer triples get no summary")
    max_triples_in_summary: int = Field(default=40, ge=1, description="facts shown to the summariser")
    summary_max_tokens: int = Field(default=160, ge=16)
    summary_prompt: str = "graphrag_summary.v1"


class RAGConfig(Section):
    """The ``rag:`` section: retrieval and answering of ``kgjudge query``."""

    backend: str = Field(default="default", description="backend (in backends:) that writes answers")
    adapter: str | None = None
    hops: int = Field(default=1, ge=0, le=3, description="local search: hops around the linked entities")
    token_budget: int = Field(default=800, ge=16, description="context size sent to the model, in tokens")
    answer_max_tokens: int = Field(default=96, ge=8)
    answer_style: Literal["generate", "select"] = Field(
        default="generate",
        description="generate: the model writes an answer citing fact labels; select: the model's "
        "log-probabilities pick one entity of the context (or NOT FOUND) in one scoring call, so it "
        "cannot answer outside the facts (suits small models)",
    )
    select_prompt: str = "graphrag_select.v1"
    select_calibration: Literal["none", "pmi"] = Field(
        default="pmi",
        description="pmi: subtract each choice's log-probability after a prompt without facts or "
        "question (one more scoring call per question)",
    )
    max_candidates: int = Field(default=20, ge=1, description="select: entities of the context offered")
    answer_prompt: str = prompt_field("graphrag_answer.v1", reads="answer")
    map_prompt: str = prompt_field("graphrag_map.v1", reads="answer")
    reduce_prompt: str = prompt_field("graphrag_reduce.v1", reads="answer")
    top_communities: int = Field(default=3, ge=1, description="global search: communities mapped per question")
    facts_per_community: int = Field(
        default=200, ge=1, description="global search: a community's most confident facts that are ranked "
        "(plus those of the question's entities)"
    )
    index_dir: str | None = Field(
        default=None,
        description="where entity embeddings and community summaries are kept; "
        "<build output>/rag for a build output, the cache folder otherwise",
    )
    linking: LinkingConfig = Field(default_factory=LinkingConfig)
    ranking: RankingConfig = Field(default_factory=RankingConfig)
    communities: CommunityConfig = Field(default_factory=CommunityConfig)
