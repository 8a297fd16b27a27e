"""The stages of the document-to-KG path: chunking, entity-centric denoising, extraction.

Each stage has pure prompt-building and reply-parsing functions (versioned templates under
``kgjudge/prompts``) and one async function that runs it over a batch through the LLM client.
"""

from kgjudge._faces import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, __file__)
