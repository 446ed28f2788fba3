"""Progress bars that draw only on a terminal.

Every long loop of the toolkit reports through :func:`progress_bar`: a tqdm bar when
its stream is a terminal, nothing at all when the stream is a file or a pipe, so that
a log keeps only the scripts' own lines (one per stage or run) and no carriage
returns or escape sequences.  ``enabled=False`` (a script's ``--no-progress``) turns
the bar off on a terminal too.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["on_terminal", "progress_bar"]


def on_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default: ``sys.stderr``, where tqdm draws) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(*args: Any, enabled: bool = True, file: TextIO | None = None,
                 **kwargs: Any):
    """A ``tqdm.auto.tqdm`` bar, disabled unless ``enabled`` and ``file`` is a terminal.

    Takes tqdm's arguments (``total``, ``desc``, ``unit``, ...); a disabled bar still
    counts (``bar.n``) and is a context manager and iterable as tqdm's is.
    """
    from tqdm.auto import tqdm

    return tqdm(*args, disable=not (enabled and on_terminal(file)), file=file, **kwargs)
