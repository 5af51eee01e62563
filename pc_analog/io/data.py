"""Datasets for training and benchmarking, read from local files only.

Nothing here downloads at run time. Three sources are supported:

- ``"digits"``: scikit-learn's bundled 8×8 handwritten digits (1797 samples, 64
  features, 10 classes), shipped inside the scikit-learn wheel; needs the ``data``
  extra (``pip install 'pc-analog[data]'``).
- ``"fashion-mnist"``: the four IDX files installed by the Debian package
  ``dataset-fashion-mnist`` in :data:`FASHION_MNIST_DIR`.
- ``"idx:PATH"``: any folder holding MNIST-style IDX files (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``,
  each optionally gzip-compressed).

Features are dimensionless intensities scaled to ``[0, 1]`` (float64); labels are
integer class indices ``0 … n_classes − 1``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pc_analog.errors import BackendUnavailableError, InvalidInputError
from pc_analog.io.idx import read_idx

__all__ = [
    "Dataset",
    "FASHION_MNIST_DIR",
    "DATASET_SPECS",
    "one_hot",
    "standardize",
    "shift_images",
    "check_shift_probability",
    "read_idx",
    "load_digits",
    "load_idx_dataset",
    "load_fashion_mnist",
    "load_dataset",
]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
"""Folder where Debian's ``dataset-fashion-mnist`` package installs its IDX files."""

DATASET_SPECS = ("digits", "fashion-mnist", "idx:PATH")
"""The dataset specifications understood by :func:`load_dataset`."""

_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_PIXEL_MAX = 255.0  # full scale of an 8-bit IDX image
_DIGITS_PIXEL_MAX = 16.0  # full scale of scikit-learn's 8x8 digits


