"""Hostile input records, ids, empty inputs, output folders that cannot be written, and byte-for-
byte resumption of `kgjudge build`. Each test feeds the input and checks the clear error (file,
line, reason) and that nothing else was lost."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kgjudge import parse_config
from kgjudge.cli import app
from kgjudge.pipeline import STAGE_FILES, build

pytest.importorskip("spacy")

RULES = [
    {"match": "List the named entities", "reply": '{"entities": ["Marie Curie", "Warsaw"]}'},
    {"match": "Rewrite the text", "reply": "Marie Curie was born in Warsaw."},
    {"match": "as knowledge-graph triples", "reply": '[["Marie Curie", "born in", "Warsaw"]]'},
]
GOOD = "Marie Curie was born in Warsaw."

# Each line is written to the file as is: "\\ud800" in this source is the JSON escape \ud800.
HOSTILE = {
    2: ('{"id": "s1", "text": "Marie Curie \\ud800 was born in Warsaw."}', "lone surrogate \\ud800 in field 'text'"),
    3: ('{"id": "s2\\udfff", "text": "Marie Curie was born in Warsaw."}', "lone surrogate \\udfff in field 'id'"),
    4: ('{"id": "s3", "text": "Marie Curie was born in Warsaw.", "meta": {"k": ["\\udc00"]}}',
        "lone surrogate \\udc00 in field 'meta.k[0]'"),
    5: ('{"id": "s4", "text": "Marie Curie was born in Warsaw.", "\\ud83d": 1}', "lone surrogate \\ud83d in a key"),
    6: ('{"id": {"x": 1}, "text": "Marie Curie was born in Warsaw."}', "field 'id': an id must be a string or an integer, got an object"),
    7: ('{"id": true, "text": "Marie Curie was born in Warsaw."}', "got a boolean"),
    8: ('{"id": 1.5, "text": "Marie Curie was born in Warsaw."}', "got a number with a fraction"),
    9: ('{"id": "a\\u001b[31mb", "text": "Marie Curie was born in Warsaw."}', "must not hold control characters (found \\x1b)"),
    10: ('{"id": "s5", "text": "Marie Curie was born in Warsaw.", "score": NaN}', "NaN is not a JSON value"),
    11: ('{"id": "s6", "text": "x", "deep": ' + "[" * 3000 + "]" * 3000 + "}", "nested more than 100 levels deep"),
    12: ('{"id": "s7", "text": "Marie Curie\\u0000 was born in Warsaw."}', "binary content"),
    13: ('{"id": 1, "text": "Marie Curie was born in Warsaw."}', None),  # a good record
    14: ('{"id": "1", "text": "Marie Curie was born in Warsaw."}', "duplicate document id '1'"),
}


def config_dict(tmp_path: Path, **pipeline: object) -> dict:
    return {
        "backends": {"default": {"type": "fake.v1", "rules": RULES}},
        "cache": {"enabled": True, "path": str(tmp_path / "cache")},
        "pipeline": {"batch_size": 2, **pipeline},
    }


def config_file(tmp_path: Path, **pipeline: object) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config_dict(tmp_path, **pipeline)))
    return path


def hostile_docs(tmp_path: Path) -> Path:
    lines = ['{"id": "good0", "text": "Marie Curie was born in Warsaw."}']
    lines += [HOSTILE[n][0] for n in sorted(HOSTILE)]
    lines.append('{"id": "good1", "text": "Marie Curie was born in Warsaw. She moved to Paris."}')
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name or p.name.startswith(".write-test"))


def test_hostile_records_are_rejected_with_line_and_reason_and_the_rest_is_built(tmp_path: Path) -> None:
    docs, out = hostile_docs(tmp_path), tmp_path / "out"
    args = ["build", str(docs), "-c", str(config_file(tmp_path)), "-o", str(out), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rejects = {r["line"]: r for r in read(out / "rejects.jsonl")}
    for line, (_, reason) in HOSTILE.items():
        if reason is None:
            assert line not in rejects
            continue
        assert line in rejects, f"line {line} was not rejected"
        assert reason in rejects[line]["reason"], rejects[line]
        assert rejects[line]["file"] == str(docs)
    assert sorted(rejects) == sorted(n for n, (_, why) in HOSTILE.items() if why)
    built = sorted(d["id"] for d in read(out / "documents.jsonl"))
    assert built == ["1", "good0", "good1"], "every good record was built"
    assert {t["document_id"] for t in read(out / "triples.jsonl")} == {"1", "good0", "good1"}
    assert leftovers(out) == []
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "0 model calls" in again.output, again.output
    assert leftovers(out) == []


def test_an_id_rule_collision_names_both_places(tmp_path: Path) -> None:
    from kgjudge._inputs import load_documents

    docs = tmp_path / "ids.jsonl"
    docs.write_text('{"id": 7, "text": "a"}\n{"id": "7", "text": "b"}\n{"id": -3, "text": "c"}\n', encoding="utf-8")
    loaded = load_documents([docs])
    assert [d.id for d in loaded.documents] == ["7", "-3"]
    (reject,) = loaded.rejects
    assert reject.line == 2 and f"first at {docs}:1" in reject.reason
    assert "an integer id and the same digits as a string are one id" in reject.reason


def test_empty_input_folder_warns_and_fails_in_fail_mode(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.pdf").write_bytes(b"%PDF")  # not a document kgjudge reads
    ok = CliRunner().invoke(app, ["build", str(empty), "-c", str(config_file(tmp_path)), "-o", str(tmp_path / "o1"),
                                  "--no-progress"])
    assert ok.exit_code == 0, ok.output
    assert f"warning: no documents found in {empty}" in ok.output
    strict = config_file(tmp_path, input={"on_bad_input": "fail"})
    failed = CliRunner().invoke(app, ["build", str(empty), "-c", str(strict), "-o", str(tmp_path / "o2"), "--no-progress"])
    assert failed.exit_code == 2 and "error: no documents found in" in failed.output
    assert "Traceback" not in failed.output


def test_resumed_files_are_byte_identical(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": f"d{i}", "text": f"Document {i} \u00e9. {GOOD}", "n": 0.1 * i}) + "\n"
                            for i in range(6)), encoding="utf-8")
    config = parse_config(config_dict(tmp_path))
    build([docs], config, tmp_path / "reference", progress=False)
    out = tmp_path / "out"
    build([docs], config, out, progress=False)
    # Cut the last batch off, as a kill before its progress line would: the files are rewritten
    # without its records, then it is redone.
    progress = (out / "progress.jsonl").read_text().splitlines(keepends=True)
    (out / "progress.jsonl").write_text("".join(progress[:-1]))
    resumed = build([docs], config, out, progress=False)
    assert resumed.batches_run == 1
    for name in [*STAGE_FILES.values(), "rejects.jsonl"]:
        assert (out / name).read_bytes() == (tmp_path / "reference" / name).read_bytes(), name


def test_out_is_an_existing_file_is_one_error_line(tmp_path: Path) -> None:
    docs = hostile_docs(tmp_path)
    target = tmp_path / "out.txt"
    target.write_text("keep me")
    result = CliRunner().invoke(app, ["build", str(docs), "-c", str(config_file(tmp_path)), "-o", str(target),
                                      "--no-progress"])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {target}: the output folder of this build is a file, not a folder"
    assert target.read_text() == "keep me"
    under = CliRunner().invoke(app, ["build", str(docs), "-c", str(config_file(tmp_path)), "-o", str(target / "sub"),
                                     "--no-progress"])
    assert under.exit_code == 2 and under.output.startswith(f"error: {target / 'sub'}: cannot write the output folder")
    assert len(under.output.strip().splitlines()) == 1


def _chattr(flag: str, *paths: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True).returncode == 0


@pytest.fixture
def read_only() -> Iterator:
    """Make folders and files read-only even for root: the immutable attribute (chattr +i),
    which the file system enforces for every user. Without it a plain chmod (which root ignores)."""
    made: list[Path] = []

    def freeze(*paths: Path) -> None:
        if os.geteuid() == 0 and not _chattr("+i", *paths):
            pytest.skip("running as root on a file system without chattr +i: a read-only folder cannot be made")
        if os.geteuid() != 0:
            for p in paths:
                p.chmod(0o555 if p.is_dir() else 0o444)
        made.extend(paths)

    yield freeze
    if made and os.geteuid() == 0:
        _chattr("-i", *made)
    for p in made:
        p.chmod(0o755 if p.is_dir() else 0o644)


def test_a_read_only_output_folder_is_one_error_line_even_when_finished(tmp_path: Path, read_only) -> None:
    docs, out = hostile_docs(tmp_path), tmp_path / "out"
    args = ["build", str(docs), "-c", str(config_file(tmp_path)), "-o", str(out), "--no-progress"]
    assert CliRunner().invoke(app, args).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    read_only(out, *[p for p in out.iterdir() if p.is_file()])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: {out}: cannot write the output folder of this build: "), line
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before, "nothing was touched"
