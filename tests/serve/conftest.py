"""Fixtures of the server tests: one real build per session, and test clients over a copy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("pyoxigraph")
pytest.importorskip("rapidfuzz")

from _serving import client_for, make_build  # noqa: E402


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build made once per session; tests that write copy it first (see ``build_copy``)."""
    return make_build(tmp_path_factory.mktemp("serve-build"))


@pytest.fixture
def build_copy(built: Path, tmp_path: Path) -> Path:
    target = tmp_path / "out"
    shutil.copytree(built, target)
    return target


@pytest.fixture
def api(build_copy: Path) -> Iterator:
    """A TestClient over a read-only server of a copy of the build."""
    yield from client_for(build_copy)


@pytest.fixture
def editable(build_copy: Path) -> Iterator:
    """A TestClient over a server of a copy of the build started with --allow-edit."""
    yield from client_for(build_copy, allow_edit=True)
