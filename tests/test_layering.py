"""The package layering: stdp_sim never needs torch, ann never needs brian2, common
needs neither, and no package imports a script.

Two checks each: a subprocess where the other framework cannot be imported
(``sys.modules[name] = None`` makes ``import name`` raise ImportError), which proves the
import-time graph and one real run; and a static scan of every ``import`` statement
(function-level ones included), which catches lazy imports the run did not reach.
"""

import ast
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
import bridge.mapping, bridge.regime_table
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
    modules = ["ann", "ann.models", "ann.train", "ann.sweep", "ann.activations", "ann.data"]
    code = f"""
import importlib, json, sys
sys.modules["brian2"] = None
for name in {modules!r}:
    importlib.import_module(name)
try:
    import ann.batched
    batched = True
except ModuleNotFoundError as exc:
    if exc.name != "ann.batched":
        raise
    batched = False
print(json.dumps({{"batched": batched, "brian2": {_loaded("brian2")},
                  "stdp_sim": {_loaded("stdp_sim")}}}))
"""
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
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
