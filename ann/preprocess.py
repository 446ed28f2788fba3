"""CIFAR-10 preprocessing of the reference (MatConvNet ``cnn_cifar``), cached on disk.

The steps of ``getCifarImdb`` (docs/reference.md#lenet5-on-cifar-10), in order, on float pixels
0-255, each image flattened to ``D = C*H*W`` values:

1. **Mean image**: the mean *training* image is subtracted from both splits.
2. **Contrast normalisation** (Coates, Lee & Ng 2011, as ``cnn_cifar``): each image is
   centred on its own mean, ``s`` = its standard deviation (``D - 1`` divisor), and it
   is scaled by ``mean(s) / max(s, 40)``.  As in the reference, ``mean(s)`` is taken
   over the images of *both* splits.
3. **ZCA whitening** fitted on the training split:
   ``W = Z_train^T Z_train / n`` with ``n`` the number of images of *both* splits (the
   reference divides the training scatter by 60,000); eigen-decomposition
   ``W = V diag(d) V^T``; every image is mapped by
   ``V diag(e / max(sqrt(d), 10)) V^T`` with ``e = sqrt(mean(d))``.  The floor 10 is on
   ``sqrt(d)``, the standard deviation along each eigen-direction (so on the
   eigenvalues it is 100): directions with less spread are scaled by ``e / 10`` only.
   After it the training covariance ``W`` has eigenvalue ``e^2`` on every direction
   with ``sqrt(d) >= 10`` and ``d e^2 / 100 < e^2`` on the others.
4. (In training, not here: the random horizontal flip of each batch, ``TrainConfig.flip``.)

Gray 28x28 datasets (MNIST, Fashion-MNIST) are first made CIFAR-shaped by
:func:`gray28_to_rgb32`: zero-padded to 32x32 and repeated to three channels.

:func:`preprocess_cifar` runs the steps and caches the result in
``cache_dir / "preprocessed" / <key>.pt``, the key a sha256 of the parameters and of
the input data's fingerprint; the file is written atomically
(:func:`common.files.atomic_write`), and a later call with the same data and parameters
loads it instead of recomputing.  A cache file that cannot be read or holds anything
else is logged and recomputed; a cache that cannot be written is logged and skipped.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ann.data.datasets import TensorData, default_cache_dir, subtract_mean_image
from common.checks import is_integer, is_real
from common.files import atomic_write
from common.progress import progress_bar

__all__ = [
    "PREPROCESS_VERSION",
    "PreprocessParams",
    "gray28_to_rgb32",
    "to_cifar_shape",
    "contrast_normalize",
    "fit_zca",
    "apply_zca",
    "preprocess_cifar",
    "cache_key",
]

#: Bumped whenever the computation changes, so old cache files are not reused.
PREPROCESS_VERSION = 1
_APPLY_CHUNK = 5000


@dataclass(frozen=True)
class PreprocessParams:
    """Parameters of :func:`preprocess_cifar` (defaults: the reference, ``cnn_cifar``).

    Args:
        mean_image: subtract the mean training image.
        contrast: per-image contrast normalisation.
        min_std: floor of an image's standard deviation in the contrast scaling (40).
        whiten: ZCA whitening fitted on the training split.
        zca_floor: floor of ``sqrt(eigenvalue)`` in the whitening (10).
    """

    mean_image: bool = True
    contrast: bool = True
    min_std: float = 40.0
    whiten: bool = True
    zca_floor: float = 10.0

    def __post_init__(self) -> None:
        for name in ("min_std", "zca_floor"):
            value = getattr(self, name)
            if not is_real(value) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        for name in ("mean_image", "contrast", "whiten"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description, with the reference's conventions spelled out."""
        d = asdict(self)
        d.update(
            version=PREPROCESS_VERSION,
            contrast_scale="mean std over both splits / max(std, min_std), std with D-1",
            zca_fit="training split; scatter divided by the image count of both splits",
            zca_floor_on="sqrt(eigenvalue)",
            flip="random horizontal flip of each batch, p = 0.5 (in training)",
        )
        return d


