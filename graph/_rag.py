"""GraphRAG over any graph store: retrieval (:mod:`kgjudge.graph._retrieval`), answers with
citations (:mod:`kgjudge.graph._answering`), and the community index they share, opened over a
store or a build output folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kgjudge._build_folder import BuildFolder
from kgjudge._cache import default_cache_dir
from kgjudge._config import default_config
from kgjudge._errors import ConfigError, StoreError
from kgjudge._rag_config import RAGConfig
from kgjudge._records import stable_id
from kgjudge.graph._answering import Answerer
from kgjudge.graph._base import GraphStore, build_store
from kgjudge.graph._communities import CommunityIndex, CommunityUpdate, summary_prompt
from kgjudge.graph._linking import EntityIndex, VectorCache, index_path
from kgjudge.graph._rag_records import Answer, Mode, RetrievedContext
from kgjudge.graph._resolution import SentenceEmbedder
from kgjudge.graph._retrieval import Retriever
from kgjudge.graph._tokens import token_counter
from kgjudge.graph._types import StoredTriple
from kgjudge.llm import llm_from_config


class GraphRAG:
    """Retrieval and question answering over a graph store.

    Args:
        store: any :class:`~kgjudge.graph.GraphStore` (subgraphs come from the store; linking,
            ranking and communities run in memory).
        llm: the :class:`~kgjudge.llm.LLM` that writes answers and community summaries; retrieval
            alone needs none.
        index_dir: where entity embeddings and community summaries are kept between runs
            (in memory only when None).
        documents: document id -> source (path or URI), to name it in citations.
        revision: what tells the store's content apart beyond its counts (a build folder's
            revision), so the community index is known stale after any change.

    Example:
        >>> rag = GraphRAG(store, llm, RAGConfig(), index_dir="out/demo/rag")
        >>> answer = rag.query("Where was Marie Curie born?", mode="local")
        >>> answer.answer, [c.triple_id for c in answer.citations]
    """

    def __init__(
        self,
        store: GraphStore,
        llm: Any = None,
        config: RAGConfig | None = None,
        *,
        index_dir: str | Path | None = None,
        embedder: Callable[[Sequence[str]], Any] | None = None,
        documents: Mapping[str, str | None] | None = None,
        count_tokens: Callable[[str], int] | None = None,
        revision: Callable[[], Any] | None = None,
    ) -> None:
        self.store = store
        self.revision = revision
        self.llm = llm
        self.config = config or RAGConfig()
        where = index_dir if index_dir is not None else self.config.index_dir
        self.index_dir = Path(where) if where is not None else None
        self.vectors: VectorCache | None = None
        if self.config.linking.embeddings:
            self.vectors = VectorCache(
                embedder or SentenceEmbedder(self.config.linking.embedding_model),
                index_path(self.index_dir, "embeddings.npz"),
            )
        self.communities = CommunityIndex(self.index_dir, self.config.communities)
        self.documents = dict(documents or {})
        self.count_tokens = count_tokens or token_counter(llm)
        self.retriever = Retriever(store, self.config, self.vectors, self.communities, self.count_tokens)
        self.answerer = Answerer(llm, self.config, self.documents)
        self.owns_store = False
        self._checked = False

    def use_llm(self, llm: Any) -> None:
        """Answer (and count context tokens) with ``llm`` from now on; None detaches the model
        (retrieval still works). For a caller that builds the model only when a question comes."""
        self.llm = llm
        self.answerer.llm = llm
        self.count_tokens = self.retriever.count_tokens = token_counter(llm)

    # -- indexes ----------------------------------------------------------------------------

    @property
    def entity_index(self) -> EntityIndex:
        """Names and aliases of the store's entities (read on first use; see :meth:`refresh`)."""
        return self.retriever.entity_index

    def refresh(self) -> None:
        """Forget what was read from the store (entities; whether communities are current), so
        the next question sees the store as it is now."""
        self.retriever.refresh()
        self._checked = False

    def warm(self) -> None:
        """Embed every entity name and alias now, rather than on first use."""
        self.entity_index.warm()

    def _fingerprint(self) -> dict[str, Any]:
        found = self.store.stats().model_dump()
        if self.revision is not None:
            # Counts alone miss a change that keeps them (a new judge swapping one kept triple
            # for another); the build folder's revision does not.
            found["revision"] = self.revision()
        return found

    def update_communities(self, *, force: bool = False) -> CommunityUpdate | None:
        """Recompute communities and summarise the ones that changed; None when the index is
        already up to date with the store (unless ``force``)."""
        fingerprint = self._fingerprint()
        if not force and self.communities.fingerprint == fingerprint and (self.communities.communities or not fingerprint["triples"]):
            return None
        if self.llm is None:
            raise ConfigError("community summaries need a model: give GraphRAG an llm", key="rag.backend")
        triples = [st for st in self.store.iter_triples() if not st.rejected_by_curation()]
        cfg = self.config
        report = self.communities.update(
            triples, self._summarise, model=self.llm.backend.fingerprint(),
            fingerprint=fingerprint, unjudged_confidence=cfg.ranking.unjudged_confidence,
        )
        self.retriever.refresh()
        self._checked = True
        return report

    def _summarise(self, groups: list[list[StoredTriple]]) -> list[tuple[str | None, str]]:
        cfg = self.config
        prompts = [summary_prompt(facts, cfg.communities.summary_prompt) for facts in groups]
        out: list[tuple[str | None, str]] = []
        for text, error in self.answerer.generate(prompts, cfg.communities.summary_max_tokens):
            if text is not None and not text.strip():
                text, error = None, "the model returned an empty summary"
            out.append((text.strip() if text is not None else None, error))
        return out

    def close(self) -> None:
        """Keep the embeddings computed so far; close the store when it was opened here
        (:func:`open_graphrag`) and the model client when there is one."""
        if self.vectors is not None:
            self.vectors.save()
        if self.owns_store:
            self.store.close()
        if self.llm is not None and self.owns_store:
            self.llm.close()

    def __enter__(self) -> GraphRAG:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- questions --------------------------------------------------------------------------

    def retrieve(self, question: str, mode: Mode = "local") -> RetrievedContext:
        """The context for ``question``, without calling the model (see
        :meth:`Retriever.retrieve`); global search first brings the community index up to date
        with the store, once per instance.

        Raises:
            InputError: an empty question.
            StoreError: global search over a missing or stale community index without a model
                to summarise (see :meth:`update_communities`), or the store failed.
        """
        if mode == "global" and not self._checked:
            # Once per instance (and after refresh()): counting a large store is not free.
            if self.communities.fingerprint != self._fingerprint():
                if self.llm is None:
                    raise StoreError("the community index is missing or older than the store; run "
                                     "GraphRAG.update_communities() (kgjudge communities) first")
                self.update_communities()
            self._checked = True
        return self.retriever.retrieve(question, mode)

    def query(self, question: str, mode: Mode = "local") -> Answer:
        """Answer ``question`` from the graph; see :meth:`query_many`."""
        return self.query_many([question], mode)[0]

    def query_many(self, questions: Sequence[str], mode: Mode = "local") -> list[Answer]:
        """Answer questions in one batch of model calls per step.

        A question with an empty context is answered "nothing found" without a model call.
        Global search makes one call per chosen community (map) and one to combine two or more
        partial answers (reduce).

        Raises:
            ConfigError: no model was given.
        """
        if self.llm is None:
            raise ConfigError("answering needs a model: give GraphRAG an llm", key="rag.backend")
        return self.answerer.answer([self.retrieve(q, mode) for q in questions], mode)


