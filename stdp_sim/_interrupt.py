"""Ctrl-C during a simulation raises ``KeyboardInterrupt``, and prints nothing else.

Brian2 installs a SIGINT handler at import (``brian2._InterruptHandler``, preference
``core.stop_on_keyboard_interrupt``) that turns a Ctrl-C *during* ``Network.run`` into
a graceful stop: the run returns early, as if finished, after logging "Simulation stop
requested".  A caller of :func:`stdp_sim.run_conditions` would then go on with a
partial run as if it were complete (a script exits 0 with wrong numbers).  Three more
paths hide a Ctrl-C or bury it in noise:

- the ``cpp_standalone`` build runs ``make`` through ``os.system``, which ignores
  SIGINT in the calling process: only ``make`` dies, and Brian2 raises
  ``RuntimeError("Project compilation failed (error code: 2)")`` (2: killed by SIGINT);
- Brian2's ``std_silent`` replays everything the compiler printed (``make: ***
  Interrupt`` ...) on stdout/stderr when a build ends with an exception;
- a ``KeyboardInterrupt`` raised while the garbage collector runs a weakref callback
  (``Network.run`` starts with ``gc.collect()``) cannot propagate: Python prints it as
  a traceback and carries on.

:class:`interrupts_raise` covers one simulation: it replaces Brian2's handler by
Python's own behaviour (raise ``KeyboardInterrupt`` at once) while remembering that
Ctrl-C came, silences a ``KeyboardInterrupt`` lost in a callback, holds back what
Python code prints on stdout/stderr meanwhile (replayed at the end unless
interrupted) and raises ``KeyboardInterrupt`` at the end if Ctrl-C came, whatever
else happened.  Progress bars draw on :attr:`interrupts_raise.stderr`, the real stream.
"""

from __future__ import annotations

import io
import os
import re
import signal
import sys
import threading

__all__ = ["interrupts_raise", "killed_by_sigint", "build_failed"]

_MAKE_FAILED = re.compile(r"compilation failed \(error code: (\d+)\)")


def _make_status(exc: BaseException) -> int | None:
    """``make``'s wait status if ``exc`` is Brian2's failed ``cpp_standalone`` build."""
    match = _MAKE_FAILED.search(str(exc)) if isinstance(exc, RuntimeError) else None
    return None if match is None else int(match.group(1))


def build_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is Brian2's failed ``cpp_standalone`` build."""
    return _make_status(exc) is not None


def killed_by_sigint(exc: BaseException) -> bool:
    """Whether ``exc`` is Brian2's failed ``cpp_standalone`` build whose ``make`` was
    ended by Ctrl-C (``os.system``'s wait status: killed by SIGINT, or exit 130)."""
    status = _make_status(exc)
    if status is None:
        return False
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status) == signal.SIGINT
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 128 + signal.SIGINT


def _brian2_handler(handler) -> bool:
    """Whether ``handler`` is Brian2's SIGINT handler wrapping Python's default one."""
    return (type(handler).__module__.split(".")[0] == "brian2"
            and getattr(handler, "previous_handler", None) is signal.default_int_handler)


class interrupts_raise:
    """Context manager around one simulation: Ctrl-C raises ``KeyboardInterrupt``.

    A no-op outside the main thread (signal handlers and ``sys.stdout`` are the
    process's) and when SIGINT has a handler other than Python's or Brian2's (e.g.
    ignored in a background job): then nothing is changed.
    """

    def __init__(self):
        self.interrupted = False
        #: The stream progress bars draw on (the real ``sys.stderr``).
        self.stderr = sys.stderr
        self._active = False

    def __enter__(self) -> interrupts_raise:
        self.stderr = sys.stderr
        if threading.current_thread() is not threading.main_thread():
            return self
        self._previous = signal.getsignal(signal.SIGINT)
        if not (self._previous is signal.default_int_handler
                or _brian2_handler(self._previous)):
            return self
        self._active = True
        self._streams = (sys.stdout, sys.stderr)
        self._held = (io.StringIO(), io.StringIO())
        self._hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        sys.stdout, sys.stderr = self._held
        signal.signal(signal.SIGINT, self._sigint)
        return self

    def _sigint(self, signum, frame):
        self.interrupted = True
        raise KeyboardInterrupt

    def _unraisable(self, unraisable) -> None:
        # a KeyboardInterrupt raised inside a weakref callback or __del__: it is
        # re-raised when the simulation ends instead of printed as a traceback
        if self.interrupted and issubclass(unraisable.exc_type, KeyboardInterrupt):
            return
        self._hook(unraisable)

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self._active:
            return False
        self._active = False
        signal.signal(signal.SIGINT, self._previous)
        sys.stdout, sys.stderr = self._streams
        sys.unraisablehook = self._hook
        if exc is not None:
            from brian2 import Network

            Network._globally_running = False  # Brian2 leaves it set when a run raises
        if exc is not None and killed_by_sigint(exc):
            self.interrupted = True
        if self.interrupted:  # what the build printed after Ctrl-C is noise
            if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
                return False
            raise KeyboardInterrupt from exc
        if exc is not None and build_failed(exc):
            # Brian2 replays the compiler's whole output (dozens of lines); it is in the
            # build's log (stdp_sim.simulate.BUILD_LOG), which the error names
            return False
        for stream, held in zip(self._streams, self._held, strict=True):
            if held.getvalue():
                stream.write(held.getvalue())
                stream.flush()
        return False
