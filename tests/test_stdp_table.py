"""experiments/stdp_table.py and benchmarks/stdp_bench.py at small scale."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # experiments/ and benchmarks/ are scripts, not installed
    sys.path.insert(0, str(ROOT))

from benchmarks.stdp_bench import bench  # noqa: E402
from experiments import stdp_table  # noqa: E402
from stdp_sim import Regime  # noqa: E402

SMALL = [
    "--n-pairings", "3", "--pairing-rate-hz", "4", "--trials", "2",
    "--poisson-duration-s", "3", "--window-grid-ms", "-20", "0", "20", "--no-progress",
    "--target", "numpy",  # the default (cpp_standalone) is covered by a slow test
]  # fmt: skip


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stdp")
    results = stdp_table.main([*SMALL, "--out", str(out)])
    return results, out


def test_every_regime_is_measured_and_classified(small_run, capsys):
    results, _ = small_run
    rows = results["regimes"]
    assert {r["protocol"] for r in rows} == {"pairing", "poisson"}
    for protocol in ("pairing", "poisson"):
        mine = [r for r in rows if r["protocol"] == protocol]
        assert {r["classified_as"] for r in mine} == {r.label for r in Regime}
        for r in mine:
            assert r["n_pre_spikes_mean"] > 0 and r["n_post_spikes_mean"] > 0
            assert abs(r["dw"]) > 1e-3
            assert r["classified_as"] == r["regime"] and r["matches"]
            assert (r["integral_delta_t_ms"] <= 0) == (r["delta_t_ms"] < 0)
            assert r["legacy_name"] == Regime.from_label(r["regime"]).legacy_name


def test_json_and_png_written(small_run):
    results, out = small_run
    data = json.loads((out / "stdp_table.json").read_text())
    assert data["regimes"] == json.loads(json.dumps(results["regimes"]))
    required = {"regime", "rule", "protocol", "delta_t_ms", "integral_delta_t_ms", "dw",
                "classified_as", "legacy_name"}  # fmt: skip
    assert all(required <= set(r) for r in data["regimes"])
    assert set(data["windows"]) == set(stdp_table.preset_names())
    for w in data["windows"].values():
        assert w["delta_t_ms"] == [-20.0, 0.0, 20.0]
        assert len(w["dw"]) == len(w["dw_analytic"]) == 3
        assert w["max_rel_error"] < 0.01
    assert data["config"]["n_pairings"] == 3 and data["environment"]["brian2"]
    # the artificial side: one entry per regime, computed from bridge.mapping
    assert data["bridge"]["convention"] == "rate"
    bridge = {r["regime"]: r["patterns"] for r in data["bridge"]["regimes"]}
    assert set(bridge) == {r.label for r in Regime}
    (hebbian,) = [p for p in bridge["pre-post potentiation"] if p["synapse"] == "excitatory"]
    assert (hebbian["descent"], hebbian["derivative"]) == (1, 1)
    assert "ReLU" in hebbian["unit_types"] and "NegLU (inverted)" not in hebbian["unit_types"]
    png = (out / "stdp_windows.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert sorted(p.name for p in out.iterdir()) == ["stdp_table.json", "stdp_windows.png"]


def test_markdown_tables_printed(capsys):
    stdp_table.main([*SMALL, "--window-presets", "hebbian", "--rules", "hebbian"])
    text = capsys.readouterr().out
    assert text.count("## Table") == 4
    assert "| pre-post potentiation | Hebbian | hebbian |" in text
    assert "4/4 regime rows classified as their rule predicts" in text


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--n-pairings", "0"], "n_pairings"),
        (["--rules", "hebian"], "hebian"),
        (["--delta-t-ms", "0"], "delta-t-ms"),
        (["--correlation", "2"], "correlation"),
        (["--window-grid-ms", "600"], "delta_t"),
        (["--trials", "0"], "trials"),
        (["--target", "gpu"], "target"),
        (["--pairing-rate-hz", "-1"], "rate"),
        (["--trials", "many"], "trials"),
        (["--convention", "causal"], "convention"),
    ],
)
def test_bad_options_print_one_line_and_exit_2(args, needle, capsys):
    with pytest.raises(SystemExit) as info:
        stdp_table.main(args)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and needle in err
    assert "Traceback" not in err


def test_help_documents_units():
    text = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "stdp_table.py"), "--help"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for option in ("--delta-t-ms", "--pairing-rate-hz", "--poisson-duration-s", "--out"):
        assert option in text
    assert "in ms" in text and "in Hz" in text and "in s" in text


def test_bench_one_network_equals_separate_runs():
    cfg = stdp_table.TableConfig(
        rules=["hebbian"], trials=1, n_pairings=2, pairing_rate_hz=4.0, poisson_duration_s=0.5,
        window_presets=["anti_hebbian"], window_grid_ms=[-10.0, 10.0],
    ).validate()  # fmt: skip
    result = bench(cfg, "auto", repeats=1)
    assert result["n_conditions"] == 6
    assert result["max_abs_dw_difference"] == 0.0
    assert result["time_a_s"] > 0 and result["time_b_s"] > 0


def test_stdp_sim_never_imports_torch():
    code = "import sys, stdp_sim, stdp_sim.rate_ramp; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    assert out.strip() == "False"
