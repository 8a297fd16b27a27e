"""`kgjudge build` over the fake backend: outputs keyed by id, manifest, zero-call re-runs,
resumption after kill -9, config guard, and Ray against local."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kgjudge import ConfigError, InputError, parse_config
from kgjudge.cli import app
from kgjudge.pipeline import STAGE_FILES, build

pytest.importorskip("spacy")

RULES = [
    {"match": "List the named entities", "reply": '{"entities": ["Marie Curie", "Warsaw"]}'},
    {"match": "Rewrite the text", "reply": "Marie Curie was born in Warsaw. Marie Curie lived in Paris."},
    {"match": "as knowledge-graph triples",
     "reply": '[["Marie Curie", "born in", "Warsaw"], ["Marie Curie", "lived in", "Paris"]]'},
]


def config_dict(tmp_path: Path, **fake: object) -> dict:
    return {
        "backends": {"default": {"type": "fake.v1", "rules": RULES, **fake}},
        "cache": {"enabled": True, "path": str(tmp_path / "cache")},
        "pipeline": {"batch_size": 2, "chunking": {"max_tokens": 64, "overlap_tokens": 8}},
    }


def make_docs(tmp_path: Path, n: int = 5) -> Path:
    path = tmp_path / "docs.jsonl"
    lines = [json.dumps({"id": f"doc{i}", "text": f"Document {i}. Marie Curie was born in Warsaw. She moved to Paris."})
             for i in range(n)]
    lines.insert(2, "{not json")
    path.write_text("\n".join(lines) + "\n")
    return path


def stored_ids(out: Path) -> list[str]:
    from kgjudge.graph import build_store

    with build_store({"type": "rdf.v1", "path": str(out / "graph.oxigraph")}) as store:
        return sorted(t.triple.id for t in store.iter_triples())


def read(out: Path, name: str) -> list[dict]:
    path = out / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def snapshot(out: Path) -> dict[str, list]:
    return {name: sorted(json.dumps(r, sort_keys=True) for r in read(out, name)) for name in STAGE_FILES.values()}


def test_build_writes_every_stage_keyed_by_document(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    summary = build([docs], parse_config(config_dict(tmp_path)), tmp_path / "out", progress=False)
    out = tmp_path / "out"
    assert summary.documents == 5 and summary.rejected == 1 and summary.triples == 10
    # 2 denoise calls per round, 2 rounds, 1 extraction: 25 requests. After round 1 every document
    # reads the same, so identical requests are sent once (within a batch) or cached (across).
    assert summary.this_run.requests == 25 and summary.this_run.model_calls == 13
    triples = read(out, "triples.jsonl")
    assert sorted({t["document_id"] for t in triples}) == [f"doc{i}" for i in range(5)]
    assert all(t["chunk_id"].startswith(t["document_id"] + "#") for t in triples)
    paris = [t for t in triples if t["tail"] == "Paris"]
    # head and tail sit in neighbouring sentences: the evidence spans both
    assert all(t["evidence"]["text"] == "Marie Curie was born in Warsaw. She moved to Paris." for t in paris)
    rejects = read(out, "rejects.jsonl")
    assert rejects[0]["line"] == 3 and "invalid JSON" in rejects[0]["reason"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["finished"] and manifest["summary"]["triples"] == 10
    assert manifest["summary"]["usage"]["denoise"]["requests"] == 20
    assert manifest["summary"]["usage"]["extract"]["requests"] == 5
    assert manifest["prompt_versions"]["extract"] == "triple_extract.v1"
    denoised = read(out, "denoised.jsonl")
    assert all(d["stopped"] == "converged" and len(d["rounds"]) == 2 for d in denoised)
    assert stored_ids(out) == sorted(t["id"] for t in triples), "the store holds exactly the triples"
    assert summary.store.startswith("rdf.v1 at ") and summary.store_stats["triples"] == 10


def test_rerun_makes_zero_model_calls(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    config = parse_config(config_dict(tmp_path))
    build([docs], config, tmp_path / "out", progress=False)
    before = snapshot(tmp_path / "out")
    again = build([docs], config, tmp_path / "out", progress=False)
    assert again.this_run.model_calls == 0 and again.batches_run == 0
    assert snapshot(tmp_path / "out") == before
    fresh = build([docs], config, tmp_path / "out2", progress=False)
    assert fresh.this_run.model_calls == 0 and fresh.this_run.cache_hits == 25, "answered from the cache"
    assert snapshot(tmp_path / "out2") == before


def test_other_config_needs_restart(tmp_path: Path) -> None:
    docs = make_docs(tmp_path)
    build([docs], parse_config(config_dict(tmp_path)), tmp_path / "out", progress=False)
    changed = config_dict(tmp_path)
    changed["pipeline"]["denoise"] = {"enabled": False}
    with pytest.raises(ConfigError, match="another config; use --restart"):
        build([docs], parse_config(changed), tmp_path / "out", progress=False)
    summary = build([docs], parse_config(changed), tmp_path / "out", progress=False, restart=True)
    assert summary.this_run.requests == 5 and all(d["stopped"] == "disabled" for d in read(tmp_path / "out", "denoised.jsonl"))


def test_fail_mode_stops_before_any_model_call(tmp_path: Path) -> None:
    cfg = config_dict(tmp_path)
    cfg["pipeline"]["input"] = {"on_bad_input": "fail"}
    with pytest.raises(InputError, match=r"docs.jsonl:3"):
        build([make_docs(tmp_path)], parse_config(cfg), tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "triples.jsonl").exists()


def test_kill_9_then_resume_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    docs = make_docs(tmp_path, n=10)
    reference = tmp_path / "reference"
    build([docs], parse_config(config_dict(tmp_path / "ref")), reference, progress=False)

    config_file = tmp_path / "slow.yaml"
    config_file.write_text(yaml.safe_dump(config_dict(tmp_path, latency_s=0.15)))
    out = tmp_path / "out"
    kgjudge = str(Path(sys.executable).with_name("kgjudge"))
    cmd = [kgjudge, "build", str(docs), "--config", str(config_file), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(read(out, "progress.jsonl")) < 2:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next batch
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = sum(len(p["documents"]) for p in read(out, "progress.jsonl"))
    assert 4 <= done_before < 10, "killed mid-build"
    with (out / "triples.jsonl").open("a") as f:
        f.write('{"head": "torn')  # a half-written line, as a kill can leave
    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(out) == snapshot(reference)
    ids = [t["id"] for t in read(out, "triples.jsonl")]
    assert len(ids) == len(set(ids)) == 20
    batches = len(read(out, "progress.jsonl"))
    assert batches == 5, "one progress line per batch: nothing redone twice"
    assert stored_ids(out) == sorted(ids), "the store holds each triple once"


def test_cli_build_prints_a_summary(tmp_path: Path) -> None:
    config_file = tmp_path / "c.yaml"
    config_file.write_text(yaml.safe_dump(config_dict(tmp_path)))
    result = CliRunner().invoke(
        app, ["build", str(make_docs(tmp_path)), "--config", str(config_file), "--out", str(tmp_path / "o"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert "10 triples, 3 entities, 2 relations from 5 documents" in result.output
    assert "rejected inputs: 1" in result.output
    # a few facts with the sentence each rests on, from different documents
    examples = result.output.split("example facts:\n")[1].splitlines()[:6]
    assert examples[0].startswith("  Marie Curie | born in | Warsaw") and "(doc0)" in examples[0]
    assert examples[1] == '    "Marie Curie was born in Warsaw."'
    assert len([line for line in examples if line.startswith("  Marie")]) == 3
    bad = CliRunner().invoke(app, ["build", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "o2")])
    assert bad.exit_code == 2 and "no such file or folder" in bad.output


@pytest.mark.slow
def test_ray_engine_gives_the_same_outputs_as_local(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    docs = make_docs(tmp_path, n=6)
    local = build([docs], parse_config(config_dict(tmp_path / "a")), tmp_path / "local", progress=False)
    distributed = build([docs], parse_config(config_dict(tmp_path / "b")), tmp_path / "ray", progress=False,
                        engine="ray", workers=2)
    assert distributed.this_run.requests == local.this_run.requests == 30
    for name in STAGE_FILES.values():
        assert read(tmp_path / "ray", name) == read(tmp_path / "local", name), name


def test_judge_stage_keeps_supported_triples_and_files_the_rest(tmp_path: Path) -> None:
    cfg = config_dict(tmp_path)
    cfg["judge"] = {"type": "graphjudger.v1", "backend": "default", "threshold": 0.5}
    docs = make_docs(tmp_path, n=6)
    summary = build([docs], parse_config(cfg), tmp_path / "out", progress=False)
    out = tmp_path / "out"
    judged = read(out, "judgements.jsonl")
    kept, rejected = read(out, "triples.jsonl"), read(out, "rejected.jsonl")
    assert len(judged) == 12 and summary.judged == 12
    assert len(kept) + len(rejected) == 12 and kept and rejected, "the fake's scores split the triples"
    assert summary.rejected_triples == len(rejected) and summary.triples == len(kept)
    assert all(j["judgement"]["judge"].startswith("graphjudger") for j in judged)
    assert all(r["judgement"]["score"] < 0.5 and not r["judgement"]["label"] for r in rejected)
    assert {k["id"] for k in kept} == {j["triple"]["id"] for j in judged if j["judgement"]["label"]}
    assert stored_ids(out) == sorted(k["id"] for k in kept), "only kept triples reach the store"
    assert summary.usage["judge"].requests == 12
    from kgjudge.graph import build_store

    with build_store({"type": "rdf.v1", "path": str(out / "graph.oxigraph")}) as store:
        stored = store.get_triples([kept[0]["id"]])[0]
        assert [j.judge for j in stored.judgements] == [judged[0]["judgement"]["judge"]]


def test_a_judge_requiring_the_context_files_what_the_text_lacks_without_asking_the_model(tmp_path: Path) -> None:
    """require_in_context: a self-loop and a tail the chunk does not hold go to rejected.jsonl with
    the rule that rejected them; only the others cost a judge request."""
    rules = [*RULES[:2], {"match": "as knowledge-graph triples", "reply": json.dumps(
        [["Marie Curie", "born in", "Warsaw"], ["Marie Curie", "died in", "1934"], ["Paris", "is", "paris"]])}]
    cfg = config_dict(tmp_path, rules=rules)
    cfg["judge"] = {"type": "graphjudger.v1", "backend": "default", "threshold": 0.0, "context": "chunk",
                    "require_in_context": True}
    summary = build([make_docs(tmp_path, n=3)], parse_config(cfg), tmp_path / "out", progress=False)
    out = tmp_path / "out"
    kept, rejected = read(out, "triples.jsonl"), read(out, "rejected.jsonl")
    assert summary.judged == 9 and summary.usage["judge"].requests == 3
    assert sorted((k["head"], k["tail"]) for k in kept) == [("Marie Curie", "Warsaw")] * 3
    rules_of = sorted((r["triple"]["tail"], r["judgement"]["details"]["rule"]) for r in rejected)
    assert rules_of == [("1934", "not_in_context")] * 3 + [("paris", "self_loop")] * 3
    assert all("rejected without a model call" in r["judgement"]["reasons"][0] for r in rejected)
    assert stored_ids(out) == sorted(k["id"] for k in kept)


def test_judge_section_is_validated(tmp_path: Path) -> None:
    cfg = config_dict(tmp_path)
    cfg["judge"] = {"type": "graphjudger.v9"}
    with pytest.raises(ConfigError, match="key 'judge.type'.*graphjudger.v1"):
        parse_config(cfg)
    cfg["judge"] = {"type": "graphjudger.v1", "backend": "nope"}
    with pytest.raises(ConfigError, match="key 'judge.backend'"):
        parse_config(cfg)


def judged_config(tmp_path: Path, store_path: Path) -> dict:
    """A build with a judge whose settings differ from every default, and a store outside the
    output folder: what a config round trip must carry to Ray workers and to queries."""
    cfg = config_dict(tmp_path)
    cfg["backends"]["default"]["adapters"] = ["judge"]
    cfg["judge"] = {"type": "graphjudger.v1", "backend": "default", "adapter": "judge", "threshold": 0.7}
    cfg["store"] = {"type": "networkx.v1", "path": str(store_path)}
    cfg["rag"] = {"linking": {"embeddings": False}}
    return cfg


def stored(store_path: Path) -> list[str]:
    from kgjudge.graph import build_store

    with build_store({"type": "networkx.v1", "path": str(store_path)}) as store:
        return sorted(json.dumps(t.model_dump(mode="json"), sort_keys=True) for t in store.iter_triples())


@pytest.mark.slow
def test_ray_and_local_builds_with_a_judge_and_an_explicit_store_give_identical_files(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    pytest.importorskip("networkx")
    docs = make_docs(tmp_path, n=6)
    local = build([docs], parse_config(judged_config(tmp_path / "a", tmp_path / "a.json")), tmp_path / "local",
                  progress=False)
    distributed = build([docs], parse_config(judged_config(tmp_path / "b", tmp_path / "b.json")), tmp_path / "ray",
                        progress=False, engine="ray", workers=2)
    assert local.judged == distributed.judged == 12
    for name in [*STAGE_FILES.values(), "rejected.jsonl"]:
        assert read(tmp_path / "ray", name) == read(tmp_path / "local", name), name
    judgements = [j["judgement"] for j in read(tmp_path / "ray", "judgements.jsonl")]
    assert {(j["threshold"], j["model"]["adapter"]) for j in judgements} == {(0.7, "judge")}, "the configured judge"
    assert stored(tmp_path / "a.json") == stored(tmp_path / "b.json") and stored(tmp_path / "a.json")
    assert not (tmp_path / "ray" / "graph.json").exists() and not (tmp_path / "ray" / "graph.oxigraph").exists()


def test_query_out_opens_the_store_the_build_wrote(tmp_path: Path) -> None:
    pytest.importorskip("networkx")
    pytest.importorskip("rapidfuzz")
    cfg = judged_config(tmp_path, tmp_path / "elsewhere" / "graph.json")
    summary = build([make_docs(tmp_path)], parse_config(cfg), tmp_path / "out", progress=False)
    assert summary.triples and summary.store == f"networkx.v1 at {tmp_path / 'elsewhere' / 'graph.json'}"
    result = CliRunner().invoke(app, ["query", "Where was Marie Curie born?", "--out", str(tmp_path / "out"),
                                      "--retrieve-only", "--json"])
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)["facts"]
    kept = {t["id"] for t in read(tmp_path / "out", "triples.jsonl")}
    assert facts and {f["triple"]["id"] for f in facts} <= kept


def test_stats_and_export_out_read_the_store_the_build_wrote(tmp_path: Path) -> None:
    pytest.importorskip("networkx")
    cfg = judged_config(tmp_path, tmp_path / "elsewhere" / "graph.json")
    build([make_docs(tmp_path)], parse_config(cfg), tmp_path / "out", progress=False)
    kept = {t["id"] for t in read(tmp_path / "out", "triples.jsonl")}
    stats = CliRunner().invoke(app, ["stats", "--out", str(tmp_path / "out"), "--json"])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.stdout)["triples"] == len(kept)
    exported = tmp_path / "export.jsonl"
    result = CliRunner().invoke(app, ["export", "--out", str(tmp_path / "out"), "-f", "jsonl", "-o", str(exported)])
    assert result.exit_code == 0, result.output
    assert {json.loads(line)["id"] for line in exported.read_text().splitlines()} == kept and kept
    assert not (tmp_path / "out" / "graph.oxigraph").exists(), "nothing was created in the folder"
    both = CliRunner().invoke(app, ["export", "--out", str(tmp_path / "out"), "-c", "x.yaml", "-f", "nt", "-o", "x.nt"])
    assert both.exit_code == 2 and "either --config or --out" in both.stderr
    missing = CliRunner().invoke(app, ["export", "--out", str(tmp_path / "nothing"), "-f", "nt", "-o", "x.nt"])
    assert missing.exit_code == 2 and "nothing" in missing.stderr


def test_the_manifest_holds_the_config_the_build_ran(tmp_path: Path) -> None:
    from kgjudge.pipeline import BuildFolder

    config = parse_config(judged_config(tmp_path, tmp_path / "g.json"))
    build([make_docs(tmp_path)], config, tmp_path / "out", progress=False)
    again = BuildFolder(tmp_path / "out").config()
    assert again == config
    assert again.judge.threshold == 0.7 and again.judge.adapter == "judge"
    assert again.store.path == str(tmp_path / "g.json")


def test_a_manifest_written_before_the_full_config_still_opens(tmp_path: Path) -> None:
    """Version-1 manifests kept only the type of the store and judge sections."""
    from kgjudge.graph import open_graphrag

    cfg = judged_config(tmp_path, tmp_path / "elsewhere" / "graph.json")
    cfg["backends"] = {"llm": {**cfg["backends"]["default"]}}
    cfg["pipeline"]["extract"] = {"backend": "llm"}
    cfg["pipeline"]["denoise"] = {"backend": "llm"}
    cfg["judge"]["backend"] = "llm"
    cfg["rag"]["backend"] = "llm"
    build([make_docs(tmp_path)], parse_config(cfg), tmp_path / "out", progress=False)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    del manifest["format"]
    manifest["config"]["store"] = {"type": "networkx.v1"}
    manifest["config"]["judge"] = {"type": "graphjudger.v1"}  # its backend defaulted to a missing "default"
    (tmp_path / "out" / "manifest.json").write_text(json.dumps(manifest))
    with open_graphrag(tmp_path / "out", with_llm=False) as rag:
        assert rag.store.stats().triples == len(read(tmp_path / "out", "triples.jsonl")) > 0


def test_the_manifest_names_every_prompt_the_judges_included(tmp_path: Path) -> None:
    cfg = judged_config(tmp_path, tmp_path / "g.json")
    build([make_docs(tmp_path)], parse_config(cfg), tmp_path / "out", progress=False)
    versions = json.loads((tmp_path / "out" / "manifest.json").read_text())["prompt_versions"]
    assert versions == {"denoise": ["denoise_entities.v1", "denoise_rewrite.v1"], "extract": "triple_extract.v1",
                        "judge": "triple_judge.v1"}


def test_a_prompt_version_without_its_parser_is_refused_before_any_model_call(tmp_path: Path) -> None:
    from kgjudge.llm import FakeBackend, FakeConfig

    cfg = config_dict(tmp_path)
    cfg["pipeline"]["extract"] = {"prompt": "denoise_rewrite.v1"}  # a template, but not an extraction one
    fake = FakeBackend(FakeConfig(rules=RULES))
    with pytest.raises(ConfigError, match="key 'pipeline.extract.prompt'.*denoise_rewrite.v1' has no parser of triples.*triple_extract.v1"):
        build([make_docs(tmp_path)], parse_config(cfg), tmp_path / "out", progress=False, backends={"default": fake})
    assert fake.calls == []


def test_extractor_and_judge_share_one_loaded_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kgjudge.pipeline._batch as batch

    built: list[object] = []
    real = batch.build_backend
    monkeypatch.setattr(batch, "build_backend", lambda slot, **kw: built.append(slot) or real(slot, **kw))
    config = parse_config({**config_dict(tmp_path), "judge": {"type": "graphjudger.v1", "backend": "default"}})
    runner = batch.StageRunner(config)
    assert len(built) == 1, "one model load for extraction and judging"
    assert runner.judge_llm.backend is runner.client(config.pipeline.extract.backend).backend


# The default config as published with smollm2-extractor.v1 (its adapters and judge settings):
# builds made with it must keep opening as the code gains options.
DEMO_CONFIG_V1 = """
backends:
  default:
    type: hf.v1
    model: smollm2-135m-instruct
    batch_size: 8
    adapters: {extractor: "packaged:smollm2-extractor.v1", judge: "packaged:smollm2-judge.v1"}
