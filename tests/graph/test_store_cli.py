"""``kgjudge load|stats|export``, the ``store:`` config section, and missing extras."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from _corpus import sample_records
from typer.testing import CliRunner

from kgjudge import ConfigError, default_config, dump_config, parse_config, write_jsonl
from kgjudge.cli import app
from kgjudge.graph import NetworkXConfig, NetworkXStore, RDFConfig, RDFStore, exempt_from_judging

pytest.importorskip("oxrdflib")
pytest.importorskip("networkx")


def write_config(path: Path, store: dict) -> Path:
    path.write_text(yaml.safe_dump({"store": store}))
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_store_section_defaults_to_rdf_and_is_validated(tmp_path: Path) -> None:
    assert default_config().store is not None and default_config().store.type == "rdf.v1"
    assert parse_config({}).store == RDFConfig()
    assert "type: rdf.v1" in dump_config(parse_config({}))
    assert parse_config({"store": {"type": "networkx.v1", "path": "kg.json"}}).store == NetworkXConfig(path="kg.json")
    with pytest.raises(ConfigError) as info:
        parse_config({"store": {"type": "neo5j.v1"}})
    assert info.value.key == "store.type" and {"networkx.v1", "neo4j.v1", "rdf.v1"} <= set(info.value.choices or [])
    with pytest.raises(ConfigError, match="store.batch_size"):
        parse_config({"store": {"type": "rdf.v1", "batch_size": 0}})


def test_load_stats_export_round_trip(tmp_path: Path) -> None:
    triples, judgements = sample_records()
    tfile, jfile = tmp_path / "triples.jsonl", tmp_path / "judgements.jsonl"
    write_jsonl(tfile, triples)
    write_jsonl(jfile, judgements)
    rdf = write_config(tmp_path / "rdf.yaml", {"type": "rdf.v1", "path": str(tmp_path / "store")})
    code, out, err = run("load", str(tfile), "--judgements", str(jfile), "--config", str(rdf), "--batch-size", "2")
    assert code == 0, err
    assert "loaded 5 triple(s) and 3 judgement(s) into rdf.v1" in out

    code, out, _ = run("stats", "--config", str(rdf), "--json")
    stats = json.loads(out)
    assert (stats["store"], stats["triples"], stats["judgements"], stats["entities"]) == ("rdf.v1", 5, 3, 5)
    assert stats["features"]["sparql"] is True
    code, out, _ = run("stats", "--config", str(rdf))
    assert code == 0 and "triples: 5" in out and "features: sparql" in out

    nx_config = write_config(tmp_path / "nx.yaml", {"type": "networkx.v1", "path": str(tmp_path / "kg.json")})
    code, out, err = run("export", "--config", str(rdf), "--to-config", str(nx_config))
    assert code == 0, err
    assert "copied 5 triple(s) from rdf.v1 to networkx.v1" in out
    copied = NetworkXStore(NetworkXConfig(path=str(tmp_path / "kg.json")))
    source = RDFStore(RDFConfig(path=str(tmp_path / "store")))
    assert list(copied.iter_triples()) == list(source.iter_triples())
    source.close()

    for fmt, name in (("turtle", "kg.ttl"), ("trig", "kg.trig"), ("graphml", "kg.graphml"), ("jsonld", "kg.jsonld")):
        code, out, err = run("export", "--config", str(nx_config), "--format", fmt, "--output", str(tmp_path / name))
        assert code == 0 and (tmp_path / name).stat().st_size > 0, (fmt, err)
    code, out, err = run("export", "--config", str(rdf), "-f", "jsonl", "-o", str(tmp_path / "out.jsonl"),
                         "--judgements-output", str(tmp_path / "out.j.jsonl"))
    assert code == 0, err
    assert sorted((tmp_path / "out.jsonl").read_text().splitlines()) == sorted(tfile.read_text().splitlines())
    assert len((tmp_path / "out.j.jsonl").read_text().splitlines()) == 3


def test_load_curated_and_bad_lines(tmp_path: Path) -> None:
    triples, _ = sample_records()
    tfile = tmp_path / "curated.jsonl"
    lines = [t.model_dump_json() for t in triples[:3]]
    lines.insert(1, '{"head": "x", "relation": "", "tail": "y"}')
    lines.insert(3, "not json")
    tfile.write_text("\n".join(lines) + "\n")
    config = write_config(tmp_path / "nx.yaml", {"type": "networkx.v1", "path": str(tmp_path / "kg.json")})
    code, out, err = run("load", str(tfile), "--curated", "-c", str(config))
    assert code == 1
    assert f"{tfile}:2" in err and "relation" in err and f"{tfile}:4" in err and "invalid JSON" in err
    assert "loaded 3 triple(s)" in out
    store = NetworkXStore(NetworkXConfig(path=str(tmp_path / "kg.json")))
    assert {s.triple.origin for s in store.iter_triples()} == {"curated"}
    assert all(exempt_from_judging(s.triple) for s in store.iter_triples())
    assert not exempt_from_judging(triples[0].model_copy(update={"origin": "extracted"}))
    assert {s.triple.id for s in store.iter_triples()} == {t.id for t in triples[:3]}


def test_cli_errors_are_one_clear_line(tmp_path: Path) -> None:
    code, _, err = run("export", "--format", "turtle")
    assert code == 2 and "--output" in err
    code, _, err = run("export")
    assert code == 2 and "--to-config" in err
    config = write_config(tmp_path / "nx.yaml", {"type": "networkx.v1"})
    code, _, err = run("export", "-c", str(config), "-f", "pdf", "-o", str(tmp_path / "x.pdf"))
    assert code == 2 and "unknown export format 'pdf'" in err and "turtle" in err
    code, _, err = run("load", str(tmp_path / "missing.jsonl"), "-c", str(config))
    assert code == 2 and "missing.jsonl" in err and "cannot open" in err


def test_stores_without_their_extra_fail_clearly() -> None:
    code = textwrap.dedent(
        """
        import sys
        BLOCKED = {"rdflib", "pyoxigraph", "oxrdflib", "neo4j", "networkx", "rapidfuzz", "sentence_transformers"}
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, Blocker())
        import kgjudge
        from kgjudge.graph import build_store, resolve_names
        config = kgjudge.parse_config({})
        print("default:", config.store.type)
        for slot in ({"type": "rdf.v1"}, {"type": "networkx.v1"},
                     {"type": "neo4j.v1", "uri": "bolt://localhost:1", "password": None}):
            try:
                build_store(slot)
            except kgjudge.MissingExtraError as exc:
                print(exc)
        try:
            resolve_names(["a b", "a  b", "c"])
        except kgjudge.MissingExtraError as exc:
            print(exc)
        print("loaded:", sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "default: rdf.v1" in out
    for extra in ("rdf", "networkx", "neo4j", "resolution"):
        assert f"pip install 'kgjudge[{extra}]'" in out
    assert "loaded: []" in out
