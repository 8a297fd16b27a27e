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


def test_lines_that_are_not_valid_text_or_strict_json_are_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        '{"a": "ok"}\n'
        '{"a": "\\ud800"}\n'  # a lone surrogate escape: not valid Unicode text
        '{"a": NaN}\n'
        '{"a": ' + "[" * 5000 + "]" * 5000 + "}\n"
        '{"a": "Unterminated\n'
        '{"a": "\\ud83d\\ude00"}\n',  # a surrogate pair is one valid character
        encoding="utf-8",
    )
    errors: list[InputError] = []
    assert read_jsonl(path, errors=errors) == [{"a": "ok"}, {"a": "\U0001f600"}]
    assert [e.line for e in errors] == [2, 3, 4, 5]
    assert "lone surrogate \\ud800 in field 'a'" in str(errors[0])
    assert "NaN is not a JSON value" in str(errors[1])
    assert "nested more than 100 levels deep" in str(errors[2])
    assert "(Invalid control character at column 20)" in str(errors[3]) and "at at" not in str(errors[3])


def test_one_serialiser_rewrites_lines_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    triples = [Triple(head=f"h{i} é", relation="r", tail="t", document_id="d") for i in range(2)]
    write_jsonl(path, [*triples, {"n": 1e-07, "x": float("nan"), "s": "x\ud800y"}])
    first = path.read_bytes()
    write_jsonl(path, read_jsonl(path))
    assert path.read_bytes() == first
    assert read_jsonl(path)[2] == {"n": 1e-07, "x": None, "s": "x\\ud800y"}, "the surrogate is kept as visible text"


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n')

    def records():
        yield {"a": 2}
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_jsonl(path, records())
    assert path.read_text() == '{"a": 1}\n' and sorted(p.name for p in tmp_path.iterdir()) == ["t.jsonl"]
