"""Deprecated alias of :mod:`common.data.download`: the module moved to the torch-free
:mod:`common.data` (``stdp_sim`` reads MNIST too), and this alias goes in the next
release.  Import from :mod:`common.data.download` instead.
"""

import warnings

from common.data.download import (
    DEFAULT_TIMEOUT,
    DownloadError,
    content_sha256,
    download,
    download_first,
    fetch,
)

__all__ = [
    "DEFAULT_TIMEOUT", "DownloadError", "download", "download_first", "fetch", "content_sha256",
]

warnings.warn("ann.data.download is renamed common.data.download; the old name goes in the "
              "next release", DeprecationWarning, stacklevel=2)
