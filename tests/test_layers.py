"""The package's structure holds: its layers (pyproject.toml's import contracts, checked
with import-linter) and no import circle. Every import counts: at module level, inside
functions and under ``TYPE_CHECKING``."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

grimp = pytest.importorskip("grimp", reason="import-linter (requirements-dev.lock) is needed")


def test_the_layer_contracts_hold():
    """In a process of its own: import-linter configures logging with
    ``disable_existing_loggers``, which would silence the package's logger in this one."""
    import subprocess
    import sys

    code = ("from importlinter.cli import lint_imports; "
            f"raise SystemExit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, "
            "no_cache=True))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]


def _module_graph():
    import networkx as nx

    imports = grimp.build_graph("fashion_cluster", exclude_type_checking_imports=False)
    graph = nx.DiGraph()
    for module in imports.modules:
        graph.add_node(module)
        graph.add_edges_from((module, other)
                             for other in imports.find_modules_directly_imported_by(module))
    return graph


def test_no_import_circles():
    import networkx as nx

    circles = list(nx.simple_cycles(_module_graph()))
    assert circles == [], f"import circles: {circles}"


def test_the_check_sees_imports_inside_functions_and_type_checking():
    """The graph is not blind to the imports that a circle usually hides in."""
    graph = _module_graph()
    assert graph.has_edge("fashion_cluster.methods", "fashion_cluster.clusterers")  # in a function
    assert graph.has_edge("fashion_cluster", "fashion_cluster.runs")  # under TYPE_CHECKING


def test_no_function_over_100_lines_and_no_class_over_200():
    """A function fits on a screen or two; a class holds state that belongs together."""
    import ast

    too_long = []
    for path in sorted((ROOT / "src" / "fashion_cluster").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            limit = (100 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else
                     200 if isinstance(node, ast.ClassDef) else None)
            length = getattr(node, "end_lineno", 0) - getattr(node, "lineno", 0) + 1
            if limit is not None and length > limit:
                too_long.append(f"{path.name}:{node.name} ({length} lines)")
    assert too_long == []


def test_the_design_page_draws_the_layers_of_the_contracts():
    """docs/design.md's picture of the layers lists the modules of pyproject's contract,
    layer by layer."""
    import re
    import tomllib

    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c["layers"] for c in contract["contracts"] if c["type"] == "layers")
    wanted = [set(re.split(r"[\s:|]+", layer.strip())) for layer in layers]
    wanted = [wanted[0] | wanted[1], *wanted[2:]]  # the picture puts __main__ with cli
    page = (ROOT / "docs" / "design.md").read_text()
    picture = page.split("## Layers", 1)[1].split("```")[1].strip().splitlines()
    drawn = [set(line.split()[1:]) - {"|", "scale-out:", "line"} for line in picture]
    assert drawn == wanted


def test_every_module_has_its_layer():
    """A new module is placed in a layer, or the contracts would not look at it."""
    import re
    import tomllib

    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c["layers"] for c in contract["contracts"] if c["type"] == "layers")
    placed = {name for layer in layers for name in re.split(r"[\s:|]+", layer.strip())}
    modules = {path.stem for path in (ROOT / "src" / "fashion_cluster").glob("*.py")}
    assert modules - {"__init__"} - placed == set()
