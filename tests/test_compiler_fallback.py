"""A missing or broken C++ compiler costs speed and one line, never a screenful."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from stdp_sim import backend

ROOT = Path(__file__).resolve().parents[1]
SMALL_TABLE = ["--rules", "hebbian", "--window-presets", "hebbian", "--trials", "1",
               "--n-pairings", "2", "--pairing-rate-hz", "4", "--poisson-duration-s", "0.5",
               "--window-grid-ms", "-10", "10", "--no-progress"]


def test_the_compiler_named_in_cxx_is_the_only_one_tried(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", str(tmp_path / "nonexistent"))
    assert not backend.standalone_available()  # no other c++ behind the user's back
    if backend.shutil.which("make") and (backend.shutil.which("g++") or
                                         backend.shutil.which("c++")):
        monkeypatch.delenv("CXX")
        assert backend.standalone_available()


def test_auto_without_a_compiler_says_so_once(monkeypatch):
    monkeypatch.setattr(backend, "_cython_ok", False)
    monkeypatch.setattr(backend, "_said_no_compiler", False)
    monkeypatch.delenv("STDP_SIM_TARGET", raising=False)
    with pytest.warns(UserWarning, match="no working C\\+\\+ compiler.*numpy") as record:
        assert backend.resolve_target("auto") == "numpy"
    assert len(record) == 1 and str(backend.compiler_test_log()) in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert backend.resolve_target("auto") == "numpy"


def test_output_to_sends_both_descriptors_to_the_log(tmp_path):
    log = tmp_path / "build.log"
    code = f"""
import os, subprocess, sys
sys.path.insert(0, {str(ROOT)!r})
from stdp_sim.backend import output_to
with output_to({str(log)!r}) as terminal:
    subprocess.run(["sh", "-c", "echo from-make; echo from-compiler >&2"])
    print("from-python", file=terminal, flush=True)
print("after")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "after\n" and done.stderr == "from-python\n"
    assert log.read_text().split() == ["from-make", "from-compiler"]


@pytest.mark.slow
def test_a_broken_compiler_is_one_line_per_fallback_and_the_tables_still_come(tmp_path):
    compiler = tmp_path / "g++"
    compiler.write_text("#!/bin/sh\necho 'broken compiler' >&2\nexit 1\n")
    compiler.chmod(0o755)
    env = {**os.environ, "CXX": str(compiler), "STDP_SIM_STANDALONE_DIR": str(tmp_path / "sa"),
           "TMPDIR": str(tmp_path)}
    env.pop("STDP_SIM_TARGET", None)
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "stdp_table.py"),
                           *SMALL_TABLE], capture_output=True, text=True, env=env,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "## Table 1" in done.stdout and "make:" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert any("the C++ standalone build failed" in line for line in lines), lines
    assert len([line for line in lines if line.startswith("warning:")]) <= 2, lines
    assert "broken compiler" in (tmp_path / "sa" / "build.log").read_text()
