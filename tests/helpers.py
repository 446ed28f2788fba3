"""Plain helpers shared by test modules (``from helpers import ...``).

pytest puts tests/ on ``sys.path`` (no ``__init__.py`` here, default import mode).
No torch import at module level, as in conftest.py: torch is imported where it is used.
"""

import importlib.util
from pathlib import Path


def synthetic(n_train, n_test, size=28, channels=1, seed=0):
    """Class = position of a bright block on noise (0-255 scale), mean subtracted."""
    import torch

    from ann.data import TensorData

    g = torch.Generator().manual_seed(seed)

    def make(n):
        y = torch.arange(n) % 10
        x = torch.rand(n, channels, size, size, generator=g) * 60
        for i, c in enumerate(y.tolist()):
            x[i, :, 2 * c : 2 * c + 6, 3:10] = 250.0
        return x, y

    train_x, train_y = make(n_train)
    test_x, test_y = make(n_test)
    mean = train_x.mean(0, keepdim=True)
    return TensorData(train_x - mean, train_y, test_x - mean, test_y, name="synthetic")


def load_script(path: Path):
    """A script (not an installed module) imported afresh, named after its file."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def call_main(path: Path, argv, capsys):
    """The script's main() in-process: (exit status, stdout, stderr), argparse exits included."""
    script = load_script(path)
    try:
        code = script.main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err
