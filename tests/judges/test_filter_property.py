"""`kgjudge filter` keeps or rejects every example of any input: kept + rejected + rejects = input."""

from __future__ import annotations

import json
import math

import pytest

from tests.judges.test_filter import assert_nothing_lost, make_config, run

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

RECORD = st.one_of(
    st.builds(lambda q, a: json.dumps({"instruction": q, "output": a}), st.text(max_size=20), st.text(max_size=20)),
    st.builds(lambda q, a: json.dumps({"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}),
              st.text(max_size=20), st.text(max_size=20)),
    st.builds(lambda v: json.dumps({"conversations": [{"from": "human", "value": "hi"}, {"from": v, "value": "yo"}]}),
              st.sampled_from(["gpt", "human", "robot"])),
    st.text(max_size=30).filter(lambda s: "\n" not in s and "\r" not in s),
    st.builds(json.dumps, st.dictionaries(st.text(max_size=5), st.integers(), max_size=3)),
)


@hypothesis.settings(max_examples=15, deadline=None)
@hypothesis.given(records=st.lists(RECORD, max_size=12), threshold=st.floats(0.0, 1.0), rounds=st.integers(1, 2))
def test_kept_plus_rejected_plus_rejects_is_the_input(tmp_path_factory: pytest.TempPathFactory, records: list[str],
                                                      threshold: float, rounds: int) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    src = tmp / "in.jsonl"
    src.write_text("".join(r + "\n" for r in records), encoding="utf-8")
    n_inputs = sum(1 for r in records if r.strip())
    config = make_config(tmp, combine={"threshold": threshold}, rounds=rounds, refresh={"keep_rate": 0.5})
    summary = run(config, [src], tmp / "out")
    assert summary.inputs == n_inputs
    assert_nothing_lost(tmp / "out", n_inputs)
    assert not math.isnan(sum(r.threshold or 0 for r in summary.rounds))
