"""The verdict study's own error rates, measured: simulated run stores from known
truths fed to the real claim analyses (:mod:`bridge.claims.calibration`).

Prints, per claim and truth, the rate of each verdict word with its Monte-Carlo
standard error, the targets (P(refuted | thesis true), P(supported | no effect) and
P(equivalent | at the margin), each at most 5 %), and as its last line
``worst false-verdict rate: R``.  Exits 1 when a target is missed by more than two
Monte-Carlo standard errors.

    python benchmarks/verdict_calibration.py            # 2,000 studies per claim and truth
    python benchmarks/verdict_calibration.py --reps 200  # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.claims.calibration import calibrate, worst_false_rate  # noqa: E402
from common.cli import OneLineArgumentParser, UserError, cli_main  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="verdict_calibration.py", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--reps", type=int, default=2000, metavar="N",
                        help="simulated studies per claim and truth (default: %(default)s)")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.reps < 1:
        raise UserError(f"--reps must be at least 1, got {args.reps}")
    t0 = time.perf_counter()
    rates = calibrate(args.reps, progress=lambda c, t: print(
        f"claim {c}, truth {t}: {args.reps} studies", file=sys.stderr, flush=True))
    print(f"{'claim':>5}  {'truth':<8}  {'verdict':<22}  {'rate':>7}  {'± MC se':>8}  target")
    missed = []
    for r in rates:
        target = "" if r.target is None else f"≤ {r.target:.0%}"
        print(f"{r.claim:>5}  {r.truth:<8}  {r.word:<22}  {r.rate:7.3f}  {r.mc_se:8.3f}  "
              f"{target}")
        if r.target is not None and r.rate > r.target + 2 * r.mc_se:
            missed.append(r)
    worst = worst_false_rate(rates)
    print(f"{args.reps} studies per claim and truth in {time.perf_counter() - t0:.0f} s; "
          f"targets missed: {len(missed)}")
    print(f"worst false-verdict rate: {worst.rate:.3f} ± {worst.mc_se:.3f} (claim "
          f"{worst.claim}, {worst.word} when {worst.truth})")
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    status = {}

    def runner(args):
        status["rc"] = run(args)

    rc = cli_main(build_parser(), runner, argv)
    return rc or status.get("rc", 0)


if __name__ == "__main__":
    sys.exit(main())
