"""experiments/stdp_table.py and benchmarks/stdp_bench.py at small scale, and the
library they call (stdp_sim.tables, stdp_sim.plots, bridge.regime_table).

The scripts run in-process (``helpers.call_main``); every bad-input case also checks
that nothing was simulated (``run_conditions`` is replaced by a tripwire).
"""

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

import stdp_sim
import stdp_sim.tables as tables_module
from stdp_sim import Regime, preset_names
from stdp_sim.tables import TableConfig, run_tables

from helpers import call_main, load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "stdp_table.py"
BENCH = ROOT / "benchmarks" / "stdp_bench.py"

SMALL = [
    "--n-pairings", "3", "--pairing-rate-hz", "4", "--trials", "2",
    "--poisson-duration-s", "3", "--window-grid-ms", "-20", "0", "20", "--no-progress",
    "--target", "numpy",  # the default (cpp_standalone) is covered by a slow test
]  # fmt: skip
#: One rule, one preset, one trial: the cheapest full run (about a second on numpy).
TINY = [
    "--rules", "hebbian", "--window-presets", "hebbian", "--trials", "1", "--n-pairings", "2",
    "--pairing-rate-hz", "4", "--poisson-duration-s", "0.5", "--window-grid-ms", "-10", "10",
    "--no-progress", "--target", "numpy",
]  # fmt: skip

#: Every key stdp_table.json has published; new keys may be added, none renamed.
PUBLISHED = {
    "": {"config", "environment", "timing", "n_conditions", "rules", "regimes", "windows",
         "bridge"},
    "config": {"rules", "delta_t_ms", "n_pairings", "pairing_rate_hz", "jitter_ms", "trials",
               "poisson_rate_hz", "correlation", "poisson_duration_s", "idt_window_ms",
               "window_presets", "window_grid_ms", "seed", "dt_ms", "target", "convention"},
    "environment": {"python", "brian2", "numpy", "platform", "processor", "cpu_count", "target"},
    "timing": {"run_s", "simulate_s"},
    "regime_row": {"regime", "legacy_name", "rule", "protocol", "protocol_detail", "delta_t_ms",
                   "integral_delta_t_ms", "integral_delta_t_sd_ms", "dw", "dw_sd", "n_trials",
                   "classified_as", "classified_legacy_name", "matches", "trials_matching",
                   "n_pre_spikes_mean", "n_post_spikes_mean"},
    "window": {"delta_t_ms", "dw", "dw_analytic", "max_abs_error", "max_rel_error",
               "n_pre_spikes", "n_post_spikes", "n_pairings"},
    "bridge": {"convention", "regimes"},
    "rule": {"name", "a_pre_post", "a_post_pre", "tau_pre_post_ms", "tau_post_pre_ms",
             "weight_dependence", "w_min", "w_max", "w_init", "pairing"},
}  # fmt: skip
#: Keys added with the pairing-scheme and pairing-frequency tables (issue #31).
ADDED = {
    "": {"schemes", "frequency", "skipped_tables"},
    "config": {"schemes", "frequency_rules", "frequency_rates_hz"},
    "scheme_row": PUBLISHED["regime_row"] | {"pairing"},
    "frequency": {"protocol", "rows", "regime_changes", "sjostrom"},
    "frequency_row": {"rule", "order", "delta_t_ms", "sjostrom_delta_t_ms", "rate_hz",
                      "n_pairings", "dw", "w_start", "relative_dw", "integral_delta_t_ms",
                      "classified_as", "classified_legacy_name",
                      "classified_by_integral_delta_t", "sjostrom_relative_dw", "residual",
                      "time_scale", "n_pre_spikes", "n_post_spikes", "at_bound"},
    "rule": {"mu", "a3_pre_post", "a3_post_pre", "tau_x_ms", "tau_y_ms"},
}  # fmt: skip


