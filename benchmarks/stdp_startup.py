"""Wall time of ``experiments/stdp_table.py`` as a user runs it: cold and warm.

*Cold* is the first run with an empty Brian2 standalone cache (a fresh
``$STDP_SIM_STANDALONE_DIR``: the C++ project is generated and compiled); *warm* runs
find the compiled project and rebuild only what changed.  Each run is a fresh
``python experiments/stdp_table.py --no-progress --out DIR`` process, timed from start
to exit.  With ``--repo`` given twice (this checkout and another, e.g. an older commit)
it times both, alternating their warm runs, prints ``ratio: <other warm / this warm>``
and whether the two wrote the same tables (regimes, windows, Table 4).

Examples::

    python benchmarks/stdp_startup.py
    python benchmarks/stdp_startup.py --repo . --repo /tmp/old-checkout --warm 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.cli import OneLineArgumentParser, UserError, cli_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: the parts of stdp_table.json that must not change with speed work
TABLES = ("regimes", "windows", "bridge", "rules")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repo", action="append", type=Path, default=None, metavar="DIR",
                   help="checkout whose experiments/stdp_table.py to time (default: this "
                        "one); give it twice to compare two")
    p.add_argument("--warm", type=int, default=3, help="warm runs per checkout (default 3)")
    p.add_argument("--args", default="", metavar="'OPTS'",
                   help="extra stdp_table.py options, one string (default: none)")
    return p


def _run(repo: Path, out: Path, cache: Path, extra: list[str]) -> float:
    env = dict(os.environ, STDP_SIM_STANDALONE_DIR=str(cache))
    command = [sys.executable, str(repo / "experiments" / "stdp_table.py"), "--no-progress",
               "--out", str(out), *extra]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise UserError(f"stdp_table.py in {repo} failed with status {proc.returncode}: {tail}")
    return seconds


def run(args: argparse.Namespace) -> dict:
    repos = [r.resolve() for r in (args.repo or [ROOT])]
    if len(repos) > 2:
        raise UserError("--repo: at most two checkouts")
    for r in repos:
        if not (r / "experiments" / "stdp_table.py").is_file():
            raise UserError(f"--repo {str(r)!r} has no experiments/stdp_table.py")
    if args.warm < 1:
        raise UserError(f"--warm must be positive, got {args.warm}")
    extra = args.args.split()
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="stdp-startup-") as tmp:
        tmp = Path(tmp)
        for i, repo in enumerate(repos):
            cache, out = tmp / f"cache{i}", tmp / f"out{i}"
            results.append({"repo": str(repo), "cold_s": _run(repo, out, cache, extra),
                            "warm_s": []})
        for _ in range(args.warm):  # alternate, so that both see the same machine
            for i, repo in enumerate(repos):
                results[i]["warm_s"].append(
                    _run(repo, tmp / f"out{i}", tmp / f"cache{i}", extra))
        documents = [json.loads((tmp / f"out{i}" / "stdp_table.json").read_text())
                     for i in range(len(repos))]
    print(f"python {sys.version.split()[0]}; each run: stdp_table.py --no-progress --out DIR"
          + (f" {args.args}" if extra else ""))
    for r, document in zip(results, documents, strict=True):
        warm = r["warm_s"]
        r["warm_median_s"] = statistics.median(warm)
        r["simulate_s"] = document["timing"]["simulate_s"]
        print(f"{r['repo']}: cold {r['cold_s']:.2f} s (empty standalone cache); warm median "
              f"{r['warm_median_s']:.2f} s over {len(warm)} runs ({min(warm):.2f}-"
              f"{max(warm):.2f} s); of a warm run, the Brian2 network run {r['simulate_s']:.2f} s")
    out = {"runs": results}
    if len(repos) == 2:
        same = all(documents[0].get(k) == documents[1].get(k) for k in TABLES)
        out["same_tables"] = same
        this, other = (r["warm_median_s"] for r in results)
        out["ratio"] = other / this
        print(f"same tables ({', '.join(TABLES)}): {'yes' if same else 'NO'}")
        print(f"ratio: {out['ratio']:.2f}")
    return out


def main(argv: list[str] | None = None) -> int:
    return cli_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