@dataclass(frozen=True)
class Dataset:
    """A labelled classification dataset split into training and test parts.

    Parameters
    ----------
    x_train : ndarray of float64, shape (n_train, n_features)
        Training features, dimensionless intensities in ``[0, 1]``.
    y_train : ndarray of int64, shape (n_train,)
        Training labels, class indices in ``0 … n_classes − 1``.
    x_test : ndarray of float64, shape (n_test, n_features)
        Test features, scaled as ``x_train``.
    y_test : ndarray of int64, shape (n_test,)
        Test labels.
    n_classes : int
        Number of classes.
    name : str
        Short human-readable name (``"digits"``, ``"fashion-mnist"``, ...).
    raw_scale : float
        Full scale of the data set's raw features ``r`` (digits: pixel counts 0-16,
        so 16; IDX images: bytes, 255): the features are ``x = r / raw_scale``.
    image_shape : tuple of int or None
        ``(rows, cols)`` when each sample's features are a row-major image (digits
        ``(8, 8)``, IDX images their rows and columns), else ``None``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    name: str
    raw_scale: float = 1.0
    image_shape: tuple | None = None

    @property
    def n_features(self) -> int:
        """Number of features per sample (``x_train.shape[1]``)."""
        return int(self.x_train.shape[1])

    def raw(self, x: np.ndarray) -> np.ndarray:
        """The raw features of ``x`` (features of this data set): ``r = x * raw_scale``."""
        return np.asarray(x, dtype=np.float64) * self.raw_scale

    def one_hot_train(self) -> np.ndarray:
        """Training labels one-hot encoded, shape ``(n_train, n_classes)``; see :func:`one_hot`."""
        return one_hot(self.y_train, self.n_classes)

    def one_hot_test(self) -> np.ndarray:
        """Test labels one-hot encoded, shape ``(n_test, n_classes)``; see :func:`one_hot`."""
        return one_hot(self.y_test, self.n_classes)


def one_hot(labels, n_classes: int) -> np.ndarray:
    """Encode integer class labels as one-hot rows.

    ``Y[k, c] = 1`` if ``labels[k] == c`` else ``0``.

    Parameters
    ----------
    labels : array_like of int, shape (n,)
        Class indices in ``0 … n_classes − 1``.
    n_classes : int
        Number of classes (columns of the result).

    Returns
    -------
    ndarray of float64, shape (n, n_classes)

    Raises
    ------
    InvalidInputError
        If ``labels`` is not 1-D integer data or a label lies outside ``0 … n_classes − 1``.
    """
    labels = np.asarray(labels)
    n_classes = int(n_classes)
    if n_classes < 1:
        raise InvalidInputError(f"n_classes: must be >= 1, got {n_classes}")
    if labels.ndim != 1:
        raise InvalidInputError(f"labels: must be 1-D, got shape {labels.shape}")
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise InvalidInputError(f"labels: must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise InvalidInputError(
            f"labels: values must lie in 0..{n_classes - 1}, "
            f"got range {labels.min()}..{labels.max()}"
        )
    out = np.zeros((labels.size, n_classes), dtype=np.float64)
    out[np.arange(labels.size), labels.astype(np.intp)] = 1.0
    return out


def standardize(x_train, *others, per_feature: bool = False) -> tuple[np.ndarray, ...]:
    """Shift and scale features by offsets and gains taken from the training data.

    ``x' = (x - m) / s``.  By default ``m`` and ``s`` are the mean and standard deviation
    of *all* entries of ``x_train`` (scalars, not per feature): on the circuit this is one
    DC offset and one gain shared by every input driver, so it needs no per-pixel trim.
    With ``per_feature`` they are per column (an offset and a gain per input driver); a
    column constant over ``x_train`` keeps ``s = 1`` (it is only shifted, to zero).
    The other arrays (test data) are mapped with the training statistics.

    Parameters
    ----------
    x_train : array_like, shape (n, d)
    *others : array_like, shape (m, d)
    per_feature : bool

    Returns
    -------
    tuple of ndarray
        ``(x_train', *others', m, s)`` (``m``, ``s`` floats, or arrays of length ``d``
        with ``per_feature``).

    Raises
    ------
    InvalidInputError
        If ``x_train`` is empty or constant.
    """
    x_train = np.asarray(x_train, dtype=np.float64)
    if x_train.size == 0:
        raise InvalidInputError("standardize: the training data is empty")
    m, s = float(x_train.mean()), float(x_train.std())
    if not (s > 0 and np.isfinite(s)):
        raise InvalidInputError("standardize: the training data is constant (zero spread)")
    if per_feature:
        m = x_train.mean(axis=0)
        s = x_train.std(axis=0)
        # a column whose spread is lost in rounding (< 1e-9 of the data's) counts as constant
        s = np.where(s > 1e-9 * float(x_train.std()), s, 1.0)
    return (
        (x_train - m) / s,
        *((np.asarray(x, dtype=np.float64) - m) / s for x in others),
        m,
        s,
    )


def check_shift_probability(p) -> float:
    """``p`` as a float if it is a number in ``[0, 1]`` (the ``augment_shift`` of
    :func:`shift_images`), else :class:`InvalidInputError`."""
    if not (isinstance(p, (int, float)) and np.isfinite(p) and 0 <= p <= 1):
        raise InvalidInputError(f"augment_shift: must lie in [0, 1], got {p!r}")
    return float(p)


def shift_images(x, image_shape, p: float, rng) -> np.ndarray:
    """Move each sample's image by at most one pixel, with probability ``p``.

    Each row of ``x`` is a row-major image of ``image_shape``.  With probability ``p`` a
    sample gets a shift ``(dy, dx)`` drawn uniformly from ``{-1, 0, 1}^2`` (so no move
    with probability ``1/9`` even then), otherwise ``(0, 0)``: the result's pixel
    ``(i, j)`` is the input's ``(i + dy, j + dx)``, and ``0`` (the background of the
    features) where that lies outside the image.  The draws, in this order:
    ``rng.random(n)``, then ``rng.integers(-1, 2, size=(2, n))`` (``dy`` then ``dx``).
    A cheap training augmentation (the images of digits and clothing are not aligned
    to the pixel); ``p = 0`` returns ``x`` itself and draws nothing.
    """
    x = np.asarray(x, dtype=np.float64)
    p = check_shift_probability(p)
    if image_shape is None or x.ndim != 2 or x.shape[1] != int(np.prod(image_shape)):
        raise InvalidInputError(
            f"augment_shift: needs image samples, got features of shape {x.shape} "
            f"(image shape {image_shape})"
        )
    if p == 0:
        return x
    rng = np.random.default_rng(rng)
    n, (rows, cols) = x.shape[0], image_shape
    moved = rng.random(n) < p
    dy, dx = rng.integers(-1, 2, size=(2, n)) * moved
    padded = np.pad(x.reshape(n, rows, cols), ((0, 0), (1, 1), (1, 1)))
    i = np.arange(rows)[None, :, None] + 1 + dy[:, None, None]
    j = np.arange(cols)[None, None, :] + 1 + dx[:, None, None]
    return padded[np.arange(n)[:, None, None], i, j].reshape(n, rows * cols)


def _stratified_split(
    y: np.ndarray, test_fraction: float, seed: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a stratified train/test split.

    Each class with ``n_c`` members contributes ``round(test_fraction · n_c)`` test
    samples (at least one when ``n_c >= 2``), chosen by a permutation drawn from
    ``numpy.random.default_rng(seed)``. Both index arrays are sorted.
    """
    rng = np.random.default_rng(seed)
    train_idx: list[np.ndarray] = []
    test_idx: list[np.ndarray] = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        members = members[rng.permutation(members.size)]
        n_test = int(round(test_fraction * members.size))
        if members.size >= 2:
            n_test = min(max(n_test, 1), members.size - 1)
        test_idx.append(members[:n_test])
        train_idx.append(members[n_test:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(test_idx))


def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``(pixel counts (1797, 64), labels)``.

    Read straight from the ``digits.csv.gz`` the scikit-learn wheel ships (the file
    ``sklearn.datasets.load_digits`` reads; 64 counts and the label per row), found
    without importing scikit-learn, whose import costs seconds; if the file is not
    where the wheel puts it, through ``sklearn.datasets.load_digits``.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise BackendUnavailableError(
            "the digits dataset needs scikit-learn: pip install 'pc-analog[data]'"
        )
    for root in spec.submodule_search_locations or ():
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",")
            return table[:, :-1], table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def load_digits(test_fraction: float = 0.2, seed: int | None = 0) -> Dataset:
    """Load scikit-learn's 8×8 handwritten digits with a stratified split.

    Features are the 64 pixel counts divided by their full scale, ``x = counts / 16``,
    so they lie in ``[0, 1]``. The split is stratified: each class keeps the fraction
    ``test_fraction`` of its samples (rounded) in the test part.

    Parameters
    ----------
    test_fraction : float, default 0.2
        Fraction of each class held out for testing, in the open interval ``(0, 1)``.
    seed : int or None, default 0
        Seed of the ``numpy.random.default_rng`` that draws the split; the same seed
        gives the same split.

    Returns
    -------
    Dataset
        1797 samples in total, 64 features, 10 classes, ``name="digits"``.

    Raises
    ------
    BackendUnavailableError
        If scikit-learn is not installed.
    InvalidInputError
        If ``test_fraction`` is not in ``(0, 1)``.
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise InvalidInputError(f"test_fraction: must lie in (0, 1), got {test_fraction}")
    counts, y = _digits_raw()
    x = counts / _DIGITS_PIXEL_MAX
    train, test = _stratified_split(y, float(test_fraction), seed)
    return Dataset(
        x_train=x[train],
        y_train=y[train],
        x_test=x[test],
        y_test=y[test],
        n_classes=10,
        name="digits",
        raw_scale=_DIGITS_PIXEL_MAX,
        image_shape=(8, 8),
    )


def _find_idx(directory: Path, stem: str) -> Path:
    """The path of ``stem`` or ``stem.gz`` in ``directory`` (plain file preferred)."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise InvalidInputError(f"{directory / stem}[.gz]: missing IDX file")


