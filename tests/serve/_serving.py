"""Shared pieces of the server tests: a small real build (`kgjudge build` over the fake backend,
with GraphJudger's fake scores, an on-disk RDF store, a hostile document and a bad input line),
test clients and a real uvicorn server in a thread."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'

DOCUMENTS = [
    {"id": "curie", "text": "Marie Curie was born in Warsaw. She won the Nobel Prize in Physics. "
                            "Marie Curie worked in Paris."},
    {"id": "danube", "text": "The Danube flows through Vienna. The Danube rises in the Black Forest."},
    {"id": "hostile", "text": f"The notes of Mallory {HOSTILE} mentions Warsaw. Mallory wrote {HOSTILE}."},
]

RULES = [
    {"match": "Marie Curie was born",
     "reply": json.dumps([["Marie Curie", "place of birth", "Warsaw"], ["Marie Curie", "award received", "Nobel Prize in Physics"],
                          ["Marie Curie", "work location", "Paris"], ["Marie Curie", "place of death", "Warsaw"]])},
    {"match": "Danube flows",
     "reply": json.dumps([["Danube", "flows through", "Vienna"], ["Danube", "source", "Black Forest"],
                          ["Vienna", "capital of", "Danube"]])},
    {"match": "Mallory wrote",
     "reply": json.dumps([["Mallory", "wrote", HOSTILE], [HOSTILE, "mentions", "Warsaw"], ["Mallory", "lives in", "Warsaw"],
                          [HOSTILE, "written by", "Mallory"]])},
    # GraphRAG answers (generate style) cite the first fact
    {"match": "Question: Where was Marie Curie born", "reply": "Warsaw [T1]"},
]


def build_config(tmp_path: Path, **fake: object) -> dict:
    return {
        "backends": {"default": {"type": "fake.v1", "rules": RULES, **fake}},
        "cache": {"enabled": False},
        "pipeline": {"batch_size": 2, "denoise": {"enabled": False}},
        "judge": {"type": "graphjudger.v1", "backend": "default", "threshold": 0.5},
        "rag": {"linking": {"embeddings": False}},
    }


def make_build(tmp_path: Path, name: str = "out", **fake: object) -> Path:
    """Build the three documents (and one bad line) into ``tmp_path/name``."""
    from kgjudge import parse_config
    from kgjudge.pipeline import build

    docs = tmp_path / f"{name}-docs.jsonl"
    lines = [json.dumps(d) for d in DOCUMENTS]
    lines.insert(1, '{"id": "broken", "text": ')
    docs.write_text("\n".join(lines) + "\n")
    out = tmp_path / name
    build([docs], parse_config(build_config(tmp_path, **fake)), out, progress=False)
    return out


def client_for(out: Path, **options: object) -> Iterator:
    from fastapi.testclient import TestClient

    from kgjudge.serve import create_app, open_explorer

    guard = options.pop("guard", None)
    explorer = open_explorer(out, **options)  # type: ignore[arg-type]
    with TestClient(create_app(explorer, guard), base_url="http://127.0.0.1") as client:
        yield client


@contextlib.contextmanager
def running_server(explorer: object, guard: object = None) -> Iterator[str]:
    """A real uvicorn server of ``explorer`` on 127.0.0.1 in a thread; yields its address."""
    import uvicorn

    from kgjudge.serve import create_app
    from kgjudge.serve._server import listening_socket

    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(explorer, guard), log_level="warning", lifespan="on"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
