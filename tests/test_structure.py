"""The shape of the tree (ARCHITECTURE.md): arrows between the five packages point one way,
no module imports itself back through others, no module is past the size budget, and the
repository root holds no stray files."""
from __future__ import annotations

import ast
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("records", "storage", "search", "ingest", "web")
# which of our packages each may import (ARCHITECTURE.md, "The five packages")
MAY_IMPORT = {"records": set(), "storage": set(), "search": set(),
              "ingest": {"records", "storage", "search"},
              "web": {"records", "storage", "search", "ingest"}}
SIZE_BUDGET = 800  # lines (STYLE.md)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")
            if "migrations" not in p.parts}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """Modules of ours that ``path`` imports anywhere in it (function bodies included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(path, name, known) for name, path in modules.items()}


def test_packages_import_only_downwards():
    wrong = sorted((a, b) for a, targets in _graph().items() for b in targets
                   if b.split(".")[0] != a.split(".")[0]
                   and b.split(".")[0] not in MAY_IMPORT[a.split(".")[0]])
    assert not wrong, f"imports against the arrows: {wrong}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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
                out.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_loop_in_the_tree():
    graph = _graph()
    # a package's __init__ re-exporting its modules is not a loop of two jobs
    for name in list(graph):
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".")}
    loops = _cycles(graph)
    assert not loops, f"modules that import each other round: {loops}"


def test_no_module_is_past_the_size_budget():
    big = sorted((name, n) for name, path in _modules().items()
                 if (n := len(path.read_text(encoding="utf-8").splitlines())) > SIZE_BUDGET)
    assert not big, f"split these along a domain line: {big}"


def test_the_root_holds_no_stray_files():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if tracked.returncode != 0:  # not a git checkout (an installed copy): nothing to check
        return
    top = {line.split("/")[0] for line in tracked.stdout.splitlines()}
    expected = {*PACKAGES, "tests", "docs", "bench", ".ci", "pyproject.toml", "README.md",
                "Makefile", ".gitignore"}
    assert top <= expected, f"files at the root that are not the project's: {top - expected}"
