"""Building backends and clients from config slots (backends are found through the catalogue in
:mod:`kgjudge._registry`, so only the named backend's module is imported)."""

from __future__ import annotations

from typing import Any

from kgjudge._cache import ResponseCache
from kgjudge._config import CacheConfig, KGJudgeConfig, Slot, backend_of, build_slot
from kgjudge._registry import backends
from kgjudge.llm._base import LLM, LLMBackend


def build_backend(slot: Slot | dict[str, Any], *, file: str | None = None, key: str = "backend") -> LLMBackend:
    """Build the backend a ``{type: ...}`` config slot describes."""
    return build_slot(backends, slot, file=file, key=key)  # type: ignore[no-any-return]


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
    slot = backend_of(config.backends, name, file=config.source_file, key="backends")
    return LLM(build_backend(slot, file=config.source_file, key=f"backends.{name}"), build_cache(config.cache))
