"""The output folder of resumable runs: ownership, commits, and torn lines after a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgjudge import ConfigError, read_jsonl, write_jsonl
from kgjudge._run_folder import RunFolder


def test_a_torn_progress_line_is_dropped_and_later_commits_survive(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "out", "build")
    folder.claim(config_hash="c", input_hash="i", restart=False, outputs=[])
    folder.write_manifest({"config_hash": "c", "input_hash": "i"})
    folder.commit({"documents": ["d1"]})
    with (tmp_path / "out" / "progress.jsonl").open("a") as handle:
        handle.write('{"documents": ["d2"')  # killed mid-write
    folder.claim(config_hash="c", input_hash="i", restart=False, outputs=[])
    assert (tmp_path / "out" / "progress.jsonl").read_text() == '{"documents": ["d1"]}\n'
    folder.commit({"documents": ["d2"]})
    assert folder.committed() == [{"documents": ["d1"]}, {"documents": ["d2"]}]

    with pytest.raises(ConfigError, match="holds a build of other inputs or another config"):
        folder.claim(config_hash="other", input_hash="i", restart=False, outputs=[])
    folder.claim(config_hash="other", input_hash="i", restart=True, outputs=[])
    assert folder.committed() == [] and folder.manifest() is None


def test_appending_after_a_torn_line_keeps_the_new_record(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text('{"a": 1}\n{"a": 2, "b"')
    write_jsonl(path, [{"a": 3}], append=True)
    errors: list = []
    assert read_jsonl(path, errors=errors) == [{"a": 1}, {"a": 3}]
    assert len(errors) == 1 and errors[0].line == 2


def test_the_manifest_never_holds_url_credentials(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "out", "build")
    folder.claim(config_hash="c", input_hash="i", restart=False, outputs=[])
    folder.write_manifest({"error": "cannot reach http://user:sk-secret@host:8000/v1", "text": "ok \ud800"})
    text = (tmp_path / "out" / "manifest.json").read_text(encoding="utf-8")
    assert "sk-secret" not in text and "http://***@host:8000/v1" in text
    assert folder.manifest() == {"error": "cannot reach http://***@host:8000/v1", "text": "ok \\ud800"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["manifest.json"]


@pytest.mark.parametrize("text", ['{"config_hash": "c", "inp', "[1, 2]", "[" * 5000, "\xff"])
def test_an_unreadable_manifest_is_one_error_naming_it_and_restart_replaces_it(tmp_path: Path, text: str) -> None:
    from kgjudge import InputError

    folder = RunFolder(tmp_path / "out", "build")
    folder.claim(config_hash="c", input_hash="i", restart=False, outputs=[])
    (tmp_path / "out" / "manifest.json").write_text(text, encoding="latin-1")
    with pytest.raises(InputError) as info:
        folder.claim(config_hash="c", input_hash="i", restart=False, outputs=[])
    assert info.value.file == str(tmp_path / "out" / "manifest.json") and "--restart" in str(info.value)
    folder.claim(config_hash="c", input_hash="i", restart=True, outputs=[])
    assert folder.manifest() is None
