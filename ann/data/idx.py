"""Deprecated alias of :mod:`common.data.idx`: the module moved to the torch-free
:mod:`common.data` (``stdp_sim`` reads MNIST too), and this alias goes in the next
release.  Import from :mod:`common.data.idx` instead.
"""

import warnings

from common.data.idx import IdxError, IdxFile, parse_idx, read_bytes, read_idx, write_idx

__all__ = ["IdxError", "IdxFile", "read_idx", "parse_idx", "read_bytes", "write_idx"]

warnings.warn("ann.data.idx is renamed common.data.idx; the old name goes in the next "
              "release", DeprecationWarning, stacklevel=2)
