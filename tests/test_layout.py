"""The Python package's shape, checked: no import cycle among tsrt's modules, and no
private (underscore) name imported from another module. Read from the source with
ast, so a lazy import inside a function counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "python" / "tsrt"


def module_name(path: Path) -> str:
    parts = ["tsrt", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
COMPILED = {"tsrt._C"}  # the pybind11 extension: a module, though it has no .py source


def imports(name: str) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for each import statement of `name`,
    resolving `from tsrt.pkg import sub` to the submodule tsrt.pkg.sub."""
    tree = ast.parse(MODULES[name].read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.append((submodule, []) if submodule in MODULES or submodule in COMPILED
                             else (node.module, [alias.name]))
    return [(target, names) for target, names in found if target in MODULES]


def test_no_private_name_crosses_a_module():
    crossings = [f"{name} imports {imported} from {target}"
                 for name in MODULES for target, names in imports(name) for imported in names
                 if imported.startswith("_") and target != name and imported != "__version__"]
    assert crossings == []


def test_no_import_cycle():
    # A package's __init__ re-exporting its submodules is the one allowed edge back:
    # importing tsrt.exporter.check first runs tsrt/exporter/__init__.py anyway.
    graph = {name: {target for target, _ in imports(name)
                    if not (name.startswith(target + ".") and MODULES[target].name == "__init__.py")}
             for name in MODULES}
    cycles = []

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        if node in stack:
            cycles.append(" -> ".join(stack[stack.index(node):] + [node]))
            return
        if node in done:
            return
        for target in sorted(graph[node]):
            visit(target, stack + [node], done)
        done.add(node)

    done: set[str] = set()
    for name in sorted(graph):
        visit(name, [], done)
    assert cycles == []
