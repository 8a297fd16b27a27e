"""A config written by config_to_dict (build manifests, Ray workers) parses back into the same
config, every example config and variations of it included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kgjudge import KGJudgeConfig, config_to_dict, parse_config
from kgjudge._config import read_yaml

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

REPO = Path(__file__).resolve().parents[1]
# configs/train holds training configs (kgjudge train), not kgjudge configs.
EXAMPLES = sorted(p for p in (REPO / "configs").rglob("*.yaml") if p.parent.name != "train")

STORES = st.one_of(
    st.none(),
    st.fixed_dictionaries({"type": st.just("rdf.v1")}, optional={"path": st.sampled_from(["g.oxigraph", None]),
                                                                  "base_iri": st.just("https://example.org/kg/")}),
    st.fixed_dictionaries({"type": st.just("networkx.v1")}, optional={"path": st.sampled_from(["g.json", None])}),
    st.fixed_dictionaries({"type": st.just("neo4j.v1")}, optional={"uri": st.just("bolt://127.0.0.1:7687"),
                                                                    "database": st.just("kg")}),
)
JUDGES = st.one_of(
    st.none(),
    st.fixed_dictionaries({"type": st.just("graphjudger.v1"), "backend": st.just("default")},
                          optional={"adapter": st.just("judge"), "threshold": st.floats(0, 1),
                                    "keep_top_k": st.integers(1, 5), "max_document_chars": st.none(),
                                    "require_in_context": st.booleans(), "min_match": st.floats(0, 100)}),
    st.fixed_dictionaries({"type": st.just("meta_ranking.v1"), "backend": st.just("default")},
                          optional={"threshold": st.floats(0, 1), "swap": st.booleans()}),
)


def fields_set(model: Any) -> Any:
    """Which keys were given, all the way down (equality of models ignores it)."""
    if isinstance(model, dict):
        return {k: fields_set(v) for k, v in model.items()}
    if hasattr(model, "model_fields_set"):
        return (type(model).__name__, {k: fields_set(getattr(model, k)) for k in sorted(model.model_fields_set)})
    return None


def through_manifest(config: KGJudgeConfig) -> KGJudgeConfig:
    """What a build writes to manifest.json (and sends to Ray workers), read back."""
    return parse_config(json.loads(json.dumps(config_to_dict(config))))


@hypothesis.settings(max_examples=60, deadline=None)
@hypothesis.given(example=st.sampled_from(EXAMPLES), store=STORES, judge=JUDGES,
                  batch_size=st.one_of(st.none(), st.integers(1, 64)), hops=st.one_of(st.none(), st.integers(0, 3)))
def test_a_manifest_config_parses_back_equal(example: Path, store: Any, judge: Any, batch_size: Any, hops: Any) -> None:
    raw = read_yaml(example)
    raw.setdefault("backends", {}).setdefault("default", {"type": "fake.v1"})
    if store is not None:
        raw["store"] = store
    if judge is not None:
        raw["judge"] = judge
    if batch_size is not None:
        raw.setdefault("pipeline", {})["batch_size"] = batch_size
    if hops is not None:
        raw.setdefault("rag", {})["hops"] = hops
    config = parse_config(raw, file=str(example))
    again = through_manifest(config)
    assert again == config
    assert fields_set(again) == fields_set(config)
    assert config_to_dict(again) == config_to_dict(config)
    assert yaml.safe_load(yaml.safe_dump(config_to_dict(config, defaults=True))) == config_to_dict(again, defaults=True)


def test_every_example_config_is_covered() -> None:
    assert {p.parent.name for p in EXAMPLES} == {"backends", "filter", "judges", "pipelines"}


def test_a_slot_keeps_its_settings_and_its_type() -> None:
    from kgjudge.llm import FakeConfig

    config = KGJudgeConfig(backends={"default": FakeConfig(replies=["x"])})
    assert config_to_dict(config)["backends"] == {"default": {"type": "fake.v1", "replies": ["x"]}}
    raw = {"backends": {"default": {"type": "fake.v1"}},
           "judge": {"type": "graphjudger.v1", "adapter": "judge", "threshold": 0.7},
           "store": {"type": "networkx.v1", "path": "elsewhere/graph.json"}}
    data = config_to_dict(parse_config(raw))
    assert data["judge"] == raw["judge"] and data["store"] == raw["store"]
    assert config_to_dict(parse_config(raw), defaults=True)["judge"]["batch_size"] == 256
