"""The package layering: stdp_sim never needs torch, ann never needs brian2, common
needs neither, and no package imports a script.

Two checks each: a subprocess where the other framework cannot be imported
(``sys.modules[name] = None`` makes ``import name`` raise ImportError), which proves the
import-time graph and one real run; and a static scan of every ``import`` statement
(function-level ones included), which catches lazy imports the run did not reach.

And inside the packages: no import cycle among their modules, lazy imports counted
(the import graph from the same kind of static scan, its cycles found with Tarjan's
strongly connected components).
"""

import ast
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: package -> top-level modules it must never import (directly or at all).
FORBIDDEN = {
    "stdp_sim": {"torch", "ann", "bridge", "experiments", "benchmarks"},
    "ann": {"brian2", "stdp_sim", "bridge", "experiments", "benchmarks"},
    "common": {"torch", "brian2", "ann", "stdp_sim", "bridge", "experiments", "benchmarks"},
    "bridge": {"experiments", "benchmarks"},
}


def _python(code: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout)  # fmt: skip


def _loaded(prefix: str) -> str:
    """Python expression: the real (non-None) modules named ``prefix`` or ``prefix.*``."""
    return (f"sorted(m for m, v in sys.modules.items() if v is not None "
            f"and (m == {prefix!r} or m.startswith({prefix!r} + '.')))")  # fmt: skip


