"""Reference CIFAR preprocessing: contrast normalisation, ZCA whitening, gray->RGB, cache."""

import math
import time

import numpy as np
import pytest
import torch

import ann.preprocess as pre
from ann.data import TensorData
from ann.preprocess import (
    PreprocessParams,
    apply_zca,
    contrast_normalize,
    fit_zca,
    gray28_to_rgb32,
    preprocess_cifar,
    to_cifar_shape,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("NEGLU_STDP_CACHE", str(tmp_path / "cache"))


def numpy_zca(z: np.ndarray, floor: float, count: int) -> np.ndarray:
    """MatConvNet's lines, in numpy: W = Z'Z/count, V diag(e/max(sqrt(d), floor)) V'."""
    w = z.T @ z / count
    d, v = np.linalg.eigh(w)
    d = np.clip(d, 0, None)
    e = math.sqrt(d.mean())
    return v @ np.diag(e / np.maximum(np.sqrt(d), floor)) @ v.T


def correlated(n: int, dim: int, seed: int) -> np.ndarray:
    """Features with standard deviations from 0.5 to 60 along random directions."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    scales = np.geomspace(0.5, 60.0, dim)
    return (rng.standard_normal((n, dim)) * scales) @ q.T


def test_gray28_to_rgb32_pads_with_zeros_and_repeats():
    x = torch.rand(4, 1, 28, 28) * 255 + 1
    y = gray28_to_rgb32(x)
    assert y.shape == (4, 3, 32, 32)
    assert torch.equal(y[:, 0, 2:30, 2:30], x[:, 0])
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 0], y[:, 2])
    border = y.clone()
    border[:, :, 2:30, 2:30] = 0
    assert float(border.abs().sum()) == 0.0
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 28, 28\), got \(4, 3, 28"):
        gray28_to_rgb32(torch.zeros(4, 3, 28, 28))
    data = TensorData(torch.zeros(2, 1, 20, 20), torch.zeros(2, dtype=torch.int64),
                      torch.zeros(1, 1, 20, 20), torch.zeros(1, dtype=torch.int64), "odd")
    with pytest.raises(ValueError, match="must be 3x32x32 or 1x28x28 for LeNet5, got 1x20x20"):
        to_cifar_shape(data)


def test_contrast_normalisation_matches_the_reference_formula():
    rng = np.random.default_rng(0)
    # image standard deviations far below and far above the floor of 40
    x = rng.standard_normal((12, 3, 4, 4)) * np.repeat([5.0, 20.0, 60.0, 100.0], 3)[:, None,
                                                                                     None, None]
    x += rng.uniform(0, 200, size=(12, 1, 1, 1))
    z = x.reshape(12, -1)
    z = z - z.mean(1, keepdims=True)
    n = z.std(1, ddof=1)
    expected = z * (n.mean() / np.maximum(n, 40.0))[:, None]
    got = contrast_normalize(torch.from_numpy(x).float(), 40.0)
    assert got.dtype == torch.float32 and got.shape == x.shape
    np.testing.assert_allclose(got.reshape(12, -1).numpy(), expected, rtol=1e-5, atol=1e-4)
    out_std = got.reshape(12, -1).double().std(1).numpy()
    # images above the floor all end at the common scale, those below stay proportional
    np.testing.assert_allclose(out_std[n >= 40], n.mean(), rtol=1e-5)
    np.testing.assert_allclose(out_std[n < 40], n[n < 40] * n.mean() / 40, rtol=1e-5)
    assert (n < 40).sum() >= 3 and (n >= 40).sum() >= 3
    fixed = contrast_normalize(torch.from_numpy(x).float(), 40.0, target=7.0)
    np.testing.assert_allclose(fixed.reshape(12, -1).double().std(1).numpy()[n >= 40], 7.0,
                               rtol=1e-5)
    with pytest.raises(ValueError, match="min_std must be a positive finite number, got 0"):
        contrast_normalize(torch.ones(2, 3), 0)


@pytest.mark.parametrize(("n", "count"), [(400, 400), (400, 480), (30, 36)])
def test_whitened_covariance_is_scaled_identity_within_the_floor(n, count):
    dim, floor = 48, 10.0
    z = correlated(n, dim, seed=n)
    m = fit_zca(torch.from_numpy(z), floor=floor, count=count).numpy()
    np.testing.assert_allclose(m, m.T, atol=1e-10)
    # independent numpy version of the reference (full d x d eigendecomposition)
    np.testing.assert_allclose(m, numpy_zca(z, floor, count), rtol=1e-7, atol=1e-9)
    d = np.clip(np.linalg.eigvalsh(z.T @ z / count), 0, None)
    e2 = d.mean()
    y = z @ m
    got = np.sort(np.linalg.eigvalsh(y.T @ y / count))
    expected = np.sort(np.where(np.sqrt(d) >= floor, e2, d * e2 / floor**2))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9 * e2)
    above = np.sqrt(d) >= floor
    assert 3 <= above.sum() < dim  # both regimes are exercised
    assert np.all(got <= e2 * (1 + 1e-6))


def test_apply_zca_matches_matrix_product_and_checks_size():
    z = torch.from_numpy(correlated(50, 12, seed=3))
    m = fit_zca(z, 1.0)
    got = apply_zca(z.float().reshape(50, 3, 2, 2), m, chunk=7)
    assert got.shape == (50, 3, 2, 2) and got.dtype == torch.float32
    np.testing.assert_allclose(got.reshape(50, -1).numpy(), (z @ m).numpy(), rtol=1e-5,
                               atol=1e-4)
    with pytest.raises(ValueError, match="x has 8 values per image but the ZCA matrix"):
        apply_zca(torch.zeros(2, 8), m)
    with pytest.raises(ValueError, match="floor must be a positive finite number, got -1"):
        fit_zca(z, -1.0)


def test_params_are_validated():
    with pytest.raises(ValueError, match="min_std must be a positive finite number, got -4"):
        PreprocessParams(min_std=-4)
    with pytest.raises(ValueError, match="zca_floor must be a positive finite number"):
        PreprocessParams(zca_floor=float("nan"))
    with pytest.raises(ValueError, match="whiten must be True or False, got 1"):
        PreprocessParams(whiten=1)


def tiny_cifar(n_train=40, n_test=10, seed=0) -> TensorData:
    g = torch.Generator().manual_seed(seed)
    return TensorData(
        (torch.rand(n_train, 3, 32, 32, generator=g) * 255).round(),
        torch.randint(0, 10, (n_train,), generator=g),
        (torch.rand(n_test, 3, 32, 32, generator=g) * 255).round(),
        torch.randint(0, 10, (n_test,), generator=g),
        name="tiny",
    )


def test_pipeline_matches_the_reference_steps_in_numpy(tmp_path):
    data = tiny_cifar()
    out = preprocess_cifar(data, cache_dir=tmp_path, log=lambda s: None, progress=False)
    # the reference in numpy: mean image, contrast (mean std over both splits), whitening
    x = np.concatenate([data.train_x.numpy(), data.test_x.numpy()]).reshape(50, -1)
    x = x.astype(np.float64)
    x = x - x[:40].mean(0)
    x = x - x.mean(1, keepdims=True)
    s = x.std(1, ddof=1)
    x = x * (s.mean() / np.maximum(s, 40.0))[:, None]
    # whitening: W = X_train^T X_train / 50 has rank <= 40 < 3072, so check its defining
    # property on the n x n Gram matrices (same nonzero spectra) instead of a 3072 x 3072
    # eigendecomposition: Y_train^T Y_train / 50 has eigenvalue e^2 on every direction with
    # sqrt(d) >= 10 and d e^2 / 100 on the others, e^2 = trace(W) / 3072.
    e2 = (x[:40] ** 2).sum() / 50 / 3072
    y = np.concatenate([out.train_x.numpy(), out.test_x.numpy()]).reshape(50, -1)
    y = y.astype(np.float64)
    gram = np.linalg.eigvalsh(y[:40] @ y[:40].T / 50)
    d = np.clip(np.linalg.eigvalsh(x[:40] @ x[:40].T / 50), 0, None)  # nonzero spectrum of W
    expected = np.sort(np.where(np.sqrt(d) >= 10, e2, d * e2 / 100))
    assert (np.sqrt(d) >= 10).sum() >= 30
    np.testing.assert_allclose(np.sort(gram), expected, rtol=1e-4, atol=1e-4 * e2)
    # the whitening is linear and the same for test images: Y = X M with M symmetric,
    # so Y_test must be reproducible from X via the train-fitted map
    m = fit_zca(torch.from_numpy(x[:40]), 10.0, count=50).numpy()
    np.testing.assert_allclose(y, x @ m, rtol=1e-4, atol=1e-3 * math.sqrt(e2))
    steps = out.info["preprocessing"]
    assert steps[0] == "subtract mean training image" and "contrast" in steps[1]
    assert "ZCA whitening fitted on 40 training images" in steps[2]
    assert out.info["preprocessing_params"]["zca_floor"] == 10.0


def test_cache_hit_is_instant_and_identical(tmp_path, monkeypatch):
    data = tiny_cifar()
    lines = []
    t0 = time.perf_counter()
    first = preprocess_cifar(data, cache_dir=tmp_path, log=lines.append, progress=False)
    compute_seconds = time.perf_counter() - t0
    files = list((tmp_path / "preprocessed").iterdir())
    assert len(files) == 1 and files[0].suffix == ".pt"  # no temporary files left
    assert any("cached in" in line for line in lines)

    def must_not_compute(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(pre, "_compute", must_not_compute)
    lines.clear()
    t0 = time.perf_counter()
    second = preprocess_cifar(data, cache_dir=tmp_path, log=lines.append, progress=False)
    hit_seconds = time.perf_counter() - t0
    assert any("loaded from cache" in line for line in lines)
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_x,
                                                                       second.test_x)
    assert second.info["preprocessing"] == first.info["preprocessing"]
    assert hit_seconds < 1.0 and hit_seconds < compute_seconds

    # other parameters or other data: other key, so it is computed again
    with pytest.raises(AssertionError, match="recomputed"):
        preprocess_cifar(data, PreprocessParams(min_std=30.0), cache_dir=tmp_path,
                         log=lines.append, progress=False)
    other = tiny_cifar(seed=1)
    with pytest.raises(AssertionError, match="recomputed"):
        preprocess_cifar(other, cache_dir=tmp_path, log=lines.append, progress=False)
    # use_cache=False never reads it
    with pytest.raises(AssertionError, match="recomputed"):
        preprocess_cifar(data, cache_dir=tmp_path, use_cache=False, log=lines.append,
                         progress=False)


def test_corrupt_cache_file_is_recomputed(tmp_path):
    data = tiny_cifar()
    first = preprocess_cifar(data, cache_dir=tmp_path, log=lambda s: None, progress=False)
    (path,) = (tmp_path / "preprocessed").iterdir()
    path.write_bytes(b"garbage")
    lines = []
    again = preprocess_cifar(data, cache_dir=tmp_path, log=lines.append, progress=False)
    assert any("unreadable" in line and "recomputing" in line for line in lines)
    assert torch.equal(first.train_x, again.train_x)


def test_gray_dataset_goes_through_the_pipeline(tmp_path):
    g = torch.Generator().manual_seed(0)
    gray = TensorData((torch.rand(30, 1, 28, 28, generator=g) * 255).round(),
                      torch.arange(30) % 10, (torch.rand(8, 1, 28, 28, generator=g) * 255),
                      torch.arange(8) % 10, name="gray")
    out = preprocess_cifar(gray, cache_dir=tmp_path, log=lambda s: None, progress=False)
    assert out.train_x.shape == (30, 3, 32, 32) and out.test_x.shape == (8, 3, 32, 32)
    assert out.info["preprocessing"][0].startswith("gray 28x28 zero-padded")
    assert torch.isfinite(out.train_x).all()


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """tiny_cifar() preprocessed once: (its cache file's name, bytes and dict, the result)."""
    root = tmp_path_factory.mktemp("computed")
    out = preprocess_cifar(tiny_cifar(), cache_dir=root, log=lambda s: None, progress=False)
    (path,) = (root / "preprocessed").iterdir()
    return path.name, path.read_bytes(), torch.load(path, weights_only=True), out


@pytest.mark.parametrize("damage", [
    "truncated", "missing-entry", "wrong-shape", "wrong-dtype", "not-a-dict", "steps-not-str",
    "empty", "empty-zip"])
def test_damaged_cache_file_is_recomputed_with_one_line(tmp_path, computed, damage):
    name, raw, stored, first = computed
    path = tmp_path / "preprocessed" / name
    path.parent.mkdir()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "empty-zip":
        path.write_bytes(b"PK\x05\x06" + bytes(18))
    else:
        bad = dict(stored)
        if damage == "missing-entry":
            del bad["train_x"]  # once a KeyError after loading
        elif damage == "wrong-shape":
            bad["test_x"] = bad["test_x"][:3]
        elif damage == "wrong-dtype":
            bad["train_x"] = bad["train_x"].double()
        elif damage == "steps-not-str":
            bad["steps"] = [1, 2]
        else:
            bad = [bad]
        torch.save(bad, path)
    lines = []
    again = preprocess_cifar(tiny_cifar(), cache_dir=tmp_path, log=lines.append,
                             progress=False)
    unreadable = [line for line in lines if "unreadable" in line]
    assert len(unreadable) == 1 and str(path) in unreadable[0]
    assert unreadable[0].endswith("; recomputing") and "\n" not in unreadable[0]
    assert torch.equal(first.train_x, again.train_x) and torch.equal(first.test_x,
                                                                       again.test_x)
    assert again.info["preprocessing"] == first.info["preprocessing"]
    # ... and the recomputed result replaced the damaged file
    assert torch.equal(torch.load(path, weights_only=True)["test_x"], first.test_x)


def test_cache_that_cannot_be_written_is_logged_not_fatal(tmp_path):
    (tmp_path / "preprocessed").write_text("a file where the cache folder should be")
    lines = []
    out = preprocess_cifar(tiny_cifar(), cache_dir=tmp_path, log=lines.append, progress=False)
    assert out.train_x.shape == (40, 3, 32, 32)
    assert any(line.startswith("preprocessing: not cached, ") for line in lines)


def test_failed_cache_write_leaves_no_file(tmp_path, monkeypatch):
    def full_disk(obj, f):
        with open(f, "wb") as fh:
            fh.write(b"PK partial")
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(pre.torch, "save", full_disk)
    lines = []
    out = preprocess_cifar(tiny_cifar(), cache_dir=tmp_path, log=lines.append, progress=False)
    assert out.test_x.shape == (10, 3, 32, 32)
    assert any("not cached" in line and "file write failed" in line for line in lines)
    assert list((tmp_path / "preprocessed").iterdir()) == []  # neither a file nor a temp


def test_cache_file_is_written_with_ordinary_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        preprocess_cifar(tiny_cifar(), cache_dir=tmp_path, log=lambda s: None, progress=False)
    finally:
        os.umask(umask)
    (path,) = (tmp_path / "preprocessed").iterdir()
    assert path.stat().st_mode & 0o777 == 0o644
