"""The shape docs/ARCHITECTURE.md promises: no import cycle between `newsletter` modules
(imports at module level; an import inside a function is a deliberate late binding),
and no module over ~400 lines except compliance.py, the rule index."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "newsletter"
MAX_LINES = 400
# The rule index may be longer (its functions stay short).
LONG_ALLOWED = {"newsletter.compliance"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_at_module_level(name: str, path: Path, known: set[str]) -> set[str]:
    """The `newsletter` modules this module imports when it is imported itself."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    # The packages holding this module are imported before it (and `newsletter` itself,
    # the app factory, before everything): not edges of the graph.
    return {
        module
        for module in found
        if module in known and module != name and not name.startswith(module + ".")
    }


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    graph = {name: imported_at_module_level(name, path, known) for name, path in found.items()}
    # Importing `a.b` runs `a/__init__` first, so a package's own imports count too;
    # a package re-exporting its submodules is not a cycle with them.
    for name, edges in graph.items():
        for target in list(edges):
            parent = target.rpartition(".")[0]
            while parent and parent != "newsletter" and not name.startswith(parent + "."):
                edges.add(parent)
                parent = parent.rpartition(".")[0]
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return groups


def test_no_import_cycle_between_newsletter_modules():
    graph = import_graph()
    assert graph["newsletter.subscriptions"]  # the graph is read at all
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_400_lines():
    too_long = {
        name: len(path.read_text(encoding="utf-8").splitlines())
        for name, path in modules().items()
        if name not in LONG_ALLOWED
    }
    assert {name: n for name, n in too_long.items() if n > MAX_LINES} == {}


def test_the_allow_list_names_real_modules():
    assert LONG_ALLOWED <= set(modules())