def _images_to_features(images: np.ndarray, path: Path, shapes: set) -> np.ndarray:
    """Flatten ``(n, rows, cols)`` uint8 images to ``(n, rows·cols)`` floats ``pixel / 255``;
    ``(rows, cols)`` is added to ``shapes`` (``None`` for other than 2-D images)."""
    if images.ndim < 2:
        raise InvalidInputError(
            f"{path}: images must have at least 2 dimensions, got shape {images.shape}"
        )
    if images.dtype != np.uint8:
        raise InvalidInputError(f"{path}: images must be uint8 (IDX code 0x08), got {images.dtype}")
    shapes.add(tuple(int(k) for k in images.shape[1:]) if images.ndim == 3 else None)
    n_features = int(np.prod(images.shape[1:]))
    return images.reshape(images.shape[0], n_features).astype(np.float64) / _PIXEL_MAX


def _labels_to_int(labels: np.ndarray, path: Path) -> np.ndarray:
    """Check that labels are a 1-D integer array and return them as int64."""
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise InvalidInputError(
            f"{path}: labels must be a 1-D integer array, got shape {labels.shape} "
            f"of {labels.dtype}"
        )
    if labels.size and labels.min() < 0:
        raise InvalidInputError(f"{path}: labels must be >= 0, got {labels.min()}")
    return labels.astype(np.int64)


def _check_limit(name: str, limit: int | None) -> int | None:
    if limit is None:
        return None
    if int(limit) != limit or limit < 0:
        raise InvalidInputError(f"{name}: must be a non-negative integer or None, got {limit!r}")
    return int(limit)


