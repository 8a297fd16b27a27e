"""Layers point one way, and the map of them can be read here rather than guessed from folder
names (judges/ and graph/ install as kgjudge.judges and kgjudge.graph):

    core (records, errors, config, registry, run and build folders: kgjudge/_*.py)
      <- llm, metrics
      <- stages
      <- judges (triple judges, KASFT), graph
      <- pipeline, filter (kgjudge.judges.filter)
      <- serve, cli, and any package added later

A module may import from its own layer and the layers before it, never from a later one; every
import counts: module level, inside a function, under TYPE_CHECKING, and importlib calls with
a literal name. A name imported from a package face (an ``__init__.pyi`` listing re-exports) is
an import of the module that defines it. The component catalogue (kgjudge/_registry.py) names
modules as data: looking a component up imports its module, which is how plugins work, not a
layer edge; imports by a computed name are allowed there, in the lazy faces and for optional
SDKs only (``find_spec`` by a computed name locates package data without running its code).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from kgjudge._faces import face_names

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"kgjudge": REPO / "kgjudge", "kgjudge.judges": REPO / "judges", "kgjudge.graph": REPO / "graph"}
LAYERS: list[tuple[str, list[str]]] = [
    ("core", ["kgjudge"]),
    ("llm, metrics", ["kgjudge.llm", "kgjudge.metrics"]),
    ("stages", ["kgjudge.stages"]),
    ("judges, graph", ["kgjudge.judges", "kgjudge.graph"]),
    ("pipeline, filter", ["kgjudge.pipeline", "kgjudge.judges.filter"]),
    ("serve, cli", ["kgjudge.cli", "kgjudge.serve"]),
]
TOP = len(LAYERS) - 1
DYNAMIC_IMPORTS_ALLOWED = {"kgjudge._registry", "kgjudge._faces", "kgjudge._extras"}
"""The catalogue, the lazy faces, and the importer of optional SDKs (third-party names)."""
EXEMPT: set[tuple[str, str]] = set()
"""(importer, imported) pairs allowed to point up. None today; each one added needs its reason."""


def modules() -> dict[str, Path]:
    """Every module of the three source folders (``.py``, and the faces' ``.pyi``) by name."""
    found: dict[str, Path] = {}
    for package, root in ROOTS.items():
        for path in sorted(root.rglob("*.py*")):
            if path.suffix not in (".py", ".pyi") or any(p.startswith(".") for p in path.relative_to(root).parts):
                continue
            rel = path.relative_to(root).with_suffix("")
            parts = [] if rel.parts == ("__init__",) else list(rel.parts)
            if parts and parts[-1] == "__init__":
                parts.pop()
            name = ".".join([package, *parts])
            # judges/ and graph/ live beside kgjudge/: kgjudge/judges does not exist.
            if package == "kgjudge" and parts and parts[0] in ("judges", "graph"):
                continue
            found[f"{name}{'.pyi' if path.suffix == '.pyi' else ''}"] = path
    return found


def layer_of(module: str) -> int:
    """The layer of a module: core for kgjudge and its private modules, else the layer of the
    longest listed package it is in, else the top (a package added later)."""
    module = module.removesuffix(".pyi")
    parts = module.split(".")
    if module == "kgjudge" or (len(parts) == 2 and parts[0] == "kgjudge" and parts[1].startswith("_")):
        return 0
    best, best_len = TOP, 0
    for index, (_, prefixes) in enumerate(LAYERS[1:], start=1):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    return best


def package_of(name: str, path: Path) -> str:
    return name.removesuffix(".pyi") if path.stem == "__init__" else name.rsplit(".", 1)[0]


FACES = {name.removesuffix(".pyi"): path for name, path in modules().items() if name.endswith(".pyi")}


def resolve(module: str, names: list[str]) -> Iterator[str]:
    """The modules an import reaches: through a face, the modules defining the names."""
    face = FACES.get(module)
    if face is None:
        yield module
        return
    where = face_names(module, face)
    for name in names:
        yield where[name][0] if name in where else f"{module}.{name}" if f"{module}.{name}" in ALL else module


ALL = {name.removesuffix(".pyi") for name in modules()}


def imports(name: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module) of every import in a file, function-local ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = package_of(name, path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for target in resolve(base, [a.name for a in node.names]):
                yield node.lineno, target
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield node.lineno, arg.value
            elif _called(node) != "find_spec" and name.removesuffix(".pyi") not in DYNAMIC_IMPORTS_ALLOWED:
                yield node.lineno, "<dynamic>"


def _called(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_dynamic_import(node: ast.Call) -> bool:
    return _called(node) in ("import_module", "__import__", "find_spec")


def test_every_import_points_down_or_sideways() -> None:
    upward = []
    for name, path in modules().items():
        if path.stem == "__init__" and path.suffix == ".pyi":
            continue  # a face only hands names on; importers of them are resolved through it
        mine = layer_of(name)
        for line, target in imports(name, path):
            if target == "<dynamic>":
                upward.append(f"{path.relative_to(REPO)}:{line}: an import by a computed name hides the layer")
                continue
            if not (target == "kgjudge" or target.startswith("kgjudge.")):
                continue
            theirs = layer_of(target)
            if theirs > mine and (name, target) not in EXEMPT:
                upward.append(f"{path.relative_to(REPO)}:{line}: {LAYERS[mine][0]} imports {target} ({LAYERS[theirs][0]})")
    assert not upward, "imports that point up a layer:\n" + "\n".join(upward)


def test_every_module_has_a_layer_and_new_packages_land_on_top() -> None:
    names = {n.removesuffix(".pyi") for n in modules()}
    assert {"kgjudge._config", "kgjudge.llm._base", "kgjudge.judges.filter._run", "kgjudge.graph._rag",
            "kgjudge.cli._app", "kgjudge.pipeline._build"} <= names
    assert layer_of("kgjudge._build_folder") == 0 and layer_of("kgjudge.metrics._judge") == 1
    assert layer_of("kgjudge.judges.triples._graphjudger") == layer_of("kgjudge.graph._base") == 3
    assert layer_of("kgjudge.judges.filter._run") == layer_of("kgjudge.pipeline._build") == 4
    assert layer_of("kgjudge.serve._app") == layer_of("kgjudge.newthing._x") == TOP


def test_the_scanner_sees_function_local_and_face_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from kgjudge.judges import Filter\n"
        "def f():\n    from kgjudge.pipeline import build\n"
        "import importlib\nimportlib.import_module('kgjudge.cli')\nimportlib.import_module(name)\n"
    )
    found = sorted(target for _, target in imports("kgjudge.graph._m", source))
    assert found == ["<dynamic>", "importlib", "kgjudge.cli", "kgjudge.judges.filter._run", "kgjudge.pipeline._build"]
    assert layer_of(found[3]) > layer_of("kgjudge.graph._m"), "a face's name counts where it is defined"


def test_no_import_cycles_at_module_level() -> None:
    edges: dict[str, set[str]] = {}
    for name, path in modules().items():
        if name.endswith(".pyi"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = package_of(name, path)
        targets: set[str] = set()
        for node in tree.body:  # module level only: a function-local import runs after loading
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets.update(resolve(base, [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
        edges[name] = {t for t in targets if t in ALL and t != name}
    cycles: list[str] = []
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join([*trail[trail.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert not cycles, "modules that import each other at module level:\n" + "\n".join(cycles)
