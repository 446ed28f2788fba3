"""CIFAR-10 from the official python-pickle batches (``cifar-10-python.tar.gz``).

The dataset is the seven files of the official archive's ``cifar-10-batches-py/``
folder: ``data_batch_1`` .. ``data_batch_5`` (10,000 training images each),
``test_batch`` (10,000 test images) and ``batches.meta`` (class names).  Each batch
is a pickled dict with ``data`` (uint8 ``(n, 3072)``: 1024 red, 1024 green, 1024 blue
values, rows of 32 pixels) and ``labels`` (n integers in 0..9).

Where the files are looked for, in order:

1. ``data_dir`` (``--data-dir``): the seven files in it, or in its
   ``cifar-10-batches-py/`` sub-folder, or the archive ``cifar-10-python.tar.gz``
   in it (checked against the published md5, then extracted into the cache);
2. the user cache, ``cache_dir / "cifar10" / "cifar-10-batches-py"``, or the archive
   in ``cache_dir / "cifar10"``;
3. a download of the archive from :data:`CIFAR10_URL` into the cache (if
   ``download``), checked against the published md5 :data:`CIFAR10_MD5` before it is
   extracted.

The files are unpickled with a restricted unpickler that only builds dicts, lists,
strings, numbers and numpy arrays, so a doctored file cannot run code; before that,
the opcodes are walked without building anything and a pickle nesting objects deeper
than :data:`MAX_PICKLE_DEPTH` is refused (deep structures crash the interpreter or
overflow its recursion limit later).  Every file that is missing or malformed, whatever
is wrong with it, is named in one one-line :class:`~ann.data.DataError`.  Without the
files and without a network, the error says what to download and where to put it.

The dataset ``"cifar10"`` of :func:`ann.data.load_dataset` is this module's
:func:`load_cifar10` (registered in :mod:`ann.data.datasets`, imported on first use).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import reprlib
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ann.data.datasets import DataError, DataNotFound, Subsets, TensorData, tensor_data
from ann.data.safe_pickle import MAX_PICKLE_DEPTH, PickleRefused, reason, safe_loads
from common.data.budget import budget_note, format_bytes, memory_budget
from common.data.download import DownloadError, fetch
from common.files import atomic_write_bytes

__all__ = [
    "CIFAR10_URL",
    "CIFAR10_MD5",
    "CIFAR10_ARCHIVE",
    "CIFAR10_FOLDER",
    "TRAIN_BATCHES",
    "TEST_BATCH",
    "META_FILE",
    "MAX_PICKLE_DEPTH",
    "load_cifar10",
    "read_batch",
    "read_meta",
    "write_batch",
    "write_meta",
    "download_archive",
    "extract_archive",
]

#: Public mirror of the python version of CIFAR-10 (Krizhevsky's page).
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
#: md5 of ``cifar-10-python.tar.gz`` as published on https://www.cs.toronto.edu/~kriz/cifar.html.
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
FILES = TRAIN_BATCHES + (TEST_BATCH, META_FILE)
#: Images per batch file in the official archive.
OFFICIAL_BATCH_SIZE = 10000

_CHUNK = 1 << 20

def _unpickle(path: Path, raw: bytes, what: str) -> dict[str, Any]:
    """Load a pickled dict (Python 2 or 3 pickle) from ``raw``; keys returned as ``str``.

    Raises:
        DataError: ``raw`` is not a pickle, is nested too deep, names a global outside
            :data:`~ann.data.safe_pickle.NUMPY_GLOBALS`, or is not a dict (``what``: the
            kind of file, for the message).
    """
    try:
        obj = safe_loads(raw)
    except PickleRefused as exc:
        raise DataError(f"{path}: not a CIFAR-10 {what} (its pickle has {exc})") from None
    except Exception as exc:  # LookupError, MemoryError, ...; not Ctrl-C
        raise DataError(f"{path}: not a valid python pickle ({reason(exc)})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _checked(path: Path, what: str, parse: Callable[[Path, dict[str, Any]], Any]) -> Any:
    """Read ``path``, unpickle and ``parse`` it.  Any failure but an unreadable file (an
    ``OSError``, left to the caller) or Ctrl-C is a one-line :class:`DataError`; so is a
    file larger than the memory budget, refused before it is read (its pickle and the
    arrays built from it take about twice its size)."""
    size, budget = path.stat().st_size, memory_budget()
    if 2 * size > budget:
        raise DataError(f"{path}: {format_bytes(size)}, too large for a CIFAR-10 {what} "
                        f"(an official batch is about 30 MiB) within {budget_note(budget)}")
    raw = path.read_bytes()
    try:
        return parse(path, _unpickle(path, raw, what))
    except DataError:
        raise
    except Exception as exc:  # RecursionError, MemoryError, LookupError, ...
        raise DataError(f"{path}: not a CIFAR-10 {what} ({reason(exc)})") from None


def _parse_batch(path: Path, d: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    missing = [k for k in ("data", "labels") if k not in d]
    if missing:
        raise DataError(f"{path}: batch dict lacks {', '.join(repr(k) for k in missing)} "
                        f"(has {reprlib.repr(sorted(d))})")
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != 3072:
        what = (f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else type(data).__name__)
        raise DataError(f"{path}: 'data' must be a uint8 array of shape (n, 3072), got {what}")
    try:
        labels = np.asarray(d["labels"])
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(f"{path}: 'labels' is not a list of integers ({reason(exc)})") \
            from None
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: 'labels' must be a list of integers, got "
                        f"{labels.dtype} of shape {labels.shape}")
    if labels.shape[0] != data.shape[0]:
        raise DataError(f"{path}: {data.shape[0]} images but {labels.shape[0]} labels")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        bad = int(labels.min() if labels.min() < 0 else labels.max())
        raise DataError(f"{path}: label {bad} outside 0..9")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _parse_meta(path: Path, d: dict[str, Any]) -> list[str]:
    names = d.get("label_names")
    if not isinstance(names, list | tuple) or len(names) != 10 \
            or not all(isinstance(n, bytes | str) for n in names):
        raise DataError(f"{path}: 'label_names' must be a list of 10 class names, got "
                        f"{reprlib.repr(names)}")
    return [n.decode("latin1") if isinstance(n, bytes) else n for n in names]


def read_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 batch file.

    Args:
        path: a ``data_batch_N`` or ``test_batch`` file.

    Returns:
        ``(images, labels)``: uint8 ``(n, 3, 32, 32)`` and int64 ``(n,)``.

    Raises:
        DataError: the file is not a pickled dict with a uint8 ``data`` array of shape
            ``(n, 3072)`` and ``n`` ``labels`` in 0..9, whatever is wrong with it (one
            line naming the file, e.g. ``"<path>: not a CIFAR-10 batch file (...)"``).
        OSError: the file cannot be read.
    """
    return _checked(Path(path), "batch file", _parse_batch)