def load_idx_dataset(
    directory,
    name: str | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    n_classes: int | None = None,
) -> Dataset:
    """Load an MNIST-style dataset from a folder of IDX files.

    The folder must hold ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally with a
    ``.gz`` suffix. Images (uint8, shape ``(n, rows, cols)``) become features
    ``x = pixel / 255`` of shape ``(n, rows·cols)``.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder holding the four files.
    name : str, optional
        Name stored in the result; defaults to the folder's name.
    limit_train, limit_test : int, optional
        Keep only the first ``limit_train`` training and ``limit_test`` test samples
        (in file order); ``None`` keeps all.
    n_classes : int, optional
        Number of classes; defaults to ``1 + max label`` over both parts.

    Returns
    -------
    Dataset

    Raises
    ------
    InvalidInputError
        If the folder or a file is missing (the message names the path), a file is
        malformed, or images and labels disagree in count or feature size.
    """
    directory = Path(os.fspath(directory))
    limit_train = _check_limit("limit_train", limit_train)
    limit_test = _check_limit("limit_test", limit_test)
    if not directory.is_dir():
        raise InvalidInputError(f"{directory}: no such dataset folder")
    paths = {key: _find_idx(directory, stem) for key, stem in _IDX_FILES.items()}

    parts, shapes = {}, set()
    for split, limit in (("train", limit_train), ("test", limit_test)):
        ipath, lpath = paths[f"{split}_images"], paths[f"{split}_labels"]
        x = _images_to_features(read_idx(ipath, count=limit), ipath, shapes)
        y = _labels_to_int(read_idx(lpath, count=limit), lpath)
        if x.shape[0] != y.shape[0]:
            raise InvalidInputError(
                f"{lpath}: {y.shape[0]} labels but {ipath.name} holds {x.shape[0]} images"
            )
        if x.shape[0] == 0 and limit != 0:
            raise InvalidInputError(f"{ipath}: holds no images (an empty {split} part)")
        parts[split] = (x, y)

    (x_train, y_train), (x_test, y_test) = parts["train"], parts["test"]
    if x_train.shape[1] != x_test.shape[1]:
        raise InvalidInputError(
            f"{paths['test_images']}: {x_test.shape[1]} features per image but the "
            f"training images have {x_train.shape[1]}"
        )
    max_label = max([int(y.max()) for y in (y_train, y_test) if y.size] or [-1])
    if n_classes is None:
        n_classes = max_label + 1
    elif max_label >= n_classes:
        raise InvalidInputError(
            f"n_classes: {n_classes} is too small for label {max_label} in {directory}"
        )
    return Dataset(
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        n_classes=int(n_classes),
        name=name if name is not None else directory.name,
        raw_scale=_PIXEL_MAX,
        image_shape=shapes.pop() if len(shapes) == 1 else None,
    )


def load_fashion_mnist(
    directory=None, limit_train: int | None = None, limit_test: int | None = None
) -> Dataset:
    """Load Fashion-MNIST (28×28 grey images of clothing, 10 classes) from local files.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder with the four IDX files; defaults to :data:`FASHION_MNIST_DIR`, where
        the Debian package ``dataset-fashion-mnist`` installs them.
    limit_train, limit_test : int, optional
        Keep only the first samples of each part (the full set is 60000 + 10000).

    Returns
    -------
    Dataset
        784 features ``pixel / 255``, 10 classes, ``name="fashion-mnist"``.

    Raises
    ------
    InvalidInputError
        If the folder is missing (the message says how to install the Debian
        package) or its files are missing or malformed.
    """
    if directory is None:
        directory = FASHION_MNIST_DIR
        if not Path(directory).is_dir():
            raise InvalidInputError(
                f"{directory}: Fashion-MNIST not found; install the Debian package "
                "dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass "
                "the folder holding its IDX files"
            )
    return load_idx_dataset(
        directory,
        name="fashion-mnist",
        limit_train=limit_train,
        limit_test=limit_test,
        n_classes=10,
    )


def load_dataset(spec: str, **kw) -> Dataset:
    """Load a dataset by its specification string.

    Parameters
    ----------
    spec : str
        ``"digits"`` (:func:`load_digits`), ``"fashion-mnist"``
        (:func:`load_fashion_mnist`) or ``"idx:PATH"`` (:func:`load_idx_dataset` on
        the folder ``PATH``).
    **kw
        Passed on to the loader.

    Returns
    -------
    Dataset

    Raises
    ------
    InvalidInputError
        If ``spec`` is not one of the forms above, or the loader rejects its input.
    """
    if not isinstance(spec, str):
        raise InvalidInputError(f"dataset: must be a string, got {type(spec).__name__}")
    if spec == "digits":
        return load_digits(**kw)
    if spec == "fashion-mnist":
        return load_fashion_mnist(**kw)
    if spec.startswith("idx:"):
        path = spec[len("idx:") :]
        if not path:
            raise InvalidInputError("dataset: 'idx:' needs a folder, as in idx:PATH")
        return load_idx_dataset(path, **kw)
    raise InvalidInputError(f"dataset: unknown {spec!r}; valid: {', '.join(DATASET_SPECS)}")
