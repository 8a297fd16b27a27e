"""``kgjudge eval graphs BUILD``: a build with gold scored before and after its judge, against
numbers worked out by hand; the judged-triple files read as predictions; documents passed
instead of graphs refused with a message naming the first bad line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kgjudge import InputError, parse_config
from kgjudge.cli import app
from kgjudge.llm import ChoiceScores, FakeBackend, FakeConfig, LLMRequest
from kgjudge.metrics import evaluate_build, evaluate_graphs
from kgjudge.pipeline import build

pytest.importorskip("spacy")

# Three documents with gold (one of them with an empty gold graph) and one without.
TEXTS = ["Alpha wrote one report.", "Echo wrote another report.", "Hotel wrote no report."]
GOLD = [[["Alpha", "r", "Bravo"], ["Alpha", "s", "Charlie"]], [["Echo", "r", "Foxtrot"]], []]
EXTRACTED = {
    "Alpha": [["Alpha", "r", "Bravo"], ["Alpha", "x", "Delta"]],
    "Echo": [["Echo", "r", "Foxtrot"], ["Echo", "y", "Golf"]],
    "Hotel": [["Hotel", "r", "India"]],
    "Juliett": [["Juliett", "r", "Kilo"]],
}
REJECT = ("Delta", "Golf", "Foxtrot")  # two right rejections, one wrong one


class Scripted(FakeBackend):
    """Extracts EXTRACTED by the document's first word; the judge says No to REJECT."""

    def __init__(self) -> None:
        super().__init__(FakeConfig(), responder=self._extract)

    @staticmethod
    def _extract(request: LLMRequest) -> str:
        text = "\n".join(m.content for m in request.messages or [])
        return json.dumps(next((t for name, t in EXTRACTED.items() if f"{name} wrote" in text), []))

    async def score_batch(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        out = []
        for req in requests:
            question = (req.prompt or "\n".join(m.content for m in req.messages or [])).split("Is this true:")[-1]
            no = any(name in question for name in REJECT)
            out.append(ChoiceScores(choices=list(req.choices or []), logprobs=[-3.0, -0.05] if no else [-0.05, -3.0]))
        return out


def make_build(tmp_path: Path, *, judge: bool = True) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "val.target").write_text("".join(t + "\n" for t in TEXTS), encoding="utf-8")
    (data / "val.source").write_text("".join(repr(g) + "\n" for g in GOLD), encoding="utf-8")
    (data / "extra.txt").write_text("Juliett wrote a letter.", encoding="utf-8")
    config = {
        "backends": {"default": {"type": "fake.v1"}},
        "cache": {"enabled": False},
        "pipeline": {"denoise": {"enabled": False}},
        **({"judge": {"type": "graphjudger.v1", "threshold": 0.5}} if judge else {}),
    }
    out = tmp_path / "build"
    build([data / "val.target", data / "extra.txt"], parse_config(config), out, progress=False,
          backends={"default": Scripted()})
    return out


def test_a_build_is_scored_before_and_after_its_judge_with_its_own_gold(tmp_path: Path) -> None:
    out = make_build(tmp_path)
    report = evaluate_build(out)
    # Gold: 3 triples over 3 documents (the .txt document has none and is not scored).
    # Extracted: 5 triples, 2 in the gold (Alpha r Bravo, Echo r Foxtrot): P 2/5, R 2/3, F1 1/2.
    # Kept: Alpha r Bravo, Hotel r India: P 1/2, R 1/3, F1 2/5.
    assert report.judged and report.finished and report.documents == 4
    assert report.extracted.counts["graphs"] == 3 and report.kept is not None
    assert [g.id for g in report.extracted.graphs] == ["val.target:1", "val.target:2", "val.target:3"]
    before = report.extracted.aggregates["triple_exact"]["micro"]
    after = report.kept.aggregates["triple_exact"]["micro"]
    assert before == pytest.approx({"precision": 2 / 5, "recall": 2 / 3, "f1": 1 / 2})
    assert after == pytest.approx({"precision": 1 / 2, "recall": 1 / 3, "f1": 2 / 5})
    effect = report.judge_effect
    assert effect is not None
    assert effect["triple_exact"]["precision"]["change"] == pytest.approx(1 / 2 - 2 / 5)
    assert effect["triple_exact"]["recall"]["change"] == pytest.approx(1 / 3 - 2 / 3)
    assert effect["triples"] == {"extracted": 5, "kept": 2, "rejected": 3, "rejected_in_gold": 1,
                                 "rejected_not_in_gold": 2}
    # the empty gold graph is scored: Hotel's triple costs precision, before and after
    assert [r.n_gold for r in report.kept.graphs] == [2, 1, 0]
    assert [r.n_pred for r in report.kept.graphs] == [1, 0, 1]


