from pathlib import Path

import pytest

from kgjudge import InputError, Triple, iter_jsonl, read_jsonl, write_jsonl


def test_round_trip(tmp_path: Path) -> None:
    triples = [Triple(head=f"h{i}", relation="r", tail="t", document_id="d") for i in range(3)]
    path = tmp_path / "sub" / "t.jsonl"
    assert write_jsonl(path, triples) == 3
    assert read_jsonl(path, Triple) == triples
    write_jsonl(path, triples[:1], append=True)
    assert len(read_jsonl(path, Triple)) == 4


def _broken(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"head": "a", "relation": "r", "tail": "b"}\n'
        b'{"head": "a", "relation": "r", \n'  # line 2: truncated JSON
        b"\n"
        b'{"head": "a", "relation": "r", "tail": "c", "extra": 1}\n'  # line 4: unknown field
        b'{"head": "\xff\xfe", "relation": "r", "tail": "d"}\n'  # line 5: not UTF-8
        b'[1, 2]\n'  # line 6: not an object (plain-dict mode)
        b'{"head": "x", "relation": "r", "tail": "y"}\n'
    )
    return path


def test_first_bad_line_raises_with_file_and_line(tmp_path: Path) -> None:
    path = _broken(tmp_path)
    with pytest.raises(InputError) as info:
        read_jsonl(path, Triple)
    assert info.value.line == 2 and info.value.file == str(path)
    assert f"{path}:2: invalid JSON" in str(info.value)


def test_collected_errors_lose_nothing_else(tmp_path: Path) -> None:
    path = _broken(tmp_path)
    errors: list[InputError] = []
    good = read_jsonl(path, Triple, errors=errors)
    assert [t.tail for t in good] == ["b", "y"]
    assert [e.line for e in errors] == [2, 4, 5, 6]
    assert "field 'extra'" in str(errors[1])
    assert "UTF-8" in str(errors[2])
    dict_errors: list[InputError] = []
    rows = list(iter_jsonl(path, errors=dict_errors))
    assert len(rows) == 3 and [e.line for e in dict_errors] == [2, 5, 6]
    assert "expected a JSON object" in str(dict_errors[-1])


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open"):
        read_jsonl(tmp_path / "nope.jsonl")