def _n_conditions(rules, trials, windows, grid, schemes=4, frequency_rules=8, rates=5):
    """Synapses of one run: Tables 1-2, Table 3, the scheme table (Tables 1-2 under each
    scheme), the frequency table (both orders at each rate)."""
    regimes = 2 * rules * 2 * trials
    return regimes + windows * grid + schemes * regimes + frequency_rules * rates * 2


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """The script on SMALL with --out: (exit status, printed text, out dir, JSON)."""
    out = tmp_path_factory.mktemp("stdp")
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        code = load_script(SCRIPT).main([*SMALL, "--out", str(out)])
    return code, text.getvalue(), out, json.loads((out / "stdp_table.json").read_text())


@pytest.fixture
def no_simulation(monkeypatch):
    """Fail loudly if anything reaches the simulator (stdp_table's and stdp_bench's)."""

    def tripwire(*args, **kwargs):
        raise AssertionError("a simulation started before the input was checked")

    monkeypatch.setattr(tables_module, "run_conditions", tripwire)
    monkeypatch.setattr(stdp_sim, "run_conditions", tripwire)  # stdp_bench's from-import


def test_every_regime_is_measured_and_classified(small_run):
    code, _, _, data = small_run
    assert code == 0
    rows = data["regimes"]
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


def test_json_keeps_every_published_key(small_run):
    _, _, _, data = small_run
    assert PUBLISHED[""] <= set(data)
    assert PUBLISHED["config"] <= set(data["config"])
    assert PUBLISHED["environment"] <= set(data["environment"])
    assert PUBLISHED["timing"] <= set(data["timing"])
    assert all(PUBLISHED["regime_row"] <= set(row) for row in data["regimes"])
    assert all(PUBLISHED["window"] <= set(w) for w in data["windows"].values())
    assert PUBLISHED["bridge"] <= set(data["bridge"])
    assert all(PUBLISHED["rule"] <= set(r) for r in data["rules"].values())
    assert data["skipped_tables"] == {}  # added key: nothing skipped with torch present
    assert data["config"]["convention"] == "rate" and data["config"]["n_pairings"] == 3
    assert data["environment"]["brian2"] and data["environment"]["target"] == "numpy"
    assert data["n_conditions"] == _n_conditions(rules=4, trials=2, windows=6, grid=3)
    assert ADDED[""] <= set(data) and ADDED["config"] <= set(data["config"])
    assert all(ADDED["scheme_row"] <= set(row) for row in data["schemes"])
    assert ADDED["frequency"] <= set(data["frequency"])
    assert all(ADDED["frequency_row"] <= set(row) for row in data["frequency"]["rows"])
    assert all(ADDED["rule"] <= set(r) for r in data["rules"].values())