def test_stdp_sim_and_stdp_table_run_without_torch(tmp_path):
    out = tmp_path / "out"
    code = f"""
import contextlib, importlib.util, io, json, sys
sys.modules["torch"] = None
import stdp_sim, stdp_sim.tables, stdp_sim.plots, stdp_sim.rate_ramp, stdp_sim.window
import bridge.sign_mapping, bridge.regime_table
spec = importlib.util.spec_from_file_location("stdp_table", "experiments/stdp_table.py")
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)
text = io.StringIO()
with contextlib.redirect_stdout(text):
    status = script.main([
        "--rules", "hebbian", "anti_hebbian", "--window-presets", "hebbian", "--trials", "1",
        "--n-pairings", "2", "--pairing-rate-hz", "4", "--poisson-duration-s", "0.5",
        "--window-grid-ms", "-10", "10", "--target", "numpy", "--no-progress",
        "--out", {str(out)!r},
    ])
print(json.dumps({{"status": status, "text": text.getvalue(), "torch": {_loaded("torch")}}}))
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["status"] == 0 and result["torch"] == []
    text = result["text"]
    assert text.count("## Table") == 3  # Tables 1-3 as usual ...
    assert "/8 regime rows classified as their rule predicts" in text
    (line,) = [line for line in text.splitlines() if "Table 4" in line]  # ... Table 4: one line
    assert "needs PyTorch" in line and "pip install torch" in line
    data = json.loads((out / "stdp_table.json").read_text())
    assert "bridge" not in data and "torch" in data["skipped_tables"]["bridge"]
    assert len(data["regimes"]) == 8 and data["windows"]["hebbian"]["dw"]
    assert (out / "stdp_windows.png").stat().st_size > 1000


def test_stdp_table_script_computes_table_4_in_a_child_and_skips_pylab(tmp_path):
    """Run as a script, Table 4's torch work happens in a child process (the script's
    own process never imports torch) with the same data as in-process, and Brian2 is
    imported without pylab (its namespace lacks pylab's `plot`)."""
    out = tmp_path / "out"
    script = ROOT / "experiments" / "stdp_table.py"
    probe = f"""
import json, runpy, sys
sys.argv = [{str(script)!r}, "--rules", "hebbian", "--window-presets", "hebbian",
            "--trials", "1", "--n-pairings", "2", "--pairing-rate-hz", "4",
            "--poisson-duration-s", "0.5", "--window-grid-ms", "-10", "10",
            "--target", "numpy", "--no-progress", "--out", {str(out)!r}]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exc:
    status = exc.code
import brian2
print(json.dumps({{"status": status, "torch": {_loaded("torch")},
                  "brian2_has_plot": hasattr(brian2, "plot")}}))
"""
    proc = _python(probe)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result == {"status": 0, "torch": [], "brian2_has_plot": False}
    assert "## Table 4 — the artificial side" in proc.stdout
    from bridge.regime_table import bridge_data

    data = json.loads((out / "stdp_table.json").read_text())
    assert data["bridge"] == bridge_data("rate") and data["skipped_tables"] == {}


def test_table_4_module_imports_neither_brian2_nor_torch():
    # stdp_table.py's child process imports it to compute Table 4: Brian2 there would
    # cost the child seconds of the CPU the parent's simulation needs
    code = f"""
import json, sys
import bridge.regime_table
print(json.dumps({{"brian2": {_loaded("brian2")}, "torch": {_loaded("torch")}}}))
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"brian2": [], "torch": []}


def test_ann_imports_without_brian2():
    # every module of ann, the batched engine included (it is part of the package, so
    # failing to import it is an error, not a missing option)
    modules = sorted(_module_name(f) for f in (ROOT / "ann").rglob("*.py"))
    assert {"ann", "ann.batched", "ann.batched.engine", "ann.train"} <= set(modules)
    code = f"""
import importlib, json, sys
sys.modules["brian2"] = None
for name in {modules!r}:
    importlib.import_module(name)
print(json.dumps({{"ann": {_loaded("ann")}, "brian2": {_loaded("brian2")},
                  "stdp_sim": {_loaded("stdp_sim")}}}))
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    assert set(modules) <= set(result["ann"])  # (plus namespace packages, if any)
    assert result["brian2"] == [] and result["stdp_sim"] == []


def test_common_imports_without_torch_or_brian2():
    code = """
import sys

class Block:  # torch and brian2 cannot be imported (scipy looks them up in sys.modules)
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "brian2"):
            raise ImportError(f"{name} blocked")

sys.meta_path.insert(0, Block())
import common, common.cli, common.environment, common.files, common.stats
assert common.stats.welch([1.0, 2.0], [0.0, 1.0]).estimate == 1.0
assert "torch" not in sys.modules and "brian2" not in sys.modules
env = common.environment.environment()
assert env["brian2"] and "git_commit" in env
print("ok")
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def _imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports (relative imports skipped)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_package_imports_what_its_layer_forbids(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    offending = {
        str(f.relative_to(ROOT)): sorted(_imports(f) & FORBIDDEN[package]) for f in files
    }
    assert {f: names for f, names in offending.items() if names} == {}


def test_the_static_scan_sees_function_level_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import torch.nn\n    from experiments import x\n")
    assert _imports(probe) == {"torch", "experiments"}


# ------------------------------------------------------------------ import cycles
#: The first-party packages whose modules must not import each other in a cycle.
PACKAGES = ("ann", "bridge", "common", "stdp_sim")


def _module_name(path: Path, root: Path = ROOT) -> str:
    """``ann/batched/engine.py`` -> ``ann.batched.engine``; a package's ``__init__.py``
    is the package itself."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_statements(tree: ast.AST):
    """``(node, lazy)`` for every import statement at any depth, ``lazy`` when it sits in
    a function; the body of ``if TYPE_CHECKING:`` (never executed) is left out."""
    stack = [(tree, False)]
    while stack:
        node, lazy = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, lazy
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            children = node.orelse
        else:
            children = list(ast.iter_child_nodes(node))
        inner = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        stack.extend((child, inner) for child in reversed(children))  # source order


def _imported_modules(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
                      known: set[str]) -> list[str]:  # fmt: skip
    """The modules of ``known`` that one import statement in ``module`` loads.

    ``import a.b`` needs ``a.b``; ``from a import b`` needs ``a.b`` when that is a
    module, else ``a`` (``b`` is a name defined there); relative imports are resolved
    against ``module``'s package.  Parent packages that Python imports on the way
    (``a`` for ``a.b``) are not edges: every submodule would otherwise be in a cycle
    with a package ``__init__`` that imports it.
    """
    if isinstance(node, ast.Import):
        candidates = [alias.name for alias in node.names]
    else:
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            if node.level - 1 >= len(package):
                return []  # beyond the top-level package: not ours
            base = package[: len(package) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module
        candidates = [f"{source}.{alias.name}" for alias in node.names]
    found = []
    for name in candidates:
        while name and name not in known:  # a name defined in a module: that module
            name = name.rpartition(".")[0]
        if name:
            found.append(name)
    return found


def _import_graph(packages=PACKAGES, root: Path = ROOT) -> dict[str, dict[str, list[str]]]:
    """``module -> {first-party module it imports: ["file:line", ...]}`` over every module
    of ``packages``, function-level imports included (marked ``(in a function)``)."""
    files = {_module_name(f, root): f for p in packages for f in sorted((root / p).rglob("*.py"))}
    graph: dict[str, dict[str, list[str]]] = {}
    for module, path in files.items():
        edges: dict[str, list[str]] = {}
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, lazy in _import_statements(tree):
            where = f"{path.relative_to(root)}:{node.lineno}" + (" (in a function)" if lazy else "")
            for target in _imported_modules(node, module, path.name == "__init__.py", set(files)):
                places = edges.setdefault(target, [])
                if where not in places:  # `from m import a, b`: one statement, one place
                    places.append(where)
        graph[module] = edges
    return graph


def strongly_connected_components(graph) -> list[list[str]]:
    """Tarjan's algorithm: the strongly connected components of ``graph`` (node ->
    iterable of successors), each sorted, in the order Tarjan completes them."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:  # v is the root of a component: pop it
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def import_cycles(graph, limit: int = 200) -> list[list[str]]:
    """Every elementary cycle of ``graph`` (at most ``limit``), each as its nodes from the
    smallest one back to it (``[a, b, a]``); found inside the components with more than
    one node or a self-edge, so an acyclic graph costs one Tarjan pass."""
    cycles: list[list[str]] = []
    for component in strongly_connected_components(graph):
        if len(component) == 1 and component[0] not in graph.get(component[0], ()):
            continue
        for i, start in enumerate(component):  # cycles whose smallest node is `start`
            allowed = set(component[i:])

            def walk(path: list[str], start=start, allowed=allowed) -> None:
                for w in sorted(graph.get(path[-1], ())):
                    if len(cycles) >= limit:
                        return
                    if w == start:
                        cycles.append([*path, start])
                    elif w in allowed and w not in path:
                        walk([*path, w])

            walk([start])
    return cycles


def test_the_cycle_finder_on_synthetic_graphs():
    acyclic = {"a": ["b", "c"], "b": ["c"], "c": [], "d": ["a"]}
    assert import_cycles(acyclic) == []
    assert sorted(strongly_connected_components(acyclic)) == [["a"], ["b"], ["c"], ["d"]]
    cyclic = {"a": ["b"], "b": ["c", "e"], "c": ["a", "b"], "d": ["d"], "e": []}
    assert sorted(strongly_connected_components(cyclic)) == [["a", "b", "c"], ["d"], ["e"]]
    assert import_cycles(cyclic) == [["a", "b", "c", "a"], ["b", "c", "b"], ["d", "d"]]


def test_the_import_graph_resolves_relative_lazy_and_type_checking_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg.a import f\n")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\nimport os\nif TYPE_CHECKING:\n    import pkg.b\n"
        "else:\n    from . import sub\ndef f():\n    from .sub import c\n"
    )
    (pkg / "b.py").write_text("from pkg import a, f\nfrom pkg.sub.c import x as y\n")
    (pkg / "sub" / "__init__.py").write_text("from .. import b\nfrom ..a import f\n")
    (pkg / "sub" / "c.py").write_text("import pkg.sub\nfrom . import *\n")
    graph = _import_graph(["pkg"], tmp_path)
    assert {m: sorted(e) for m, e in graph.items()} == {
        "pkg": ["pkg.a"],
        "pkg.a": ["pkg.sub", "pkg.sub.c"],  # not pkg.b: that import is for type checkers
        "pkg.b": ["pkg", "pkg.a", "pkg.sub.c"],
        "pkg.sub": ["pkg.a", "pkg.b"],
        "pkg.sub.c": ["pkg.sub"],
    }
    assert graph["pkg.a"] == {"pkg.sub": ["pkg/a.py:6"],
                              "pkg.sub.c": ["pkg/a.py:8 (in a function)"]}
    assert graph["pkg.sub.c"] == {"pkg.sub": ["pkg/sub/c.py:1", "pkg/sub/c.py:2"]}
    # every elementary cycle once, from its smallest module
    assert import_cycles(graph) == [
        ["pkg", "pkg.a", "pkg.sub", "pkg.b", "pkg"],
        ["pkg", "pkg.a", "pkg.sub.c", "pkg.sub", "pkg.b", "pkg"],
        ["pkg.a", "pkg.sub", "pkg.a"],
        ["pkg.a", "pkg.sub", "pkg.b", "pkg.a"],
        ["pkg.a", "pkg.sub.c", "pkg.sub", "pkg.a"],
        ["pkg.a", "pkg.sub.c", "pkg.sub", "pkg.b", "pkg.a"],
        ["pkg.b", "pkg.sub.c", "pkg.sub", "pkg.b"],
    ]


def test_no_import_cycles_among_first_party_modules():
    """No module of ann, bridge, common or stdp_sim imports itself back through other
    modules, not even through an import inside a function (a lazy import only hides a
    cycle until the call, and makes the modules impossible to understand one at a
    time).  Cycles across packages are counted too (the layering above forbids most)."""
    graph = _import_graph()
    assert len(graph) > 50 and graph["ann.sweep"]  # the scan saw the packages
    cycles = import_cycles({m: list(edges) for m, edges in graph.items()})
    edges = sorted({(a, b) for cycle in cycles for a, b in itertools.pairwise(cycle)})
    message = "\n".join(
        [f"{len(cycles)} import cycle(s):"] + [" -> ".join(c) for c in cycles]
        + ["made by:"] + [f"{a} -> {b}: {', '.join(graph[a][b])}" for a, b in edges]
    )
    assert cycles == [], message
