"""The component catalogue: each name maps to the module that defines it, a lookup imports that
module only, and a judge added from outside works through the Judge contract."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kgjudge import ConfigError, parse_config
from kgjudge._registry import backends, filter_judges, judges, stores

REPO = Path(__file__).resolve().parents[1]
REGISTRIES = [backends, stores, judges, filter_judges]


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: r.kind)
def test_each_catalogued_module_registers_its_names(registry) -> None:
    for name, module in registry.catalogue.items():
        importlib.import_module(module)
        entry = registry.get(name)
        assert entry.factory.__module__ == module, f"{name} is defined in {entry.factory.__module__}, not {module}"


def kgjudge_modules_after(code: str) -> list[str]:
    script = code + "\nimport sys, json\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('kgjudge'))))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_a_lookup_imports_only_the_module_it_names() -> None:
    loaded = kgjudge_modules_after("from kgjudge._registry import stores\nstores.get('rdf.v1')")
    graph = [m for m in loaded if m.startswith("kgjudge.graph")]
    assert graph == ["kgjudge.graph", "kgjudge.graph._base", "kgjudge.graph._iri", "kgjudge.graph._rdf",
                     "kgjudge.graph._types"], "the RDF store and what it builds on, no other store"
    assert not [m for m in loaded if m.startswith(("kgjudge.llm", "kgjudge.judges"))]


def test_validating_a_config_imports_only_the_components_it_names() -> None:
    fake = kgjudge_modules_after("import kgjudge\nkgjudge.load_config('configs/backends/fake.yaml')")
    assert "kgjudge.llm._fake" in fake and "kgjudge.graph._rdf" in fake  # rdf.v1: the default store
    for other in ("kgjudge.llm._hf", "kgjudge.llm._vllm", "kgjudge.llm._openai", "kgjudge.graph._neo4j",
                  "kgjudge.graph._arcadedb", "kgjudge.graph._rag", "kgjudge.judges.filter._run"):
        assert other not in fake
    judged = kgjudge_modules_after("import kgjudge\nkgjudge.load_config('configs/judges/graphjudger-smollm2.yaml')")
    assert "kgjudge.judges.triples._graphjudger" in judged
    assert not [m for m in judged if m.startswith(("kgjudge.judges.filter", "kgjudge.judges.kasft", "kgjudge.stages"))]
    assert "kgjudge.judges.triples._meta_ranking" not in judged


def test_names_are_listed_without_importing_and_unknown_ones_list_them() -> None:
    listed = kgjudge_modules_after("from kgjudge._registry import backends\nbackends.names()")
    assert not [m for m in listed if m.startswith("kgjudge.llm")]
    with pytest.raises(ConfigError, match="unknown backends type 'nope.v1'") as info:
        backends.get("nope.v1")
    assert set(info.value.choices or []) >= {"fake.v1", "hf.v1", "openai.v1", "vllm.v1"}


def test_a_judge_registered_from_outside_judges_a_build(tmp_path: Path) -> None:
    """The Judge contract is a Protocol: any registered judge meeting it works in kgjudge build."""
    pytest.importorskip("spacy")
    from typing import Literal

    from kgjudge import Judgement
    from kgjudge._sections import BackendSlot
    from kgjudge.judges import Judge
    from kgjudge.pipeline import build

    class LengthConfig(BackendSlot):
        type: Literal["test-length.v1"] = "test-length.v1"
        max_chars: int = 6

    class LengthJudge:
        name = "test-length.v1"

        def __init__(self, config: LengthConfig) -> None:
            self.config = config

        async def judge(self, triples, documents):
            return [Judgement(target_id=t.id, judge=self.name, score=1.0 if len(t.tail) <= self.config.max_chars else 0.0,
                              label=len(t.tail) <= self.config.max_chars, threshold=0.5) for t in triples]

        def judge_sync(self, triples, documents):
            raise NotImplementedError

    @judges.register("test-length.v1", config=LengthConfig)
    def make(config: LengthConfig, llm: object) -> LengthJudge:
        return LengthJudge(config)

    try:
        assert isinstance(LengthJudge(LengthConfig()), Judge)
        docs = tmp_path / "d.jsonl"
        docs.write_text(json.dumps({"id": "d1", "text": "Marie Curie was born in Warsaw. She moved to Paris."}) + "\n")
        rules = [{"match": "List the named entities", "reply": '{"entities": ["Marie Curie"]}'},
                 {"match": "as knowledge-graph triples",
                  "reply": '[["Marie Curie", "born in", "Warsaw"], ["Marie Curie", "lived in", "Paris"]]'}]
        config = parse_config({"backends": {"default": {"type": "fake.v1", "rules": rules}}, "cache": {"enabled": False},
                               "pipeline": {"denoise": {"enabled": False}},
                               "judge": {"type": "test-length.v1", "max_chars": 5}})
        summary = build([docs], config, tmp_path / "out", progress=False)
        assert (summary.judged, summary.triples) == (2, 1), "Paris is kept, Warsaw (6 letters) is not"
    finally:
        judges._entries.pop("test-length.v1", None)
