"""The errors of every dataset loader, in ``ann`` and ``stdp_sim`` alike.

Loaders raise :class:`DataError` (a :class:`common.cli.UserError`, so a ``ValueError``)
for anything the user can fix: missing files, corrupt files, a failed download.  The
message is one line naming the file and what to do; command-line scripts print it as
one ``error: ...`` line and exit with status 2.  ``ann.data`` re-exports both classes
(the same objects), so ``except ann.data.DataError`` catches them wherever raised.
"""

from __future__ import annotations

from common.cli import UserError

__all__ = ["DataError", "DataNotFound"]


class DataError(UserError):
    """A dataset that cannot be loaded for a reason the user can fix (message names it).

    A :class:`common.cli.UserError` (and so a ``ValueError``): every command-line script
    reports it as one line, exit status 2.
    """


class DataNotFound(DataError):
    """The dataset's files are in none of the places looked at and could not be downloaded.

    (As opposed to a file that is there but malformed, which is a plain :class:`DataError`.)
    """
