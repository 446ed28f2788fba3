"""Output that survives a terminal or pipe in any encoding.

The toolkit's tables and messages use a few non-ASCII signs ("—", "±", "§", "≤", "Δ",
...).  On a terminal whose encoding lacks them (``LC_ALL=C``, a Windows code page),
printing one would raise ``UnicodeEncodeError`` and lose whatever the script had not
written yet.  :func:`safe_streams` gives ``sys.stdout`` and ``sys.stderr`` an error
handler that writes an ASCII stand-in for each sign it knows ("-", "+/-", "S", "<=",
"d", ...) and "?" for any other, so the output stays readable and nothing is lost.
Result files are not affected: they are always written as UTF-8
(:func:`common.files.atomic_write_text`).
"""

from __future__ import annotations

import codecs
import sys
from typing import TextIO

__all__ = ["ASCII_FALLBACKS", "ERROR_HANDLER", "safe_streams", "make_safe"]

#: The ASCII stand-in of each non-ASCII sign the toolkit prints.
ASCII_FALLBACKS = {
    "—": "-", "–": "-", "−": "-", "±": "+/-", "§": "S", "×": "x", "≤": "<=", "≥": ">=",
    "≈": "~", "≠": "!=", "…": "...", "→": "->", "←": "<-", "↔": "<->", "⇔": "<=>",
    "·": "*", "°": "deg", "²": "^2", "³": "^3", "Δ": "d", "∂": "d", "∫": "int",
    "µ": "u", "μ": "u", "σ": "sigma", "θ": "theta", "η": "eta", "ν": "nu", "τ": "tau",
    "ρ": "rho", "α": "alpha", "β": "beta", "λ": "lambda", "‘": "'", "’": "'", "“": '"',
    "”": '"', "ö": "o", "ä": "a", "ü": "u", "é": "e", "è": "e", "✓": "ok", "✗": "x",
    "█": "#", "▏": "|", "▎": "|", "▍": "|", "▌": "|", "▋": "|", "▊": "|", "▉": "|",
}

#: The name under which the handler is registered with :mod:`codecs`.
ERROR_HANDLER = "neglu_stdp_ascii"


def _fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start:error.end]
    return "".join(ASCII_FALLBACKS.get(char, "?") for char in text), error.end


codecs.register_error(ERROR_HANDLER, _fallback)


def make_safe(stream: TextIO) -> None:
    """Give ``stream`` the ASCII fallbacks if its encoding cannot write the toolkit's
    signs (a no-op on UTF-8 streams and on streams that cannot be reconfigured)."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "".join(ASCII_FALLBACKS).encode(encoding)
        return  # the encoding has every sign
    except (UnicodeEncodeError, LookupError):
        pass
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors=ERROR_HANDLER)
        except (ValueError, OSError):  # a closed or detached stream
            pass


def safe_streams() -> None:
    """:func:`make_safe` for ``sys.stdout`` and ``sys.stderr`` (every script's start)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            make_safe(stream)