def read_meta(path: str | Path) -> list[str]:
    """Class names from ``batches.meta`` (its ``label_names``: 10 strings).

    Raises:
        DataError: not a pickled dict with 10 ``label_names``, whatever is wrong with it
            (one line naming the file).
        OSError: the file cannot be read.
    """
    return _checked(Path(path), "batches.meta file", _parse_meta)


def write_batch(path: str | Path, images: np.ndarray, labels, batch_label: str = "batch"
                ) -> Path:
    """Write a batch file in the official format (e.g. to make a subset, or in tests).

    A pickle (protocol 2, as the official Python 2 files) of a dict with byte-string
    keys ``batch_label``, ``labels`` (list of ints), ``data`` (uint8 ``(n, 3072)``) and
    ``filenames``.

    Args:
        path: the file to write.
        images: uint8 ``(n, 3, 32, 32)`` or ``(n, 3072)``.
        labels: ``n`` integers in 0..9.
        batch_label: the ``batch_label`` string.

    Raises:
        ValueError: images not uint8 of that shape, labels of another length.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.reshape(len(images), -1).shape[1:] != (3072,):
        raise ValueError(f"images must be uint8 of shape (n, 3, 32, 32) or (n, 3072), got "
                         f"{images.dtype} {images.shape}")
    labels = [int(v) for v in labels]
    if len(labels) != len(images):
        raise ValueError(f"labels must have {len(images)} entries, got {len(labels)}")
    obj = {
        b"batch_label": batch_label.encode(),
        b"labels": labels,
        b"data": np.ascontiguousarray(images.reshape(len(images), 3072)),
        b"filenames": [f"image_{i}.png".encode() for i in range(len(images))],
    }
    return atomic_write_bytes(path, pickle.dumps(obj, protocol=2))


def write_meta(path: str | Path, label_names: list[str] | None = None) -> Path:
    """Write ``batches.meta`` in the official format (default: the CIFAR-10 class names)."""
    names = label_names or ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                            "horse", "ship", "truck"]
    obj = {b"num_cases_per_batch": OFFICIAL_BATCH_SIZE,
           b"label_names": [n.encode() for n in names], b"num_vis": 3072}
    return atomic_write_bytes(path, pickle.dumps(obj, protocol=2))


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_archive(
    dest: str | Path,
    url: str | None = None,
    md5: str | None = None,
    timeout: float = 10.0,
    urlopen: Callable | None = None,
    progress: bool = True,
) -> Path:
    """Fetch the CIFAR-10 archive to ``dest`` atomically and check its md5.

    Args:
        dest: destination file (its folder is created).
        url: source (default :data:`CIFAR10_URL`; ``file://`` works too).
        md5: expected md5 of the archive (default :data:`CIFAR10_MD5`).
        timeout: socket timeout in seconds.
        urlopen: the opener (default ``urllib.request.urlopen``, looked up at call time).
        progress: a tqdm bar over the bytes.

    Raises:
        DataNotFound: the download failed or the md5 differs (``dest`` is then untouched).
    """
    url = url or CIFAR10_URL
    md5 = (md5 or CIFAR10_MD5).lower()

    def verify(tmp: Path) -> None:
        got = _md5(tmp)
        if got != md5:
            raise DownloadError(f"{url}: md5 of the download is {got}, expected {md5}")

    try:
        return fetch(url, dest, verify, timeout=timeout,
                     urlopen=urlopen or urllib.request.urlopen, progress=progress)
    except DownloadError as exc:
        raise DataNotFound(str(exc)) from None


def extract_archive(archive: str | Path, dest_dir: str | Path) -> Path:
    """Extract the seven CIFAR-10 files of ``archive`` into ``dest_dir`` (atomically).

    Only regular files named ``cifar-10-batches-py/<file>`` for the seven expected
    names are read; nothing else in the archive is written anywhere.

    Returns:
        ``dest_dir``.

    Raises:
        DataError: ``archive`` is not a readable tar.gz or lacks some of the files
            (the message names the archive and the missing files).
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.", dir=dest_dir.parent))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                found = set()
                for member in tar:
                    parts = member.name.strip("/").split("/")
                    if (member.isfile() and len(parts) == 2 and parts[0] == CIFAR10_FOLDER
                            and parts[1] in FILES):
                        with tar.extractfile(member) as src, open(tmp / parts[1], "wb") as out:
                            shutil.copyfileobj(src, out, _CHUNK)
                        found.add(parts[1])
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{archive}: not a readable tar.gz archive ({exc})") from None
        missing = [f for f in FILES if f not in found]
        if missing:
            raise DataError(f"{archive}: archive lacks {CIFAR10_FOLDER}/"
                            f"{{{', '.join(missing)}}}")
        if dest_dir.exists():
            shutil.rmtree(dest_dir)
        os.replace(tmp, dest_dir)
        return dest_dir
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _present(directory: Path) -> list[str]:
    return [f for f in FILES if (directory / f).is_file()]


def _not_files(directory: Path) -> list[str]:
    """The seven names under which ``directory`` holds something but no regular file
    (a folder, a broken link, a device)."""
    return [f for f in FILES
            if not (directory / f).is_file()
            and ((directory / f).exists() or (directory / f).is_symlink())]


def _read_all(directory: Path, remedy: str) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray, list[str]]:
    """Read the seven files; every problem is collected into one DataError ending in
    ``remedy`` (what to do)."""
    problems, arrays, names = [], {}, []
    for f in FILES:
        path = directory / f
        try:
            if f == META_FILE:
                names = read_meta(path)
            else:
                arrays[f] = read_batch(path)
        except DataError as exc:
            problems.append(str(exc))
        except OSError as exc:
            problems.append(f"{path}: cannot be read ({exc.strerror or exc})")
    if problems:
        raise DataError(f"CIFAR-10 files in {directory} are malformed: " + "; ".join(problems)
                        + f"; {remedy}")
    train_x = np.concatenate([arrays[f][0] for f in TRAIN_BATCHES])
    train_y = np.concatenate([arrays[f][1] for f in TRAIN_BATCHES])
    return train_x, train_y, arrays[TEST_BATCH][0], arrays[TEST_BATCH][1], names


