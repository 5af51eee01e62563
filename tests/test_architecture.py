"""The package layout follows the data flow: imports only go downstream, and no cycles;
modules and functions stay small enough to read.

Every ``import`` statement in ``pc_analog`` is read from the source (the ones inside
functions too, so a lazy import cannot hide an upward edge).  Each subpackage has a
rank in the data flow (``../shared/DESIGN.md`` "Layout follows the flow"); a module may
import modules of its own stage or of an earlier one, never a later one, and the
module-level import graph (lazy imports included) has no cycle.  No module is longer
than ``MAX_MODULE_LINES``; a function longer than ``MAX_FUNCTION_LINES`` says why in its
docstring, in a sentence starting "Long because".
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1] / "pc_analog"

#: The stages in data-flow order.  Base modules (errors, version, thread helper) rank 0.
STAGES = (
    "_base",
    "model",
    "io",
    "circuit",
    "solvers",
    "spice",
    "reference",
    "settling",
    "hardware",
    "learning",
    "costs",
    "experiments",
    "viz",
    "cli",
    "_app",
)
BASE = {"pc_analog.errors", "pc_analog._version", "pc_analog._threads"}
APP = {"pc_analog.demo", "pc_analog.__main__"}
#: A module over this many lines must be split (issue 10: "no module over ~600 lines").
MAX_MODULE_LINES = 600
#: A function over this many lines (``def`` to its last line) must say "Long because ..."
#: in its docstring, or be split into helpers.
MAX_FUNCTION_LINES = 80
#: The phrase that justifies a long function.
LONG_BECAUSE = "Long because"


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(ROOT.rglob("*.py")):
        rel = p.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _stage(mod: str) -> int:
    if mod == "pc_analog":
        return len(STAGES)  # the root re-exports everything: nothing may import it
    if mod in BASE:
        return 0
    if mod in APP:
        return STAGES.index("_app")
    return STAGES.index(mod.split(".")[1])


def _imports(path: Path, mod: str, known: set[str]) -> set[str]:
    """Every pc_analog module ``mod`` imports, resolved to a known module name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            names = [stem] + [f"{stem}.{a.name}" for a in node.names]
        for n in names:
            if not n.startswith("pc_analog"):
                continue
            # the longest known module prefix of the name
            parts = n.split(".")
            for k in range(len(parts), 0, -1):
                cand = ".".join(parts[:k])
                if cand in known:
                    if cand != mod:
                        out.add(cand)
                    break
    return out


@pytest.fixture(scope="module")
def graph():
    mods = _modules()
    g = nx.DiGraph()
    for m, p in mods.items():
        g.add_node(m)
        for t in _imports(p, m, set(mods)):
            g.add_edge(m, t)
    return g


def test_every_module_has_a_stage(graph):
    for m in graph.nodes:
        assert 0 <= _stage(m) <= len(STAGES), m


def test_imports_only_go_downstream(graph):
    upward = [
        (a, b)
        for a, b in graph.edges
        if a != "pc_analog" and _stage(b) > _stage(a) and not b.startswith(a + ".")
    ]
    assert not upward, "upward imports: " + ", ".join(f"{a} -> {b}" for a, b in upward)


def test_no_import_cycles(graph):
    # a package's __init__ importing its own submodules is not a cycle of the flow
    g = graph.copy()
    g.remove_edges_from([(a, b) for a, b in graph.edges if b.startswith(a + ".")])
    cycles = list(nx.simple_cycles(g))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_the_checker_sees_upward_and_lazy_imports(tmp_path):
    """The walker is not blind: a lazy upward import inside a function is found."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from pc_analog.viz.plots import plot_training\n")
    found = _imports(src, "pc_analog.model.fake", {"pc_analog.viz.plots", "pc_analog.viz"})
    assert found == {"pc_analog.viz.plots"}
    assert _stage("pc_analog.viz.plots") > _stage("pc_analog.model.fake")


def test_errors_is_the_errors_module_and_version_from_metadata():
    import importlib.metadata

    import pc_analog
    import pc_analog.errors

    assert pc_analog.errors.__name__ == "pc_analog.errors"
    assert issubclass(pc_analog.errors.InvalidInputError, pc_analog.errors.PCAnalogError)
    assert pc_analog.__version__ == importlib.metadata.version("pc-analog")


# ------------------------------------------------------------------ sizes


def _module_lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def _unexplained_long_functions(path: Path) -> list[tuple[str, int]]:
    """``(name:line, lines)`` of every function (methods and nested ones too) over
    ``MAX_FUNCTION_LINES`` whose docstring lacks ``LONG_BECAUSE``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES and LONG_BECAUSE not in (ast.get_docstring(node) or ""):
                out.append((f"{node.name}:{node.lineno}", n))
    return out


def test_no_module_over_max_lines():
    long = {m: n for m, p in _modules().items() if (n := _module_lines(p)) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_long_functions_say_why():
    unexplained = {
        m: found for m, p in _modules().items() if (found := _unexplained_long_functions(p))
    }
    assert not unexplained, (
        f"functions over {MAX_FUNCTION_LINES} lines without {LONG_BECAUSE!r} in the "
        f"docstring: {unexplained}"
    )


def _function_source(name: str, n_lines: int, doc: str = "") -> str:
    """A function ``n_lines`` long, ``def`` line included."""
    body = [f'    """{doc}"""\n'] if doc else []
    body += [f"    x{i} = {i}\n" for i in range(n_lines - 1 - len(body))]
    return f"def {name}():\n" + "".join(body) + "\n\n"


def test_the_size_checks_see_long_modules_and_functions(tmp_path):
    """The size checks are not blind: they count what they should, and no more."""
    n = MAX_FUNCTION_LINES
    method = textwrap.indent(_function_source("method_over", n + 1), "    ")
    src = tmp_path / "m.py"
    src.write_text(
        _function_source("short", 3)
        + _function_source("at_the_limit", n)
        + _function_source("over", n + 1)
        + _function_source("justified", n + 1, doc=f"{LONG_BECAUSE} it is one table.")
        + "class C:\n"
        + method
    )
    found = {(name.split(":")[0], lines) for name, lines in _unexplained_long_functions(src)}
    assert found == {("over", n + 1), ("method_over", n + 1)}
    src.write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    assert _module_lines(src) == MAX_MODULE_LINES + 1
