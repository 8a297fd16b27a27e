"""Graph stores (networkx, RDF, Neo4j), entity resolution and GraphRAG retrieval.
Installed as ``kgjudge.graph``."""

__all__: list[str] = []
