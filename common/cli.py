"""The one error policy of every command-line script.

- A user error (a bad option value, a missing or corrupt file, an output directory
  that cannot be written, a full disk) prints one ``error: ...`` line naming the
  parameter or file and what to do, and exits with status 2.
- Ctrl-C prints one ``interrupted...`` line and exits with status 130.
- A closed stdout (``script | head``) ends the script quietly with status 141.
- Anything else is a bug and keeps its traceback.
- A warning (e.g. runs that the batched engine trains one at a time) is one
  ``warning: ...`` line.

Scripts build their parser with :class:`OneLineArgumentParser`, raise
:class:`UserError` (or a subclass: the packages' data and store errors are ones) for
bad input, and end with ``sys.exit(cli_main(parser, run, argv))``.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from common.cache import quiet_matplotlib_cache
from common.checks import decimal, decimal_integer
from common.terminal import safe_streams

__all__ = ["UserError", "Interrupted", "OneLineArgumentParser", "cli_main", "shorten",
           "EXIT_USER", "EXIT_INTERRUPTED", "raise_interrupt"]

# before any script imports Brian2, which imports matplotlib (every script imports this
# module first): an unwritable home must not print matplotlib's paragraph of warnings
quiet_matplotlib_cache()

EXIT_USER = 2
EXIT_INTERRUPTED = 130
#: 128 + SIGPIPE, the shell's status of a tool whose output pipe was closed.
EXIT_BROKEN_PIPE = 141

#: ``OSError`` numbers that are the user's environment, not a bug: one line, exit 2.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS,
                       errno.EFBIG, errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG,
                       errno.EEXIST, errno.EIO}


class UserError(ValueError):
    """Input the user can fix; the message is one line naming the parameter or file."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with a line saying what was kept (e.g. finished runs and how to resume)."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """``argparse`` parser whose usage errors are one ``error: ...`` line, exit 2.

    Its ``type=float`` and ``type=int`` options take plain decimal numbers only
    (:func:`common.checks.decimal`): ``1_0``, ``0x10`` or ``inf`` are errors, not 10, 16
    or infinity.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.register("type", float, decimal)
        self.register("type", int, decimal_integer)

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(EXIT_USER, f"error: {shorten(message)} (see --help)\n")


def raise_interrupt(signum: int, frame: Any) -> None:
    """A signal handler raising ``KeyboardInterrupt``: installed for SIGTERM, it ends a
    script as Ctrl-C does (one line, exit 130, finished work kept)."""
    raise KeyboardInterrupt


def cli_main(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], Any],
             argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, call ``run(args)`` and apply the error policy; return the status.
    Warnings are printed as one ``warning: ...`` line each."""
    safe_streams()  # a terminal that is not UTF-8 gets ASCII stand-ins, not a crash
    previous = warnings.showwarning
    warnings.showwarning = _one_line_warning
    try:
        args = parser.parse_args(argv)
        run(args)
        try:
            sys.stdout.flush()  # a full or closed stdout is an error here, not at exit
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, "stdout") from exc
    except UserError as exc:
        print(f"error: {shorten(str(exc))}", file=sys.stderr)
        return EXIT_USER
    except BrokenPipeError:
        # the reader of stdout has gone (``| head``): stop quietly, as shell tools do
        _drop_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        if exc.errno is not None and exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        # errno None: a short write (numpy, Brian2's build folder) under a size limit
        reason = exc.strerror or str(exc)
        where = f" writing {exc.filename}" if exc.filename else ""
        print(f"error: {reason}{where}; {_remedy(exc.errno)}, then rerun the same command "
              f"(finished results are kept)", file=sys.stderr)
        try:  # what is left in a full stdout's buffer would fail again at exit
            sys.stdout.flush()
        except (OSError, ValueError):
            _drop_stdout()
        return EXIT_USER
    except KeyboardInterrupt as exc:
        note = str(exc) if isinstance(exc, Interrupted) and str(exc) else "interrupted"
        print(note, file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        warnings.showwarning = previous
    return 0


#: The longest run of non-blank characters (a user's value) that a message shows whole.
LONGEST_VALUE = 160
_LONG = re.compile(r"\S{" + str(LONGEST_VALUE + 1) + ",}")


def shorten(message: str) -> str:
    """``message`` with every value longer than :data:`LONGEST_VALUE` characters cut to
    its start and end (a 130 KB spec stays one readable line), and line breaks shown as
    ``\\n``: an error is one line."""
    def cut(match: re.Match) -> str:
        text = match.group()
        return f"{text[:100]}...[{len(text) - 140:,} characters]...{text[-40:]}"
    return _LONG.sub(cut, message.replace("\r", "\\r").replace("\n", "\\n"))


def _drop_stdout() -> None:
    """Point stdout at the null device, so that what is still buffered for a stdout
    that cannot take it (closed pipe, full disk) does not fail again, and print a
    second message, when the interpreter flushes it at exit."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _remedy(number: int | None) -> str:
    """What the user can do about an environment error."""
    if number in (errno.ENOSPC, errno.EDQUOT):
        return "free space"
    if number == errno.EFBIG:
        return "raise the file-size limit (ulimit -f)"
    if number in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "fix the permissions"
    if number is None or number == errno.EIO:
        return "free space or raise the file-size limit (ulimit -f)"
    return "fix the path"


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=file or sys.stderr)