def test_the_cli_scores_a_build_folder_without_naming_the_gold(tmp_path: Path) -> None:
    out = make_build(tmp_path)
    report_dir = tmp_path / "report"
    result = CliRunner().invoke(app, ["eval", "graphs", str(out), "--out", str(report_dir)])
    assert result.exit_code == 0, result.output
    assert "extracted (before the judge)" in result.output and "kept (after the judge)" in result.output
    assert "P 0.4000  R 0.6667  F1 0.5000" in result.output and "P 0.5000  R 0.3333  F1 0.4000" in result.output
    assert ("the judge changed precision by +0.1000, recall by -0.3333, F1 by -0.1000 (triple_exact, micro); "
            "it rejected 3 of 5 extracted triples: 1 in the gold, 2 not") in result.output
    written = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    assert written["judge_effect"]["triples"]["rejected"] == 3
    assert written["kept"]["aggregates"]["triple_exact"]["micro"]["precision"] == 0.5
    assert (report_dir / "extracted" / "per_graph.csv").is_file() and (report_dir / "kept" / "per_graph.csv").is_file()

    # the same gold named explicitly: the same numbers (pairs val.target:N with line N)
    named = CliRunner().invoke(app, ["eval", "graphs", str(out), str(tmp_path / "data" / "val.source"),
                                     "--out", str(tmp_path / "named")])
    assert named.exit_code == 0, named.output
    again = json.loads((tmp_path / "named" / "report.json").read_text(encoding="utf-8"))
    assert again["extracted"]["aggregates"]["triple_exact"] == written["extracted"]["aggregates"]["triple_exact"]
    assert again["kept"]["aggregates"]["triple_exact"] == written["kept"]["aggregates"]["triple_exact"]


