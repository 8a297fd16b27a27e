"""`kgjudge filter`: input shapes, bad records, judges, rounds, selection, outputs, resume, cache."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from kgjudge import ConfigError
from kgjudge.judges import Filter, load_examples, parse_filter_config
from kgjudge.llm import ChoiceScores, FakeBackend, FakeConfig, LLMRequest

ALPACA = {"instruction": "What is the capital of France?", "input": "", "output": "The capital of France is Paris."}
ALPACA_INPUT = {"instruction": "Translate.", "input": "Bonjour", "output": "Hello", "system": "Be brief."}
SHAREGPT = {"conversations": [{"from": "human", "value": "Who discovered polonium?"},
                              {"from": "gpt", "value": "Marie Curie discovered polonium."}]}
OPENAI = {"messages": [{"role": "system", "content": "Answer briefly."},
                       {"role": "user", "content": "What is the capital of Austria?"},
                       {"role": "assistant", "content": "The capital of Austria is Berlin."}]}
TRIPLES = [("Paris", "capital of", "France"), ("Vienna", "capital of", "Austria"), ("Marie Curie", "discovered", "polonium")]


def write_jsonl(path: Path, rows: Sequence[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def fake_backend(**config: Any) -> dict[str, Any]:
    return {"type": "fake.v1", **config}


def make_config(tmp_path: Path, judges: list[dict[str, Any]] | None = None, **filter_section: Any) -> dict[str, Any]:
    return {
        "backends": {"default": fake_backend()},
        "cache": {"enabled": True, "path": str(tmp_path / "cache")},
        "filter": {"judges": judges or [{"type": "direct.v1"}], "batch_size": 2, **filter_section},
    }


def run(config: dict[str, Any], inputs: Sequence[Path], out: Path, **kwargs: Any) -> Any:
    base, fconfig = parse_filter_config(config)
    return Filter(base, fconfig, out, progress=False, **kwargs).run(inputs)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").split("\n") if x.strip()]


def assert_nothing_lost(out: Path, n_inputs: int) -> None:
    kept, rejected, rejects = (lines(out / f) for f in ("kept.jsonl", "rejected.jsonl", "rejects.jsonl"))
    assert len(kept) + len(rejected) + len(rejects) == n_inputs
    ids = [r["kgjudge_filter"]["id"] for r in kept + rejected]
    assert len(ids) == len(set(ids))
    assert all(r["kgjudge_filter"]["kept"] for r in kept) and not any(r["kgjudge_filter"]["kept"] for r in rejected)


# -- inputs ----------------------------------------------------------------------------------


def test_each_jsonl_shape_is_normalised_and_written_back_unchanged(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [ALPACA, ALPACA_INPUT, SHAREGPT, OPENAI])
    loaded = load_examples([src])
    assert [e.source_format for e in loaded.examples] == ["alpaca", "alpaca", "sharegpt", "openai"]
    assert [m.role for m in loaded.examples[1].messages] == ["system", "user", "assistant"]
    assert loaded.examples[1].messages[1].content == "Translate.\n\nBonjour"
    assert loaded.examples[2].messages[0].content == "Who discovered polonium?"
    assert [e.line for e in loaded.examples] == [1, 2, 3, 4]

    out = tmp_path / "out"
    summary = run(make_config(tmp_path), [src], out)
    assert summary.formats == {"alpaca": 2, "sharegpt": 1, "openai": 1}
    written = lines(out / "kept.jsonl") + lines(out / "rejected.jsonl")
    originals = [{k: v for k, v in r.items() if k != "kgjudge_filter"} for r in written]
    assert sorted(map(json.dumps, originals)) == sorted(map(json.dumps, [ALPACA, ALPACA_INPUT, SHAREGPT, OPENAI]))
    for row in written:
        meta = row["kgjudge_filter"]
        assert meta["judges"]["direct.v1"]["model"]["prompt_version"] == "instruction_judge.v1"
        assert 0.0 <= meta["score"] <= 1.0 and meta["reasons"]
    assert_nothing_lost(out, 4)


def test_forced_format_rejects_other_shapes(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [ALPACA, SHAREGPT])
    loaded = load_examples([src], "alpaca")
    assert len(loaded.examples) == 1
    [reject] = loaded.rejects
    assert reject.line == 2 and "instruction" in reject.reason


def test_parquet_input(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist([ALPACA, {"instruction": "Say hi.", "input": "", "output": ""}]), path)
    out = tmp_path / "out"
    summary = run(make_config(tmp_path), [path], out)
    assert summary.examples == 1 and summary.malformed == 1
    [reject] = lines(out / "rejects.jsonl")
    assert reject["file"] == str(path) and reject["line"] == 2 and "empty" in reject["reason"]
    assert_nothing_lost(out, 2)


def test_saved_datasets_folder_input_and_loadable_outputs(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "ds"
    datasets.DatasetDict({
        "train": datasets.Dataset.from_list([OPENAI, OPENAI | {"messages": OPENAI["messages"][:2]}]),
        "test": datasets.Dataset.from_list([OPENAI]),
    }).save_to_disk(str(folder))
    out = tmp_path / "out"
    summary = run(make_config(tmp_path), [folder], out)
    assert summary.inputs == 3 and summary.malformed == 1
    assert "not an assistant response" in lines(out / "rejects.jsonl")[0]["reason"]
    # Both output sets load with the datasets library, one row per example.
    for name, count in (("kept", summary.kept), ("rejected", summary.rejected)):
        if count:
            ds = datasets.load_dataset("parquet", data_files=str(out / f"{name}.parquet"), split="train")
            assert len(ds) == count
            assert ds[0]["messages"][-1]["role"] == "assistant"
    assert summary.kept + summary.rejected == 2


def test_mixed_valid_and_invalid_lines_are_rejected_with_line_and_reason(tmp_path: Path) -> None:
    src = tmp_path / "mixed.jsonl"
    rows = [
        json.dumps(ALPACA),
        "{not json",
        "[1, 2]",
        json.dumps({"prompt": "no known shape"}),
        "",
        json.dumps(SHAREGPT | {"conversations": [{"from": "alien", "value": "hi"}, {"from": "gpt", "value": "x"}]}),
        json.dumps({"instruction": "Q", "output": 3}),
        json.dumps(OPENAI | {"id": "same"}),
        json.dumps(OPENAI | {"id": "same"}),
        json.dumps(SHAREGPT),
    ]
    src.write_bytes(("\n".join(rows) + "\n").encode() + b"\xff\xfe bad bytes\n")
    out = tmp_path / "out"
    summary = run(make_config(tmp_path), [src], out)
    rejects = {r["line"]: r["reason"] for r in lines(out / "rejects.jsonl")}
    assert set(rejects) == {2, 3, 4, 6, 7, 9, 11}
    assert "invalid JSON" in rejects[2] and "JSON object" in rejects[3] and "unknown record shape" in rejects[4]
    assert "unknown role 'alien'" in rejects[6] and "'output' must be a string" in rejects[7]
    assert "duplicate id 'same'" in rejects[9] and "UTF-8" in rejects[11]
    assert summary.examples == 3 and summary.inputs == 10  # the blank line is not a record
    assert_nothing_lost(out, 10)


def test_missing_input_and_unreadable_parquet(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="no such file"):
        load_examples([tmp_path / "nope.jsonl"])
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet")
    good = write_jsonl(tmp_path / "good.jsonl", [ALPACA])
    loaded = load_examples([broken, good])
    assert len(loaded.examples) == 1
    assert loaded.rejects[0].file == str(broken) and "Parquet" in loaded.rejects[0].reason


# -- config ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["filter"]["judges"].append({"type": "nope.v1"}), "unknown filter_judges type 'nope.v1'"),
        (lambda c: c["filter"]["judges"][0].update(colour=1), "key 'filter.judges[0].colour': unknown key (valid choices: adapter, backend"),
        (lambda c: c["filter"].update(rounds=0), "filter.rounds"),
        (lambda c: c["filter"].update(judges=[]), "non-empty list of judges"),
        (lambda c: c["filter"]["judges"][0].update(backend="other"), "no backend named 'other'"),
        (lambda c: c["filter"].update(combine={"rule": "all_pass"}, refresh={"keep_rate": 0.5}), "needs combine.rule weighted_mean"),
        (lambda c: c["filter"].update(refresh={"references": 2}), "needs a meta_ranking.v1 judge"),
        (lambda c: c["filter"]["judges"].append({"type": "direct.v1"}), "each judge type may appear once"),
        (lambda c: c["filter"]["judges"].append({"type": "kg_grounded.v1", "store": {"type": "sql.v1"}}), "unknown stores type"),
        (lambda c: c.pop("filter"), "no 'filter' section"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, change: Any, message: str) -> None:
    config = make_config(tmp_path)
    change(config)
    path = tmp_path / "filter.yaml"
    path.write_text(yaml.safe_dump(config))
    from kgjudge.judges import load_filter_config

    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        load_filter_config(path)
    assert str(path) in str(err.value)


def test_meta_ranking_needs_references(tmp_path: Path) -> None:
    config = make_config(tmp_path, [{"type": "meta_ranking.v1"}])
    src = write_jsonl(tmp_path / "in.jsonl", [ALPACA])
    with pytest.raises(ConfigError, match="references"):
        run(config, [src], tmp_path / "out")


# -- judges and combination ------------------------------------------------------------------


def refs_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "refs.jsonl", [
        {"query": "What is the capital of Italy?", "response": "Rome.", "correct": True},
        {"query": "Who wrote Hamlet?", "response": "Charles Dickens.", "correct": False},
    ])


def graph_store(tmp_path: Path) -> dict[str, Any]:
    from kgjudge import Triple
    from kgjudge.graph import build_store

    slot = {"type": "networkx.v1", "path": str(tmp_path / "graph.json")}
    with build_store(slot) as store:
        store.upsert([Triple(head=h, relation=r, tail=t, document_id="geo") for h, r, t in TRIPLES], [])
    return slot


def test_kg_grounded_names_the_offending_triples(tmp_path: Path) -> None:
    extractions = [
        {"match": "Text:\\nThe capital of France", "reply": '[["Paris", "capital of", "France"]]'},
        {"match": "Text:\\nThe capital of Austria", "reply": '[["Berlin", "capital of", "Austria"]]'},
        {"match": "Text:\\nMarie", "reply": '[["Marie Curie", "discovered", "polonium"], ["Zorblax", "born in", "Mars"]]'},
        {"match": "Text:", "reply": "[]"},
    ]
    config = make_config(tmp_path, [{"type": "kg_grounded.v1", "store": graph_store(tmp_path)}])
    # GraphJudger says No to everything it is asked.
    config["backends"]["default"] = fake_backend(rules=extractions, choice_logprobs={"Yes": -4.0, "No": -0.02})
    src = write_jsonl(tmp_path / "in.jsonl", [ALPACA, OPENAI, SHAREGPT, ALPACA_INPUT])
    out = tmp_path / "out"
    run(config, [src], out)
    by_line = {r["kgjudge_filter"]["line"]: r["kgjudge_filter"] for r in lines(out / "kept.jsonl") + lines(out / "rejected.jsonl")}
    assert by_line[1]["kept"] and by_line[1]["judges"]["kg_grounded.v1"]["score"] == 1.0  # stored verbatim
    assert not by_line[2]["kept"]
    assert any("unsupported: (Berlin; capital of; Austria)" in r and "stored triples" in r for r in by_line[2]["reasons"])
    assert not by_line[3]["kept"]  # one unknown claim is enough under `aggregate: min`
    assert any("not in graph: (Zorblax; born in; Mars) score 0.250" in r for r in by_line[3]["reasons"])
    assert not any("Marie Curie" in r for r in by_line[3]["reasons"])
    assert by_line[4]["judges"]["kg_grounded.v1"]["score"] == 0.5  # no claims: no evidence either way
    [decision] = [d for d in lines(out / "decisions.jsonl") if d["example_id"] == by_line[3]["id"]]
    claims = decision["judgements"][0]["details"]["claims"]
    assert [c["status"] for c in claims] == ["in_graph", "not_in_graph"]


def test_all_pass_needs_every_judge(tmp_path: Path) -> None:
    judges = [{"type": "direct.v1", "threshold": 0.5}, {"type": "meta_ranking.v1", "references": str(refs_file(tmp_path)), "n_references": 2, "threshold": 0.99}]
    config = make_config(tmp_path, judges, combine={"rule": "all_pass"})
    config["backends"]["default"] = fake_backend(choice_logprobs={"Yes": -0.01, "No": -5.0, "A": -1.0, "B": -1.0})
    src = write_jsonl(tmp_path / "in.jsonl", [ALPACA, SHAREGPT])
    out = tmp_path / "out"
    summary = run(config, [src], out)
    assert summary.kept == 0  # direct passes every example, Meta Ranking (0.5 < 0.99) none
    for d in lines(out / "decisions.jsonl"):
        assert d["score"] == pytest.approx(min(j["score"] for j in d["judgements"]))
        assert any("Meta Ranking score" in r for r in d["reasons"])


def test_weighted_mean_uses_weights(tmp_path: Path) -> None:
    judges = [{"type": "direct.v1", "weight": 3.0}, {"type": "meta_ranking.v1", "references": str(refs_file(tmp_path)), "n_references": 2}]
    out = tmp_path / "out"
    run(make_config(tmp_path, judges), [write_jsonl(tmp_path / "in.jsonl", [ALPACA, SHAREGPT, OPENAI])], out)
    for d in lines(out / "decisions.jsonl"):
        scores = {j["judge"]: j["score"] for j in d["judgements"]}
        assert d["score"] == pytest.approx((3 * scores["direct.v1"] + scores["meta_ranking.v1"]) / 4)
        assert d["kept"] == (d["score"] >= 0.5)


# -- rounds and selection --------------------------------------------------------------------


def many(n: int) -> list[dict[str, Any]]:
    return [{"instruction": f"What is {i} plus {i}?", "output": f"{i} plus {i} is {2 * i}."} for i in range(n)]


def test_rounds_refresh_threshold_and_references(tmp_path: Path) -> None:
    judges = [{"type": "direct.v1", "threshold": 0.0}, {"type": "meta_ranking.v1", "references": str(refs_file(tmp_path)), "n_references": 2}]
    config = make_config(tmp_path, judges, rounds=3, combine={"threshold": 0.0},
                         refresh={"keep_rate": 0.5, "references": 2})
    out = tmp_path / "out"
    summary = run(config, [write_jsonl(tmp_path / "in.jsonl", many(16))], out)
    r0, r1, r2 = summary.rounds
    assert (r0.candidates, r0.kept, r0.threshold) == (16, 16, 0.0)
    # Round 0 rejected nothing: only its two best examples became (correct) references.
    assert r1.candidates == 16 and r1.references_added == 2 and r1.threshold > 0.0
    assert r2.candidates == r1.kept and r2.references_added == 4 and r2.threshold >= r1.threshold
    decisions = lines(out / "decisions.jsonl")
    assert {d["round"] for d in decisions} == {0, 1, 2} and len(decisions) == 16 + 16 + r1.kept
    # Round 1's Meta Ranking compared examples with the self-labelled references of round 0.
    refs_used = {c["reference_id"] for d in decisions if d["round"] == 1
                 for j in d["judgements"] if j["judge"] == "meta_ranking.v1" for c in j["details"]["comparisons"]}
    assert any(r.startswith("round0:") for r in refs_used)
    rejected = lines(out / "rejected.jsonl")
    assert {r["kgjudge_filter"]["round"] for r in rejected} <= {1, 2}
    assert summary.kept == r2.kept
    assert_nothing_lost(out, 16)
    report = (out / "report.md").read_text()
    assert "| 1 | meta_ranking.v1 | 16 |" in report
    assert (out / "scores.png").read_bytes()[:4] == b"\x89PNG"


class KeywordEmbedder:
    """Two-dimensional embeddings: examples mentioning 'seven' point one way, others the other."""

    def encode(self, texts: Sequence[str]) -> Any:
        import numpy as np

        rows = [[1.0, 0.0] if "seven" in t else [0.0, 1.0] for t in texts]
        return np.asarray(rows) / np.linalg.norm(rows, axis=1, keepdims=True)


def test_select_drops_near_duplicates_and_keeps_a_budget(tmp_path: Path) -> None:
    rows = [{"instruction": f"Q{i}", "output": f"seven {i}" if i < 3 else f"other {i}"} for i in range(5)]
    config = make_config(tmp_path, combine={"threshold": 0.0}, select={"dedup_threshold": 0.9, "budget": 1})
    out = tmp_path / "out"
    base, fconfig = parse_filter_config(config)
    summary = Filter(base, fconfig, out, progress=False, embedder=KeywordEmbedder()).run([write_jsonl(tmp_path / "in.jsonl", rows)])
    assert summary.kept == 1 and summary.rounds[-1].round == 1
    reasons = [r["kgjudge_filter"]["reasons"][0] for r in lines(out / "rejected.jsonl")]
    assert sum("near-duplicate of" in r for r in reasons) == 3
    assert sum("outside the budget of 1" in r for r in reasons) == 1
    assert_nothing_lost(out, 5)


# -- resume and cache ------------------------------------------------------------------------


class FailingBackend(FakeBackend):
    """A fake backend that raises on its ``fail_at``-th scoring call."""

    def __init__(self, fail_at: int) -> None:
        super().__init__(FakeConfig())
        self.fail_at = fail_at
        self.score_calls = 0

    async def score_batch(self, requests: Sequence[LLMRequest]) -> list[ChoiceScores]:
        self.score_calls += 1
        if self.score_calls == self.fail_at:
            raise RuntimeError("injected failure")
        return await super().score_batch(requests)


def outputs(out: Path) -> dict[str, Any]:
    return {name: (out / name).read_text() for name in ("kept.jsonl", "rejected.jsonl", "decisions.jsonl", "rejects.jsonl")}


def test_resume_after_interruption_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    rows = many(9) + ["{broken"]
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    judges = [{"type": "direct.v1"}, {"type": "meta_ranking.v1", "references": str(refs_file(tmp_path)), "n_references": 2}]
    config = make_config(tmp_path, judges, rounds=2, refresh={"keep_rate": 0.6, "references": 1})
    config["cache"] = {"enabled": False}
    clean, full = tmp_path / "clean", FakeBackend(FakeConfig())
    run(config, [src], clean, backends={"default": full})

    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="injected"):
        run(config, [src], out, backends={"default": FailingBackend(fail_at=4)})
    committed = lines(out / "progress.jsonl")
    assert committed and not (out / "kept.jsonl").exists()
    # A torn line (a batch cut off mid-write) is dropped too.
    with (out / "decisions.jsonl").open("a") as f:
        f.write('{"example_id": "ex-torn", "rou')
    resumed = FakeBackend(FakeConfig())
    summary = run(config, [src], out, backends={"default": resumed})
    assert outputs(out) == outputs(clean)
    # Only what was not committed is asked again.
    assert 0 < len(resumed.calls) < len(full.calls)
    assert summary.kept + summary.rejected + summary.malformed == 10

    # A finished folder re-run does nothing; other inputs in the same folder are refused.
    again = FakeBackend(FakeConfig())
    run(config, [src], out, backends={"default": again})
    assert again.calls == []
    other = write_jsonl(tmp_path / "other.jsonl", many(3))
    with pytest.raises(ConfigError, match="--restart"):
        run(config, [other], out)
    assert run(config, [other], out, restart=True).examples == 3


def test_rerun_with_the_cache_makes_no_model_calls(tmp_path: Path) -> None:
    judges = [{"type": "direct.v1"}, {"type": "meta_ranking.v1", "references": str(refs_file(tmp_path)), "n_references": 2},
              {"type": "kg_grounded.v1", "store": graph_store(tmp_path)}]
    config = make_config(tmp_path, judges, rounds=2, refresh={"references": 1})
    config["backends"]["default"] = fake_backend(rules=[{"match": "Text:", "reply": '[["Paris", "capital of", "Spain"]]'}])
    src = write_jsonl(tmp_path / "in.jsonl", [ALPACA, SHAREGPT, OPENAI, ALPACA_INPUT])
    first = run(config, [src], tmp_path / "a")
    assert first.this_run.model_calls > 0
    second = run(config, [src], tmp_path / "b")
    assert second.this_run.model_calls == 0 and second.this_run.cache_hits == second.this_run.requests > 0
    assert outputs(tmp_path / "a") == outputs(tmp_path / "b")


def test_changed_judge_settings_are_another_config(tmp_path: Path) -> None:
    """A resumed run must not reuse decisions made under other judge settings."""
    src = write_jsonl(tmp_path / "in.jsonl", [ALPACA, SHAREGPT, OPENAI])
    run(make_config(tmp_path, [{"type": "direct.v1", "threshold": 0.5}]), [src], tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["filter"]["judges"][0]["threshold"] == 0.5, "the manifest holds every judge setting"
    with pytest.raises(ConfigError, match="another config; use --restart"):
        run(make_config(tmp_path, [{"type": "direct.v1", "threshold": 0.9}]), [src], tmp_path / "out")


def test_shipped_filter_configs_validate() -> None:
    from kgjudge import load_config
    from kgjudge.judges import load_filter_config

    repo = Path(__file__).resolve().parents[2]
    base, config = load_filter_config(repo / "configs" / "filter" / "default.yaml")
    assert base.backends and [j.type for j in config.judges] == ["direct.v1", "meta_ranking.v1", "kg_grounded.v1"]
    # The same file is an ordinary config too (kgjudge load, config validate), whose store is
    # the graph the kg_grounded judge reads.
    whole = load_config(repo / "configs" / "filter" / "default.yaml")
    assert whole.store is not None and whole.store.model_dump()["path"] == config.judges[2].store["path"]
    assert whole.filter is not None and whole.filter["rounds"] == config.rounds


@pytest.mark.slow
def test_select_with_the_packaged_embeddings(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    rows = [
        {"instruction": "What is the capital of France?", "output": "The capital of France is Paris."},
        {"instruction": "What's the capital of France?", "output": "The capital of France is Paris."},
        {"instruction": "Name a prime number.", "output": "Seven is a prime number."},
    ]
    config = make_config(tmp_path, combine={"threshold": 0.0}, select={"dedup_threshold": 0.9})
    out = tmp_path / "out"
    summary = run(config, [write_jsonl(tmp_path / "in.jsonl", rows)], out)
    assert summary.kept == 2
    [dropped] = lines(out / "rejected.jsonl")
    assert "capital of France" in dropped["instruction"] and "near-duplicate of" in dropped["kgjudge_filter"]["reasons"][0]
