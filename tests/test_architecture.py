"""The shape docs/ARCHITECTURE.md promises: no import cycle between `newsletter` modules
(imports at module level; an import inside a function is a deliberate late binding),
no module over ~400 lines except compliance.py, the rule index, and no function over
40 lines of code outside the documented exceptions."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "newsletter"
MAX_LINES = 400
# The rule index may be longer (its functions stay short).
LONG_ALLOWED = {"newsletter.compliance"}
MAX_FUNCTION_LINES = 40  # lines of code: the docstring, blank lines and comments not counted
# The documented exceptions: docs/ARCHITECTURE.md, "Functions over ~40 lines" says why.
LONG_FUNCTIONS = {
    "newsletter.compliance.author_content_problems",
    "newsletter.compliance.footer_visibility_problems",
    "newsletter.compliance.system_footer_problems",
    "newsletter.messages.prepare",
}
ARCHITECTURE = PACKAGE.parent / "docs" / "ARCHITECTURE.md"


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


def code_lines(function: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    """The function's lines of code: its docstring, blank lines and comments not counted."""
    first = function.body[0]
    docstring = set()
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        if isinstance(first.value.value, str):
            docstring = set(range(first.lineno, first.end_lineno + 1))
    return sum(
        1
        for number in range(function.lineno, function.end_lineno + 1)
        if number not in docstring and lines[number - 1].strip()[:1] not in ("", "#")
    )


def function_lengths() -> dict[str, int]:
    """Every function and method of `newsletter`, by qualified name, with its length."""
    found: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str, lines: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                found[f"{prefix}.{child.name}"] = code_lines(child, lines)
                visit(child, f"{prefix}.{child.name}", lines)
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}.{child.name}", lines)

    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        visit(ast.parse(text), name, text.splitlines())
    return found


def test_no_function_over_40_lines_outside_the_documented_exceptions():
    lengths = function_lengths()
    assert lengths["newsletter.create_app"]  # the functions are read at all
    too_long = {
        name: n
        for name, n in lengths.items()
        if n > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS
    }
    assert too_long == {}


def test_the_long_functions_are_real_and_documented():
    lengths = function_lengths()
    documented = ARCHITECTURE.read_text(encoding="utf-8")
    for name in LONG_FUNCTIONS:
        assert name in lengths
        assert f"`{name.removeprefix('newsletter.')}`" in documented
