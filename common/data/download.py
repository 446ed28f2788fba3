"""Downloading dataset files with a checksum check.

Files are fetched with :func:`urllib.request.urlopen` (``https://``, ``http://`` and
``file://`` URLs), written to a temporary file next to the destination, checked
against the sha256 of their *uncompressed* content (gzip is undone for the check
only; the file is stored as fetched), and only then renamed into place
(:func:`common.files.atomic_write`), so an interrupted or corrupt download never
leaves a file that looks complete.

Connection attempts use a short timeout (:data:`DEFAULT_TIMEOUT`) so that an offline
machine fails in seconds and callers can fall back.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import socket
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

from common.files import atomic_write
from common.progress import progress_bar

__all__ = [
    "DEFAULT_TIMEOUT", "DownloadError", "download", "download_first", "fetch", "content_sha256",
]

#: Seconds to wait on a connection or read before giving up on a mirror.
DEFAULT_TIMEOUT = 10.0

_CHUNK = 1 << 20


class DownloadError(OSError):
    """A download that failed (network error, HTTP error, checksum mismatch).

    ``offline`` is True when no server could be reached at all (no name resolution, no
    route, connection refused or timed out): the message is then the short reason.
    """

    def __init__(self, message: str, *, offline: bool = False):
        super().__init__(message)
        self.offline = offline


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or the reason of a ``URLError``) means no network, as opposed to
    a server that answered with an error."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.gaierror, ConnectionRefusedError, TimeoutError)):
        return True
    return getattr(reason, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH,
                                               errno.ENETDOWN)


def content_sha256(path: str | Path) -> str:
    """sha256 hex digest of the uncompressed content of ``path`` (gunzipped if gzip)."""
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        is_gzip = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if is_gzip else open
    with opener(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    dest: str | Path,
    sha256: str,
    timeout: float = DEFAULT_TIMEOUT,
    urlopen: Callable = urllib.request.urlopen,
) -> Path:
    """Fetch ``url`` to ``dest`` and verify the sha256 of its uncompressed content.

    Parameters
    ----------
    url:
        Source URL (any scheme ``urlopen`` accepts, including ``file://``).
    dest:
        Destination file; its directory is created.  Written atomically.
    sha256:
        Expected hex digest of the uncompressed content.
    timeout:
        Socket timeout in seconds (default :data:`DEFAULT_TIMEOUT`).
    urlopen:
        The opener (injectable for tests).

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DownloadError
        On any network failure or a checksum mismatch; ``dest`` is then untouched.
    """
    def verify(tmp: Path) -> None:
        try:
            got = content_sha256(tmp)
        except (OSError, EOFError, zlib.error) as exc:
            raise DownloadError(f"{url}: downloaded file is not valid gzip ({exc})") from exc
        if got != sha256.lower():
            raise DownloadError(
                f"{url}: checksum mismatch (sha256 of content {got}, expected {sha256})"
            )

    return fetch(url, dest, verify, timeout=timeout, urlopen=urlopen)


def fetch(
    url: str,
    dest: str | Path,
    verify: Callable[[Path], None],
    timeout: float = DEFAULT_TIMEOUT,
    urlopen: Callable = urllib.request.urlopen,
    progress: bool = False,
) -> Path:
    """Fetch ``url`` to a temporary file next to ``dest``, ``verify`` it, rename it into place.

    The write is :func:`common.files.atomic_write`: ``dest`` appears complete or not at
    all.  ``verify(tmp_path)`` raises :class:`DownloadError` to reject the file; ``dest``
    is then untouched and the temporary file removed.  ``progress`` shows a tqdm bar
    over the bytes.

    Raises
    ------
    DownloadError
        On any network failure, when ``verify`` rejects the file, or when ``dest``
        cannot be written (its folder is not a writable directory, the disk is full).
    """
    dest = Path(dest)
    failure: list[DownloadError] = []  # atomic_write turns errors into "cannot be written"

    def write(tmp: Path) -> None:
        try:
            with open(tmp, "wb") as out, urlopen(url, timeout=timeout) as response:
                headers = getattr(response, "headers", None)
                total = headers.get("Content-Length") if headers else None
                with progress_bar(total=int(total) if total else None, unit="B",
                                  unit_scale=True, desc=f"downloading {dest.name}",
                                  enabled=progress, leave=False) as bar:
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            text = getattr(reason, "strerror", None) or str(reason)
            failure.append(DownloadError(f"{url}: download failed ({text})",
                                         offline=_unreachable(exc)))
            raise failure[-1] from exc
        try:
            verify(tmp)
        except DownloadError as exc:
            failure.append(exc)
            raise

    try:
        return atomic_write(dest, write)
    except DownloadError:
        raise
    except OSError as exc:  # creating the folder or the temporary file, renaming it
        if failure:
            raise failure[-1] from exc
        reason = exc.strerror or type(exc).__name__
        raise DownloadError(f"{dest}: cannot be written ({reason}); check the folder "
                            f"{dest.parent}") from exc


def download_first(
    urls: Sequence[str],
    dest: str | Path,
    sha256: str,
    timeout: float = DEFAULT_TIMEOUT,
    urlopen: Callable = urllib.request.urlopen,
) -> Path:
    """Try :func:`download` from each mirror in ``urls`` in turn; return on the first success.

    Raises
    ------
    DownloadError
        If every mirror failed; the message lists each failure.
    """
    if not urls:
        raise ValueError("urls must name at least one mirror, got an empty list")
    failures: list[DownloadError] = []
    for url in urls:
        try:
            return download(url, dest, sha256, timeout=timeout, urlopen=urlopen)
        except DownloadError as exc:
            failures.append(exc)
    if all(f.offline for f in failures):  # one short reason: the network is not there
        reason = str(failures[0]).rsplit("download failed (", 1)[-1].rstrip(")")
        raise DownloadError(reason, offline=True)
    raise DownloadError("; ".join(map(str, failures)))
