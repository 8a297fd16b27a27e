"""The one LLM interface: requests in, results out, through any registered backend.

Example:
    >>> from kgjudge.llm import LLM, LLMRequest, build_llm
    >>> llm = build_llm({"type": "fake.v1", "replies": ["Paris"]})
    >>> llm.generate_sync([LLMRequest.chat("Capital of France?")])[0].text
    'Paris'
"""

from kgjudge._faces import lazy_face

__getattr__, __dir__, __all__ = lazy_face(__name__, __file__)
