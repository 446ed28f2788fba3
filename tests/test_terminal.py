"""Scripts print on terminals and pipes of any encoding (common.terminal)."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.terminal import ASCII_FALLBACKS, make_safe

ROOT = Path(__file__).resolve().parents[1]


def _stream(encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding=encoding, write_through=True)


def test_an_ascii_stream_gets_stand_ins_instead_of_an_error():
    stream = _stream("ascii")
    make_safe(stream)
    print("gap 0.92 — 0.59 ± 0.1 (reference §3), Δt ≤ 0, ☃", file=stream)
    assert stream.buffer.getvalue() == b"gap 0.92 - 0.59 +/- 0.1 (reference S3), dt <= 0, ?\n"


def test_a_stream_that_has_the_signs_is_left_alone():
    for encoding in ("utf-8", "utf-16"):
        stream = _stream(encoding)
        make_safe(stream)
        assert stream.errors == "strict"
        print("".join(ASCII_FALLBACKS), file=stream, end="")
        assert stream.buffer.getvalue().decode(encoding) == "".join(ASCII_FALLBACKS)


def test_a_latin1_terminal_keeps_the_signs_it_has():
    stream = _stream("latin-1")
    make_safe(stream)
    print("± § —", file=stream, end="")
    assert stream.buffer.getvalue() == "± § -".encode("latin-1")


@pytest.mark.slow
def test_a_script_on_a_c_locale_terminal_prints_its_whole_output():
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}
    env.pop("PYTHONIOENCODING", None)
    script = [sys.executable, str(ROOT / "experiments" / "thesis_claims.py"), "--plan"]
    plain = subprocess.run(script, capture_output=True, timeout=120, cwd=ROOT,
                           env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    ascii_run = subprocess.run(script, capture_output=True, timeout=120, cwd=ROOT, env=env)
    assert ascii_run.returncode == 0, ascii_run.stderr.decode(errors="replace")
    assert ascii_run.stdout.isascii() and not ascii_run.stderr
    text = plain.stdout.decode("utf-8")
    assert any(sign in text for sign in "—±§≤")  # the case has signs to replace
    assert len(ascii_run.stdout.splitlines()) == len(text.splitlines())  # nothing lost
