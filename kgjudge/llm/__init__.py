"""The one LLM interface: requests in, results out, through any registered backend.

Example:
    >>> from kgjudge.llm import LLM, LLMRequest, build_llm
    >>> llm = build_llm({"type": "fake.v1", "replies": ["Paris"]})
    >>> llm.generate_sync([LLMRequest.chat("Capital of France?")])[0].text
    'Paris'
"""

from __future__ import annotations

from typing import Any

from kgjudge._cache import ResponseCache
from kgjudge._config import CacheConfig, KGJudgeConfig, Slot, validate_slot
from kgjudge._errors import ConfigError
from kgjudge._registry import backends
from kgjudge.llm._base import LLM, LLMBackend, check_json, extract_json, run_sync
from kgjudge.llm._fake import FakeBackend, FakeConfig, FakeRule
from kgjudge.llm._hf import HFBackend, HFConfig
from kgjudge.llm._models import DEFAULT_MODEL, ModelSource, hf_model_dir, resolve_adapter, resolve_model
from kgjudge.llm._openai import OpenAIBackend, OpenAIConfig
from kgjudge.llm._types import Capabilities, ChoiceScores, GenerationResult, LLMRequest, Usage
from kgjudge.llm._vllm import VLLMBackend, VLLMConfig


def build_backend(slot: Slot | dict[str, Any], *, file: str | None = None, key: str = "backend") -> LLMBackend:
    """Build the backend a ``{type: ...}`` config slot describes."""
    config = validate_slot(slot, backends, file=file, key=key)
    return backends.build(config, file=file, key=key)  # type: ignore[no-any-return]


def build_cache(config: CacheConfig | None = None) -> ResponseCache | None:
    """The response cache a config section describes (None when disabled)."""
    config = config or CacheConfig()
    if not config.enabled:
        return None
    return ResponseCache(config.path, size_limit_gb=config.size_limit_gb)


def build_llm(
    slot: Slot | dict[str, Any],
    *,
    cache: CacheConfig | dict[str, Any] | None = None,
    file: str | None = None,
) -> LLM:
    """An :class:`LLM` client for one backend slot (cache off unless ``cache`` is given)."""
    if isinstance(cache, dict):
        cache = CacheConfig.model_validate(cache)
    return LLM(build_backend(slot, file=file), build_cache(cache) if cache is not None else None)


def llm_from_config(config: KGJudgeConfig, name: str = "default") -> LLM:
    """The :class:`LLM` client for backend ``name`` of a loaded config, with its cache."""
    if name not in config.backends:
        raise ConfigError(f"no backend named '{name}'", file=config.source_file, key="backends",
                          choices=list(config.backends))
    backend = build_backend(config.backends[name], file=config.source_file, key=f"backends.{name}")
    return LLM(backend, build_cache(config.cache))


__all__ = sorted(
    [
        "Capabilities",
        "ChoiceScores",
        "DEFAULT_MODEL",
        "FakeBackend",
        "FakeConfig",
        "FakeRule",
        "GenerationResult",
        "HFBackend",
        "HFConfig",
        "LLM",
        "LLMBackend",
        "LLMRequest",
        "ModelSource",
        "OpenAIBackend",
        "OpenAIConfig",
        "ResponseCache",
        "Usage",
        "VLLMBackend",
        "VLLMConfig",
        "build_backend",
        "build_cache",
        "build_llm",
        "check_json",
        "extract_json",
        "hf_model_dir",
        "llm_from_config",
        "resolve_adapter",
        "resolve_model",
        "run_sync",
    ]
)
