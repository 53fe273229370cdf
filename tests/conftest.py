"""Shared fixtures for the parity and input-handling tests."""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import pytest

# OpenCV's own threads only add noise on a 2-core machine; results do not depend on them.
cv2.setNumThreads(1)


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's id: reproducible, and different per test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def blobby_map(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float64
) -> np.ndarray:
    """Smoothed noise in [0, 1): thresholding it gives blobs of many sizes and specks."""
    noise = rng.random(shape)
    if shape[-1] > 1 and shape[-2] > 1:
        sigma = float(rng.uniform(0.5, 4.0))
        flat = noise.reshape((-1,) + shape[-2:])
        flat = np.stack([cv2.GaussianBlur(m, (0, 0), sigma) for m in flat])
        noise = flat.reshape(shape)
        lo, hi = noise.min(), noise.max()
        if hi > lo:
            noise = (noise - lo) / (hi - lo) * 0.999
    return noise.astype(dtype)


@pytest.fixture
def make_blobby_map(rng: np.random.Generator) -> Callable[..., np.ndarray]:
    return lambda shape, dtype=np.float64: blobby_map(rng, shape, dtype)


def _inputs_as_arrays(inputs: tuple[Any, ...]) -> list[np.ndarray]:
    return [x for x in inputs if isinstance(x, np.ndarray)]


@pytest.fixture
def check_fresh_output() -> Callable[..., None]:
    """Asserts SPEC §4's output rules: a new C-contiguous uint8 array owning its memory,
    sharing none with any input array."""

    def check(out: Any, *inputs: Any) -> None:
        assert isinstance(out, np.ndarray)
        assert type(out) is np.ndarray
        assert out.dtype == np.uint8
        assert out.flags.c_contiguous
        assert out.flags.owndata
        assert out.flags.writeable
        for x in _inputs_as_arrays(inputs):
            assert not np.shares_memory(out, x)

    return check


@pytest.fixture
def unmodified() -> Callable[..., Any]:
    """``with unmodified(a, b): call(a, b)`` asserts the arrays are unchanged (bytes,
    dtype, shape, strides and flags) afterwards."""

    class _Guard:
        def __init__(self, *arrays: np.ndarray) -> None:
            self.arrays = [a for a in arrays if isinstance(a, np.ndarray)]

        def __enter__(self) -> None:
            self.snapshots = [
                (a.copy(order="K"), a.dtype, a.shape, a.strides, a.flags.writeable)
                for a in self.arrays
            ]

        def __exit__(self, *exc: object) -> None:
            if exc[0] is not None:
                return
            for a, (copy, dtype, shape, strides, writeable) in zip(
                self.arrays, self.snapshots, strict=True
            ):
                assert a.dtype == dtype and a.shape == shape and a.strides == strides
                assert a.flags.writeable == writeable
                assert np.array_equal(a, copy, equal_nan=a.dtype.kind in "fc")
                assert a.tobytes() == copy.tobytes()

    return _Guard


@pytest.fixture
def no_warnings() -> Any:
    """Context manager: any warning raised inside fails the test."""

    class _NoWarnings:
        def __enter__(self) -> None:
            self.catcher = warnings.catch_warnings(record=True)
            self.caught = self.catcher.__enter__()
            warnings.simplefilter("always")

        def __exit__(self, *exc: object) -> None:
            self.catcher.__exit__(*exc)
            assert [str(w.message) for w in self.caught] == []

    return _NoWarnings()
