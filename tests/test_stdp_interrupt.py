"""Ctrl-C during a stdp_sim simulation raises KeyboardInterrupt (stdp_sim._interrupt).

Brian2's own SIGINT handler would stop ``Network.run`` early and return the partial
run as if it were complete; the scripts' ``cli_main`` needs the KeyboardInterrupt.
The runs use the numpy target (nothing to compile) and stop within a second.
"""

import gc
import io
import os
import signal
import sys
import threading
import time
import weakref

import pytest
from brian2 import Network, ms, second

import stdp_sim.simulate as simulate
from stdp_sim import Condition, SpikeTrains, preset, run_conditions
from stdp_sim._interrupt import interrupts_raise, killed_by_sigint


def _sigint_ignored_at_start() -> bool:
    """Whether this process started with SIGINT ignored (a background job of a
    non-interactive shell, ``nohup``): Brian2 then wraps ``SIG_IGN``, and
    :class:`~stdp_sim._interrupt.interrupts_raise` leaves the handler alone by design."""
    handler = signal.getsignal(signal.SIGINT)
    return handler is signal.SIG_IGN or getattr(
        handler, "previous_handler", None) is signal.SIG_IGN


pytestmark = pytest.mark.skipif(_sigint_ignored_at_start(),
                                reason="SIGINT is ignored in this process (started in the "
                                       "background): Ctrl-C cannot reach it")

#: Simulated seconds of the run that Ctrl-C interrupts: minutes of numpy wall time.
LONG_S = 600.0


def _long_condition() -> Condition:
    trains = SpikeTrains.from_times([0.01, LONG_S - 1.0] * second, [0.02, LONG_S - 0.99] * second,
                                    duration=LONG_S * second)
    return Condition(preset("hebbian"), trains)


def _ctrl_c_once_running(timeout: float = 60.0) -> threading.Thread:
    """SIGINT to this process as soon as a Brian2 network runs (as Ctrl-C would)."""

    def wait_then_signal():
        end = time.monotonic() + timeout
        while not Network._globally_running and time.monotonic() < end:
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=wait_then_signal, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_during_a_run_raises_keyboard_interrupt(capfd):
    handler = signal.getsignal(signal.SIGINT)
    thread = _ctrl_c_once_running()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run_conditions([_long_condition()], target="numpy", progress=True)
    thread.join(5)
    assert time.perf_counter() - start < 30  # stopped, not run to the end
    assert signal.getsignal(signal.SIGINT) is handler  # Brian2's handler is back
    assert not Network._globally_running
    err = capfd.readouterr().err
    assert "stop requested" not in err and "Traceback" not in err
    # the next simulation in this process runs normally
    trains = SpikeTrains.from_times([10] * ms, [20] * ms, duration=50 * ms)
    result = run_conditions([Condition(preset("hebbian"), trains)], target="numpy",
                            progress=False)
    assert result[0].dw > 0


def test_an_uninterrupted_run_prints_what_it_printed():
    with interrupts_raise() as ctrl_c:
        print("to stdout")
        print("to stderr", file=sys.stderr)
        stderr_inside = sys.stderr
    assert not ctrl_c.interrupted
    assert stderr_inside is not sys.stderr  # held back meanwhile
    # replayed on the real streams (pytest's capture) at the end: nothing lost


def test_make_killed_by_ctrl_c_is_a_keyboard_interrupt():
    interrupted = RuntimeError('Project compilation failed (error code: 2). Consider running '
                               'with "clean=True" to force a complete rebuild.')
    assert killed_by_sigint(interrupted)
    assert killed_by_sigint(RuntimeError("Project compilation failed (error code: 33280)."))
    assert not killed_by_sigint(RuntimeError("Project compilation failed (error code: 512)."))
    assert not killed_by_sigint(RuntimeError("Project run failed"))
    assert not killed_by_sigint(ValueError("compilation failed (error code: 2)"))

    with pytest.raises(KeyboardInterrupt), interrupts_raise():
        print("make: *** [makefile:30: main.o] Interrupt", file=sys.stderr)  # dropped
        raise interrupted


def test_a_real_build_failure_keeps_its_error_without_replaying_the_compiler(capsys):
    """The compiler's output is in the build's log (named by BuildFailed); Brian2's replay
    of it onto the terminal is dropped."""
    with pytest.raises(RuntimeError, match="512"), interrupts_raise():
        print("main.cpp:1: error: expected ';'", file=sys.stderr)
        raise RuntimeError("Project compilation failed (error code: 512).")
    assert "expected ';'" not in capsys.readouterr().err


def test_ctrl_c_lost_in_a_weakref_callback_is_raised_at_the_end(capfd):
    class Thing:
        pass

    def callback(_ref):
        signal.raise_signal(signal.SIGINT)  # KeyboardInterrupt here cannot propagate

    with pytest.raises(KeyboardInterrupt), interrupts_raise():
        thing = Thing()
        ref = weakref.ref(thing, callback)
        del thing
        gc.collect()
        assert ref() is None
    assert "Traceback" not in capfd.readouterr().err


def test_the_standalone_build_names_the_file_it_wrote_last(tmp_path):
    old, new = tmp_path / "old", tmp_path / "sub" / "new"
    old.write_text("x")
    os.utime(old, (0, 0))
    new.parent.mkdir()
    new.write_text("y")
    assert simulate._newest_file(tmp_path, since=time.time() - 60) == new
    assert simulate._newest_file(tmp_path, since=time.time() + 60) is None


def test_outside_the_main_thread_nothing_changes():
    seen = {}

    def body():
        with interrupts_raise():
            seen["stderr"] = sys.stderr
            seen["handler"] = signal.getsignal(signal.SIGINT)

    stderr, handler = sys.stderr, signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == {"stderr": stderr, "handler": handler}


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_bar_draws_on_the_real_stderr_only_when_a_terminal(monkeypatch, terminal):
    real = _Terminal() if terminal else io.StringIO()  # a log file or pipe: no bar at all
    monkeypatch.setattr(sys, "stderr", real)
    trains = SpikeTrains.from_times([10] * ms, [20] * ms, duration=50 * ms)
    run_conditions([Condition(preset("hebbian"), trains)], target="numpy", progress=True,
                   dt=0.1 * ms)
    assert ("Brian2 run" in real.getvalue()) is terminal
    if not terminal:
        assert real.getvalue() == ""
