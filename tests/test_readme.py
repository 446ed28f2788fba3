"""The README works as typed: its Python examples run, its links and paths exist."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_readme_has_a_brian2_and_a_pytorch_example():
    assert len(EXAMPLES) == 2
    assert "from brian2 import" in EXAMPLES[0] and "from stdp_sim import" in EXAMPLES[0]
    assert "import torch" in EXAMPLES[1] and "MixLU" in EXAMPLES[1]


def _run(code: str) -> str:
    """Run an example as a user would: a fresh interpreter in the repository root."""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.slow
def test_the_brian2_example_learns_with_the_preset():
    out = _run(EXAMPLES[0])
    assert "PRE_POST_POTENTIATION" in out and "POST_PRE_DEPRESSION" in out
    mean = float(re.search(r"mean weight (\S+)", out).group(1))
    assert 0.0 <= mean <= 1.0 and mean != 0.5  # the weights moved, within the rule's bounds


def test_the_pytorch_example_mixes_25_neglus_into_500_units():
    out = _run(EXAMPLES[1])
    assert "num_neg=25" in out
    assert "tensor([-2.,  0.])" in out


def test_every_relative_link_and_script_named_exists():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [link for link in links if "://" not in link]
    assert local, "the README links its docs pages"
    missing = [link for link in local if not (ROOT / link).exists()]
    scripts = set(re.findall(r"`((?:experiments|benchmarks)/[\w/]+\.\w+)`", README))
    missing += [s for s in scripts if not (ROOT / s).exists()]
    assert not missing, missing
