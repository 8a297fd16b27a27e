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

from kgjudge._faces import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, __file__)
