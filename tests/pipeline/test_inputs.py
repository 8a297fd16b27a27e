"""Every bad-input case: reported with file and line, never dropped silently, never a crash."""

import json
from pathlib import Path

import pytest

from kgjudge import InputError
from kgjudge._inputs import load_documents, parse_gold
from kgjudge._pipeline_config import InputConfig


def test_formats_and_ids(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Paris is in France.")
    (tmp_path / "docs" / "b.md").write_text("# Title\n\nRome is in Italy.")
    (tmp_path / "docs" / "ignored.bin").write_bytes(b"\x00\x01")
    (tmp_path / "in.jsonl").write_text(json.dumps({"id": 7, "text": "Berlin.", "lang": "en"}) + "\n")
    (tmp_path / "val.target").write_text("Doc one.\nDoc two.\n")
    (tmp_path / "val.source").write_text("[['Doc', 'is', 'one']]\n[['a', 'b'], ['x', 'y', 'z']]\n")
    loaded = load_documents([tmp_path / "docs", tmp_path / "in.jsonl", tmp_path / "val.target"])
    ids = [d.id for d in loaded.documents]
    assert ids == [str(tmp_path / "docs" / "a.txt"), str(tmp_path / "docs" / "b.md"), "7", "val.target:1", "val.target:2"]
    assert loaded.documents[2].metadata == {"lang": "en"} and loaded.documents[2].line == 1
    assert [(g.document_id, g.as_tuple()) for g in loaded.gold] == [
        ("val.target:1", ("Doc", "is", "one")), ("val.target:2", ("x", "y", "z"))]
    assert loaded.malformed_gold == 1 and loaded.rejects == []


def test_bad_documents_are_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("   \n")
    (tmp_path / "binary.txt").write_bytes(b"abc\x00def")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "big.txt").write_text("x" * 101)
    lines = [
        json.dumps({"id": "ok", "text": "fine"}),
        "{broken",
        json.dumps({"text": "no id"}),
        json.dumps({"id": "t", "text": 5}),
        json.dumps(["not", "object"]),
        json.dumps({"id": "ok", "text": "duplicate id"}),
        json.dumps({"id": "e", "text": ""}),
    ]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "t.target").write_bytes(b"good line\n\nbad \xff line\n")
    files = [tmp_path / n for n in ("empty.txt", "binary.txt", "latin1.txt", "big.txt", "in.jsonl", "t.target")]
    loaded = load_documents(files, InputConfig(max_chars=100))
    assert [d.id for d in loaded.documents] == ["ok", "t.target:1"]
    got = {(Path(r.file).name, r.line): r.reason for r in loaded.rejects}
    assert got[("empty.txt", None)] == "empty document"
    assert "NUL" in got[("binary.txt", None)]
    assert "UTF-8" in got[("latin1.txt", None)]
    assert "oversized" in got[("big.txt", None)]
    assert "invalid JSON" in got[("in.jsonl", 2)]
    assert "missing field 'id'" in got[("in.jsonl", 3)]
    assert "'text' is missing or not a string" in got[("in.jsonl", 4)]
    assert "not a JSON object" in got[("in.jsonl", 5)]
    assert "duplicate document id" in got[("in.jsonl", 6)]
    assert got[("in.jsonl", 7)] == "empty document"
    assert got[("t.target", 2)] == "empty document" and "UTF-8" in got[("t.target", 3)]
    assert len(loaded.rejects) == 12


def test_fail_mode_stops_at_the_first_bad_document(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"id": 1, "text": "ok"}\n{oops\n')
    with pytest.raises(InputError, match=r"in.jsonl:2: invalid JSON line"):
        load_documents([tmp_path / "in.jsonl"], InputConfig(on_bad_input="fail"))


def test_missing_path_and_misaligned_gold(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_documents([tmp_path / "nope.txt"])
    (tmp_path / "v.target").write_text("a\nb\n")
    (tmp_path / "v.source").write_text("[]\n")
    loaded = load_documents([tmp_path / "v.target"])
    assert len(loaded.documents) == 2 and loaded.gold == []
    assert "has 1 lines but v.target has 2" in loaded.rejects[0].reason


def test_parse_gold_counts_malformed_entries() -> None:
    data = Path(__file__).resolve().parents[3] / "shared" / "data"
    if not data.is_dir():
        pytest.skip("development data not present")
    counts = {}
    for name in ("rebel_sub/val.source", "scierc/train.source"):
        good = bad = 0
        for line in (data / name).read_text(encoding="utf-8").splitlines():
            triples, malformed = parse_gold(line)
            good, bad = good + len(triples), bad + malformed
        counts[name] = (good, bad)
    assert counts == {"rebel_sub/val.source": (5810, 0), "scierc/train.source": (3219, 0)}
    assert parse_gold("[['a', 'b'], ['a', 'b', 'c', 'd'], ['h', 'r', 't'], 'x']") == ([["h", "r", "t"]], 3)
