"""The one error policy of every command-line script.

- A user error (a bad option value, a missing or corrupt file, an output directory
  that cannot be written, a full disk) prints one ``error: ...`` line naming the
  parameter or file and what to do, and exits with status 2.
- Ctrl-C prints one ``interrupted...`` line and exits with status 130.
- Anything else is a bug and keeps its traceback.

Scripts build their parser with :class:`OneLineArgumentParser`, raise
:class:`UserError` (or a subclass: the packages' data and store errors are ones) for
bad input, and end with ``sys.exit(cli_main(parser, run, argv))``.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["UserError", "Interrupted", "OneLineArgumentParser", "cli_main", "EXIT_USER",
           "EXIT_INTERRUPTED"]

EXIT_USER = 2
EXIT_INTERRUPTED = 130

#: ``OSError`` numbers that are the user's environment, not a bug: one line, exit 2.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS}


class UserError(ValueError):
    """Input the user can fix; the message is one line naming the parameter or file."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with a line saying what was kept (e.g. finished runs and how to resume)."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """``argparse`` parser whose usage errors are one ``error: ...`` line, exit 2."""

    def error(self, message: str):  # noqa: D102 - argparse API
        self.exit(EXIT_USER, f"error: {message} (see --help)\n")


def cli_main(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], Any],
             argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, call ``run(args)`` and apply the error policy; return the status."""
    try:
        args = parser.parse_args(argv)
        run(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        where = f" writing {exc.filename}" if exc.filename else ""
        print(f"error: {exc.strerror}{where}; free space or fix the permissions, then rerun "
              f"the same command (finished results are kept)", file=sys.stderr)
        return EXIT_USER
    except KeyboardInterrupt as exc:
        note = str(exc) if isinstance(exc, Interrupted) and str(exc) else "interrupted"
        print(note, file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
