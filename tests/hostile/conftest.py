"""The hostile suite's session: one work folder, data sets and reference runs for all cases.

Select the suite with ``pytest -m hostile`` (or ``pytest tests/hostile``), one group
with ``-k`` (``-k "stdp:"``, ``-k "sigkill or disk-full"``); ``-m "not slow"`` leaves it
out (tests/conftest.py marks every hostile case slow).  Work folders are pytest's
(``--basetemp`` to choose one); a failing case prints its commands, exit statuses and
stderr.
"""

import pytest

from harness import Harness, source_fingerprint

_session: dict = {}


@pytest.fixture(scope="session")
def cli(tmp_path_factory):
    """The :class:`harness.Harness` of this session, warmed up (startup times measured,
    Brian2's compiled code cached); mounts it made are undone at the end."""
    h = Harness(tmp_path_factory.mktemp("hostile"))
    _session.update(harness=h, fingerprint=source_fingerprint())
    try:
        h.warm_up()
        yield h
    finally:
        h.umount_all()


def pytest_terminal_summary(terminalreporter):
    h = _session.get("harness")
    if h is None:
        return
    write = terminalreporter.write_line
    write(f"hostile suite: {h.count} script processes in {h.work}; mounts "
          f"{'available' if h.can_mount else 'NOT available (disk cases skipped)'}")
    if h.startup:
        write("startup (--help) seconds: "
              + ", ".join(f"{k} {v:.1f}" for k, v in h.startup.items()))
    before, after = _session["fingerprint"], source_fingerprint()
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        write(f"WARNING: {len(changed)} source files changed while the hostile suite ran, so "
              f"its outcomes mix versions: {', '.join(changed)}", yellow=True)
