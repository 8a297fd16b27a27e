"""The on-disk response cache (diskcache: SQLite-backed, safe across processes).

Keys hash the operation, the backend, the model fingerprint and the full request (messages,
sampling parameters, schema, adapter, choices), so any change to any of them is a miss and a
re-run of the same work makes zero model calls.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import diskcache


def default_cache_dir() -> Path:
    """``$KGJUDGE_CACHE_DIR`` or ``~/.cache/kgjudge``."""
    env = os.environ.get("KGJUDGE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "kgjudge"


def cache_key(op: str, backend: str, model: str, request: dict[str, Any]) -> str:
    """The cache key of one request."""
    payload = json.dumps(
        {"op": op, "backend": backend, "model": model, "request": request},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    # surrogatepass: a request holding text that is not valid Unicode still gets a key (the
    # same bytes as UTF-8 for every valid text, so existing keys are unchanged).
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


class ResponseCache:
    """A persistent map from request keys to backend results.

    Example:
        >>> cache = ResponseCache("/tmp/kg-cache")
        >>> cache.set("k", {"text": "hi"}); cache.get("k")
        {'text': 'hi'}
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, size_limit_gb: float = 8.0) -> None:
        self.path = Path(path) if path else default_cache_dir() / "responses"
        self.path.mkdir(parents=True, exist_ok=True)
        self._cache = diskcache.Cache(str(self.path), size_limit=int(size_limit_gb * 2**30))

    def get(self, key: str) -> dict[str, Any] | None:
        return self._cache.get(key)

    def set(self, key: str, value: dict[str, Any]) -> None:
        self._cache.set(key, value)

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        self._cache.clear()

    def close(self) -> None:
        self._cache.close()
