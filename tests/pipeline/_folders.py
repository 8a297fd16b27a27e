"""What the tests of growing builds share: a fake model that reads its requests, configs over
each store, and the state of a build folder (files and store) to compare two folders by."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kgjudge import parse_config
from kgjudge.graph import build_store
from kgjudge.llm import FakeBackend, FakeConfig, LLMRequest
from kgjudge.pipeline import STAGE_FILES, Build, BuildFolder

CAPITALISED = re.compile(r"\b[A-Z][\w-]+(?: [A-Z][\w-]+)*")
TEXTS = [
    "Marie Curie was born in Warsaw. Warsaw is the capital of Poland.",
    "Pierre Curie worked in Paris. Paris is the capital of France.",
    "The Danube flows through Vienna and Budapest. Vienna is in Austria.",
    "Ada Lovelace wrote about the Analytical Engine. Charles Babbage designed the Analytical Engine.",
    "Alan Turing studied at Cambridge. Cambridge is in England.",
    "Lise Meitner worked in Berlin with Otto Hahn. Berlin is in Germany.",
    "Niels Bohr founded an institute in Copenhagen. Copenhagen is in Denmark.",
    "Rosalind Franklin studied at Cambridge. She worked in London.",
]


def respond(request: LLMRequest) -> str:
    """Triples between consecutive capitalised names of the text: every document yields its own."""
    prompt = request.messages[-1].content if request.messages else request.prompt or ""
    text = prompt.split("Text:\n", 1)[-1].split("\n\n", 1)[0]
    names = list(dict.fromkeys(CAPITALISED.findall(text)))[:8]
    return json.dumps([[a, "related to", b] for a, b in zip(names, names[1:])])


def backend(**settings: Any) -> FakeBackend:
    """The fake model: judge scores differ per request (a hash), replies from :func:`respond`."""
    return FakeBackend(FakeConfig(**settings), responder=respond)


def store_section(kind: str, request: pytest.FixtureRequest, where: Path) -> dict[str, Any] | None:
    """The ``store:`` section of each kind (None: the default RDF store in the folder)."""
    if kind == "rdf":
        return None
    if kind == "networkx":
        pytest.importorskip("networkx")
        return {"type": "networkx.v1"}
    pytest.importorskip("neo4j")
    slot = request.getfixturevalue("bolt_server")
    with build_store(slot) as store:
        store.clear()
    return dict(slot)


def config_dict(store: dict[str, Any] | None = None, *, threshold: float = 0.5, judge: bool = True,
                batch_size: int = 2, **fake: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "backends": {"default": {"type": "fake.v1", **fake}},
        "cache": {"enabled": False},
        "pipeline": {"batch_size": batch_size, "denoise": {"enabled": False},
                     "chunking": {"max_tokens": 64, "overlap_tokens": 8}},
    }
    if judge:
        cfg["judge"] = {"type": "graphjudger.v1", "backend": "default", "threshold": threshold}
    if store is not None:
        cfg["store"] = store
    return cfg


def write_docs(path: Path, docs: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs.items()))
    return path


def docs(n: int, start: int = 0) -> dict[str, str]:
    return {f"d{i}": TEXTS[i % len(TEXTS)] + f" Document {i}." for i in range(start, start + n)}


def grow(out: Path, inputs: dict[str, str], cfg: dict[str, Any], *, sync: bool = False, restart: bool = False,
         model: FakeBackend | None = None) -> Any:
    """Build ``inputs`` into ``out`` (in-process) with the fake model."""
    path = write_docs(out.parent / f"{out.name}-inputs-{len(list(out.parent.glob(out.name + '-inputs-*')))}.jsonl", inputs)
    model = model or backend()
    return Build(parse_config(cfg), out, progress=False, restart=restart, backends={"default": model}).run([path], sync=sync)


def store_state(out: Path, cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """The store of a build: every triple with its judgements, and every entity."""
    folder = BuildFolder(out)
    with folder.open_store(parse_config(cfg) if cfg is not None else None) as store:
        return {
            "triples": sorted(json.dumps(st.model_dump(mode="json"), sort_keys=True) for st in store.iter_triples()),
            "entities": sorted(json.dumps(e.model_dump(mode="json"), sort_keys=True) for e in store.iter_entities()),
        }


def file_state(out: Path) -> dict[str, list[str]]:
    """The records of every stage file (documents without where they were read from), sorted."""
    state: dict[str, list[str]] = {}
    for name in [*STAGE_FILES.values(), "gold.jsonl"]:
        path = out / name
        records = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
        if name == "documents.jsonl":
            records = [{"id": r["id"], "text": r["text"]} for r in records]
        state[name] = sorted(json.dumps(r, sort_keys=True) for r in records)
    return state


def state(out: Path, cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """Files and store of a build folder, comparable with ``==``."""
    return {**file_state(out), **store_state(out, cfg)}
