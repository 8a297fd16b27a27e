"""Graph stores (networkx, RDF, Neo4j), entity resolution and GraphRAG retrieval and answers.
Installed as ``kgjudge.graph``.

Stores are registered by versioned name (``networkx.v1``, ``rdf.v1``, ``neo4j.v1``) in
:data:`kgjudge._registry.stores`; their optional libraries are imported only when a store is
opened, with an error naming the extra to install.

Example:
    >>> from kgjudge.graph import build_store
    >>> with build_store({"type": "rdf.v1", "path": None}) as store:
    ...     store.upsert(triples, judgements)
    ...     store.neighbours("Paris", hops=2)
"""

from kgjudge.graph._arcadedb import ArcadeDBBoltServer
from kgjudge.graph._base import GraphStore, build_store
from kgjudge.graph._communities import Community, CommunityIndex, CommunityUpdate, partition
from kgjudge.graph._io import (
    EXPORT_FORMATS,
    LoadResult,
    copy_store,
    exempt_from_judging,
    export_jsonl,
    export_store,
    load_triples,
    open_store,
)
from kgjudge.graph._iri import mint_iri, slugify
from kgjudge.graph._linking import EntityIndex, LinkedEntity, VectorCache
from kgjudge.graph._neo4j import Neo4jConfig, Neo4jStore
from kgjudge.graph._networkx import NetworkXConfig, NetworkXStore
from kgjudge.graph._rdf import RDFConfig, RDFStore
from kgjudge.graph._rag import (
    Answer,
    Citation,
    ContextFact,
    GraphRAG,
    RetrievedContext,
    approximate_tokens,
    open_graphrag,
    parse_answer,
    select_candidates,
    token_counter,
)
from kgjudge.graph._resolution import (
    EntityMerge,
    MergeLink,
    Resolution,
    SentenceEmbedder,
    normalise_name,
    resolve_names,
    resolve_triples,
)
from kgjudge.graph._types import EntityHit, StoredTriple, StoreFeatures, StoreStats, Subgraph, search_key

__all__ = sorted(
    [
        "Answer",
        "ArcadeDBBoltServer",
        "Citation",
        "Community",
        "CommunityIndex",
        "CommunityUpdate",
        "ContextFact",
        "EXPORT_FORMATS",
        "EntityHit",
        "EntityIndex",
        "EntityMerge",
        "GraphRAG",
        "GraphStore",
        "LinkedEntity",
        "LoadResult",
        "MergeLink",
        "Neo4jConfig",
        "Neo4jStore",
        "NetworkXConfig",
        "NetworkXStore",
        "RDFConfig",
        "RDFStore",
        "Resolution",
        "RetrievedContext",
        "SentenceEmbedder",
        "StoreFeatures",
        "StoreStats",
        "StoredTriple",
        "Subgraph",
        "VectorCache",
        "approximate_tokens",
        "build_store",
        "copy_store",
        "exempt_from_judging",
        "export_jsonl",
        "export_store",
        "load_triples",
        "mint_iri",
        "normalise_name",
        "open_graphrag",
        "open_store",
        "parse_answer",
        "partition",
        "resolve_names",
        "resolve_triples",
        "search_key",
        "select_candidates",
        "slugify",
        "token_counter",
    ]
)