def gray28_to_rgb32(x: Tensor) -> Tensor:
    """``(N, 1, 28, 28)`` gray images -> ``(N, 3, 32, 32)``: zero-pad 2 pixels on each
    side, then repeat the channel three times.

    Raises:
        ValueError: ``x`` is not of shape ``(N, 1, 28, 28)``.
    """
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"x must have shape (N, 1, 28, 28), got {tuple(x.shape)}")
    return torch.nn.functional.pad(x, (2, 2, 2, 2)).repeat(1, 3, 1, 1)


def to_cifar_shape(data: TensorData) -> TensorData:
    """``data`` as ``(N, 3, 32, 32)`` images: unchanged if already so, gray 28x28 made
    CIFAR-shaped by :func:`gray28_to_rgb32` (noted in ``info["preprocessing"]``).

    Raises:
        ValueError: images of any other shape.
    """
    shape = tuple(data.train_x.shape[1:])
    if shape == (3, 32, 32):
        return data
    if shape != (1, 28, 28):
        raise ValueError(f"{data.name}: images must be 3x32x32 or 1x28x28 for LeNet5, got "
                         f"{'x'.join(map(str, shape))}")
    info = dict(data.info)
    info["preprocessing"] = list(info.get("preprocessing", [])) + [
        "gray 28x28 zero-padded to 32x32 and repeated to 3 channels"]
    return replace(data, train_x=gray28_to_rgb32(data.train_x),
                   test_x=gray28_to_rgb32(data.test_x), info=info)


def _image_std(x: Tensor) -> Tensor:
    z = x.reshape(x.shape[0], -1).double()
    return z.std(dim=1, correction=1)


def contrast_normalize(x: Tensor, min_std: float = 40.0, target: float | None = None) -> Tensor:
    """Per-image contrast normalisation: centre each image on its mean, scale it by
    ``target / max(std, min_std)`` (``std`` with divisor ``D - 1``).

    Args:
        x: images ``(N, ...)``.
        min_std: floor of the standard deviation (reference 40, for 0-255 pixels).
        target: the common scale; default the mean std of ``x`` (the reference uses the
            mean over both splits: pass it).

    Returns:
        float32 tensor of ``x``'s shape.

    Raises:
        ValueError: ``min_std`` not positive, ``x`` empty.
    """
    if not math.isfinite(min_std) or min_std <= 0:
        raise ValueError(f"min_std must be a positive finite number, got {min_std!r}")
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one image, got 0")
    z = x.reshape(x.shape[0], -1).double()
    z = z - z.mean(dim=1, keepdim=True)
    std = z.std(dim=1, correction=1)
    if target is None:
        target = float(std.mean())
    z = z * (target / std.clamp(min=min_std)).unsqueeze(1)
    return z.float().reshape(x.shape)