def test_a_build_without_a_judge_is_scored_once(tmp_path: Path) -> None:
    out = make_build(tmp_path, judge=False)
    report = evaluate_build(out)
    assert not report.judged and report.kept is None and report.judge_effect is None
    assert report.extracted.aggregates["triple_exact"]["micro"]["precision"] == pytest.approx(2 / 5)
    result = CliRunner().invoke(app, ["eval", "graphs", str(out), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "no judge in this build" in result.output


def test_a_build_without_gold_needs_a_gold_file(tmp_path: Path) -> None:
    out = make_build(tmp_path)
    (out / "gold.jsonl").unlink()
    with pytest.raises(InputError, match=r"no gold graphs \(gold\.jsonl\).*name a gold file"):
        evaluate_build(out)
    result = CliRunner().invoke(app, ["eval", "graphs", str(tmp_path / "data" / "val.source")])
    assert result.exit_code == 2 and "give the gold graphs after the predictions" in result.output


def test_a_build_against_an_empty_gold_file_or_into_a_file_is_one_error_line(tmp_path: Path) -> None:
    out = make_build(tmp_path, judge=False)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError, match="holds no gold graph"):
        evaluate_build(out, empty)
    result = CliRunner().invoke(app, ["eval", "graphs", str(out), str(empty), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and result.output.strip() == (
        f"error: {empty}: holds no gold graph: there is nothing to evaluate against")
    assert not (tmp_path / "r").exists()
    target = tmp_path / "report.txt"
    target.write_text("mine")
    result = CliRunner().invoke(app, ["eval", "graphs", str(out), "--out", str(target)])
    assert result.exit_code == 2 and "is a file, not a folder" in result.output and target.read_text() == "mine"


def test_judged_triple_files_read_as_predictions(tmp_path: Path) -> None:
    out = make_build(tmp_path)
    gold = tmp_path / "data" / "val.source"
    # every judged triple: what was extracted from the documents with triples
    judged = evaluate_graphs(out / "judgements.jsonl", gold)
    assert judged.counts["pred_unreadable_lines"] == 0
    assert judged.aggregates["triple_exact"]["micro"] == pytest.approx({"precision": 2 / 5, "recall": 2 / 3, "f1": 1 / 2})
    rejected = evaluate_graphs(out / "rejected.jsonl", gold)
    assert rejected.counts["pred_unreadable_lines"] == 0
    assert [r.n_pred for r in rejected.graphs] == [1, 2, 0]


def test_documents_given_instead_of_graphs_are_refused(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    (data / "val.target").write_text("".join(t + "\n" for t in TEXTS), encoding="utf-8")
    (data / "val.source").write_text("".join(repr(g) + "\n" for g in GOLD), encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "graphs", str(data / "val.target"), str(data / "val.source"),
                                      "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    message = result.output.strip()
    assert message.startswith(f"error: {data / 'val.target'}:1: 3 of 3 prediction lines are not graphs")
    assert "expected one graph per line: a Python list of [head, relation, tail] lists" in message
    assert "First bad line 1: 'Alpha wrote one report.'" in message
    assert not (tmp_path / "r").exists()

    # a JSONL file of documents: every line unreadable as a graph
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"val.target:{k}", "text": t}) + "\n" for k, t in enumerate(TEXTS, 1)))
    result = CliRunner().invoke(app, ["eval", "graphs", str(docs), str(data / "val.source")])
    assert result.exit_code == 2
    assert f"error: {docs}:1: 3 of 3 prediction lines are not graphs" in result.output
    assert "expected 'triples', 'head'/'relation'/'tail' or 'triple' fields" in result.output

    # a minority of bad lines is still scored and counted
    pred = tmp_path / "pred.source"
    pred.write_text(repr(GOLD[0]) + "\n" + "not a graph\n" + "[]\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "graphs", str(pred), str(data / "val.source"), "--out", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output
    assert "pred_unparseable=1" in result.output


@pytest.mark.slow
def test_a_packaged_model_build_scored_before_and_after_its_judge(tmp_path: Path) -> None:
    """The demo pipeline (packaged SmolLM2, extractor and judge adapters) over six REBEL-Sub
    documents with their gold, through the command line: the build prints nothing on stderr,
    and the build folder's two scores agree with scoring its files one by one."""
    import os
    import subprocess
    import sys

    from _support import DATA, REPO

    if not (DATA / "rebel_sub" / "val.target").is_file():
        # Data, not a component: it sits beside a development checkout, not inside a clone.
        pytest.skip("development data (rebel_sub) not present")
    pytest.importorskip("transformers")
    for name in ("val.target", "val.source"):
        lines = (DATA / "rebel_sub" / name).read_text(encoding="utf-8").splitlines()[:6]
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = (REPO / "configs" / "pipelines" / "default.yaml").read_text(encoding="utf-8")
    (tmp_path / "c.yaml").write_text(config.replace("cache:\n  enabled: true", "cache:\n  enabled: false"),
                                     encoding="utf-8")
    kgjudge = Path(sys.executable).with_name("kgjudge")
    built = subprocess.run([str(kgjudge), "build", "val.target", "-o", "out", "-c", "c.yaml"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=1200, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert built.returncode == 0, built.stderr
    assert built.stderr == ""  # no library warning, no bar (stderr is a pipe)
    result = CliRunner().invoke(app, ["eval", "graphs", str(tmp_path / "out"), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert report["judged"] and report["extracted"]["counts"]["graphs"] == 6
    gold = tmp_path / "val.source"
    judged = evaluate_graphs(tmp_path / "out" / "judgements.jsonl", gold)
    kept = evaluate_graphs(tmp_path / "out", gold)
    for name, alone in (("extracted", judged), ("kept", kept)):
        assert report[name]["aggregates"]["triple_exact"]["micro"] == pytest.approx(
            alone.aggregates["triple_exact"]["micro"])
    rejected = [json.loads(line) for line in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    distinct = {(r["document_id"], r["triple"]["head"].lower().strip(), r["triple"]["relation"].lower().strip(),
                 r["triple"]["tail"].lower().strip()) for r in rejected}
    assert report["judge_effect"]["triples"]["rejected"] <= len(distinct)
    assert "the judge changed precision by" in result.output


def test_a_folder_of_triples_without_a_manifest_is_scored_as_before(tmp_path: Path) -> None:
    from kgjudge import Triple, write_jsonl

    gold = tmp_path / "val.source"
    gold.write_text("".join(repr(g) + "\n" for g in GOLD), encoding="utf-8")
    write_jsonl(tmp_path / "triples" / "triples.jsonl",
                [Triple(head="Alpha", relation="r", tail="Bravo", document_id="val.target:1")])
    result = CliRunner().invoke(app, ["eval", "graphs", str(tmp_path / "triples"), str(gold),
                                      "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "triple_exact micro" in result.output and "P 1.0000  R 0.3333  F1 0.5000" in result.output
