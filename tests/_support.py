"""What test modules share besides fixtures: the repository's place and the rule for missing
real components. Imported by name (``from _support import missing``), never through
``conftest``: several test folders have a conftest.py, and which one the name ``conftest``
means depends on the order pytest collects them in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def missing(reason: str) -> None:
    """Skip, or fail under KGJUDGE_STRICT=1: CI must never skip a real-component test."""
    if os.environ.get("KGJUDGE_STRICT") == "1":
        pytest.fail(f"required component missing: {reason}")
    pytest.skip(reason)


def record_requests_done(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, int, int]]:
    """Every report of answered model requests to the progress hook, as (n, calls, cached,
    tokens), in order (the hook still runs)."""
    from kgjudge import _progress

    events: list[tuple[int, int, int, int]] = []
    real = _progress.requests_done

    def spy(n: int, *, calls: int = 0, cached: int = 0, tokens: int = 0) -> None:
        if n:
            events.append((n, calls, cached, tokens))
        real(n, calls=calls, cached=cached, tokens=tokens)

    monkeypatch.setattr(_progress, "requests_done", spy)
    return events
