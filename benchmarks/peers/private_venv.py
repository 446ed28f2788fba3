"""Private virtual environments for peer benchmarks whose pins clash with ours.

A peer (BindsNET, say) may need numpy >= 2 and a newer torch than the project pins,
so it runs in a venv of its own that the benchmark creates once and reuses::

    from benchmarks.peers.private_venv import ensure_venv   # or put this folder on sys.path
    python = ensure_venv("bindsnet", ["bindsnet==0.3.4", "torch==2.14.1", "torchvision==0.29.1"])
    subprocess.run([str(python), "benchmarks/peers/bindsnet_diehl_cook.py", ...], check=True)

The venv lives in ``~/.cache/neglu-stdp/peers/<name>`` (or ``<root>/<name>``).  A marker
file in it records the requirement list (and the Python it was made with); the next call
with the same list returns at once, a changed list reinstalls into the same venv.

torch: on Linux x86_64, PyPI's torch wheels are CUDA builds that pull ~2-3 GB of
``nvidia-*`` wheels (a ~5.5 GB venv).  Before installing, the requirements are resolved
with ``pip install --dry-run --report``; when that would bring a CUDA torch, a CPU build
of the same torch (and torchvision/torchaudio) versions is tried first, from
``CPU_TORCH_INDEX`` (PyTorch's own CPU wheel index), then from any ``torch-*+cpu*.whl``
lying in pip's configured ``find-links`` folders, provided the requirements still resolve
with it and need no torchvision/torchaudio (PyPI's builds of those do not load beside a
CPU torch).  Only when neither works is the CUDA build installed (it runs on the CPU all
the same); ``allow_cuda_torch=False`` makes that an error instead.  What was chosen is
written to the marker (``torch_build``) and logged.

Standard library only: this module is imported by the project's interpreter, but
installs nothing into it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["CPU_TORCH_INDEX", "DEFAULT_ROOT", "MARKER_NAME", "ensure_venv"]

DEFAULT_ROOT = Path.home() / ".cache" / "neglu-stdp" / "peers"
MARKER_NAME = "neglu-peer-venv.json"
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
_TORCH_FAMILY = ("torch", "torchvision", "torchaudio")
_MARKER_VERSION = 1


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _clean_env() -> dict[str, str]:
    """The caller's environment minus what would leak the project into the venv."""
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_USER", "PYTHONUSERBASE"):
        env.pop(key, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _last_error_line(text: str) -> str:
    """The most telling line of pip's output: a network failure, else its first ERROR line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for pattern in (
        "Name or service not known",
        "Temporary failure in name resolution",
        "Network is unreachable",
        "Connection refused",
        "timed out",
    ):
        for ln in lines:
            if pattern in ln:
                host = re.search(r"host='([^']+)'", ln)
                return f"network: {pattern}" + (f" ({host.group(1)})" if host else "")
    for ln in lines:
        if ln.startswith("ERROR"):
            return ln
    return lines[-1] if lines else "(no output)"


class _Step:
    """Runs commands, appending their output to one log file."""

    def __init__(self, logfile: Path, log: Callable[[str], object]) -> None:
        self.logfile = logfile
        self.log = log

    def run(self, cmd: list[str], *, timeout: float | None = None) -> tuple[int, str]:
        start = time.monotonic()
        try:
            proc = subprocess.run(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=_clean_env(),
                timeout=timeout,
            )
            rc, out = proc.returncode, proc.stdout or ""
        except subprocess.TimeoutExpired as exc:
            out = (
                exc.stdout
                if isinstance(exc.stdout, str)
                else (exc.stdout or b"").decode(errors="replace")
            )
            rc, out = 124, out + f"\nERROR: timed out after {timeout:.0f} s"
        except OSError as exc:
            rc, out = 127, f"ERROR: could not run {cmd[0]}: {exc}"
        with self.logfile.open("a", encoding="utf-8") as fh:
            fh.write(f"\n$ {' '.join(cmd)}\n{out}\n[exit {rc}, {time.monotonic() - start:.1f} s]\n")
        return rc, out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Holds an exclusive lock on ``path`` (POSIX): two benchmarks don't build one venv at once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no locking
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_marker(venv: Path) -> dict | None:
    try:
        return json.loads((venv / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _python_works(python: Path) -> bool:
    try:
        return (
            subprocess.run(
                [str(python), "-c", "import sys"], capture_output=True, env=_clean_env(), timeout=60
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def _pip_find_links(python: Path) -> list[Path]:
    """Local folders named in pip's find-links settings (config files and PIP_FIND_LINKS)."""
    values: list[str] = []
    try:
        out = subprocess.run(
            [str(python), "-m", "pip", "config", "list"],
            capture_output=True,
            text=True,
            env=_clean_env(),
            timeout=60,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    for line in out.splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith("find-links"):
            values.extend(value.strip().strip("'\"").split())
    values.extend(os.environ.get("PIP_FIND_LINKS", "").split())
    dirs = []
    for v in values:
        p = Path(v[len("file://") :] if v.startswith("file://") else v)
        if p.is_dir() and p not in dirs:
            dirs.append(p)
    return dirs


def _local_cpu_torch_versions(python: Path) -> list[str]:
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    found = set()
    for d in _pip_find_links(python):
        for whl in d.glob(f"torch-*+cpu*-{tag}-*.whl"):
            found.add(whl.name.split("-")[1])

    def key(v: str) -> tuple:
        return tuple(int(x) if x.isdigit() else 0 for x in re.split(r"[.+]", v))

    return sorted(found, key=key, reverse=True)


def _resolve(
    step: _Step, python: Path, requirements: list[str], constraints: list[str] | None = None
) -> tuple[dict[str, str] | None, str]:
    """pip's dry-run resolution: ({canonical name: version}, "") or (None, pip's error)."""
    with tempfile.TemporaryDirectory(prefix="neglu-peer-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [
            str(python),
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            str(report),
        ]
        if constraints:
            cfile = Path(tmp) / "constraints.txt"
            cfile.write_text("\n".join(constraints) + "\n", encoding="utf-8")
            cmd += ["-c", str(cfile)]
        rc, out = step.run(cmd + list(requirements))
        if rc != 0:
            return None, _last_error_line(out)
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return None, f"unreadable pip report: {exc}"
    return {
        _canon(item["metadata"]["name"]): item["metadata"]["version"]
        for item in data.get("install", [])
    }, ""


def _is_cuda_plan(plan: dict[str, str]) -> bool:
    if "torch" not in plan or "+cpu" in plan["torch"]:
        return False
    return any(n.startswith(("nvidia-", "cuda-")) for n in plan)


def _plan_torch(
    step: _Step,
    python: Path,
    requirements: list[str],
    *,
    cpu_index: str | None,
    allow_cuda_torch: bool,
    log: Callable[[str], object],
) -> tuple[str, list[str]]:
    """Decides the torch build. Returns (description, constraint lines for the main install)."""
    plan, err = _resolve(step, python, requirements)
    if plan is None:
        raise RuntimeError(f"resolving the requirements failed: {err}")
    if not _is_cuda_plan(plan):
        torch_v = plan.get("torch")
        return (f"torch {torch_v} (no CUDA wheels in the plan)" if torch_v else "no torch"), []

    family = {n: plan[n] for n in _TORCH_FAMILY if n in plan}
    log(
        f"[private_venv] the requirements resolve to a CUDA build of torch {plan['torch']} "
        f"({sum(n.startswith(('nvidia-', 'cuda-')) for n in plan)} nvidia/cuda packages, "
        "several GB); looking for a CPU build first"
    )

    # 1. PyTorch's CPU wheel index, same versions (``+cpu`` local label), without deps:
    #    the main install then finds them installed and resolves the rest.
    if cpu_index:
        pins = [f"{n}=={v.split('+')[0]}+cpu" for n, v in family.items()]
        rc, out = step.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--no-deps",
                "--timeout",
                "20",
                "--retries",
                "1",
                "--index-url",
                cpu_index,
                *pins,
            ]
        )
        if rc == 0:
            return f"CPU build from {cpu_index}: {', '.join(pins)}", [p for p in pins]
        log(f"[private_venv] no CPU build from {cpu_index}: {_last_error_line(out)}")

    # 2. A CPU torch wheel on local disk (pip's find-links), if the requirements accept it
    #    and need no torchvision/torchaudio (no CPU build of those is on disk).
    for v in _local_cpu_torch_versions(python):
        if set(family) - {"torch"}:
            log(
                f"[private_venv] local torch {v} not usable: the requirements also need "
                f"{', '.join(sorted(set(family) - {'torch'}))}, whose PyPI builds do not load "
                "beside a CPU torch"
            )
            break
        alt, err = _resolve(step, python, requirements, [f"torch=={v}"])
        if alt is not None and not _is_cuda_plan(alt):
            return f"CPU build torch {v} from local disk", [f"torch=={v}"]
        log(
            f"[private_venv] local torch {v} not usable: {err or 'still resolves to CUDA packages'}"
        )

    if not allow_cuda_torch:
        raise RuntimeError(
            f"only a CUDA build of torch {plan['torch']} can be had here and allow_cuda_torch=False"
        )
    log(
        f"[private_venv] no CPU build of torch {plan['torch']} can be had; installing the CUDA "
        "build (runs on the CPU all the same; several GB)"
    )
    return f"CUDA build torch {plan['torch']} (no CPU build reachable)", []


