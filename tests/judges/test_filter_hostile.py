"""`kgjudge filter` with hostile input records and output folders it cannot use: each bad record
is a reject with file, line and reason, the rest is filtered, no temporary file stays behind,
re-runs work, and a bad --out is one error line."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from kgjudge.cli import app

ALPACA = {"instruction": "What is the capital of France?", "output": "The capital of France is Paris."}

HOSTILE = {
    # line: (raw line as written to the file, reason fragment or None for a good record)
    2: ('{"instruction": "Capital of Spain?", "output": "Madrid \\ud800"}', "lone surrogate \\ud800 in field 'output'"),
    3: ('{"id": "x\\udfff", "instruction": "Capital of Spain?", "output": "Madrid"}', "lone surrogate \\udfff in field 'id'"),
    4: ('{"instruction": "Capital of Spain?", "output": "Madrid", "extra": {"\\udc00": 1}}', "lone surrogate \\udc00 in a key"),
    5: ('{"id": {"x": 1}, "instruction": "Capital of Spain?", "output": "Madrid"}', "field 'id': an id must be a string or an integer"),
    6: ('{"id": 3, "instruction": "Capital of Italy?", "output": "Rome"}', None),
    7: ('{"id": "3", "instruction": "Capital of Peru?", "output": "Lima"}', "duplicate id '3'"),
    8: ('{"instruction": "Capital of Spain?", "output": "Madrid", "w": Infinity}', "Infinity is not a JSON value"),
    9: ('{"instruction": "Q", "output": ' + "[" * 2000 + "]" * 2000 + "}", "nested more than 100 levels deep"),
}


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({
        "backends": {"default": {"type": "fake.v1"}},
        "cache": {"enabled": True, "path": str(tmp_path / "cache")},
        "filter": {"judges": [{"type": "direct.v1"}], "batch_size": 2},
    }))
    return path


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_hostile_records_are_rejected_and_reruns_work(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    rows = [json.dumps(ALPACA)] + [HOSTILE[n][0] for n in sorted(HOSTILE)] + [json.dumps(ALPACA | {"output": "Paris."})]
    src.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["filter", str(src), "-c", str(config_file(tmp_path)), "-o", str(out), "--no-progress"]
    for attempt in range(2):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (attempt, result.output)
        rejects = {r["line"]: r["reason"] for r in lines(out / "rejects.jsonl")}
        expected = {n: why for n, (_, why) in HOSTILE.items() if why}
        assert sorted(rejects) == sorted(expected)
        for n, why in expected.items():
            assert why in rejects[n], (n, rejects[n])
        kept, rejected = lines(out / "kept.jsonl"), lines(out / "rejected.jsonl")
        assert len(kept) + len(rejected) + len(rejects) == len(rows), "nothing lost"
        assert sorted(r["kgjudge_filter"]["line"] for r in kept + rejected) == [1, 6, len(rows)]
        assert not [p.name for p in out.iterdir() if ".tmp" in p.name], "no temporary file left behind"
    assert "0 model calls" in result.output


def test_out_is_a_file_is_one_error_line(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(ALPACA) + "\n")
    target = tmp_path / "out.jsonl"
    target.write_text("mine")
    result = CliRunner().invoke(app, ["filter", str(src), "-c", str(config_file(tmp_path)), "-o", str(target)])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {target}: the output folder of this filter run is a file, not a folder"
    assert target.read_text() == "mine"
