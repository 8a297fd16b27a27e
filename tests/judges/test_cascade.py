"""Model cascading on fake backends: escalation by Meta Ranking score, tokens, accuracy, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml
from typer.testing import CliRunner

from kgjudge.cli import app
from kgjudge.judges import Cascade, CascadeConfig, CascadeQuery, MetaRanker, MetaRankingConfig, QAPair
from kgjudge.llm import LLMRequest, build_llm

REFS = [QAPair(query=f"ref {i}?", response=f"r{i}", correct=i % 2 == 0) for i in range(4)]


def prefers_paris(request: LLMRequest) -> list[float]:
    """The target (candidate B) wins when its response says Paris."""
    text = request.messages[-1].content  # type: ignore[index]
    p_b = 0.9 if "Response: Paris" in text.split("Candidate B", 1)[1] else 0.1
    return [math.log(1 - p_b), math.log(p_b)]


def test_low_scoring_answers_go_to_the_strong_backend(scripted) -> None:
    weak = build_llm({"type": "fake.v1", "rules": [{"match": "France", "reply": "Paris"}], "default_reply": "Lyon"})
    strong = build_llm({"type": "fake.v1", "rules": [{"match": "Italy", "reply": "Rome"}], "default_reply": "Paris"})
    ranker = MetaRanker(scripted(prefers_paris), MetaRankingConfig(n_references=2, threshold=0.5), references=REFS)
    config = CascadeConfig(weak="weak", strong="strong", judge={"type": "meta_ranking.v1"})
    queries = [
        CascadeQuery(id="q1", query="Capital of France?", answers=["Paris"]),
        CascadeQuery(id="q2", query="Capital of Italy?", answers=["Rome"]),
        CascadeQuery(id="q3", query="Capital of Spain?", answers=["Madrid"]),
    ]
    results, report = Cascade(weak, strong, ranker, config).run_sync(queries)
    assert [r.escalated for r in results] == [False, True, True]
    assert [r.answer for r in results] == ["Paris", "Rome", "Paris"]
    assert [r.correct for r in results] == [True, True, False]
    assert report.accuracy == 2 / 3 and report.weak_accuracy == 1 / 3 and report.escalated == 2
    assert report.tokens["weak"].completion == 3 and report.tokens["strong"].completion == 2
    assert report.tokens["judge"].prompt > 0 and report.tokens["strong"].prompt > 0


def test_cascade_command(tmp_path: Path) -> None:
    refs = tmp_path / "refs.jsonl"
    refs.write_text("".join(r.model_dump_json() + "\n" for r in REFS))
    config = tmp_path / "cascade.yaml"
    config.write_text(yaml.safe_dump({
        "backends": {"weak": {"type": "fake.v1", "default_reply": "Lyon"},
                     "strong": {"type": "fake.v1", "default_reply": "Paris"},
                     "judge": {"type": "fake.v1", "choice_logprobs": {"A": -0.1, "B": -2.5}}},
        "cache": {"enabled": False},
        "cascade": {"weak": "weak", "strong": "strong",
                    "judge": {"type": "meta_ranking.v1", "backend": "judge", "references": str(refs), "n_references": 2}},
    }))
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "q1", "query": "Capital of France?", "answers": ["Paris"]}\n')
    out, report = tmp_path / "out.jsonl", tmp_path / "report.json"
    result = CliRunner().invoke(app, ["cascade", "-c", str(config), "-q", str(queries), "-o", str(out), "--report", str(report)])
    assert result.exit_code == 0, result.output
    totals = json.loads(report.read_text())
    # the judge always prefers candidate A (the reference), so the weak answer is rejected
    assert totals["escalated"] == 1 and totals["accuracy"] == 1.0 and totals["weak_accuracy"] == 0.0
    assert json.loads(out.read_text())["answer"] == "Paris"
    bad = yaml.safe_load(config.read_text())
    bad["cascade"]["strong"] = "missing"
    config.write_text(yaml.safe_dump(bad))
    result = CliRunner().invoke(app, ["cascade", "-c", str(config), "-q", str(queries)])
    assert result.exit_code == 2 and "no backend named 'missing'" in result.output
