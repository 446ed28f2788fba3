"""Choice of the Brian2 code-generation target.

Measured on the development machine (2 cores shared with other jobs, load average
3-7; Brian2 2.9.0, gcc), wall time of ``python experiments/stdp_table.py`` (one
network, 286 synapses, 60 s simulated = 600,000 steps of 0.1 ms):

==============================  ===========  ==========
target                          first run    later runs
==============================  ===========  ==========
numpy                           17.5 s       17.5 s
cython (compiles 7 modules)     39.6 s       11.1 s
cpp_standalone, cached project  14.3 s       3.6 s
==============================  ===========  ==========

But a *new* network (other sizes) is a new C++ project to build: 7-18 s each time,
also within one process, against 0.36 s per small network for cython once its
modules are compiled (``benchmarks/stdp_bench.py``, 286 runs in one process).

Hence: the library default ``"auto"`` is ``cython`` when a test compilation works,
else ``numpy`` — library calls may run many networks in one process (tests, the
per-condition benchmark, rate-ramp runs).  Scripts that run one long network per
process pass ``single_run=True`` and get ``cpp_standalone`` (project cached in
:func:`standalone_dir`) when a C++ compiler and make are present.
``$STDP_SIM_TARGET`` overrides what ``"auto"`` means.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
import warnings
from pathlib import Path

from brian2 import BrianLogger, prefs

from common.cache import private_temp_dir, user_cache_home, writable_cache
from stdp_sim import _checks

# stdp_sim adds every object it creates to a Network at once; an object can only go
# unused when Ctrl-C interrupts a run while it is built, and Brian's multi-line warning
# about it would follow the CLI's one "interrupted" line.
BrianLogger.suppress_name("unused_brian_object")
# A compiler that fails Brian2's test compilation, or rejects its flags, is reported in
# one line by resolve_target; Brian2's own paragraphs about it would bury that line.
for _name in ("failed_compile_test", "cpp_prefs", "codegen_fallback"):
    BrianLogger.suppress_name(_name)  # (the last part of the logger's name)

__all__ = [
    "TARGETS",
    "cython_available",
    "standalone_available",
    "standalone_dir",
    "resolve_target",
    "runtime_target",
]

TARGETS = ("auto", "cython", "numpy", "cpp_standalone")
_cython_ok: bool | None = None


def cython_available() -> bool:
    """Whether Brian2's Cython target works here (Cython installed, compiler works).

    The answer of Brian2's test compilation is cached for the process.
    """
    global _cython_ok
    if _cython_ok is None:
        try:
            import Cython  # noqa: F401
            from brian2.codegen.runtime.cython_rt import CythonCodeObject

            log = compiler_test_log()
            log.parent.mkdir(parents=True, exist_ok=True)
            with output_to(log):  # a failing compiler prints; the warning names the log
                _cython_ok = bool(CythonCodeObject.is_available())
                if not _cython_ok:  # Brian2 caches its own answer now, quietly, rather
                    from brian2.devices.device import auto_target  # than at a later

                    auto_target()  # object's creation, on the terminal
        except Exception:  # noqa: BLE001 - any failure means "not available"
            _cython_ok = False
    return _cython_ok


def standalone_available() -> bool:
    """Whether a C++ compiler and ``make`` are on the PATH (what cpp_standalone needs)."""
    try:
        chosen = shlex.split(os.environ.get("CXX", ""))[:1]
    except ValueError:  # an unbalanced quote: no compiler can be named by it
        return False
    if chosen:  # the compiler the user named, or none: never another one behind its back
        has_compiler = shutil.which(chosen[0])
    else:
        has_compiler = shutil.which("g++") or shutil.which("c++")
    return bool(has_compiler and shutil.which("make"))


def standalone_dir() -> Path:
    """Persistent project directory for ``cpp_standalone`` runs.

    ``$STDP_SIM_STANDALONE_DIR`` if set, else ``$XDG_CACHE_HOME/stdp_sim/cpp_standalone``
    (``~/.cache/...``).  Brian2 rebuilds only what changed, so rerunning an identical
    network skips compilation.  Runs lock the directory, one at a time.  A cache that
    cannot be written falls back to a temporary folder, with one warning
    (:func:`common.cache.writable_cache`).
    """
    env = os.environ.get("STDP_SIM_STANDALONE_DIR")
    if env:
        return Path(env)
    return writable_cache(user_cache_home() / "stdp_sim" / "cpp_standalone",
                          "the C++ build cache")


def resolve_target(target: str = "auto", *, single_run: bool = False) -> str:
    """The concrete target for ``target``.

    Parameters
    ----------
    target : {"auto", "cython", "numpy", "cpp_standalone"}, default "auto"
        ``"auto"`` is ``$STDP_SIM_TARGET`` if set; else, with ``single_run``,
        ``"cpp_standalone"`` when a C++ compiler and make are present; else
        ``"cython"`` when it compiles here; else ``"numpy"``.
    single_run : bool, default False
        The caller runs one long network per process (a script such as
        ``experiments/stdp_table.py``), where C++ standalone is fastest; library
        calls that may run many networks in one process leave it False.

    Raises
    ------
    ValueError
        For an unknown target name.
    RuntimeError
        If ``"cython"`` is requested explicitly but cannot compile here.
    """
    _checks.choice(target, "target", TARGETS)
    if target == "auto":
        env = os.environ.get("STDP_SIM_TARGET", "").strip()
        if env and env != "auto":
            _checks.choice(env, "STDP_SIM_TARGET", TARGETS[1:])
            target = env
        elif single_run and standalone_available():
            return "cpp_standalone"
        elif cython_available():
            return "cython"
        else:
            _warn_no_compiler()
            return "numpy"
    if target == "cython" and not cython_available():
        raise RuntimeError(
            "target='cython' needs Cython and a working C++ compiler; use target='numpy'"
        )
    return target


@contextlib.contextmanager
def output_to(path: Path):
    """Send everything written to file descriptors 1 and 2 meanwhile (make, a compiler,
    Brian2's own replay of them) to the log ``path`` instead of the terminal; yields a
    stream on the real stderr, for a progress bar."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.flush()

    saved = [os.dup(1), os.dup(2)]
    terminal = os.fdopen(os.dup(saved[1]), "w", buffering=1)
    # Brian2's own capture (std_silent) would replay the build's output onto the
    # streams when the build fails, after this redirection has ended: let the output
    # through to the descriptors instead, which point at the log meanwhile
    redirection = prefs["logging.std_redirection"]
    prefs["logging.std_redirection"] = False
    try:
        with open(path, "w", encoding="utf-8") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield terminal
            finally:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(AttributeError, ValueError, OSError):
                        stream.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
    finally:
        prefs["logging.std_redirection"] = redirection
        for fd in saved:
            os.close(fd)
        terminal.close()


def compiler_test_log() -> Path:
    """Where :func:`cython_available` keeps the output of Brian2's test compilation."""
    return private_temp_dir() / "compiler-test.log"


_said_no_compiler = False


def _warn_no_compiler() -> None:
    """One line, once per process, when "auto" falls back to numpy."""
    global _said_no_compiler
    if not _said_no_compiler:
        _said_no_compiler = True
        compiler = os.environ.get("CXX", "").split()[:1] or ["the C++ compiler"]
        warnings.warn(f"no working C++ compiler ({compiler[0]} failed Brian2's test "
                      f"compilation, output in {compiler_test_log()}); Brian2 runs its "
                      f"slower numpy target (set CXX to a working compiler for speed)",
                      stacklevel=3)


@contextlib.contextmanager
def runtime_target(target: str):
    """Temporarily set ``prefs.codegen.target`` (``"cython"`` or ``"numpy"``)."""
    _checks.choice(target, "target", ("cython", "numpy"))
    previous = prefs.codegen.target
    prefs.codegen.target = target
    try:
        yield
    finally:
        prefs.codegen.target = previous