def open_graphrag(
    out: str | Path | None = None,
    config: Any = None,
    *,
    file: str | None = None,
    with_llm: bool = True,
    rag_overrides: Mapping[str, Any] | None = None,
    read_only: bool = True,
) -> GraphRAG:
    """A :class:`GraphRAG` over a build output folder or a config's store; closing it closes
    the store too.

    Args:
        out: a ``kgjudge build`` output folder: its store, documents and build config are used,
            and indexes are kept in ``out/rag``.
        config: a :class:`~kgjudge.KGJudgeConfig` for the backends and the ``rag:`` section (and
            the store when ``out`` is None); the build's own config, else the embedded default,
            when None.
        with_llm: build the ``rag.backend`` model (retrieval alone needs none).
        rag_overrides: values replacing those of the ``rag:`` section (validated).
        read_only: open the store to read only (retrieval never writes it); False for a caller
            that records decisions in it. Either way a missing store is an error, never a new
            empty one.

    Raises:
        ConfigError: the store kept in files does not exist.
        InputError: ``out`` is not a build output.
    """
    documents: dict[str, str | None] = {}
    build_config = None
    if out is not None:
        folder = BuildFolder(out)
        build_config = folder.config()
        documents = folder.sources()
    config = config or build_config or default_config()
    if rag_overrides:
        config = config.model_copy(update={"rag": RAGConfig.model_validate({**config.rag.model_dump(), **rag_overrides})})
    if out is not None:
        slot = folder.store_slot(build_config)
        index_dir = Path(config.rag.index_dir) if config.rag.index_dir else folder.out / "rag"
    else:
        slot = config.store
        where = json.dumps(slot.model_dump(mode="json") if slot is not None else None, sort_keys=True)
        index_dir = Path(config.rag.index_dir) if config.rag.index_dir else default_cache_dir() / "rag" / stable_id("store", where)
    llm = llm_from_config(config, config.rag.backend) if with_llm else None
    store = build_store(slot, file=file, read_only=read_only, must_exist=True)
    revision = BuildFolder(out).revision if out is not None else None
    rag = GraphRAG(store, llm, config.rag, index_dir=index_dir, documents=documents, revision=revision)
    rag.owns_store = True
    return rag
