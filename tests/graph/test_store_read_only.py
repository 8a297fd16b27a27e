"""Commands that only read a store never create what they read: a mistyped path is one clear
error (exit status 2) and nothing appears on disk; an existing store is read without being
written (even in a folder nobody may write, and while a build holds it open). Also: export into
a folder it cannot write is one error line, names from model output reach the terminal with
their control characters made visible, and SPARQL SERVICE is refused unless allowed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kgjudge import StoreError, Triple
from kgjudge.cli import app
from kgjudge.graph import RDFConfig, RDFStore, build_store

pytest.importorskip("pyoxigraph")
pytest.importorskip("networkx")


def config(path: Path, store: dict, **rest: Any) -> Path:
    path.write_text(yaml.safe_dump({"store": store, **rest}))
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


TRIPLES = [Triple(head="Marie Curie", relation="born in", tail="Warsaw", document_id="d1"),
           Triple(head="Marie Curie", relation="\x1b[31mdied in\x1b[0m", tail="Paris\u202e", document_id="d1")]


def make_store(slot: dict) -> None:
    with build_store(slot) as store:
        store.upsert(TRIPLES)


def test_stats_with_a_mistyped_rdf_path_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "grpah.oxigraph"
    cfg = config(tmp_path / "c.yaml", {"type": "rdf.v1", "path": str(missing)})
    code, out, err = run("stats", "-c", str(cfg))
    assert code == 2 and out == ""
    assert err.strip() == (f"error: {cfg}: key 'store.path': no rdf.v1 store at {missing} "
                           "(a store opened to read is never created)")
    assert not missing.exists()
    code, _, err = run("export", "-c", str(cfg), "-f", "turtle", "-o", str(tmp_path / "kg.ttl"))
    assert code == 2 and "no rdf.v1 store" in err and not missing.exists() and not (tmp_path / "kg.ttl").exists()


def test_query_with_a_mistyped_networkx_path_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "kg.jsn"
    cfg = config(tmp_path / "c.yaml", {"type": "networkx.v1", "path": str(missing)},
                 backends={"default": {"type": "fake.v1"}}, rag={"linking": {"embeddings": False}})
    for extra in (["--retrieve-only"], []):
        code, out, err = run("query", "Where was Marie Curie born?", "-c", str(cfg), *extra)
        assert code == 2, (extra, out, err)
        assert f"no networkx.v1 store at {missing}" in err and not missing.exists()


def test_an_existing_store_is_read_without_being_written(tmp_path: Path) -> None:
    path = tmp_path / "kg.json"
    make_store({"type": "networkx.v1", "path": str(path)})
    before = path.read_bytes()
    os.utime(path, (1, 1))
    cfg = config(tmp_path / "c.yaml", {"type": "networkx.v1", "path": str(path)})
    code, out, err = run("stats", "-c", str(cfg), "--json")
    assert code == 0 and json.loads(out)["triples"] == 2, err
    assert path.read_bytes() == before and path.stat().st_mtime == 1, "a read does not rewrite the file"


def test_the_explorer_reads_a_store_without_writing_it_unless_it_may_edit(tmp_path: Path) -> None:
    from kgjudge import ConfigError
    from kgjudge.serve import open_explorer
    from kgjudge.serve._models import CurationRequest

    missing = tmp_path / "kg.jsn"
    with pytest.raises(ConfigError, match="no networkx.v1 store"):
        open_explorer(None, config(tmp_path / "missing.yaml", {"type": "networkx.v1", "path": str(missing)}))
    assert not missing.exists()
    path = tmp_path / "kg.json"
    make_store({"type": "networkx.v1", "path": str(path)})
    before = path.read_bytes()
    os.utime(path, (1, 1))
    cfg = config(tmp_path / "c.yaml", {"type": "networkx.v1", "path": str(path)})
    explorer = open_explorer(None, cfg)
    assert explorer.stats().triples == 2
    explorer.close()
    assert path.read_bytes() == before and path.stat().st_mtime == 1, "serving does not rewrite the store"
    editor = open_explorer(None, cfg, allow_edit=True, curation_log=tmp_path / "curation.jsonl")
    editor.curate(TRIPLES[0].id, CurationRequest(action="reject"))
    editor.close()
    assert path.read_bytes() != before, "a curation decision is saved with the graph"


def test_an_rdf_store_is_read_while_a_build_holds_it_open(tmp_path: Path) -> None:
    path = tmp_path / "graph.oxigraph"
    writer = RDFStore(RDFConfig(path=str(path)))
    try:
        writer.upsert(TRIPLES)
        writer._store.flush()
        cfg = config(tmp_path / "c.yaml", {"type": "rdf.v1", "path": str(path)})
        code, out, err = run("stats", "-c", str(cfg), "--json")
        assert code == 0 and json.loads(out)["triples"] == 2, err
        with build_store({"type": "rdf.v1", "path": str(path)}, read_only=True) as reader:
            with pytest.raises(StoreError, match="opened read-only"):
                reader.upsert(TRIPLES[:1])
            with pytest.raises(StoreError, match="opened read-only"):
                reader.delete_document("d1")
    finally:
        writer.close()


def test_the_kg_grounded_judge_with_a_wrong_store_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"instruction": "Where was Marie Curie born?", "output": "In Warsaw."}) + "\n")
    cfg = tmp_path / "f.yaml"
    cfg.write_text(yaml.safe_dump({
        "backends": {"default": {"type": "fake.v1"}}, "cache": {"enabled": False},
        "filter": {"judges": [{"type": "kg_grounded.v1", "store": {"type": "networkx.v1", "path": str(missing)}}]},
    }))
    code, out, err = run("filter", str(src), "-c", str(cfg), "-o", str(tmp_path / "out"), "--no-progress")
    assert code == 2, (out, err)
    assert err.strip() == (f"error: {cfg}: key 'filter.judges[0].store.path': no networkx.v1 store at {missing} "
                           "(a store opened to read is never created)")
    assert not missing.exists()


def test_control_characters_from_model_output_are_shown_not_sent_to_the_terminal(tmp_path: Path) -> None:
    path = tmp_path / "kg.json"
    make_store({"type": "networkx.v1", "path": str(path)})
    cfg = config(tmp_path / "c.yaml", {"type": "networkx.v1", "path": str(path)},
                 rag={"linking": {"embeddings": False}})
    code, out, err = run("query", "Marie Curie", "-c", str(cfg), "--retrieve-only")
    assert code == 0, err
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[31mdied in\\x1b[0m" in out and "Paris\\u202e" in out


def test_export_into_a_path_under_a_file_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "kg.json"
    make_store({"type": "networkx.v1", "path": str(path)})
    cfg = config(tmp_path / "c.yaml", {"type": "networkx.v1", "path": str(path)})
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for fmt in ("turtle", "graphml", "jsonl", "trig"):
        code, out, err = run("export", "-c", str(cfg), "-f", fmt, "-o", str(blocker / "kg.out"))
        assert code == 2, (fmt, out, err)
        (line,) = err.strip().splitlines()
        assert line == f"error: cannot write {blocker / 'kg.out'}: {blocker} is a file, not a folder", line
    assert blocker.read_text() == "x"


def test_export_into_a_read_only_folder_is_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "kg.json"
    make_store({"type": "networkx.v1", "path": str(path)})
    cfg = config(tmp_path / "c.yaml", {"type": "networkx.v1", "path": str(path)})
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(locked)]).returncode:
            pytest.skip("running as root on a file system without chattr +i: a read-only folder cannot be made")
    else:
        locked.chmod(0o555)
    try:
        for fmt in ("turtle", "graphml", "jsonl"):
            code, out, err = run("export", "-c", str(cfg), "-f", fmt, "-o", str(locked / f"kg.{fmt}"))
            assert code == 2, (fmt, out, err)
            (line,) = err.strip().splitlines()
            assert line.startswith("error: ") and str(locked) in line, line
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(locked)])
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


@pytest.fixture
def sparql_endpoint() -> Iterator[tuple[str, list[str]]]:
    """A local HTTP server standing in for a remote SPARQL endpoint; records every request."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            seen.append(self.path)
            body = b'{"head": {"vars": ["s"]}, "results": {"bindings": []}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/sparql-results+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/sparql", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


