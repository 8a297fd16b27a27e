"""Small graphs and a writer for the ``.source`` format, shared by the metrics tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

GOLD = [
    [["Paris", "capital of", "France"], ["France", "member of", "European Union"]],
    [["Alan Turing", "field of work", "computer science"], ["Alan Turing", "born in", "London"]],
    [["Danube", "flows through", "Vienna"]],
]
UNRELATED = [
    [["Mount Kenya", "located in", "Africa"], ["Kilimanjaro", "higher than", "Mount Kenya"]],
    [["Photosynthesis", "produces", "oxygen"], ["chlorophyll", "absorbs", "red light"]],
    [["Sonata", "composed by", "Beethoven"]],
]


@pytest.fixture
def gold_graphs() -> list:
    return [list(map(list, g)) for g in GOLD]


@pytest.fixture
def unrelated_graphs() -> list:
    return [list(map(list, g)) for g in UNRELATED]


@pytest.fixture
def write_source(tmp_path: Path) -> Callable[[str, list], Path]:
    """``write_source(name, graphs)``: one graph per line (a string is written as it is)."""

    def write(name: str, graphs: list) -> Path:
        path = tmp_path / name
        path.write_text("".join((g if isinstance(g, str) else repr(g)) + "\n" for g in graphs), encoding="utf-8")
        return path

    return write
