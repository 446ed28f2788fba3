"""The look every figure of the toolkit shares (torch- and Brian2-free).

:func:`new_figure`, :func:`save_figure`, :func:`styled`, :func:`series_style`,
:func:`offsets`, :func:`integer_ticks` and :func:`wrap` give every figure the same
look: constrained layout, no text under :data:`MIN_FONT_PT` points at :data:`DPI`, one
distinct colour, marker and line style per series, series with equal values set side
by side.  Matplotlib is imported only when a figure is drawn, with its object API and
the Agg canvas, so no display is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

from common.files import atomic_write

__all__ = ["new_figure", "save_figure", "styled", "series_style", "offsets",
           "integer_ticks", "wrap", "DPI", "MIN_FONT_PT", "RC"]

#: Resolution every figure is saved at (dots per inch).
DPI = 150
#: The smallest text of any figure, in points (at :data:`DPI`: about 17 pixels high).
MIN_FONT_PT = 8.0
#: matplotlib settings every figure is drawn and saved with.
RC = {"font.size": MIN_FONT_PT, "axes.titlesize": 9, "axes.labelsize": MIN_FONT_PT,
      "xtick.labelsize": MIN_FONT_PT, "ytick.labelsize": MIN_FONT_PT,
      "legend.fontsize": MIN_FONT_PT, "legend.title_fontsize": MIN_FONT_PT,
      "figure.titlesize": 10, "lines.linewidth": 1.3, "lines.markersize": 4,
      "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5}
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_LINESTYLES = ("-", "--", "-.", ":")

@contextmanager
def styled() -> Iterator[None]:
    """Apply :data:`RC` while a figure is built or saved (matplotlib reads most of its
    settings when an artist is made)."""
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def new_figure(width: float, height: float):
    """An empty ``width`` x ``height`` inch matplotlib Figure with constrained layout and
    the Agg canvas (call it, and draw on it, inside :func:`styled`)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    # whole pixels at DPI: the saved image is exactly the figure's size
    fig = Figure(figsize=(round(width * DPI) / DPI, round(height * DPI) / DPI),
                 layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at :data:`DPI`, atomically; return ``path``.  The image is
    exactly the figure's size times :data:`DPI` (constrained layout keeps every label
    inside it)."""
    with styled():
        return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, dpi=DPI, format="png"))


def series_style(i: int) -> dict[str, Any]:
    """Colour, marker and line style of the ``i``-th series: ten colours, seven markers
    and four line styles, so no two of the first 140 series share all three."""
    return {"color": f"C{i % 10}", "marker": _MARKERS[i % len(_MARKERS)],
            "linestyle": _LINESTYLES[i % len(_LINESTYLES)]}


def offsets(n: int, xs: Iterable[float], step: float = 0.012) -> list[float]:
    """x offsets that set ``n`` series side by side around their true x, so that equal
    values do not hide each other: ``step`` of the range of the x values ``xs`` apart,
    closer where needed so that each group spans at most half the smallest gap between
    two x values."""
    xs = sorted(set(xs))
    width = step * ((xs[-1] - xs[0]) if len(xs) > 1 else 1.0)
    if len(xs) > 1 and n > 1:
        width = min(width, 0.5 * min(b - a for a, b in pairwise(xs)) / (n - 1))
    return [(k - (n - 1) / 2) * width for k in range(n)]


def integer_ticks(axis) -> None:
    """Ticks of ``axis`` (``ax.xaxis``) only at whole numbers (epochs, steps)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=5, integer=True, steps=[1, 2, 5, 10]))


def wrap(text: str, width_in: float, fontsize: float) -> str:
    """``text`` broken at spaces into lines that fit ``width_in`` inches at ``fontsize``
    points (measured in the default font; a single longer word keeps its own line)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    measure, font = TextToPath(), FontProperties(size=fontsize)

    def fits(line: str) -> bool:
        return measure.get_text_width_height_descent(line, font, ismath=False)[0] <= (
            72.0 * width_in)

    lines: list[str] = []
    for word in text.split():
        if lines and fits(f"{lines[-1]} {word}"):
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return "\n".join(lines)
