"""`kgjudge build` over model replies that used to crash it: each becomes a failure record with
its raw text, the rest of the batch is kept, and served again from the response cache it is the
same failure (the build gets past it with no model call), never a good result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kgjudge import parse_config
from kgjudge.pipeline import build

pytest.importorskip("spacy")

ENTITIES = {"match": "List the named entities", "reply": '{"entities": ["Marie Curie", "Warsaw"]}'}
REWRITE = {"match": "Rewrite the text", "reply": "Marie Curie was born in Warsaw."}
GOOD = '[["Marie Curie", "born in", "Warsaw"]]'


def config(tmp_path: Path, extraction: str, **judge: object) -> dict:
    cfg = {
        "backends": {"default": {"type": "fake.v1", "rules": [
            ENTITIES, REWRITE, {"match": "as knowledge-graph triples", "reply": extraction}]}},
        "cache": {"enabled": True, "path": str(tmp_path / "cache")},
        "pipeline": {"batch_size": 2},
    }
    if judge:
        cfg["judge"] = {"type": "graphjudger.v1", "backend": "default", **judge}
    return cfg


def docs(tmp_path: Path) -> Path:
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"Text {i}. Marie Curie was born in Warsaw."}) + "\n"
                            for i in range(3)))
    return path


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


@pytest.mark.parametrize("reply", [
    "[" * 5000 + "]" * 5000,
    '[["Marie Curie", "born in", "Warsaw\\ud800"]]',
    '[["Marie Curie\ud800", "born in", "Warsaw"]]',
    "\x1b[31m" * 50_000,
], ids=["nested 5000 deep", "surrogate escape", "surrogate character", "huge escape sequences"])
def test_a_reply_that_crashed_the_build_is_a_failure_record(tmp_path: Path, reply: str) -> None:
    source = docs(tmp_path)
    first = build([source], parse_config(config(tmp_path, reply)), tmp_path / "out", progress=False)
    out = tmp_path / "out"
    assert first.documents == 3
    failures = read(out / "failures.jsonl")
    if reply.startswith("[[") and "\ud800" in reply:  # a surrogate character: replaced, the triple is usable
        assert first.triples == 3 and "\ufffd" in read(out / "triples.jsonl")[0]["head"]
        return
    assert first.triples == 0 and {f["document_id"] for f in failures} == {"d0", "d1", "d2"}
    assert all(f["stage"] == "extract" and f["raw"] for f in failures)
    # A fresh build over the same cache is answered by it, and records the same failures.
    again = build([source], parse_config(config(tmp_path, reply)), tmp_path / "again", progress=False)
    assert again.this_run.model_calls == 0 and again.triples == 0
    assert read(tmp_path / "again" / "failures.jsonl") == failures


def test_scores_the_judge_cannot_use_reject_the_triples_with_a_reason(tmp_path: Path) -> None:
    cfg = config(tmp_path, GOOD, threshold=0.5)
    cfg["backends"]["default"]["choice_logprobs"] = {"Yes": float("nan"), "No": float("nan")}
    summary = build([docs(tmp_path)], parse_config(cfg), tmp_path / "out", progress=False)
    assert summary.judged == 3 and summary.triples == 0 and summary.rejected_triples == 3
    rejected = read(tmp_path / "out" / "rejected.jsonl")
    assert all(r["judgement"]["details"]["failed"] and "no usable log-probability" in r["judgement"]["reasons"][0]
               for r in rejected)
