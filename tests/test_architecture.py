"""The structure the README's "Architecture" section describes, guarded by tests: no import
cycle anywhere (runtime, lazy and type-checking imports all count), and no plugin or core
module that branches on a task's name."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: import name → source folder, as pyproject.toml's package-dir maps them
PACKAGES = {"perfekt_bench": ROOT / "perfekt_bench", "perfekt_bench_plugins": ROOT / "plugins",
            "perfekt_bench_tasks": ROOT / "tasks"}


def module_name(package: str, folder: Path, path: Path) -> str:
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def imports_of(path: Path, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """Every module ``name`` imports, wherever the import statement stands (top level, inside
    functions, under ``if TYPE_CHECKING``), as absolute module names. ``from pkg import x``
    depends on the submodule ``pkg.x`` when there is one, else on ``pkg`` itself."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    base = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - node.level + 1]
                module = ".".join(anchor + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                found.add(submodule if submodule in modules else module)
    return found


def import_graph(packages: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the modules of ``packages`` it imports."""
    modules: dict[str, tuple[Path, bool]] = {}
    for package, folder in packages.items():
        for path in folder.rglob("*.py"):
            modules[module_name(package, folder, path)] = (path, path.name == "__init__.py")
    graph = {}
    for name, (path, is_package) in modules.items():
        graph[name] = {m for m in imports_of(path, name, is_package, set(modules))
                       if m in modules and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _within(graph: dict[str, set[str]], package: str) -> dict[str, set[str]]:
    """The graph restricted to one package's modules, the package's ``__init__`` (the public
    API, which re-exports everything) left out."""
    keep = {m for m in graph if m.startswith(package + ".")}
    return {m: graph[m] & keep for m in keep}


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_import_cycle(package):
    graph = _within(import_graph(PACKAGES), package)
    assert len(graph) > 5
    found = cycles(graph)
    assert found == [], "import cycles: " + "; ".join(" ↔ ".join(sorted(c)) for c in found)


def test_the_core_never_imports_a_plugin_or_a_task():
    graph = import_graph(PACKAGES)
    for module, imported in graph.items():
        if module.startswith("perfekt_bench.") or module == "perfekt_bench":
            bad = {m for m in imported if m.startswith(("perfekt_bench_plugins",
                                                        "perfekt_bench_tasks"))}
            assert not bad, f"{module} imports {bad}"


def test_the_checker_finds_a_cycle(tmp_path):
    """The meta-test can fail: a package whose modules import each other, one of them only
    lazily inside a function and one under TYPE_CHECKING, is reported."""
    pkg = tmp_path / "cyclic"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .c import thing\n    return thing\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                              "    from .a import x\nthing = 1\n")
    (pkg / "d.py").write_text("from .a import y\n")
    graph = _within(import_graph({"cyclic": pkg}), "cyclic")
    assert cycles(graph) == [["cyclic.a", "cyclic.b", "cyclic.c"]]


def test_no_plugin_or_core_module_compares_task_names():
    """Tasks publish their hints and defaults; refiners, metrics and the harness never ask
    which task they are on (``task.name == "deepjet"``)."""
    offenders = []
    for folder in (ROOT / "perfekt_bench", ROOT / "plugins"):
        for path in folder.rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#")[0]
                if re.search(r"""task\w*\.name\s*(==|!=|in\b)""", code) or re.search(
                        r"""["'](analytic|jets|deepjet)["']\s*(==|!=|in\b)""", code):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
