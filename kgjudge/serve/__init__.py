"""``kgjudge serve``: an HTTP API and a one-page web explorer over a build output or a store.

The API (FastAPI; its OpenAPI schema at ``/api/openapi.json``) answers entity search,
neighbourhoods, triples with provenance and judgements, documents with evidence spans,
questions (GraphRAG local and global search), judging one triple and curation; the page
(``/``, scripts and styles shipped in this package, no CDN) explores the graph with them.
The server itself needs the ``serve`` extra (FastAPI, uvicorn); reading decisions and
exporting them as judge training data does not.

Example:
    >>> from kgjudge.serve import open_explorer, serve
    >>> serve(open_explorer("out/demo"), port=8765)
"""

from kgjudge._faces import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, __file__)