def test_json_and_png_written(small_run):
    _, _, out, data = small_run
    assert set(data["windows"]) == set(preset_names())  # the pair presets
    for w in data["windows"].values():
        assert w["delta_t_ms"] == [-20.0, 0.0, 20.0]
        assert len(w["dw"]) == len(w["dw_analytic"]) == 3
        assert w["max_rel_error"] < 0.01
    # the artificial side: one entry per regime, computed from bridge.sign_mapping
    assert data["bridge"]["convention"] == "rate"
    bridge = {r["regime"]: r["patterns"] for r in data["bridge"]["regimes"]}
    assert set(bridge) == {r.label for r in Regime}
    (hebbian,) = [p for p in bridge["pre-post potentiation"] if p["synapse"] == "excitatory"]
    assert (hebbian["descent"], hebbian["derivative"]) == (1, 1)
    assert "ReLU" in hebbian["unit_types"] and "NegLU (inverted)" not in hebbian["unit_types"]
    png = (out / "stdp_windows.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert sorted(p.name for p in out.iterdir()) == ["stdp_table.json", "stdp_windows.png"]


def test_printed_tables_match_the_json(small_run):
    _, text, out, data = small_run
    assert text.count("## Table") == 4 and "## Table 4 — the artificial side" in text
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert [h.split(" — ")[0] for h in headings] == [
        "## Table 1", "## Table 2", "## Table 3", "## Table 4", "## Pairing schemes",
        "## Pairing frequency",
    ]  # fmt: skip
    schemes = {row["pairing"] for row in data["schemes"]}
    assert schemes == {"all-to-all", "nearest-symmetric", "nearest-pre-centered",
                       "nearest-restricted"}  # fmt: skip
    assert f"{len(data['schemes'])}/{len(data['schemes'])} (scheme, regime row) pairs" in text
    assert f"{len(data['regimes'])}/{len(data['regimes'])} regime rows classified" in text
    assert f"wrote {out / 'stdp_table.json'} and {out / 'stdp_windows.png'}" in text


def test_markdown_tables_printed(capsys):
    code, out, _ = call_main(SCRIPT, [*TINY, "--poisson-duration-s", "3"], capsys)
    assert code == 0
    assert out.count("## Table") == 4
    assert "| pre-post potentiation | Hebbian | hebbian |" in out
    assert "4/4 regime rows classified as their rule predicts" in out


def test_library_runs_the_tables_without_the_script():
    cfg = TableConfig(rules=["anti_hebbian"], trials=1, n_pairings=2, pairing_rate_hz=4.0,
                      poisson_duration_s=0.5, window_presets=["song2000"],
                      window_grid_ms=[-10.0, 10.0], target="numpy")  # fmt: skip
    run = run_tables(cfg, progress=False)
    assert set(run["tables"]) == {"pairing", "poisson", "windows", "schemes", "frequency"}
    assert run["n_conditions"] == _n_conditions(rules=1, trials=1, windows=1, grid=2)
    pairing = {row["regime"]: row for row in run["tables"]["pairing"]}
    depression = pairing["pre-post depression"]
    assert depression["dw"] < -1e-3 and depression["matches"]
    assert "| song2000 |" in run["markdown"]["windows"]


def test_without_torch_table_4_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    code, out, err = call_main(SCRIPT, [*TINY, "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert out.count("## Table") == 3 and "Table 4" not in out.split("## Table 3")[0]
    (line,) = [line for line in out.splitlines() if "Table 4" in line]
    assert "needs PyTorch" in line and "pip install torch" in line
    data = json.loads((tmp_path / "stdp_table.json").read_text())
    assert "bridge" not in data and "torch" in data["skipped_tables"]["bridge"]
    assert data["windows"]["hebbian"]["dw"] and data["regimes"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--n-pairings", "0"], "--n-pairings"),
        (["--rules", "hebian"], "hebian"),
        (["--rules", "hebbian", "hebbian"], "--rules"),
        (["--window-presets", "nope"], "--window-presets"),
        (["--delta-t-ms", "0"], "--delta-t-ms"),
        (["--delta-t-ms", "nan"], "--delta-t-ms"),
        (["--correlation", "2"], "--correlation"),
        (["--correlation", "-0.1"], "--correlation"),
        (["--window-grid-ms", "600"], "--window-grid-ms"),
        (["--window-grid-ms", "inf"], "--window-grid-ms"),
        (["--trials", "0"], "--trials"),
        (["--target", "gpu"], "--target"),
        (["--pairing-rate-hz", "-1"], "--pairing-rate-hz"),
        (["--pairing-rate-hz", "100"], "--pairing-rate-hz"),
        (["--poisson-rate-hz", "-5"], "--poisson-rate-hz"),
        (["--poisson-duration-s", "0"], "--poisson-duration-s"),
        (["--poisson-duration-s", "0.005"], "--poisson-duration-s"),
        (["--jitter-ms", "-1"], "--jitter-ms"),
        (["--idt-window-ms", "0"], "--idt-window-ms"),
        (["--seed", "-1"], "--seed"),
        (["--dt-ms", "0"], "--dt-ms"),
        (["--dt-ms", "50"], "--dt-ms"),  # 4 of 8 regime rows had the wrong sign
        (["--dt-ms", "5", "--delta-t-ms", "10", "--window-grid-ms", "-20", "20"], "--dt-ms"),
        (["--dt-ms", "1"], "--dt-ms"),  # the default grid has |Δt| = 2 ms
        (["--trials", "many"], "--trials"),
        (["--convention", "causal"], "--convention"),
        (["--bogus"], "--bogus"),
        (["--schemes", "nearest-first"], "--schemes"),
        (["--schemes", "nearest", "nearest-symmetric"], "--schemes"),  # an alias twice
        (["--frequency-rules", "hebian"], "--frequency-rules"),
        (["--frequency-rules", "hebbian", "hebbian"], "--frequency-rules"),
        (["--frequency-rates-hz", "0"], "--frequency-rates-hz"),
        (["--frequency-rates-hz", "nan"], "--frequency-rates-hz"),
        (["--frequency-rates-hz", "ten"], "--frequency-rates-hz"),
        (["--frequency-rates-hz", "100"], "--frequency-rates-hz"),  # period 10 ms = |Δt|
    ],
)
def test_bad_options_print_one_line_and_exit_2(args, needle, capsys, no_simulation):
    code, _, err = call_main(SCRIPT, args, capsys)
    assert code == 2
    err = err.strip()
    assert err.startswith("error: ") and "\n" not in err and needle in err
    assert "Traceback" not in err


def test_dt_bound_is_named_in_the_message(capsys, no_simulation):
    code, _, err = call_main(SCRIPT, ["--dt-ms", "50"], capsys)
    assert code == 2 and "dt <= 0.2 ms" in err and "2 ms" in err


@pytest.mark.parametrize("kind", ["proc", "sys", "under_a_file", "a_file", "json_is_a_dir"])
def test_unwritable_out_is_refused_before_simulating(kind, tmp_path, capsys, no_simulation):
    a_file = tmp_path / "results.txt"
    a_file.write_text("not a directory")
    (tmp_path / "blocked" / "stdp_table.json").mkdir(parents=True)
    out = {"proc": "/proc/x", "sys": "/sys/kernel", "under_a_file": str(a_file / "sub"),
           "a_file": str(a_file), "json_is_a_dir": str(tmp_path / "blocked")}[kind]  # fmt: skip
    code, stdout, err = call_main(SCRIPT, [*TINY, "--out", out], capsys)
    assert code == 2 and stdout == ""
    err = err.strip()
    assert err.startswith("error: --out ") and "\n" not in err and out in err
    assert a_file.read_text() == "not a directory"


def test_ctrl_c_is_one_line_and_exit_130(capsys, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tables_module, "run_conditions", interrupt)
    code, _, err = call_main(SCRIPT, TINY, capsys)
    assert code == 130 and err.strip() == "interrupted"


def test_a_bug_keeps_its_traceback(capsys, monkeypatch):
    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(tables_module, "run_conditions", bug)
    with pytest.raises(ZeroDivisionError, match="a bug"):
        call_main(SCRIPT, TINY, capsys)


def test_default_config_and_the_benchmark_protocol_pass_the_checks():
    TableConfig().validate()
    TableConfig(n_pairings=5, pairing_rate_hz=4.0, poisson_duration_s=1.0).validate()
    # the bound is min(|Δt|, τ)/10: 1 ms for Δt = 10 ms with a 20 ms grid
    TableConfig(dt_ms=1.0, window_grid_ms=[-20.0, 0.0, 20.0]).validate()
    with pytest.raises(ValueError, match="--dt-ms"):
        TableConfig(dt_ms=1.01, window_grid_ms=[-20.0, 0.0, 20.0]).validate()


def test_help_documents_units_and_the_dt_bound(capsys):
    code, text, _ = call_main(SCRIPT, ["--help"], capsys)
    assert code == 0
    for option in ("--delta-t-ms", "--pairing-rate-hz", "--poisson-duration-s", "--out",
                   "--dt-ms", "--seed"):  # fmt: skip
        assert option in text
    assert "in ms" in text and "in Hz" in text and "in s" in text
    flat = " ".join(text.split())
    assert "at most 1/10 of the smallest" in flat and "|Δt|" in flat


# ---------------------------------------------------------------- stdp_bench
@pytest.mark.slow
def test_bench_one_network_equals_separate_runs():
    cfg = TableConfig(
        rules=["hebbian"], trials=1, n_pairings=2, pairing_rate_hz=4.0, poisson_duration_s=0.5,
        window_presets=["anti_hebbian"], window_grid_ms=[-10.0, 10.0],
        schemes=["nearest-restricted"], frequency_rules=["hebbian"], frequency_rates_hz=[10.0],
    ).validate()  # fmt: skip
    result = load_script(BENCH).bench(cfg, "auto", repeats=1)
    assert result["n_conditions"] == 6 + 4 + 2
    assert result["max_abs_dw_difference"] == 0.0
    assert result["time_a_s"] > 0 and result["time_b_s"] > 0


def _condition_key(c):
    t = c.trains
    tags = json.dumps(c.tags, sort_keys=True, default=str)
    return c.rule, c.w_init, tags, t.protocol, t.delta_t, t.duration, tuple(t.pre), tuple(t.post)


def test_bench_times_exactly_the_conditions_of_the_table_run(monkeypatch):
    """What stdp_bench.py times is what stdp_table.py simulates for the same config: the
    same conditions (rules, spike trains, start weights, tags), in the same order, with
    the same dt and ∫Δt window.  Nothing is simulated: both stop at run_conditions."""
    cfg = TableConfig(
        rules=["hebbian", "song2000"], trials=2, n_pairings=2, pairing_rate_hz=4.0,
        poisson_duration_s=0.5, window_presets=["anti_hebbian"],
        window_grid_ms=[-10.0, 0.0, 10.0], idt_window_ms=20.0, dt_ms=0.05, target="numpy",
    ).validate()  # fmt: skip
    calls = []

    class Stop(Exception):
        pass

    def record(conditions, **kwargs):
        options = (float(kwargs["dt"]), float(kwargs["idt_window"]))
        calls.append(([_condition_key(c) for c in conditions], options))
        raise Stop

    monkeypatch.setattr(tables_module, "run_conditions", record)
    with pytest.raises(Stop):
        run_tables(cfg, progress=False)
    bench = load_script(BENCH)
    monkeypatch.setattr(bench, "run_conditions", record)
    with pytest.raises(Stop):
        bench.bench(cfg, "numpy", repeats=1)
    (table_run, table_options), (bench_run, bench_options) = calls
    # Tables 1 and 2: 2 rules x 2 timings x 2 trials each; Table 3: 1 preset x 3 Δt;
    # the scheme table: Tables 1-2 under 4 schemes; the frequency table: 8 rules x 5 x 2
    assert len(table_run) == 8 + 8 + 3 + 4 * 16 + 8 * 5 * 2
    assert bench_run == table_run
    assert table_options == bench_options == (pytest.approx(5e-5), pytest.approx(0.02))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--n-pairings", "0"], "--n-pairings"),
        (["--n-pairings", "two"], "--n-pairings"),
        (["--pairing-rate-hz", "-1"], "--pairing-rate-hz"),
        (["--pairing-rate-hz", "nan"], "--pairing-rate-hz"),
        (["--pairing-rate-hz", "100"], "--pairing-rate-hz"),
        (["--poisson-duration-s", "0"], "--poisson-duration-s"),
        (["--poisson-duration-s", "-3"], "--poisson-duration-s"),
        (["--poisson-duration-s", "inf"], "--poisson-duration-s"),
        (["--trials", "0"], "--trials"),
        (["--trials", "1.5"], "--trials"),
        (["--trials", "1000000000"], "--trials must be an integer in 1..10000"),
        (["--n-pairings", "1000000000000"], "--n-pairings must be an integer in 1..100000"),
        (["--poisson-duration-s", "1e12"], "--poisson-duration-s must be a finite number > 0 "
                                           "and <= 10000"),
        (["--target", "gpu"], "--target"),
        (["--target", "cpp_standalone"], "--target"),
        (["--repeats", "0"], "--repeats"),
        (["--repeats", "-2"], "--repeats"),
        (["--repeats", "x"], "--repeats"),
        (["--full=yes"], "--full"),
        (["--full", "--n-pairings", "-5"], "--n-pairings"),
        (["--bogus"], "--bogus"),
    ],
)
def test_bench_bad_options_print_one_line_and_exit_2(args, needle, capsys, no_simulation):
    code, out, err = call_main(BENCH, args, capsys)
    assert code == 2 and out == ""
    err = err.strip()
    assert err.startswith("error: ") and "\n" not in err and needle in err


