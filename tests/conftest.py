"""Shared fixtures and generators for every test folder.

Fixtures (pytest finds them here) and plain helpers, imported by the test files as
``from conftest import ...`` (``pythonpath = ["tests"]`` in pyproject.toml): the map and
image generators, the array layouts, the array-like stand-ins, the three public functions
with fixed options, and the CPU-feature checks for the SIMD tests. Anything two test
files need lives here, once.
"""

from __future__ import annotations

import platform
import re
import sys
import threading
import time
import warnings
import zlib
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import anomaly_postprocess as ap

# OpenCV's own threads only add noise on a 2-core machine; results do not depend on them.
cv2.setNumThreads(1)


# =========================================================================== fixtures


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's id: reproducible, and different per test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def make_blobby_map(rng: np.random.Generator) -> Callable[..., np.ndarray]:
    return lambda shape, dtype=np.float64: blobby_map(rng, shape, dtype)


@pytest.fixture
def restore_threads() -> Iterator[None]:
    """Puts the thread count back after a test that changes it."""
    original = ap.get_num_threads()
    yield
    ap.set_num_threads(original)


def _inputs_as_arrays(inputs: tuple[Any, ...]) -> list[np.ndarray]:
    return [x for x in inputs if isinstance(x, np.ndarray)]


@pytest.fixture
def check_fresh_output() -> Callable[..., None]:
    """Asserts the output rules of docs/behaviour.md#memory: a new C-contiguous uint8
    array owning its memory, sharing none with any input array."""

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


class Unmodified:
    """``with Unmodified(a, b): call(a, b)`` asserts the arrays are unchanged (bytes,
    dtype, shape, strides and flags) afterwards, unless the block raised."""

    def __init__(self, *arrays: Any) -> None:
        self.arrays = [a for a in arrays if isinstance(a, np.ndarray)]

    def __enter__(self) -> None:
        self.snapshots = [
            (a.copy(order="K"), a.dtype, a.shape, a.strides, a.flags.writeable) for a in self.arrays
        ]

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            return
        for a, (copy, dtype, shape, strides, writeable) in zip(
            self.arrays, self.snapshots, strict=True
        ):
            assert a.dtype == dtype and a.shape == shape and a.strides == strides
            assert a.flags.writeable == writeable
            if a.dtype.kind in "biufc":  # values; other kinds are compared by their bytes
                assert np.array_equal(a, copy, equal_nan=a.dtype.kind in "fc")
            assert a.tobytes() == copy.tobytes()


@pytest.fixture
def unmodified() -> type[Unmodified]:
    """``with unmodified(a, b): call(a, b)``: see ``Unmodified``."""
    return Unmodified


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


# ========================================================================= generators


def blobby_map(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float64
) -> np.ndarray:
    """Gaussian-smoothed noise in [0, 1) with a random blur: thresholding it gives blobs
    of many sizes and specks (the mask tests' maps)."""
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


def smooth_maps(shape: tuple[int, ...], seed: int, dtype: Any = np.float32) -> np.ndarray:
    """Box-smoothed noise in [0, 1), each map normalised on its own, from a seed (the
    runtime tests' maps: cheap, and any shape)."""
    rng = np.random.default_rng(seed)
    m = rng.random(shape)
    for axis in (-1, -2):
        m = (m + np.roll(m, 1, axis) + np.roll(m, 2, axis) + np.roll(m, -1, axis)) / 4
    lo = m.min(axis=(-2, -1), keepdims=True)
    hi = m.max(axis=(-2, -1), keepdims=True)
    return ((m - lo) / (hi - lo) * 0.999).astype(dtype)


def random_image(source: np.random.Generator | int, shape: tuple[int, ...]) -> np.ndarray:
    """A random uint8 RGB image ``shape + (3,)`` from a generator or a seed."""
    return np.random.default_rng(source).integers(0, 256, (*shape, 3), dtype=np.uint8)


def random_mask(rng: np.random.Generator, shape: tuple[int, ...], density: float) -> np.ndarray:
    """A uint8 0/255 mask whose pixels are set with probability ``density``."""
    return (rng.random(shape) < density).astype(np.uint8) * 255


# The small (9, 11) maps of the input-handling tables (bad_inputs/, the accepted rows in
# parity/, the layouts in runtime/test_strides.py).
SMALL_H, SMALL_W = 9, 11


def base_values(shape: tuple[int, ...] = (SMALL_H, SMALL_W), seed: int = 0) -> np.ndarray:
    """float64 values in [0, 1) with a few exact 0.5s (the default threshold's edge)."""
    values = np.random.default_rng(seed).random(shape)
    values.reshape(-1)[::7] = 0.5
    return values


def base_image(shape: tuple[int, ...] = (SMALL_H, SMALL_W), seed: int = 1) -> np.ndarray:
    return random_image(seed, shape)