def fit_zca(train_x: Tensor, floor: float = 10.0, count: int | None = None) -> Tensor:
    """ZCA matrix of the reference: ``V diag(e / max(sqrt(d), floor)) V^T`` (float64).

    ``W = Z^T Z / count`` over the flattened training images ``Z`` (not re-centred,
    as the reference), ``W = V diag(d) V^T``, ``e = sqrt(mean(d))``.  With fewer images
    than dimensions the eigenvectors come from the Gram matrix ``Z Z^T`` and the null space,
    whose eigenvalues are 0, is scaled by ``e / floor`` (the same matrix, faster).
    Only the eigenvectors with ``sqrt(d) > floor`` are used: every other direction is
    scaled by the same ``e / floor``, so ``M = (e/floor) I + V_k diag(e/sqrt(d_k) -
    e/floor) V_k^T``.

    Args:
        train_x: training images ``(N, ...)``.
        floor: floor of ``sqrt(d)`` (reference 10).
        count: the divisor of the scatter (default ``N``; the reference uses the
            number of images of both splits).

    Returns:
        ``(D, D)`` float64 matrix; whitened images are ``z @ M`` (it is symmetric).

    Raises:
        ValueError: ``floor`` or ``count`` not positive, fewer than 2 images.
    """
    if not math.isfinite(floor) or floor <= 0:
        raise ValueError(f"floor must be a positive finite number, got {floor!r}")
    n = train_x.shape[0]
    if n < 2:
        raise ValueError(f"train_x must hold at least 2 images, got {n}")
    count = n if count is None else count
    if not is_integer(count) or count < 1:
        raise ValueError(f"count must be a positive integer, got {count!r}")
    z = train_x.reshape(n, -1).double()
    dim = z.shape[1]
    if n >= dim:
        d, v = torch.linalg.eigh(z.T @ z / count)
    else:  # eigenvectors of Z^T Z from the n x n Gram matrix Z Z^T (same nonzero spectrum)
        d, u = torch.linalg.eigh(z @ z.T / count)
        v = z.T @ u
    d = d.clamp(min=0.0)
    e = math.sqrt(float(d.sum()) / dim)  # mean over all D eigenvalues (null space: 0)
    # Every direction with sqrt(d) <= floor (null space included) is scaled by e / floor;
    # only the others need their eigenvectors (see the docstring).
    keep = d.sqrt() > floor
    d, v = d[keep], v[:, keep]
    if n < dim:
        v = v / v.norm(dim=0, keepdim=True)
    m = torch.eye(dim, dtype=torch.float64) * (e / floor)
    m += (v * (e / d.sqrt() - e / floor)) @ v.T
    return m


def apply_zca(x: Tensor, m: Tensor, chunk: int = _APPLY_CHUNK) -> Tensor:
    """Whiten images ``x`` with the matrix of :func:`fit_zca`, in chunks (float32 result)."""
    flat = x.reshape(x.shape[0], -1)
    if flat.shape[1] != m.shape[0]:
        raise ValueError(f"x has {flat.shape[1]} values per image but the ZCA matrix is "
                         f"{tuple(m.shape)}")
    out = torch.empty(flat.shape, dtype=torch.float32)
    for i in range(0, flat.shape[0], chunk):
        out[i : i + chunk] = (flat[i : i + chunk].double() @ m).float()
    return out.reshape(x.shape)