def test_bench_ctrl_c_is_one_line_and_exit_130(capsys, monkeypatch):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(stdp_sim, "run_conditions", interrupt)
    code, _, err = call_main(BENCH, ["--target", "numpy", "--repeats", "1"], capsys)
    assert code == 130 and err.strip() == "interrupted"


@pytest.mark.slow
def test_stdp_startup_times_a_cold_and_a_warm_run(capsys):
    startup = load_script(ROOT / "benchmarks" / "stdp_startup.py")
    tiny = " ".join(TINY[:-3])  # without --no-progress (the benchmark adds it) and target
    out = startup.run(startup.build_parser().parse_args(
        ["--warm", "1", "--args", tiny + " --target numpy"]))
    (run,) = out["runs"]
    assert run["repo"] == str(ROOT) and run["cold_s"] > 0 and len(run["warm_s"]) == 1
    assert 0 < run["simulate_s"] < run["warm_s"][0]
    assert "ratio" not in out and "warm median" in capsys.readouterr().out


def test_stdp_startup_compares_two_checkouts_tables_and_times(tmp_path, capsys, monkeypatch):
    startup = load_script(ROOT / "benchmarks" / "stdp_startup.py")
    other = tmp_path / "other"
    (other / "experiments").mkdir(parents=True)
    (other / "experiments" / "stdp_table.py").write_text("")
    seconds = {str(ROOT): 2.0, str(other): 5.0}

    def fake_run(repo, out, cache, extra):  # writes what a run would, in no time
        out.mkdir(exist_ok=True)
        windows = {"hebbian": {"dw": [0.1 if repo == ROOT else 0.2]}}
        (out / "stdp_table.json").write_text(json.dumps(
            {"regimes": [], "windows": windows, "timing": {"simulate_s": 1.0}}))
        return seconds[str(repo)]

    monkeypatch.setattr(startup, "_run", fake_run)
    out = startup.run(startup.build_parser().parse_args(
        ["--repo", str(ROOT), "--repo", str(other), "--warm", "2"]))
    printed = capsys.readouterr().out
    assert out["ratio"] == 2.5 and printed.strip().endswith("ratio: 2.50")
    assert out["same_tables"] is False
    assert "same tables (regimes, windows, bridge, rules): NO" in printed


@pytest.mark.parametrize(("argv", "needle"), [
    (["--warm", "0"], "error: --warm must be positive, got 0"),
    (["--repo", "/nonexistent"], "error: --repo '/nonexistent' has no experiments/stdp_table.py"),
])
def test_stdp_startup_bad_options_are_one_line(argv, needle, capsys):
    startup = load_script(ROOT / "benchmarks" / "stdp_startup.py")
    assert startup.main(argv) == 2
    assert capsys.readouterr().err.strip() == needle