cache: {enabled: true}
pipeline:
  batch_size: 8
  input: {on_bad_input: skip}
  chunking: {max_tokens: 160, overlap_tokens: 32}
  denoise: {enabled: false}
  extract: {adapter: extractor, max_triples: 50, max_tokens: 160}
judge: {type: graphjudger.v1, backend: default, adapter: judge, max_document_chars: 600, threshold: 0.595123}
rag: {answer_style: select}
"""


def test_new_backend_options_at_their_defaults_keep_an_existing_builds_config_hash() -> None:
    from kgjudge.pipeline._shape import config_hash as _config_hash

    default = parse_config(yaml.safe_load(DEMO_CONFIG_V1))
    # The demo config's hash before hf.v1 gained constrain_json and op_dtypes (and the judge its
    # context and require_in_context, the extract stage its relations, denoise its rewrite switch):
    # out/demo reopens.
    assert _config_hash(default) == "063adf3f2e70ab66"
    changed = default.model_copy(deep=True)
    changed.backends["default"] = changed.backends["default"].model_copy(update={"constrain_json": False})
    assert _config_hash(changed) != _config_hash(default)
    checked = default.model_copy(update={"judge": default.judge.model_copy(update={"require_in_context": True})})
    assert _config_hash(checked) != _config_hash(default)
    # denoise.rewrite came later too: at its default the hash stays, switched off it changes
    entities_only = default.model_copy(deep=True)
    entities_only.pipeline.denoise = entities_only.pipeline.denoise.model_copy(update={"rewrite": False})
    assert _config_hash(entities_only) != _config_hash(default)