QUERIES = [
    "SELECT * WHERE { SERVICE <{url}> { ?s ?p ?o } }",
    "select * where { service silent <{url}> { ?s ?p ?o } }",
    "PREFIX x: <urn:x:>\nSELECT * # a comment\nWHERE { ?a ?b ?c . SeRvIcE\n<{url}> { ?s ?p ?o } }",
]


@pytest.mark.parametrize("query", QUERIES)
def test_sparql_service_is_refused_unless_allowed(sparql_endpoint: tuple[str, list[str]], query: str) -> None:
    url, seen = sparql_endpoint
    store = RDFStore(RDFConfig(path=None))
    store.upsert(TRIPLES[:1])
    with pytest.raises(StoreError, match="SERVICE"):
        store.query(query.replace("{url}", url))
    assert seen == [], "no request left the machine"
    # Words that only look like the keyword are fine.
    rows = list(store.query('SELECT ?service WHERE { ?service ?p "SERVICE <http://x>" } # SERVICE <http://y>'))
    assert rows == [] and seen == []
    try:
        list(store.query(query.replace("{url}", url), allow_service=True))
    except StoreError:
        pass  # the endpoint's answer may not satisfy the engine; the request is what counts
    assert seen, "with allow_service the query reaches the endpoint"
    store.close()
