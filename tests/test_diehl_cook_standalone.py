"""The Diehl & Cook network in Brian2's C++ standalone mode (stdp_sim.diehl_cook.
standalone): engine choice and fallback, the counter-based input numbers, normalisation,
re-presentation, resume, and agreement with the Cython runtime.

The tests that run the compiled program share one build (module fixture; about a
minute the first time on a machine, cached on disk after) and are marked slow."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("brian2")

from test_diehl_cook import SAME, _images  # noqa: E402

from stdp_sim.diehl_cook.network import DiehlCookNetwork  # noqa: E402
from stdp_sim.diehl_cook.parameters import DiehlCookParameters  # noqa: E402
from stdp_sim.diehl_cook.plasticity import TraceRule, assign_rules  # noqa: E402
from stdp_sim.diehl_cook.standalone import (  # noqa: E402
    StandaloneNetwork,
    compiler_problem,
    resolve_engine,
    uniform,
)
from stdp_sim.diehl_cook.training import RunSettings, train_and_test  # noqa: E402

P = DiehlCookParameters(n_exc=10)
CHUNK = 5


def test_without_a_compiler_auto_falls_back_to_the_runtime_in_one_line(monkeypatch):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    engine, line = resolve_engine("auto")
    assert engine == "runtime"
    assert "\n" not in line and "runtime" in line and "/nonexistent/c++" in line
    with pytest.raises(ValueError, match="needs a working C\\+\\+ compiler"):
        resolve_engine("standalone")
    assert resolve_engine("runtime")[0] == "runtime"
    with pytest.raises(ValueError, match="engine must be"):
        resolve_engine("gpu")


def test_a_compiler_that_fails_is_no_compiler(monkeypatch, tmp_path):
    fake = tmp_path / "cxx"
    fake.write_text("#!/bin/sh\necho 'fatal: broken' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    problem = compiler_problem()
    assert problem is not None and "broken" in problem
    assert resolve_engine("auto")[0] == "runtime"


def test_the_input_numbers_are_uniform_and_depend_on_every_key():
    neurons = np.arange(784)
    u = uniform(7, 3, 0, 11, neurons)
    assert u.shape == (784,) and np.all((u >= 0) & (u < 1))
    big = uniform(7, np.arange(200)[:, None], 0, 11, neurons[None, :])
    assert abs(big.mean() - 0.5) < 0.01 and abs(big.var() - 1 / 12) < 0.005
    np.testing.assert_array_equal(u, uniform(7, 3, 0, 11, neurons))  # a function
    for changed in ((8, 3, 0, 11), (7, 4, 0, 11), (7, 3, 1, 11), (7, 3, 0, 12)):
        assert np.mean(uniform(*changed, neurons) == u) < 0.01, changed


@pytest.mark.skipif(compiler_problem() is not None, reason="no C++ compiler")
def test_the_compiled_numbers_are_the_numpy_ones(tmp_path):
    import os
    import shlex
    import subprocess

    from stdp_sim.diehl_cook.standalone import _UNIFORM_CPP

    keys = [(7, 3, 0, 11, 5), (4294967295, 9999, 20, 699, 783), (0, 0, 0, 0, 0)]
    calls = "".join(f'    printf("%.17g\\n", dc_uniform({", ".join(map(str, k))}));\n'
                    for k in keys)
    source = tmp_path / "u.cpp"
    source.write_text(f"#include <cstdint>\n#include <cstdio>\n{_UNIFORM_CPP}\n"
                      f"int main() {{\n{calls}    return 0;\n}}\n")
    cxx = shlex.split(os.environ.get("CXX") or "g++")
    subprocess.run([*cxx, "-O2", str(source), "-o", str(tmp_path / "u")], check=True)
    out = subprocess.run([str(tmp_path / "u")], capture_output=True, text=True, check=True)
    got = [float(v) for v in out.stdout.split()]
    assert got == [float(uniform(*k)) for k in keys]


def test_a_standalone_key_and_record_name_the_engine():
    runtime = RunSettings(share=0.5, seed=1)
    compiled = RunSettings(share=0.5, seed=1, engine="standalone")
    assert runtime.key == "mirror-neuron-0p5-n100-seed1"  # the published keys stay
    assert compiled.key == runtime.key + "-standalone"
    assert compiled.as_dict()["engine"] == "standalone"
    with pytest.raises(ValueError, match="engine"):
        RunSettings(share=0.5, seed=1, engine="gpu")


needs_compiler = pytest.mark.skipif(compiler_problem() is not None,
                                    reason=f"no C++ standalone build: {compiler_problem()}")


@pytest.fixture(scope="module")
def built():
    """Builds (or finds) the program for ``P`` and ``CHUNK`` once for the module."""
    return StandaloneNetwork(P, seed=0, chunk=CHUNK)


@pytest.mark.slow
@needs_compiler
def test_standalone_normalises_every_neuron_to_78_before_each_presentation(built):
    x, _ = _images(7)
    still = TraceRule(0.0, 0.0, name="still")  # no STDP: only the normalisation acts
    net = StandaloneNetwork(P, assign_rules(784, 10, 0.0, seed=2, base=still), seed=2,
                            chunk=CHUNK)
    before = net.weights.sum(axis=0)
    assert not np.allclose(before, 78.0)
    frozen = net.present(x, learning=False, stream=(1,))
    np.testing.assert_array_equal(net.weights.sum(axis=0), before)  # frozen: untouched
    assert frozen.counts.sum() > 0
    theta = net.theta.copy()
    net.present(x, learning=True, stream=(1,))  # 7 images: two program calls
    np.testing.assert_allclose(net.weights.sum(axis=0), 78.0, rtol=1e-12)
    assert np.all(net.theta >= theta) and np.any(net.theta > theta)
    # with STDP: the running sums the program normalises from are the weights' sums
    learning = StandaloneNetwork(P, seed=2, chunk=CHUNK)
    learning.present(x, learning=True, stream=(1,))
    sums = learning.weights.sum(axis=0)
    np.testing.assert_allclose(learning.state()["exc.wsum"], sums, rtol=1e-10)
    assert not np.allclose(sums, 78.0, rtol=1e-6)  # STDP acted after the last rescaling
    np.testing.assert_allclose(sums, 78.0, rtol=0.05)


@pytest.mark.slow
@needs_compiler
def test_standalone_shows_an_image_again_when_it_drew_fewer_than_5_spikes(built):
    x, _ = _images(6, seed=2)
    dim = x / 12.0  # weak input: some images draw fewer than 5 spikes at first
    net = StandaloneNetwork(P, seed=1, chunk=CHUNK)
    shown = net.present(dim, learning=False, stream=(4,))
    assert shown.repeats.sum() > 0
    final = shown.counts.sum(axis=1)
    assert np.all((final >= P.min_spikes) | shown.gave_up)
    slots = len(dim) + int(shown.repeats.sum())  # the program ran exactly these slots
    assert float(net.state()["t"]) == pytest.approx(slots * float(P.slot))
    bright = StandaloneNetwork(P, seed=1, chunk=CHUNK).present(x, learning=False,
                                                              stream=(4,))
    assert bright.repeats.sum() < shown.repeats.sum()


@pytest.mark.slow
@needs_compiler
def test_standalone_run_stopped_and_resumed_gives_the_same_numbers(built, tmp_path):
    x, y = _images(40, seed=9)
    settings = RunSettings(share=0.5, seed=1, n_exc=10, chunk=CHUNK, engine="standalone")

    def run(checkpoint=None, stop=None):
        return train_and_test(settings, x[:20], y[:20], x[20:], y[20:],
                              checkpoint=checkpoint, stop_after_chunks=stop)

    whole = run()
    assert whole.record["engine"] == "standalone"
    path = tmp_path / "run.npz"
    assert run(path, stop=3) is None  # stopped in the training phase (15 of 20)
    assert run(path, stop=2) is None  # ... and in labelling
    resumed = run(path)
    for key in SAME:
        assert resumed.record[key] == whole.record[key], key
    assert np.array_equal(resumed.weights, whole.weights)
    assert np.array_equal(resumed.theta, whole.theta)
    other_seed = train_and_test(RunSettings(share=0.5, seed=2, n_exc=10, chunk=CHUNK,
                                            engine="standalone"),
                                x[:20], y[:20], x[20:], y[20:])
    assert not np.array_equal(other_seed.weights, whole.weights)


@pytest.mark.slow
@needs_compiler
def test_the_two_engines_agree_statistically(built):
    """Different Poisson input, same model: with the same initial weights the spike
    counts per image (frozen, then learning) and the learnt weight sums agree within
    their noise (measured on these 40 images: 17.4 and 17.8 spikes per frozen image,
    weight sums within 1.2 %)."""
    x, _ = _images(40, seed=5)
    rates = {}
    for engine in ("runtime", "standalone"):
        net = (DiehlCookNetwork(P, seed=3) if engine == "runtime"
               else StandaloneNetwork(P, seed=3, chunk=CHUNK))
        frozen = net.present(x, learning=False, stream=(6, "frozen"))
        learnt = net.present(x[:20], learning=True, stream=(6, "train"))
        rates[engine] = (frozen.counts.sum(axis=1), learnt.counts.sum(axis=1),
                         net.weights.sum(axis=0))
    (f_r, l_r, w_r), (f_s, l_s, w_s) = rates["runtime"], rates["standalone"]
    assert not np.array_equal(f_r, f_s)  # not the same input
    # ... but the same images through the same weights: image by image, the counts
    # follow each other (measured r = 0.93)
    assert np.corrcoef(f_r, f_s)[0, 1] > 0.6
    se = np.sqrt(f_r.var() / len(f_r) + f_s.var() / len(f_s))
    assert abs(f_r.mean() - f_s.mean()) < 4 * se + 0.5, (f_r.mean(), f_s.mean())
    se = np.sqrt(l_r.var() / len(l_r) + l_s.var() / len(l_s))
    assert abs(l_r.mean() - l_s.mean()) < 4 * se + 0.5, (l_r.mean(), l_s.mean())
    np.testing.assert_allclose(w_r, w_s, rtol=0.05)  # both normalised, then learnt