def map_values(dtype: str, shape: tuple[int, ...] = (SMALL_H, SMALL_W)) -> np.ndarray:
    """``base_values`` in ``dtype``: floats keep [0, 1); integers and bools get values of
    their own range."""
    values = base_values(shape)
    kind = np.dtype(dtype).kind
    if kind == "f":
        return values.astype(dtype)
    if kind == "b":
        return values > 0.5
    info = np.iinfo(dtype)
    low, high = max(int(info.min), -1000), min(int(info.max), 1000)
    return np.rint(low + values * (high - low)).astype(dtype)


def clean_copy(array: np.ndarray) -> np.ndarray:
    """A C-contiguous, aligned, native-endian float copy in the dtype the map is computed
    in (docs/behaviour.md#dtypes: float16 as float32, integers and bool as float64)."""
    kind, size = array.dtype.kind, array.dtype.itemsize
    dtype = np.float32 if kind == "f" and size <= 4 else np.float64
    return np.ascontiguousarray(array, dtype=dtype)


# Maps whose values stress the arithmetic: constant, huge, subnormal, a range that
# overflows, integer extremes. (The colour, overlay and mask parity tests each use them.)
EXTREME_MAPS: dict[str, np.ndarray] = {
    "constant negative": np.full((SMALL_H, SMALL_W), -5.0),
    "negative": -base_values(),
    "huge": base_values() * 1e300,
    "huge negative": base_values() * -1e300,
    "range overflows f64": np.where(base_values() > 0.5, 1.7e308, -1.7e308),  # inf/inf
    "range overflows f32": np.where(
        base_values() > 0.5, np.finfo(np.float32).max, np.finfo(np.float32).min
    ).astype(np.float32),
    "subnormal": base_values() * 1e-310,
    "tiny constant": np.full((SMALL_H, SMALL_W), np.finfo(np.float64).tiny),
    "int64 extremes": np.array([[np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0]]),
    "uint64 extremes": np.array([[0, np.iinfo(np.uint64).max]], np.uint64),
    "int8 extremes": np.array([[-128, 127]], np.int8),
}


# ============================================================================ layouts


def misaligned(array: np.ndarray) -> np.ndarray:
    """The same values in a view that starts one byte into a uint8 buffer."""
    buffer = np.zeros(array.nbytes + 1, np.uint8)
    view = buffer[1:].view(array.dtype).reshape(array.shape)
    view[...] = array
    if array.dtype.itemsize > 1 and array.size:
        assert not view.flags.aligned
    return view


def read_only(array: np.ndarray) -> np.ndarray:
    """Makes ``array`` read-only (in place, keeping its layout) and returns it."""
    array.flags.writeable = False
    return array


def negative_strides(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array[..., ::-1, ::-1])[..., ::-1, ::-1]


def stepped(array: np.ndarray) -> np.ndarray:
    """Every other row and every third column of a larger array."""
    big = np.zeros((*array.shape[:-2], array.shape[-2] * 2, array.shape[-1] * 3), array.dtype)
    big[..., ::2, ::3] = array
    return big[..., ::2, ::3]


def transposed(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.swapaxes(array, -1, -2)).swapaxes(-1, -2)


def zero_strides(array: np.ndarray) -> np.ndarray:
    """Every row the first row: a broadcast view with a zero row stride (read-only)."""
    return np.broadcast_to(array[..., :1, :], array.shape)


def batch_of_one_broadcast(array: np.ndarray) -> np.ndarray:
    """A batch of three copies of the map that all share its memory (zero batch stride)."""
    return np.broadcast_to(array, (3, *array.shape))


def misaligned_big_endian_reversed(array: np.ndarray) -> np.ndarray:
    swapped = array.astype(array.dtype.newbyteorder(">" if sys.byteorder == "little" else "<"))
    return misaligned(swapped[..., ::-1, :])[..., ::-1, :]


# ======================================================================= array-likes


