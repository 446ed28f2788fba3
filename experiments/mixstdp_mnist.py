"""MixSTDP: a Diehl & Cook (2015) digit network with a share of its neurons under
temporally-inverted STDP — the biological mirror of a MixLU layer.

For each share (``--percents``) and seed, the Brian2 network of
:mod:`stdp_sim.diehl_cook` learns mnist-5k training images without labels, its
neurons are labelled from their responses, and it is tested on the official MNIST test
set (found in ``--data-dir`` or the cache; otherwise a held-out split of the 5k).
Prints, per share, mean ± sd over seeds of training and test accuracy, their gap,
dead neurons, the share of applied weight change in each STDP regime per neuron kind,
and the weight means per rule.  With ``--out``: ``mixstdp_mnist.json``/``.csv`` and
three figures (receptive fields, accuracy and gap against the share, weight
histograms); a rerun resumes, each unfinished run from its last chunk of images.

``--engine auto`` (default) simulates with Brian2's C++ standalone mode (one compiled
program call per chunk; the program is built once per network shape and chunk size,
about a minute, and cached) when a C++ compiler works, else with the Cython runtime;
one line says which.  The engines draw different Poisson input, so a store holds runs
of one engine only.

Reproduce::

    python experiments/mixstdp_mnist.py --quick --out results/mixstdp-quick
    python experiments/mixstdp_mnist.py --data-dir DIR_WITH_t10k_FILES --seeds 5 \\
        --out results/mixstdp

Bad options print one ``error: ...`` line and exit with status 2; Ctrl-C exits with 130
(finished runs and the last chunk of the current one are kept).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.checks import decimal  # noqa: E402
from common.cli import OneLineArgumentParser, UserError, cli_main  # noqa: E402
from common.files import check_writable_dir, directory_argument  # noqa: E402
from stdp_sim.diehl_cook.experiment import (  # noqa: E402
    QUICK,
    MixSTDPOptions,
    run_experiment,
    table,
)


def _percents(text: str) -> tuple[float, ...]:
    try:
        values = tuple(decimal(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated numbers, got {text!r}") \
            from None
    if not values:
        raise argparse.ArgumentTypeError("must name at least one percentage")
    return values


def build_parser() -> argparse.ArgumentParser:
    d = MixSTDPOptions()
    p = OneLineArgumentParser(
        prog="mixstdp_mnist.py",
        description="Train Diehl & Cook's STDP digit network with a share of neurons "
        "under temporally-inverted STDP; print accuracy, gap and update regimes per share.")
    add = p.add_argument
    add("--percents", type=_percents, default=d.percents, metavar="P,P,...",
        help="percent of neurons (or synapses, --by synapse) under the mixed-in rule "
        f"(default {','.join(f'{v:g}' for v in d.percents)})")
    add("--seeds", type=int, default=d.seeds, help="seeds per share (default %(default)s)")
    add("--n-exc", type=int, default=d.n_exc, metavar="N",
        help="excitatory neurons (default %(default)s; the paper also used 400-6400)")
    add("--n-train", type=int, default=d.n_train, metavar="N",
        help="training images from mnist-5k, shown once (default %(default)s)")
    add("--n-test", type=int, default=d.n_test, metavar="N",
        help="test images (default %(default)s)")
    add("--by", choices=("neuron", "synapse"), default=d.by,
        help="the share counts neurons (all their input synapses) or single synapses")
    add("--rule", default=d.rule,
        help="the mixed-in rule: 'mirror' (Diehl & Cook's rule temporally inverted, "
        "default) or a preset of stdp_sim (anti_hebbian, potentiation_only, ...)")
    add("--chunk", type=int, default=d.chunk, metavar="N",
        help="images per checkpoint (default %(default)s)")
    add("--data-dir", type=directory_argument, default=None, metavar="DIR",
        help="folder with the MNIST test files t10k-{images-idx3,labels-idx1}-ubyte[.gz]")
    add("--out", type=directory_argument, default=None, metavar="DIR",
        help="write JSON, CSV and figures here; a rerun resumes")
    add("--engine", choices=("auto", "standalone", "runtime"), default=d.engine,
        help="'standalone': Brian2's C++ standalone mode, one compiled run per chunk "
        "(built once per network shape, about a minute); 'runtime': Brian2's Cython "
        "runtime; 'auto' (default): standalone when a C++ compiler works, else runtime "
        "(one line says which)")
    add("--no-progress", action="store_true", help="no progress bar")
    add("--quick", action="store_true",
        help=f"machinery check, not evidence: shares {QUICK['percents']}, "
        f"{QUICK['n_exc']} neurons, {QUICK['n_train']} images, 1 seed")
    return p


def options(args: argparse.Namespace) -> MixSTDPOptions:
    return MixSTDPOptions(percents=args.percents, seeds=args.seeds, n_exc=args.n_exc,
                          n_train=args.n_train, n_test=args.n_test, by=args.by,
                          rule=args.rule, chunk=args.chunk, data_dir=args.data_dir,
                          out=args.out, progress=not args.no_progress, quick=args.quick,
                          engine=args.engine)


def run(args: argparse.Namespace) -> dict:
    opts = options(args).resolved()  # every option checked before anything runs
    if opts.out is not None:
        try:
            check_writable_dir(opts.out)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    document = run_experiment(opts)
    print(table(document))
    if opts.quick:
        print("(--quick: a machinery check, not evidence)")
    return document


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 for user errors, 130 Ctrl-C)."""
    return cli_main(build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
