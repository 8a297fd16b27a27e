"""``kgjudge build``: the document-to-KG pipeline, local or on Ray, resumable and cached."""

from kgjudge._faces import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, __file__)
