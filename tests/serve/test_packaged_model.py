"""The packaged SmolLM2 (transformers) answering through the server: a question keeps the
model busy for seconds while other requests are answered at once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml
from _serving import running_server

from kgjudge.serve import open_explorer

pytestmark = pytest.mark.slow


def test_a_question_to_the_packaged_model_blocks_no_other_request(
    built: Path, tmp_path: Path, smollm2_tokenizer_dir: Path
) -> None:
    config = tmp_path / "packaged.yaml"
    config.write_text(yaml.safe_dump({
        "backends": {"default": {"type": "hf.v1", "threads": 1}}, "cache": {"enabled": False},
        "rag": {"answer_style": "select", "linking": {"embeddings": False}},
    }))
    with running_server(open_explorer(built, config)) as url, httpx.Client(base_url=url, timeout=600) as client:
        answer: dict = {}

        def ask() -> None:
            answer.update(client.post("/api/query", json={"question": "Where was Marie Curie born?"}).json())

        thread = threading.Thread(target=ask)
        thread.start()
        quick = []
        while thread.is_alive() and len(quick) < 20:
            t0 = time.monotonic()
            assert client.get("/api/stats").json()["triples"] == 9
            assert client.get("/api/neighbourhood", params={"entity": "Warsaw"}).status_code == 200
            quick.append(time.monotonic() - t0)
            time.sleep(0.25)
        thread.join()
        # the model took seconds (loading and scoring); every other request came back meanwhile
        assert len(quick) >= 3 and max(quick) < 2.0, quick
        assert answer["context"]["linked"][0]["name"] == "Marie Curie" and answer["raw"]
        names = {f["triple"]["head"] for f in answer["context"]["facts"]} | {f["triple"]["tail"] for f in answer["context"]["facts"]}
        assert answer["answer"] in names or not answer["found"]
