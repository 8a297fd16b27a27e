"""Import hygiene: core-only import, lazy extras, install layout, sorted exports."""

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BLOCK_EXTRAS = textwrap.dedent(
    """
    import sys
    BLOCKED = {"torch", "transformers", "peft", "openai", "vllm", "neo4j", "rdflib", "spacy", "ray"}
    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None
    sys.meta_path.insert(0, Blocker())
    """
)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", timeout=120)


def test_core_import_works_without_optional_dependencies() -> None:
    code = BLOCK_EXTRAS + textwrap.dedent(
        """
        import kgjudge, kgjudge.llm, kgjudge.cli, kgjudge.judges, kgjudge.graph
        from kgjudge.llm import build_llm, LLMRequest
        llm = build_llm({"type": "fake.v1", "replies": ["ok"]})
        assert llm.generate_sync([LLMRequest.chat("hi")])[0].text == "ok"
        for slot in ({"type": "hf.v1"}, {"type": "openai.v1", "model": "m"}, {"type": "vllm.v1"}):
            try:
                build_llm(slot)
            except kgjudge.MissingExtraError as exc:
                print(exc)
            else:
                raise SystemExit("expected MissingExtraError for " + slot["type"])
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        print("loaded:", loaded)
        """
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'kgjudge[hf]'" in result.stdout
    assert "pip install 'kgjudge[openai]'" in result.stdout
    assert "pip install 'kgjudge[vllm]'" in result.stdout
    assert "loaded: []" in result.stdout


def test_judges_and_graph_install_under_kgjudge_only() -> None:
    result = run_python(
        "import importlib.util as u, kgjudge.judges, kgjudge.graph;"
        "print(u.find_spec('judges'), u.find_spec('graph'), kgjudge.graph.__name__)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "None", "kgjudge.graph"]


@pytest.mark.parametrize("name", ["kgjudge", "kgjudge.llm", "kgjudge.judges", "kgjudge.graph", "kgjudge.stages", "kgjudge.pipeline", "kgjudge.metrics", "kgjudge.serve"])
def test_exports_are_sorted_and_resolve(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__ == sorted(module.__all__)
    for symbol in module.__all__:
        assert hasattr(module, symbol), f"{name}.{symbol}"


def test_serve_needs_its_extra_only_to_serve() -> None:
    code = BLOCK_EXTRAS.replace('"ray"}', '"ray", "fastapi", "uvicorn", "starlette"}') + textwrap.dedent(
        """
        import kgjudge.cli, kgjudge.serve
        from kgjudge.serve import export_labels, read_decisions   # no web framework needed
        try:
            kgjudge.serve.create_app
        except kgjudge.MissingExtraError as exc:
            print(exc)
        """
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert "pip install 'kgjudge[serve]'" in result.stdout


@pytest.mark.slow
def test_the_wheel_ships_the_page_and_its_vendored_libraries(tmp_path: Path) -> None:
    import zipfile

    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                             "-w", str(tmp_path), str(repo)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("kgjudge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("index.html", "app.js", "app.css", "vendor/cytoscape.min.js", "vendor/cytoscape.LICENSE", "vendor/README.md"):
        assert f"kgjudge/serve/static/{name}" in names, name