def ensure_venv(
    name: str,
    requirements: list[str],
    *,
    root: Path | None = None,
    log: Callable[[str], object] = print,
    cpu_index: str | None = CPU_TORCH_INDEX,
    allow_cuda_torch: bool = True,
) -> Path:
    """Creates (once) a private venv ``<root>/<name>`` with ``requirements``; returns its python.

    ``root`` defaults to ``~/.cache/neglu-stdp/peers``.  Reused as is when its marker file
    records the same requirement list and Python; otherwise (re)installed.  Any failure
    raises one ``RuntimeError`` line saying what failed and how to retry.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise RuntimeError(f"private venv: bad name {name!r} (letters, digits, . _ - only)")
    requirements = [str(r).strip() for r in requirements if str(r).strip()]
    if not requirements:
        raise RuntimeError(f"private venv {name!r}: empty requirement list")
    root = Path(root) if root is not None else DEFAULT_ROOT
    venv = root / name
    python = _venv_python(venv)
    want = {
        "marker_version": _MARKER_VERSION,
        "requirements": requirements,
        "python": ".".join(map(str, sys.version_info[:3])),
    }

    def matches(marker: dict | None) -> bool:
        return bool(marker) and all(marker.get(k) == v for k, v in want.items())

    if matches(_read_marker(venv)) and python.exists():
        return python

    with _locked(root / f".{name}.lock"):
        if matches(_read_marker(venv)) and _python_works(python):  # made meanwhile
            return python
        retry = (
            f"retry the same command; if it keeps failing, delete {venv} and retry "
            "(pip's output is in the log named above)"
        )
        venv.parent.mkdir(parents=True, exist_ok=True)
        logfile = root / f"{name}-install.log"
        step = _Step(logfile, log)
        logfile.write_text(f"private venv {name} for: {' '.join(requirements)}\n", encoding="utf-8")
        (venv / MARKER_NAME).unlink(missing_ok=True)
        started = time.monotonic()

        if not _python_works(python):
            log(f"[private_venv] creating {venv} (log: {logfile})")
            rc, out = step.run([sys.executable, "-m", "venv", "--clear", str(venv)])
            if rc != 0 or not _python_works(python):
                raise RuntimeError(
                    f"private venv {name!r}: 'python -m venv {venv}' failed: "
                    f"{_last_error_line(out)}; log {logfile}; {retry}"
                )
        else:
            log(f"[private_venv] reinstalling into {venv} (requirements changed; log: {logfile})")

        try:
            torch_build, constraints = _plan_torch(
                step,
                python,
                requirements,
                cpu_index=cpu_index,
                allow_cuda_torch=allow_cuda_torch,
                log=log,
            )
        except RuntimeError as exc:
            raise RuntimeError(f"private venv {name!r}: {exc}; log {logfile}; {retry}") from None

        log(f"[private_venv] pip install {' '.join(requirements)}  [{torch_build}]")
        with tempfile.TemporaryDirectory(prefix="neglu-peer-") as tmp:
            cmd = [str(python), "-m", "pip", "install"]
            if constraints:
                cfile = Path(tmp) / "constraints.txt"
                cfile.write_text("\n".join(constraints) + "\n", encoding="utf-8")
                cmd += ["-c", str(cfile)]
            rc, out = step.run(cmd + requirements)
        if rc != 0:
            raise RuntimeError(
                f"private venv {name!r}: pip install failed (exit {rc}): {_last_error_line(out)}; "
                f"log {logfile}; {retry}"
            )

        rc, out = step.run([str(python), "-m", "pip", "freeze"])
        marker = dict(want)
        marker.update(
            {
                "torch_build": torch_build,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "install_seconds": round(time.monotonic() - started, 1),
                "freeze": out.splitlines() if rc == 0 else [],
            }
        )
        (venv / MARKER_NAME).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        log(f"[private_venv] {name} ready in {marker['install_seconds']:.0f} s: {python}")
        return python


def _main(argv: list[str] | None = None) -> int:
    """``python private_venv.py NAME REQ...`` creates the venv and prints its python."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        print("usage: private_venv.py NAME REQUIREMENT...", file=sys.stderr)
        return 2
    try:
        print(ensure_venv(args[0], args[1:], log=lambda m: print(m, file=sys.stderr, flush=True)))
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