class ArrayLike:
    """An object with only ``__array__`` (numpy 2 signature) holding an array."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.array if dtype is None else self.array.astype(dtype)


class TensorLike:
    """A minimal stand-in for a CPU tensor: only ``__array__`` (numpy 2 signature),
    honouring ``copy=`` and counting its calls."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = array
        self.calls = 0

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        self.calls += 1
        if copy:
            return np.array(self._array, dtype=dtype, copy=True)
        return self._array if dtype is None else self._array.astype(dtype, copy=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._array.shape


class InterfaceOnly:
    """Exposes its data through ``__array_interface__`` only."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = array
        self.__array_interface__ = array.__array_interface__


class BrokenArray:
    """``__array__`` that fails: the error must come back as a clean TypeError."""

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("no array here")


class FloatSubclass(float):
    """A float subclass: a real number, but numpy does not treat it as a "weak" Python
    float (NEP 50): ``float32_map > FloatSubclass(0.3)`` compares in float64."""


class Weird:
    """Not a number, whatever it pretends."""

    def __float__(self) -> float:
        return 0.5

    def __index__(self) -> int:
        return 1


# ============================================================ the functions, uniformly

# The three functions with fixed options, as f(maps, image, **kwargs); ``image`` is
# ignored by the two that take none. (The runtime tests run each feature through all.)
FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "color": lambda m, image, **kw: ap.anomaly_map_to_color_map(m, **kw),
    "color raw": lambda m, image, **kw: ap.anomaly_map_to_color_map(m, False, **kw),
    "superimpose": lambda m, image, **kw: ap.superimpose_anomaly_map(m, image, **kw),
    "superimpose opts": lambda m, image, **kw: ap.superimpose_anomaly_map(
        m, image, 0.7, 3, True, **kw
    ),
    "mask": lambda m, image, **kw: ap.compute_mask(m, 0.5, **kw),
    "mask r2": lambda m, image, **kw: ap.compute_mask(m, 0.3, kernel_size=2, **kw),
    "mask r0": lambda m, image, **kw: ap.compute_mask(m, 0.6, 0, **kw),
}

# The runtime tests' map size: odd, so no row is a multiple of a vector width.
ODD_H, ODD_W = 37, 53


def result_shape(name: str, maps_shape: tuple[int, ...]) -> tuple[int, ...]:
    return maps_shape if name.startswith("mask") else maps_shape + (3,)


def assert_same_bytes(actual: np.ndarray, expected: np.ndarray) -> None:
    assert isinstance(actual, np.ndarray)
    assert actual.dtype == np.uint8 and expected.dtype == np.uint8
    assert actual.shape == expected.shape
    assert np.array_equal(actual, expected)
    assert actual.tobytes() == expected.tobytes()


def assert_result(result: Any, expected: np.ndarray) -> None:
    """An accepted input's result: a uint8 array equal to ``expected`` (the oracle)."""
    assert isinstance(result, np.ndarray) and result.dtype == np.uint8
    assert result.shape == expected.shape, (result.shape, expected.shape)
    assert np.array_equal(result, expected)


def assert_rejected(
    call: Callable[[], Any],
    argument: str,
    exc: type[Exception],
    *patterns: str,
    inputs: Iterable[Any] = (),
) -> str:
    """The one idiom of the bad-input tests (docs/behaviour.md#errors): ``call()``
    raises exactly ``exc`` (TypeError or ValueError) whose message names ``argument``
    and matches every regex in ``patterns``; no array in ``inputs`` is modified.
    Returns the message."""
    assert exc in (TypeError, ValueError)
    with Unmodified(*inputs), pytest.raises(Exception) as info:  # the type is checked below
        call()
    error = info.value
    assert type(error) is exc, f"{type(error).__name__}: {error}"
    message = str(error)
    assert re.search(rf"\b{re.escape(argument)}\b", message), (argument, message)
    for pattern in patterns:
        assert re.search(pattern, message), (pattern, message)
    return message


# ===================================================================== the CLI's files


def read_png(path: Path) -> np.ndarray:
    """The pixels of the PNG file at ``path`` (Pillow, imported here: only the CLI
    tests need it)."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image)


def error_lines(stderr: str) -> list[str]:
    """The non-blank lines of a command's standard error."""
    return [line for line in stderr.splitlines() if line.strip()]


# ============================================================== CPU features (SIMD)


@cache
def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags as Linux reports them (``None`` where it cannot be read).
    The kernel lists AVX-512 flags only when the OS also saves the AVX-512 registers,
    which is what the package's run-time detection checks too."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


def skip_unless_cpu_has(*flags: str, loops: str) -> None:
    """Skips the calling test, with the reason, if the hand-written ``loops`` cannot run
    here: a comparison of them with the portable loops would compare the portable loops
    with themselves."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"not x86-64 ({platform.machine()}): there are no hand-written {loops}")
    available = cpu_flags()
    if available is None:
        pytest.skip(f"cannot read the CPU flags (/proc/cpuinfo): {loops} not known to run")
    missing = [flag for flag in flags if flag not in available]
    if missing:
        names = ", ".join(f"AVX-512 {flag.removeprefix('avx512').upper()}" for flag in missing)
        pytest.skip(f"CPU lacks {names}: only the portable loops can run ({loops})")


# ============================================================================= the GIL


def another_thread_ran_during(
    call: Callable[[], Any], iterations: int = 100, patience: float = 10.0
) -> bool:
    """Whether a second Python thread got to run while ``call`` was looping.

    With a huge switch interval, the interpreter never forces a GIL hand-over, so the
    second thread runs only if ``call`` releases the GIL itself. ``call`` runs at least
    ``iterations`` times, and until the other thread has run or ``patience`` seconds have
    passed: on a loaded machine the OS may take many calls to schedule that thread at a
    moment the GIL is free. (A call that holds the GIL never lets it run, however long.)
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        ran = threading.Event()
        seen: list[bool] = []

        def looping() -> None:
            deadline = time.monotonic() + patience
            done = 0
            while True:
                call()
                done += 1
                if ran.is_set() or (done >= iterations and time.monotonic() >= deadline):
                    break
            seen.append(ran.is_set())

        a = threading.Thread(target=looping)
        b = threading.Thread(target=ran.set)
        a.start()
        b.start()
        a.join()
        b.join()
        return seen[0]
    finally:
        sys.setswitchinterval(old)
