"""The names of kgjudge.graph (see __init__.py); each is imported from its module on first use."""

from ._arcadedb import (
    ArcadeDBBoltServer as ArcadeDBBoltServer,
)
from ._base import (
    build_store as build_store,
    GraphStore as GraphStore,
)
from ._communities import (
    Community as Community,
    CommunityIndex as CommunityIndex,
    CommunityUpdate as CommunityUpdate,
    confidence as confidence,
    partition as partition,
)
from ._io import (
    copy_store as copy_store,
    exempt_from_judging as exempt_from_judging,
    EXPORT_FORMATS as EXPORT_FORMATS,
    export_jsonl as export_jsonl,
    export_store as export_store,
    load_triples as load_triples,
    LoadResult as LoadResult,
    open_store as open_store,
)
from ._iri import (
    mint_iri as mint_iri,
    slugify as slugify,
)
from ._linking import (
    EntityIndex as EntityIndex,
    LinkedEntity as LinkedEntity,
    VectorCache as VectorCache,
)
from ._neo4j import (
    Neo4jConfig as Neo4jConfig,
    Neo4jStore as Neo4jStore,
)
from ._networkx import (
    NetworkXConfig as NetworkXConfig,
    NetworkXStore as NetworkXStore,
)
from ._rdf import (
    RDFConfig as RDFConfig,
    RDFStore as RDFStore,
)
from ._answering import (
    Answerer as Answerer,
    NOT_FOUND as NOT_FOUND,
    parse_answer as parse_answer,
    select_candidates as select_candidates,
)
from ._rag import (
    GraphRAG as GraphRAG,
    open_graphrag as open_graphrag,
)
from ._rag_records import (
    Answer as Answer,
    Citation as Citation,
    ContextFact as ContextFact,
    RetrievedContext as RetrievedContext,
)
from ._retrieval import (
    Retriever as Retriever,
)
from ._tokens import (
    approximate_tokens as approximate_tokens,
    token_counter as token_counter,
)
from ._resolution import (
    EntityMerge as EntityMerge,
    MergeLink as MergeLink,
    normalise_name as normalise_name,
    Resolution as Resolution,
    resolve_names as resolve_names,
    resolve_triples as resolve_triples,
    SentenceEmbedder as SentenceEmbedder,
)
from ._types import (
    EntityHit as EntityHit,
    search_key as search_key,
    StoredTriple as StoredTriple,
    StoreFeatures as StoreFeatures,
    StoreStats as StoreStats,
    Subgraph as Subgraph,
)
