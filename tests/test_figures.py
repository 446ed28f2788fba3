"""Every figure the toolkit writes, built from small synthetic inputs (no training):
the PNG has the figure's size at the saved resolution, nothing is clipped, no text is
under 8 pt, legends stay off the axes, every point is inside the axis limits, epochs
and steps get whole-number ticks, percentages sit on linear axes, panels compared
with each other share their y axis, and series that share an x value are set apart.
"""

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from ann.plots import DPI, MIN_FONT_PT, draw_curves, offsets, plot_curves, wrap
from ann.specs import RunSpec, parse_activation
from bridge.claims import figures
from bridge.signs_report import draw_inverted, plot_inverted

from helpers import load_script

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ checks
def check_png(fig, path: Path) -> None:
    """The PNG at ``path`` is ``fig`` at :data:`DPI`: its pixel size is the figure's."""
    width, height = fig.get_size_inches()
    assert imread(path).shape[:2] == (round(height * DPI), round(width * DPI))


def check_layout(fig) -> None:
    """Nothing drawn outside the figure (titles, labels, legends), no text under
    :data:`MIN_FONT_PT`, every axis linear, legends clear of every axes."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_size_inches()
    box = fig.get_tightbbox(renderer)  # inches
    tol = 0.02
    assert (box.x0 >= -tol and box.y0 >= -tol and box.x1 <= width + tol
            and box.y1 <= height + tol), (box, width, height)
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text()]
    assert texts and min(t.get_fontsize() for t in texts) >= MIN_FONT_PT
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    for legend, ax in itertools.product(legends, fig.axes):
        assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    for ax in fig.axes:
        assert ax.get_yscale() == "linear" and ax.get_xscale() == "linear"
    titles = [t for t in (fig._suptitle, *(ax.title for ax in fig.axes))
              if t is not None and t.get_text()]
    for a, b in itertools.combinations(titles, 2):  # no title runs into another
        assert not a.get_window_extent(renderer).overlaps(b.get_window_extent(renderer)), (
            a.get_text(), b.get_text())


def check_points_inside(ax) -> int:
    """Every point of every line of ``ax`` (error-bar caps included) lies inside its
    limits; returns how many points there are."""
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    n = 0
    for line in ax.get_lines():
        xs, ys = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        if line.get_transform() != ax.transData:  # axhline / axvline: one coordinate
            if np.ptp(ys) == 0:                      # in axes units (0 to 1)
                xs = np.full_like(ys, x0)
            else:
                ys = np.full_like(xs, y0)
        assert np.all((x0 <= xs) & (xs <= x1)), (line.get_label(), xs, (x0, x1))
        assert np.all((y0 <= ys) & (ys <= y1)), (line.get_label(), ys, (y0, y1))
        n += len(ys)
    return n


def check_integer_ticks(axis, lo: float, hi: float) -> None:
    """The ticks of ``axis`` shown between ``lo`` and ``hi`` are whole numbers."""
    shown = [t for t in axis.get_majorticklocs() if lo <= t <= hi]
    assert len(shown) >= 2 and all(float(t).is_integer() for t in shown), shown


def check_shared_y(axes) -> None:
    for a, b in itertools.combinations(axes, 2):
        assert a.get_shared_y_axes().joined(a, b) and a.get_ylim() == b.get_ylim()


def series_x(ax) -> dict[str, list[float]]:
    """x positions per labelled series (a line or an error bar's data line)."""
    out = {}
    for line in ax.get_lines():
        label = line.get_label()
        if label and not label.startswith("_"):
            out[label] = list(np.asarray(line.get_xdata(), float))
    for container in ax.containers:
        label = container.get_label()
        if label and not label.startswith("_"):
            out[label] = list(np.asarray(container.lines[0].get_xdata(), float))
    return out


# ------------------------------------------------------------------ inputs
def sweep_result(activation: str, seed: int, final: float, status: str = "ok",
                 epochs: int = 4) -> dict:
    """A sweep result (as :func:`ann.train.train_one` returns it): epoch 1 far worse
    (50 % training error) than the rest, which falls to ``final``."""
    run = RunSpec(parse_activation(activation), seed).fields()
    curve = [{"epoch": e + 1, "train_error": 0.5 if e == 0 else final + 0.01 * (epochs - e),
              "test_error": 0.3 if e == 0 else final + 0.02 + 0.01 * (epochs - e),
              "loss": 1.0} for e in range(epochs)]
    run.update(status=status, train_error=curve[-1]["train_error"],
               test_error=curve[-1]["test_error"], epochs=curve, seconds=1.0)
    return run


def claim_run(activation: str, seed: int, train: float, test: float, status: str = "ok",
              epochs: int = 5, dead: int = 0, slope: float | None = None) -> dict:
    """A run record with what the verdict figures read (errors as fractions)."""
    run = sweep_result(activation, seed, train, status, epochs)
    position = {"units": {"relu": 100}, "dead": {"relu": dead}}
    if slope is not None:
        position["prelu"] = {"mean": slope}
    run["epochs"][-1].update(train_error=train, test_error=test,
                             diagnostics={"positions": [position]})
    run.update(train_error=0.9 if status == "diverged" else train,
               test_error=0.9 if status == "diverged" else test)
    return run


def claim_runs() -> list[dict]:
    """ReLU, Leaky ReLU, PReLU and four MixLU modes at 1, 5 and 10 %, three seeds; at
    0 and 1 % every mode has the same collapse rate (0), so their points coincide."""
    runs = []
    for seed in range(3):
        runs.append(claim_run("relu", seed, 0.001, 0.030 + 0.001 * seed, dead=10))
        runs.append(claim_run("leaky:0.05", seed, 0.001, 0.031))
        runs.append(claim_run("prelu", seed, 0.001, 0.029, slope=0.2 + 0.01 * seed))
        for backward, mask in (("reference", "resample"), ("reference", "fixed"),
                               ("exact", "fixed"), ("inverted", "fixed")):
            for p in (1, 5, 10):
                diverged = backward == "inverted" and p == 10 and seed < 2
                runs.append(claim_run(f"mixlu:{p}:{backward}:{mask}", seed, 0.002 * p,
                                      0.030 + 0.001 * p, dead=1 + seed,
                                      status="diverged" if diverged else "ok"))
    return runs


# ------------------------------------------------------------------ ann.plots
def test_wrap_breaks_a_title_into_lines_that_fit():
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    title = "MixLU-LeNet on mnist-5k: training (solid) and test (dotted) error"
    assert wrap(title, 6.0, 10) == title  # fits: one line
    lines = wrap(title, 2.0, 10).split("\n")
    assert len(lines) >= 3 and " ".join(lines) == title
    for line in lines:
        width = TextToPath().get_text_width_height_descent(line, FontProperties(size=10),
                                                           ismath=False)[0]
        assert width <= 2.0 * 72


def test_offsets_set_series_apart_within_half_the_smallest_gap():
    assert offsets(1, [0, 10]) == [0.0]
    three = offsets(3, [0, 10])
    assert three == pytest.approx([-0.12, 0.0, 0.12])  # 1.2 % of the range apart
    eleven = offsets(11, [0, 1, 5, 10])  # squeezed: the group spans half the 0-1 gap
    assert eleven[-1] - eleven[0] == pytest.approx(0.5)


def test_curves_show_only_what_ran_with_labelled_rows_and_every_point(tmp_path):
    results = ([sweep_result("relu", s, 0.02) for s in range(2)]
               + [sweep_result("leaky:0.05", 0, 0.02)]
               + [sweep_result(f"mixlu:{p}:reference:fixed", s, 0.02 + 0.001 * p)
                  for p in (1, 5, 10) for s in range(2)]
               + [sweep_result(f"mixlu:{p}:exact:resample", 0, 0.03) for p in (1, 5)]
               + [sweep_result("mixlu:10:exact:resample", 0, 0.4, status="diverged",
                               epochs=2)])
    title = "MixLU-LeNet on mnist-5k (5,000 training images): training (solid) and test " \
            "(dotted) error, a title longer than the figure is wide"
    fig = draw_curves(results, "error", title)
    path = plot_curves(results, tmp_path / "curves.png", title=title)
    check_png(fig, path)
    check_layout(fig)
    axes = fig.axes
    # 2 baselines packed into one row, then one row per MixLU mode: 8 panels, no blanks
    assert [ax.get_title() for ax in axes] == [
        "relu, 0 %", "leaky0.05, 0 %", "1 %", "5 %", "10 %", "1 %", "5 %",
        "10 % (1 diverged)"]
    assert [ax.get_ylabel() for ax in axes] == ["error %", "", "reference\nerror %", "", "",
                                                "exact+resample\nerror %", "", ""]
    assert not any(t.get_text().endswith("not run") for ax in axes for t in ax.texts)
    check_shared_y(axes)
    for ax in axes:
        train, test = ax.get_lines()
        assert (train.get_linestyle(), test.get_linestyle()) == ("-", ":")
        assert train.get_ydata()[0] == pytest.approx(50.0)  # epoch 1
        check_points_inside(ax)  # epoch 1 (50 % error) included
        check_integer_ticks(ax.xaxis, *ax.get_xlim())
    assert fig.get_suptitle().replace("\n", " ") == title  # whole, wrapped to fit
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["train", "test"]


def test_accuracy_curves_keep_epoch_one_inside_and_stop_at_100():
    results = [sweep_result(f"mixlu:{p}:reference:resample", 0, 0.001) for p in (1, 3)]
    fig = draw_curves(results, "accuracy", "MixLU-LeNet5: accuracy")
    check_layout(fig)
    check_shared_y(fig.axes)
    low, high = fig.axes[0].get_ylim()
    assert low < 50.0 and high <= 100.0  # epoch 1: 50 % accuracy
    assert all(check_points_inside(ax) == 8 for ax in fig.axes)


# ------------------------------------------------------------------ bridge.claims.figures
def test_errors_over_epochs_linear_shared_light_bands(tmp_path):
    runs = claim_runs()
    fig = figures.draw_errors_over_epochs(runs, "mnist-5k, LeNet, 5 epochs")
    path = figures.errors_over_epochs(runs, tmp_path / "e.png", "mnist-5k, LeNet, 5 epochs")
    check_png(fig, path)
    check_layout(fig)
    train, test = fig.axes
    check_shared_y([train, test])
    assert train.get_title() == "training error" and test.get_title() == "test error"
    for ax in (train, test):
        # ReLU and reference/resample 1, 5, 10 %: one distinct style each
        styles = {(ln.get_color(), ln.get_marker(), ln.get_linestyle())
                  for ln in ax.get_lines()}
        assert len(styles) == len(ax.get_lines()) == 4
        assert check_points_inside(ax) == 4 * 5
        assert ax.get_ylim()[1] >= 50.0  # epoch 1 of training on the axis
        check_integer_ticks(ax.xaxis, 1, 5)
        assert all(c.get_alpha() <= 0.15 for c in ax.collections)  # the seed bands
    assert figures.draw_errors_over_epochs([], "x") is None


@pytest.mark.parametrize("name", ["divergence_vs_share", "gap_vs_share",
                                  "dead_units_vs_share"])
def test_per_mode_figures_show_every_mode(tmp_path, name):
    runs = claim_runs()
    fig = getattr(figures, f"draw_{name}")(runs, "mnist-5k (5,000 training / 10,000 test "
                                                 "images), LeNet, 20 epochs")
    path = getattr(figures, name)(runs, tmp_path / f"{name}.png", "t")
    check_png(fig, path)
    check_layout(fig)
    (ax,) = fig.axes
    check_points_inside(ax)
    xs = series_x(ax)
    assert len(xs) == 4  # the four MixLU modes, each in the legend
    # set side by side: no two modes at the same x, each within 0.5 of its share
    for a, b in itertools.combinations(xs.values(), 2):
        assert not set(a) & set(b)
    for values in xs.values():
        assert all(min(abs(x - s) for s in (0, 1, 5, 10)) < 0.5 for x in values)
    assert sorted(ax.get_xticks()) == [0, 1, 5, 10]
    if name != "gap_vs_share":  # rates and unit shares: nothing under 0 on the axis
        low, high = ax.get_ylim()
        assert -0.05 * high <= low < 0.0
    if name == "divergence_vs_share":
        assert ax.get_ylim() == (-4.0, 104.0)


def test_prelu_slopes_keeps_slope_and_share_apart(tmp_path):
    runs = claim_runs()
    fig = figures.draw_prelu_slopes(runs, "mnist-5k, LeNet")
    path = figures.prelu_slopes_figure(runs, tmp_path / "p.png", "mnist-5k, LeNet")
    check_png(fig, path)
    check_layout(fig)
    slope, share = fig.axes
    check_shared_y([slope, share])
    assert slope.get_xlabel() == "negative-side slope"
    assert share.get_xlabel() == "NegLU share (%)"
    on_slope, on_share = series_x(slope), series_x(share)
    assert set(on_slope) == {"ReLU", "Leaky ReLU", "PReLU (learned mean slope)"}
    assert max(on_slope["PReLU (learned mean slope)"]) == pytest.approx(0.22)
    # the MixLU modes on the share axis only, beside each other
    assert len([k for k in on_share if k.startswith("MixLU")]) == 4
    assert not any(k.startswith("MixLU") for k in on_slope)
    for ax in (slope, share):
        check_points_inside(ax)
    assert figures.draw_prelu_slopes([r for r in runs if r["activation_spec"]["kind"]
                                      not in ("prelu", "leaky")], "x") is None


# ------------------------------------------------------------------ signs figures
def signs_result(activation: str, seed: int, inverted: int) -> dict:
    run = sweep_result(activation, seed, 0.02)
    run["signs"] = {"every": 1, "by_unit_type": {
        "relu": {"derivatives": {"inverted": 0, "positive": 900, "silent": 100}},
        "neglu": {"derivatives": {"inverted": inverted, "positive": 100 - inverted}}}}
    return run


def test_inverted_fraction_figure_sets_columns_apart(tmp_path):
    results = [signs_result("relu", s, 0) for s in range(2)]
    results += [signs_result("leaky:0.05", s, 0) for s in range(2)]
    for backward, mask in (("reference", "resample"), ("exact", "fixed"),
                           ("inverted", "fixed")):
        for p in (1, 5, 10):
            results += [signs_result(f"mixlu:{p}:{backward}:{mask}", s,
                                     p + s if backward == "inverted" else 0)
                        for s in range(2)]
    fig = draw_inverted(results)
    path = plot_inverted(results, tmp_path / "signs.png")
    check_png(fig, path)
    check_layout(fig)
    (ax,) = fig.axes
    check_points_inside(ax)
    xs = series_x(ax)
    assert len(xs) == 5
    for a, b in itertools.combinations(xs.values(), 2):
        assert not set(a) & set(b)
    low, high = ax.get_ylim()
    assert -0.05 * high <= low < 0.0 and high >= 1.0  # inverted/fixed 10 %: up to 1 %
    assert plot_inverted([sweep_result("relu", 0, 0.02)], tmp_path / "none.png") is None


@pytest.fixture(scope="module")
def update_signs():
    return load_script(ROOT / "experiments" / "update_signs.py")


def test_update_signs_panels_share_a_fixed_axis_with_the_equal_share(tmp_path, update_signs):
    rng = np.random.default_rng(0)
    steps = np.arange(60)
    labels = update_signs.LABELS

    def arrays(spread):
        shares = 0.25 + spread * rng.standard_normal((len(labels), len(steps)))
        return {"step": steps, **{lb: shares[i] for i, lb in enumerate(labels)}}

    series = [(f"MixLU-LeNet 5% (reference): neglu units {k}", arrays(0.003 * (k + 1)))
              for k in range(5)]
    fig = update_signs.draw_shares(series)
    path = update_signs.plot_shares(tmp_path / "update_signs.png", series)
    check_png(fig, path)
    check_layout(fig)
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == 5
    check_shared_y(panels)
    for ax in panels:
        assert ax.get_ylim() == (0.0, 50.0)  # not zoomed onto +-2 points around 25 %
        check_points_inside(ax)
        equal = [ln for ln in ax.get_lines() if ln.get_label().startswith("equal shares")]
        assert len(equal) == 1 and list(equal[0].get_ydata()) == [25.0, 25.0]
        check_integer_ticks(ax.xaxis, *ax.get_xlim())
    styles = {(ln.get_color(), ln.get_linestyle()) for ln in panels[0].get_lines()}
    assert len(styles) == len(labels) + 1
    assert len(fig.legends[0].get_texts()) == len(labels) + 1
    # a share past 45 % gets the whole 0-100 % axis
    series[0][1][labels[0]][:] = 0.7
    assert update_signs.draw_shares(series).axes[0].get_ylim() == (0.0, 100.0)
    assert math.isclose(update_signs.EQUAL_SHARE, 25.0)


# ------------------------------------------------------------------ MixSTDP (stdp_sim)
def _mixstdp_document():
    rng = np.random.default_rng(0)
    runs, rows = [], []
    for share in (0.0, 0.1, 1.0):
        accs = []
        for seed in (0, 1):
            train, test = 0.5 - 0.2 * share + 0.01 * seed, 0.45 - 0.2 * share
            hist = np.zeros(20, int)
            hist[:6] = rng.integers(10, 1000, 6)
            weights = {"n": int(hist.sum()), "histogram": hist.tolist()}
            runs.append({"share": share, "percent": 100 * share, "seed": seed,
                         "key": f"k{share}-{seed}", "train_accuracy": train,
                         "test_accuracy": test, "gap": train - test,
                         "weights": {"base": weights if share < 1 else {"n": 0},
                                     "mixed": weights if share > 0 else {"n": 0}}})
            accs.append((train, test))
        stat = [{"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1))}
                for v in zip(*accs, strict=True)]
        gap = {"mean": stat[0]["mean"] - stat[1]["mean"], "sd": 0.01}
        rows.append({"share": share, "percent": 100 * share, "seeds": 2,
                     "train_accuracy": stat[0], "test_accuracy": stat[1], "gap": gap})
    meta = {"rule": "mirror", "by": "neuron", "n_exc": 16, "n_train": 50}
    arrays = {f"k{s}-0": {"weights": rng.random((784, 16)) * (1 + s),
                          "mixed_neurons": np.arange(16) < 16 * s} for s in (0.0, 0.1, 1.0)}
    return {"runs": runs, "summary": {"rows": rows}, "meta": meta}, arrays


def test_mixstdp_figures_share_one_colour_scale_and_keep_legends_off_the_data(tmp_path):
    from stdp_sim.diehl_cook import plots

    document, arrays = _mixstdp_document()
    fields = plots._fields_figure(document, arrays)
    images = [im for ax in fields.axes for im in ax.get_images()]
    assert len(images) == 3 and len({im.get_clim() for im in images}) == 1  # one scale
    assert images[0].get_clim()[1] == pytest.approx(max(a["weights"].max()
                                                        for a in arrays.values()))
    assert any(ax.get_label() == "<colorbar>" for ax in fields.axes)
    frames = [len(ax.patches) for ax in fields.axes[:3]]
    assert frames == [0, 2, 16]  # the neurons under the mixed-in rule are framed

    accuracy = plots._accuracy_figure(document)
    check_layout(accuracy)
    for ax in accuracy.axes:
        check_points_inside(ax)
    weights = plots._weights_figure(document)
    for ax in weights.axes:
        assert ax.get_xlim() == pytest.approx((0.0, 0.3))  # ends where the weights end
    styles = {(line.get_color(), line.get_linestyle()) for line in weights.axes[0].get_lines()}
    assert len(styles) == 2  # 0 % and 10 % told apart (100 % has no base synapses)
    for name, fig in (("a", accuracy), ("f", fields), ("w", weights)):
        path = plots.save_figure(fig, tmp_path / f"{name}.png")
        check_png(fig, path)


def test_stdp_windows_figure_in_the_shared_style(tmp_path):
    # the STDP learning windows (experiments/stdp_table.py): the toolkit's resolution
    # and fonts, the legend off the panels, every simulated point inside its panel
    from brian2 import ms

    from stdp_sim.plots import draw_windows, plot_windows
    from stdp_sim.rule import preset
    from stdp_sim.window import pairing_dw

    grid = np.linspace(-50.0, 50.0, 11)
    windows = {name: {"delta_t_ms": grid.tolist(), "n_pairings": 60,
                      "dw": np.asarray(pairing_dw(preset(name), grid * ms, 60)).tolist()}
               for name in ("hebbian", "anti_hebbian")}
    fig = draw_windows(windows)
    check_layout(fig)
    for ax in fig.axes[:2]:
        assert check_points_inside(ax) > 11
    assert [ax.get_title() for ax in fig.axes[:2]] == ["hebbian", "anti_hebbian"]
    path = plot_windows(tmp_path / "w.png", windows)
    check_png(draw_windows(windows), path)
    with pytest.raises(ValueError, match="at least one preset"):
        draw_windows({})
