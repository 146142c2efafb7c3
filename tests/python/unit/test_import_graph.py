"""The package's import graph has no circles: each stage of the data path imports only the stages before it and the
shared vocabulary (errors, model, typesupport), so any module can be read, and imported, on its own.

The graph is read from the source with `ast`: module-level and function-level imports count (a function-level import
still ties the two modules together); imports under `if TYPE_CHECKING:` do not (they exist for annotations only).
`from pyheapdump import X` counts as an import of the package's __init__, which imports every stage: inside the
package, import from the module that defines X instead."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pyheapdump

PACKAGE = Path(pyheapdump.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for directory, _, files in os.walk(PACKAGE, followlinks=True):  # surrogates/ is a symlink into the package
        for file in files:
            if not file.endswith(".py"):
                continue
            path = Path(directory) / file
            parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for child in node.body for inner in ast.walk(child))
    return skipped


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: list[str] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            targets += [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    result = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            result.add(target)
    return result


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules) | {"pyheapdump._native"}
    return {name: _imports(name, path, known) for name, path in modules.items()}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_every_module_of_the_package() -> None:
    graph = import_graph()
    assert "pyheapdump.load.loader" in graph and "pyheapdump.surrogates.base" in graph
    assert "pyheapdump.reenact.frames" in graph["pyheapdump.debug.debugger"]
    assert "pyheapdump.capture.install" not in graph["pyheapdump.capture.lazy"]


def test_a_circle_is_found_when_there_is_one() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_circles() -> None:
    assert circles(import_graph()) == []