def cache_key(data: TensorData, params: PreprocessParams) -> str:
    """sha256 of the parameters, :data:`PREPROCESS_VERSION` and ``data.fingerprint()``."""
    text = json.dumps({"params": params.to_dict(), "data": data.fingerprint(),
                       "name": data.name}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _compute(data: TensorData, params: PreprocessParams, log: Callable[[str], None],
             progress: bool) -> tuple[Tensor, Tensor, list[str]]:
    steps = ["mean image", "contrast", "zca fit", "zca apply"]
    done: list[str] = []
    bar = progress_bar(total=len(steps), desc="preprocessing", unit="step", enabled=progress,
                       leave=False)
    try:
        t0 = time.perf_counter()
        if params.mean_image:
            data = subtract_mean_image(data)
            done.append("subtract mean training image")
        train_x, test_x = data.train_x, data.test_x
        bar.update(1)
        if params.contrast:
            target = float(torch.cat([_image_std(train_x), _image_std(test_x)]).mean())
            train_x = contrast_normalize(train_x, params.min_std, target)
            test_x = contrast_normalize(test_x, params.min_std, target)
            done.append(f"contrast normalisation: x * {target:.4g} / max(std, "
                        f"{params.min_std:g})")
        bar.update(1)
        if params.whiten:
            count = train_x.shape[0] + test_x.shape[0]
            m = fit_zca(train_x, params.zca_floor, count=count)
            bar.update(1)
            train_x, test_x = apply_zca(train_x, m), apply_zca(test_x, m)
            done.append(f"ZCA whitening fitted on {train_x.shape[0]} training images, "
                        f"floor {params.zca_floor:g} on sqrt(eigenvalue)")
            bar.update(1)
        else:
            bar.update(2)
    finally:
        bar.close()
    log(f"preprocessing computed in {time.perf_counter() - t0:.1f} s")
    return train_x.contiguous(), test_x.contiguous(), done


def _load_cached(path: Path, key: str, data: TensorData) -> tuple[Tensor, Tensor, list[str]]:
    """The cached result in ``path`` for ``key``, checked against ``data``'s shapes.

    Raises:
        ValueError: the file holds something else (another key, missing or malformed
            entries); any exception of ``torch.load`` on a corrupt file passes through.
    """
    stored = torch.load(path, weights_only=True)  # tensors and plain containers only
    if not isinstance(stored, dict) or stored.get("key") != key:
        raise ValueError("not the cache entry of this data and these parameters")
    train_x, test_x, steps = stored.get("train_x"), stored.get("test_x"), stored.get("steps")
    for name, t, like in (("train_x", train_x, data.train_x), ("test_x", test_x, data.test_x)):
        if not isinstance(t, Tensor) or t.dtype != torch.float32 or t.shape != like.shape:
            raise ValueError(f"{name} is not a float32 tensor of shape {tuple(like.shape)}")
    if not isinstance(steps, list) or not all(isinstance(step, str) for step in steps):
        raise ValueError("steps is not a list of strings")
    return train_x, test_x, steps


def _one_line(exc: BaseException) -> str:
    """``Type: message`` of ``exc`` on one short line."""
    text = " ".join(str(exc).split())
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def preprocess_cifar(
    data: TensorData,
    params: PreprocessParams | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> TensorData:
    """The reference preprocessing of ``data`` (module docstring), from the cache if there.

    Args:
        data: unprocessed ``(N, 3, 32, 32)`` images (pixels 0-255); gray 28x28 images
            are converted first (:func:`to_cifar_shape`).
        params: the steps and their parameters (default :class:`PreprocessParams`()).
        cache_dir: folder of the cache (default :func:`ann.data.default_cache_dir`);
            files go to ``cache_dir / "preprocessed"``.
        use_cache: read and write the cache.
        log: one line on where the result came from.
        progress: a progress bar over the steps when computing.

    Returns:
        The preprocessed dataset; ``info["preprocessing"]`` lists the steps and
        ``info["preprocessing_params"]`` the parameters.

    Raises:
        ValueError: images that are neither 3x32x32 nor 1x28x28.
    """
    params = params or PreprocessParams()
    key = cache_key(data, params)  # of the input: gray sets hash 12x fewer bytes
    data = to_cifar_shape(data)
    cache = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "preprocessed"
    path = cache / f"{data.name}-{key[:24]}.pt"
    cached = None
    if use_cache and path.is_file():
        try:
            cached = _load_cached(path, key, data)
        except Exception as exc:  # a corrupt or foreign file of any kind; not Ctrl-C
            log(f"preprocessing cache {path} unreadable ({_one_line(exc)}); recomputing")
    if cached is not None:
        train_x, test_x, steps = cached
        log(f"preprocessing: loaded from cache {path}")
    else:
        train_x, test_x, steps = _compute(data, params, log, progress)
        if use_cache:
            entry = {"key": key, "train_x": train_x, "test_x": test_x, "steps": steps}
            # The result is in hand: a cache that cannot be written (no space, no
            # permission, a file in the way) is logged, not an error.  torch.save reports
            # write failures of its zip writer as RuntimeError.
            try:
                atomic_write(path, lambda tmp: torch.save(entry, tmp))
                log(f"preprocessing: cached in {path}")
            except (OSError, RuntimeError) as exc:
                reason = getattr(exc, "strerror", None) or _one_line(exc)
                log(f"preprocessing: not cached, {path} cannot be written ({reason})")
    info = dict(data.info)
    info["preprocessing"] = list(info.get("preprocessing", [])) + list(steps)
    info["preprocessing_params"] = params.to_dict()
    return replace(data, train_x=train_x, test_x=test_x, info=info)