def _what_to_download(cache: Path) -> str:
    return (f"download {CIFAR10_URL} (about 163 MB, md5 {CIFAR10_MD5}) and put it in {cache}/ "
            f"(it is checked and extracted on first use), or extract it and pass --data-dir "
            f"pointing at its {CIFAR10_FOLDER}/ folder")


def load_cifar10(
    *,
    data_dir: Path | None,
    cache_dir: Path,
    download: bool,
    timeout: float,
    log: Callable[[str], None],
    subsets: Subsets | None = None,
) -> TensorData:
    """CIFAR-10 (50,000 training, 10,000 test images) as float32 pixels 0-255.

    The loader of the registered dataset ``"cifar10"`` (signature of
    :func:`ann.data.load_dataset`); sources in the module docstring.  Images are
    ``(N, 3, 32, 32)`` float32 on the 0-255 scale, labels int64; ``subsets`` are drawn
    from the uint8 images, before the float conversion
    (:func:`ann.data.datasets.tensor_data`).

    Raises:
        DataNotFound: the files are nowhere and cannot be downloaded; the message says
            what to download and where to put it.
        DataError: a file is missing from a folder that holds the others, is malformed,
            or an archive's md5 differs from the published one.
    """
    cache = Path(cache_dir) / "cifar10"
    cache_folder = cache / CIFAR10_FOLDER
    looked: list[str] = []
    folder, kind, md5_checked = None, None, False
    if data_dir is not None:
        for candidate in (Path(data_dir), Path(data_dir) / CIFAR10_FOLDER):
            looked.append(str(candidate))
            try:
                present, odd = _present(candidate), _not_files(candidate)
            except OSError as exc:
                raise DataError(f"CIFAR-10: cannot look for the files in {candidate} "
                                f"({exc.strerror or exc}); fix its permissions") from None
            if odd:
                raise DataError(f"CIFAR-10: {', '.join(str(candidate / f) for f in odd)} "
                                f"{'is' if len(odd) == 1 else 'are'} not a regular file; "
                                f"put the batch file there or remove it")
            if len(present) == len(FILES):
                folder, kind = candidate, "data-dir"
                break
            if present:
                missing = [f for f in FILES if f not in present]
                raise DataError(f"CIFAR-10: {candidate} holds {', '.join(present)} but lacks "
                                f"{', '.join(missing)}; put all seven files of "
                                f"{CIFAR10_FOLDER}/ there")
    if folder is None and len(_present(cache_folder)) == len(FILES):
        folder, kind = cache_folder, "cache"
    looked.append(str(cache_folder))
    if folder is None:
        archives = ([Path(data_dir) / CIFAR10_ARCHIVE] if data_dir is not None else []) + [
            cache / CIFAR10_ARCHIVE]
        archive = next((a for a in archives if a.is_file()), None)
        if archive is None:
            if not download:
                raise DataNotFound(
                    f"CIFAR-10 not found in {', '.join(looked)} and downloads are off; "
                    + _what_to_download(cache))
            log(f"cifar10: downloading {CIFAR10_URL} to {cache}")
            try:
                archive = download_archive(cache / CIFAR10_ARCHIVE, timeout=timeout)
            except DataNotFound as exc:
                raise DataNotFound(f"CIFAR-10 not found in {', '.join(looked)}; {exc}; "
                                   + _what_to_download(cache)) from None
            kind = "download"
        else:
            got = _md5(archive)
            if got != CIFAR10_MD5:
                raise DataError(f"{archive}: md5 {got} differs from the published "
                                f"{CIFAR10_MD5}; delete it or replace it with the official "
                                f"archive")
            kind = "archive"
        md5_checked = True
        log(f"cifar10: md5 of {archive.name} matches the published {CIFAR10_MD5}; extracting "
            f"to {cache_folder}")
        folder = extract_archive(archive, cache_folder)
    if kind == "data-dir":
        remedy = (f"replace them with the files of the official archive "
                  f"({CIFAR10_ARCHIVE}, folder {CIFAR10_FOLDER}/)")
    else:
        remedy = f"delete {folder} to extract or download the archive again"
    train_x, train_y, test_x, test_y, names = _read_all(folder, remedy)
    official_sizes = (len(train_y) == 5 * OFFICIAL_BATCH_SIZE
                      and len(test_y) == OFFICIAL_BATCH_SIZE)
    info = {
        "source": kind,
        "directory": str(folder),
        "files": list(FILES),
        "classes": names,
        "archive_md5_checked": md5_checked,
        "official_sizes": official_sizes,
        "test_source": "CIFAR-10 test_batch",
    }
    log(f"cifar10: {len(train_y)} training / {len(test_y)} test images from {folder} ({kind}"
        + (", archive md5 verified" if md5_checked else "")
        + ("" if official_sizes else ", NOT the official sizes 50000/10000") + ")")
    return tensor_data(train_x, train_y, test_x, test_y, "cifar10", info, subsets)

