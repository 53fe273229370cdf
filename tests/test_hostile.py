"""Hostile inputs for every parameter of every public function.

Each parameter gets wrong types, wrong dtypes, wrong ndim, empty values, non-finite,
negative and huge values, None, strings and bools, and every array argument also gets
odd layouts: read-only, big-endian, Fortran order, negative strides, zero strides
(``np.broadcast_to``), misaligned views, float16, integer and bool data.

The only acceptable outcomes are the right answer (the same call on a clean,
contiguous, native copy, and the oracle of ``tests/reference.py``) or a ``TypeError`` /
``ValueError`` whose message names the parameter. Never a crash, a Rust panic or any
other exception type.
"""

from __future__ import annotations

import math
import operator
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from reference import (
    spec_anomaly_map_to_color_map,
    spec_canonical_maps,
    spec_compute_mask,
    spec_superimpose_anomaly_map,
)

H, W = 9, 11
OK = "ok"
Outcome = Any  # OK, an exception type, or a tuple of acceptable ones


def base_values(shape: tuple[int, ...] = (H, W), seed: int = 0) -> np.ndarray:
    """float64 values in [0, 1) with a few exact 0.5s (the default threshold's edge)."""
    values = np.random.default_rng(seed).random(shape)
    values.reshape(-1)[::7] = 0.5
    return values


def base_image(shape: tuple[int, ...] = (H, W), seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def check_rejected(call: Callable[[], Any], name: str, exc: Any = (TypeError, ValueError)) -> str:
    """``call`` raises ``exc`` (TypeError/ValueError, a builtin, not a panic or a
    subclass from elsewhere) whose message names ``name``. Returns the message."""
    with pytest.raises(Exception) as info:  # the exact type is checked below
        call()
    error = info.value
    assert isinstance(error, exc), f"{type(error).__name__}: {error}"
    assert type(error) in (TypeError, ValueError), f"{type(error)!r}: {error}"
    message = str(error)
    assert name in message, (name, message)
    return message


def check_outcome(
    call: Callable[[], np.ndarray], name: str, outcome: Outcome, expected: Callable[[], Any]
) -> None:
    """``outcome`` is OK (compare with ``expected()``), an exception type, or a tuple
    mixing them (any of which is acceptable)."""
    options = outcome if isinstance(outcome, tuple) else (outcome,)
    errors = tuple(o for o in options if o is not OK)
    if OK not in options:
        check_rejected(call, name, errors)
        return
    try:
        result = call()
    except Exception as error:
        assert errors and isinstance(error, errors), f"{type(error).__name__}: {error}"
        assert type(error) in (TypeError, ValueError), f"{type(error)!r}: {error}"
        assert name in str(error), (name, str(error))
        return
    want = expected()
    assert isinstance(result, np.ndarray) and result.dtype == np.uint8
    assert result.shape == want.shape, (result.shape, want.shape)
    assert np.array_equal(result, want)


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    before = ap.get_num_threads()
    yield
    ap.set_num_threads(before)


# ------------------------------------------------------------------- array layouts


def misaligned(array: np.ndarray) -> np.ndarray:
    """The same values in a view that starts one byte into a uint8 buffer."""
    buffer = np.zeros(array.nbytes + 1, np.uint8)
    view = buffer[1:].view(array.dtype).reshape(array.shape)
    view[...] = array
    if array.dtype.itemsize > 1 and array.size:
        assert not view.flags.aligned
    return view


def read_only(array: np.ndarray) -> np.ndarray:
    array = array.copy()
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


LAYOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "contiguous": lambda a: a,
    "read-only": read_only,
    "fortran": np.asfortranarray,
    "negative strides": negative_strides,
    "stepped": stepped,
    "transposed": transposed,
    "zero strides": zero_strides,
    "broadcast batch": batch_of_one_broadcast,
    "misaligned": misaligned,
    "misaligned big-endian negative": misaligned_big_endian_reversed,
}

# Values in [0, 1) for the floats; integers and bools get values of their own range.
MAP_DTYPES = [
    "<f2",
    "<f4",
    "<f8",
    ">f2",
    ">f4",
    ">f8",
    "|i1",
    "|u1",
    ">i2",
    "<i4",
    "<i8",
    ">u8",
    "|b1",
]


def map_values(dtype: str, shape: tuple[int, ...] = (H, W)) -> np.ndarray:
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
    in (SPEC §4: float16 as float32, integers and bool as float64)."""
    kind, size = array.dtype.kind, array.dtype.itemsize
    dtype = np.float32 if kind == "f" and size <= 4 else np.float64
    return np.ascontiguousarray(array, dtype=dtype)


def mask_threshold(dtype: str) -> Any:
    """A threshold in the middle of the values (0.5 hits exact ties for the floats)."""
    kind = np.dtype(dtype).kind
    return 0.5 if kind in "fb" else 3


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", MAP_DTYPES)
@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_map_layouts_and_dtypes(dtype: str, layout: str, batch: bool) -> None:
    """Every map dtype in every layout: the same bytes as a clean contiguous copy, and as
    the oracle. Integers are computed as float64 (exact for these values), so the mask
    of the clean float64 copy is the same as the integer comparison."""
    shape = (2, H, W) if batch else (H, W)
    m = LAYOUTS[layout](map_values(dtype, shape))
    clean = clean_copy(m)
    image = base_image()
    threshold = mask_threshold(dtype)
    before = m.copy()

    color = ap.anomaly_map_to_color_map(m, normalize=True)
    assert np.array_equal(color, ap.anomaly_map_to_color_map(clean, normalize=True))
    assert np.array_equal(color, spec_anomaly_map_to_color_map(m, True))
    raw = ap.anomaly_map_to_color_map(m, normalize=False)
    assert np.array_equal(raw, ap.anomaly_map_to_color_map(clean, normalize=False))
    assert np.array_equal(raw, spec_anomaly_map_to_color_map(m, False))

    over = ap.superimpose_anomaly_map(m, image, 0.3, 7, True)
    assert np.array_equal(over, ap.superimpose_anomaly_map(clean, image, 0.3, 7, True))
    assert np.array_equal(over, spec_superimpose_anomaly_map(m, image, 0.3, 7, True))

    for kernel_size in (0, 1, 3):
        mask = ap.compute_mask(m, threshold, kernel_size)
        assert np.array_equal(mask, ap.compute_mask(clean, threshold, kernel_size))
        assert np.array_equal(mask, spec_compute_mask(m, threshold, kernel_size))

    assert np.array_equal(m, before)  # the input is never written to


# ---------------------------------------------------------------------- image layouts


def image_zero_strides(image: np.ndarray) -> np.ndarray:
    return np.broadcast_to(image[:1, :1], image.shape)


def image_misaligned_stepped(image: np.ndarray) -> np.ndarray:
    """Interleaved in a buffer that starts one byte in: pixel stride 7, odd offsets."""
    buffer = np.zeros(1 + image.shape[0] * image.shape[1] * 7 + 8, np.uint8)
    view = np.lib.stride_tricks.as_strided(
        buffer[1:], shape=image.shape, strides=(image.shape[1] * 7, 7, 1)
    )
    view[...] = image
    return view


IMAGE_LAYOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "contiguous": lambda a: a,
    "read-only": read_only,
    "fortran": np.asfortranarray,
    "negative strides": lambda a: np.ascontiguousarray(a[::-1, ::-1, ::-1])[::-1, ::-1, ::-1],
    "zero strides": image_zero_strides,
    "misaligned stepped": image_misaligned_stepped,
    "explicit byte order": lambda a: a.astype(">u1"),
    "leading singleton axes": lambda a: a[None, None],
}


@pytest.mark.parametrize("layout", list(IMAGE_LAYOUTS))
def test_image_layouts(layout: str) -> None:
    m = base_values()
    image = IMAGE_LAYOUTS[layout](base_image())
    clean = np.ascontiguousarray(image.reshape(H, W, 3))
    before = image.copy()
    out = ap.superimpose_anomaly_map(m, image, 0.6, -3, False)
    assert np.array_equal(out, ap.superimpose_anomaly_map(m, clean, 0.6, -3, False))
    assert np.array_equal(out, spec_superimpose_anomaly_map(m, clean, 0.6, -3, False))
    maps = np.stack([m, 1 - m])  # a batch over one image
    out = ap.superimpose_anomaly_map(maps, image, 0.6, -3, False)
    assert np.array_equal(out, spec_superimpose_anomaly_map(maps, clean, 0.6, -3, False))
    assert np.array_equal(image, before)


def test_image_batch_with_zero_batch_stride() -> None:
    maps = np.stack([base_values(seed=s) for s in range(3)])
    image = base_image()
    images = np.broadcast_to(image, (3, H, W, 3))
    out = ap.superimpose_anomaly_map(maps, images)
    assert np.array_equal(out, ap.superimpose_anomaly_map(maps, image))
    assert np.array_equal(out, spec_superimpose_anomaly_map(maps, image))


# --------------------------------------------------------------- map values and shapes


@pytest.mark.parametrize(
    "values",
    [
        np.full((H, W), -5.0),
        -base_values(),
        base_values() * 1e300,
        base_values() * -1e300,
        np.where(base_values() > 0.5, 1.7e308, -1.7e308),  # the range overflows: inf/inf
        np.where(base_values() > 0.5, np.finfo(np.float32).max, np.finfo(np.float32).min).astype(
            np.float32
        ),
        (base_values() * 1e-310),  # subnormal
        np.full((H, W), np.finfo(np.float64).tiny),
        np.array([[np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0]]),
        np.array([[0, np.iinfo(np.uint64).max]], np.uint64),
        np.array([[-128, 127]], np.int8),
    ],
    ids=[
        "constant negative",
        "negative",
        "huge",
        "huge negative",
        "range overflows f64",
        "range overflows f32",
        "subnormal",
        "tiny constant",
        "int64 extremes",
        "uint64 extremes",
        "int8 extremes",
    ],
)
@pytest.mark.parametrize("normalize", [True, False])
def test_map_extreme_values(values: np.ndarray, normalize: bool) -> None:
    image = base_image(values.shape)
    with np.errstate(all="ignore"):  # the oracle's float arithmetic overflows here
        color = spec_anomaly_map_to_color_map(values, normalize)
        overlay = spec_superimpose_anomaly_map(values, image, normalize=normalize)
    assert np.array_equal(ap.anomaly_map_to_color_map(values, normalize), color)
    out = ap.superimpose_anomaly_map(values, image, normalize=normalize)
    assert np.array_equal(out, overlay)
    for threshold in (0, 0.5, -1e300, 1e300):
        for kernel_size in (0, 2):
            out = ap.compute_mask(values, threshold, kernel_size)
            assert np.array_equal(out, spec_compute_mask(values, threshold, kernel_size))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", ["<f2", "<f4", ">f8"])
def test_non_finite_maps(dtype: str, bad: float) -> None:
    m = base_values().astype(dtype)
    m[3, 4] = bad
    image = base_image()
    for normalize in (True, False):
        check_rejected(
            lambda normalize=normalize: ap.anomaly_map_to_color_map(m, normalize),
            "anomaly_map",
            ValueError,
        )
        check_rejected(
            lambda normalize=normalize: ap.superimpose_anomaly_map(m, image, normalize=normalize),
            "anomaly_map",
            ValueError,
        )
    for view in (m, misaligned(m), m[::-1], np.asfortranarray(m)):
        for kernel_size in (0, 1):  # the mask is defined: NaN is never above
            out = ap.compute_mask(view, 0.5, kernel_size)
            assert np.array_equal(out, spec_compute_mask(view, 0.5, kernel_size))


class HasArray:
    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.array if dtype is None else self.array.astype(dtype)


class BrokenArray:
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise TypeError("no array here")


class MapSubclass(np.ndarray):
    pass


GOOD_MAP_OBJECTS: dict[str, Any] = {
    "nested list": base_values().tolist(),
    "tuple of tuples": tuple(map(tuple, base_values().tolist())),
    "__array__": HasArray(base_values()),
    "memoryview": memoryview(base_values().astype(np.float32)),
    "ndarray subclass": base_values().view(MapSubclass),
    "matrix": np.asmatrix(base_values()),
    "many singleton axes": base_values()[None, None, None, None, :, :, None],
    "many batch axes": base_values((2, 2, 1, 2, 3, 4)),
    "list of bools": (base_values() > 0.5).tolist(),
    "list of ints": (base_values() * 10).astype(int).tolist(),
    "1 x N": base_values((1, 17)),
    "N x 1": base_values((17, 1)),
    "1 x 1": np.array([[0.7]]),
}


@pytest.mark.parametrize("name", list(GOOD_MAP_OBJECTS))
def test_map_objects_that_numpy_accepts(name: str) -> None:
    value = GOOD_MAP_OBJECTS[name]
    array = np.asarray(value)
    _, maps = spec_canonical_maps(array)
    image = base_image(maps[0].shape)
    assert np.array_equal(
        ap.anomaly_map_to_color_map(value), spec_anomaly_map_to_color_map(array, True)
    )
    assert np.array_equal(ap.compute_mask(value, 0.5, 1), spec_compute_mask(array, 0.5, 1))
    assert np.array_equal(
        ap.superimpose_anomaly_map(value, image), spec_superimpose_anomaly_map(array, image)
    )


BAD_MAPS: dict[str, tuple[Any, type[Exception]]] = {
    "None": (None, TypeError),
    "str": ("0.5", TypeError),
    "bytes": (b"abc", TypeError),
    "bool": (True, ValueError),
    "int": (3, ValueError),
    "float": (0.5, ValueError),
    "nan": (math.nan, ValueError),
    "object": (object(), TypeError),
    "dict": ({"a": 1}, TypeError),
    "set": ({1.0, 2.0}, TypeError),
    "complex": (np.zeros((3, 3), np.complex64), TypeError),
    "object array": (np.array([[0.1, None]], dtype=object), TypeError),
    "str array": (np.array([["0.1", "0.2"]]), TypeError),
    "datetime array": (np.zeros((2, 2), "datetime64[ns]"), TypeError),
    "structured": (np.zeros((2, 2), [("a", "<f4")]), TypeError),
    "broken __array__": (BrokenArray(), TypeError),
    "ragged": ([[0.1, 0.2], [0.3]], TypeError),
    "0-d": (np.float32(0.5), ValueError),
    "1-d": (np.zeros(5), ValueError),
    "empty 1-d": (np.zeros(0), ValueError),
    "empty list": ([], ValueError),
    "empty rows": ([[]], ValueError),
    "empty (0, W)": (np.zeros((0, W), np.float32), ValueError),
    "empty batch": (np.zeros((0, H, W)), ValueError),
    "empty broadcast": (np.broadcast_to(np.float32(0.5), (H, 0)), ValueError),
    "empty misaligned": (misaligned(np.zeros((0, 4), np.float32)), ValueError),
}


@pytest.mark.parametrize("name", list(BAD_MAPS))
def test_bad_maps(name: str) -> None:
    value, exc = BAD_MAPS[name]
    image = base_image()
    check_rejected(lambda: ap.anomaly_map_to_color_map(value), "anomaly_map", exc)
    check_rejected(lambda: ap.superimpose_anomaly_map(value, image), "anomaly_map", exc)
    check_rejected(lambda: ap.compute_mask(value, 0.5), "anomaly_map", exc)


# ------------------------------------------------------------------------------ image


BAD_IMAGES: dict[str, tuple[Any, type[Exception]]] = {
    "None": (None, TypeError),
    "str": ("image.png", TypeError),
    "bytes": (b"\x00" * (H * W * 3), TypeError),
    "bool": (True, TypeError),
    "int": (3, TypeError),
    "object": (object(), TypeError),
    "broken __array__": (BrokenArray(), TypeError),
    "float32": (base_image().astype(np.float32), TypeError),
    "float16": (base_image().astype(np.float16), TypeError),
    "float64 in [0, 1]": (base_image() / 255.0, TypeError),
    "int64": (base_image().astype(np.int64), TypeError),
    "int8": (base_image().astype(np.int8), TypeError),
    "big-endian uint16": (base_image().astype(">u2"), TypeError),
    "bool array": (base_image() > 127, TypeError),
    "nested list": (base_image().tolist(), TypeError),  # int64 once converted
    "object array": (base_image().astype(object), TypeError),
    "2-d": (base_image()[..., 0], ValueError),
    "4 channels": (np.zeros((H, W, 4), np.uint8), ValueError),
    "1 channel": (np.zeros((H, W, 1), np.uint8), ValueError),
    "channels first": (np.zeros((3, H, W), np.uint8), ValueError),
    "empty": (np.zeros((0, 0, 3), np.uint8), ValueError),
    "empty batch": (np.zeros((0, H, W, 3), np.uint8), ValueError),
    "0-d": (np.uint8(7), ValueError),
    "batch of 2 for 1 map": (np.zeros((2, H, W, 3), np.uint8), ValueError),
}


@pytest.mark.parametrize("name", list(BAD_IMAGES))
def test_bad_images(name: str) -> None:
    value, exc = BAD_IMAGES[name]
    check_rejected(lambda: ap.superimpose_anomaly_map(base_values(), value), "image", exc)


# ------------------------------------------------------------------ scalar parameters


@dataclass(frozen=True)
class Case:
    value: Any
    outcome: Outcome
    #: The clean value the result must equal (defaults to ``value``).
    clean: Any = None


class Weird:
    """Not a number, whatever it pretends."""

    def __float__(self) -> float:
        return 0.5

    def __index__(self) -> int:
        return 1


class FloatSubclass(float):
    """A float subclass: a real number, but numpy does not treat it as a "weak" Python
    float (NEP 50): ``float32_map > FloatSubclass(0.3)`` compares in float64."""


# alpha and gamma: any finite real number, not bool.
WEIGHT_CASES: dict[str, Case] = {
    "int": Case(1, OK),
    "negative": Case(-2.5, OK),
    "huge float": Case(1e300, OK),
    "huge negative float": Case(-1e300, OK),
    "huge int": Case(10**30, OK, float(10**30)),
    "float beyond float64": Case(10**400, ValueError),
    "tiny": Case(5e-324, OK),
    "float16": Case(np.float16(0.25), OK, 0.25),
    "float32": Case(np.float32(0.7), OK, float(np.float32(0.7))),
    "longdouble": Case(np.longdouble(0.5), OK, 0.5),
    "uint64": Case(np.uint64(2**64 - 1), OK, float(2**64 - 1)),
    "int8": Case(np.int8(-3), OK, -3.0),
    "float subclass": Case(FloatSubclass(0.25), OK, 0.25),
    "nan": Case(math.nan, ValueError),
    "inf": Case(math.inf, ValueError),
    "-inf": Case(-math.inf, ValueError),
    "float32 nan": Case(np.float32("nan"), ValueError),
    "None": Case(None, TypeError),
    "str": Case("0.4", TypeError),
    "bytes": Case(b"0.4", TypeError),
    "bool": Case(True, TypeError),
    "numpy bool": Case(np.False_, TypeError),
    "complex": Case(0.4 + 0j, TypeError),
    "complex64": Case(np.complex64(0.4), TypeError),
    "list": Case([0.4], TypeError),
    "1-d array": Case(np.array([0.4]), TypeError),
    "empty array": Case(np.array([]), TypeError),
    "0-d array": Case(np.array(0.4), (OK, TypeError), 0.4),
    "0-d big-endian array": Case(np.array(0.4, ">f8"), (OK, TypeError), 0.4),
    "object": Case(object(), TypeError),
    "pretends to be a number": Case(Weird(), TypeError),
}


@pytest.mark.parametrize("case", list(WEIGHT_CASES))
@pytest.mark.parametrize("name", ["alpha", "gamma"])
def test_alpha_and_gamma(name: str, case: str) -> None:
    c = WEIGHT_CASES[case]
    clean = c.value if c.clean is None else c.clean
    m = base_values((2, H, W))
    image = base_image()

    def expected() -> np.ndarray:
        # Weights beyond float32 are inf after rounding: the oracle's arithmetic warns.
        with np.errstate(all="ignore"):
            return spec_superimpose_anomaly_map(m, image, **{name: clean})

    check_outcome(
        lambda: ap.superimpose_anomaly_map(m, image, **{name: c.value}), name, c.outcome, expected
    )


FLAG_CASES: dict[str, Case] = {
    "True": Case(True, OK),
    "False": Case(False, OK),
    "numpy True": Case(np.True_, OK, True),
    "numpy False": Case(np.False_, OK, False),
    "None": Case(None, TypeError),
    "str False": Case("False", TypeError),
    "empty str": Case("", TypeError),
    "int 1": Case(1, TypeError),
    "int 0": Case(0, TypeError),
    "float nan": Case(math.nan, TypeError),
    "negative": Case(-1, TypeError),
    "huge": Case(10**30, TypeError),
    "bool array": Case(np.array([True]), TypeError),
    "0-d bool array": Case(np.array(True), (OK, TypeError), True),
    "empty array": Case(np.array([], bool), TypeError),
    "list": Case([True], TypeError),
    "object": Case(object(), TypeError),
}


@pytest.mark.parametrize("case", list(FLAG_CASES))
@pytest.mark.parametrize("fn", ["color", "superimpose"])
def test_normalize(fn: str, case: str) -> None:
    c = FLAG_CASES[case]
    clean = c.value if c.clean is None else c.clean
    m = base_values() * 0.5 + 0.2
    image = base_image()
    if fn == "color":
        call = lambda: ap.anomaly_map_to_color_map(m, c.value)  # noqa: E731
        expected = lambda: spec_anomaly_map_to_color_map(m, clean)  # noqa: E731
    else:
        call = lambda: ap.superimpose_anomaly_map(m, image, normalize=c.value)  # noqa: E731
        expected = lambda: spec_superimpose_anomaly_map(m, image, normalize=clean)  # noqa: E731
    check_outcome(call, "normalize", c.outcome, expected)


THRESHOLD_CASES: dict[str, Case] = {
    "int": Case(0, OK),
    "negative": Case(-0.25, OK),
    "huge float": Case(1e300, OK),
    "huge negative float": Case(-1e300, OK),
    # numpy itself raises OverflowError for some of these (bool maps); the answer is that
    # of ±inf, as every value of these maps is below 10**30.
    "huge int": Case(10**30, OK, math.inf),
    "int beyond float64": Case(10**400, OK, math.inf),
    "negative int beyond float64": Case(-(10**400), OK, -math.inf),
    "inf": Case(math.inf, OK),
    "-inf": Case(-math.inf, OK),
    "float16": Case(np.float16(0.5), OK),
    "float32": Case(np.float32(0.3), OK),
    "float64": Case(np.float64(0.3), OK),
    "longdouble": Case(np.longdouble(0.3), OK),
    "int8": Case(np.int8(-3), OK),
    "uint64 max": Case(np.uint64(2**64 - 1), OK),
    "0-d array": Case(np.array(0.3), OK),
    "0-d big-endian array": Case(np.array(0.3, ">f4"), OK),
    # numpy compares these as float64 / exactly (only exact int and float are "weak").
    "float subclass": Case(FloatSubclass(0.3), OK),
    "fraction": Case(Fraction(3, 10), OK),
    "nan": Case(math.nan, ValueError),
    "float32 nan": Case(np.float32("nan"), ValueError),
    "0-d nan array": Case(np.array(np.nan), ValueError),
    "None": Case(None, TypeError),
    "str": Case("0.5", TypeError),
    "bool": Case(True, TypeError),
    "numpy bool": Case(np.True_, TypeError),
    "complex": Case(0.5 + 0j, TypeError),
    "list": Case([0.5], TypeError),
    "1-d array": Case(np.array([0.5]), TypeError),
    "2-d array": Case(np.full((H, W), 0.5), TypeError),
    "empty array": Case(np.array([]), TypeError),
    "str array": Case(np.array("0.5"), TypeError),
    "datetime": Case(np.datetime64(1, "s"), TypeError),
    "object": Case(object(), TypeError),
    "pretends to be a number": Case(Weird(), TypeError),
}

THRESHOLD_MAP_DTYPES = ["<f2", ">f4", "<f8", "|u1", "<i8", "|b1"]


@pytest.mark.parametrize("case", list(THRESHOLD_CASES))
@pytest.mark.parametrize("dtype", THRESHOLD_MAP_DTYPES)
def test_threshold(dtype: str, case: str) -> None:
    """The mask compares exactly as numpy's ``anomaly_map > threshold`` (the oracle)."""
    c = THRESHOLD_CASES[case]
    clean = c.value if c.clean is None else c.clean
    m = map_values(dtype, (2, H, W))
    if m.dtype.kind == "f":
        # Values whose comparison with 0.3 depends on the precision it is done in.
        m.reshape(-1)[3::11] = np.asarray(0.3).astype(m.dtype)
        m.reshape(-1)[5::11] = -0.25
    for kernel_size in (0, 1):
        check_outcome(
            lambda k=kernel_size: ap.compute_mask(m, c.value, k),
            "threshold",
            c.outcome,
            lambda k=kernel_size: spec_compute_mask(m, clean, k),
        )


KERNEL_CASES: dict[str, Case] = {
    "0": Case(0, OK),
    "1": Case(1, OK),
    "integral float": Case(3.0, OK, 3),
    "negative zero": Case(-0.0, OK, 0),
    "numpy int8": Case(np.int8(2), OK, 2),
    "numpy uint64 max": Case(np.uint64(2**64 - 1), OK, 10**9),
    "numpy float32 integral": Case(np.float32(2.0), OK, 2),
    "10**9": Case(10**9, OK),
    "10**30": Case(10**30, OK, 10**9),
    "2**63": Case(2**63, OK, 10**9),
    "2**64 + 1": Case(2**64 + 1, OK, 10**9),
    "huge integral float": Case(1e300, OK, 10**9),
    "max float": Case(np.finfo(np.float64).max, OK, 10**9),
    "0-d array": Case(np.array(2), (OK, TypeError), 2),
    "-1": Case(-1, ValueError),
    "negative huge": Case(-(10**30), ValueError),
    "negative float": Case(-2.0, ValueError),
    "numpy negative": Case(np.int64(-1), ValueError),
    "fraction": Case(2.5, ValueError),
    "nan": Case(math.nan, ValueError),
    "inf": Case(math.inf, ValueError),
    "-inf": Case(-math.inf, ValueError),
    "float32 nan": Case(np.float32("nan"), ValueError),
    "None": Case(None, TypeError),
    "str": Case("4", TypeError),
    "bool": Case(True, TypeError),
    "numpy bool": Case(np.False_, TypeError),
    "complex": Case(4 + 0j, TypeError),
    "list": Case([4], TypeError),
    "1-d array": Case(np.array([4]), TypeError),
    "empty array": Case(np.array([], int), TypeError),
    "object": Case(object(), TypeError),
    "pretends to be a number": Case(Weird(), TypeError),
}


@pytest.mark.parametrize("case", list(KERNEL_CASES))
def test_kernel_size(case: str) -> None:
    c = KERNEL_CASES[case]
    clean = c.value if c.clean is None else c.clean
    m = base_values((2, 40, 50))
    m[0, 10:20, 10:25] = 0.9  # a block that survives small disks
    check_outcome(
        lambda: ap.compute_mask(m, 0.5, c.value),
        "kernel_size",
        c.outcome,
        lambda: spec_compute_mask(m, 0.5, clean),
    )


@pytest.mark.parametrize("kernel_size", [10**9, 10**30])
def test_huge_kernel_size_is_fast_and_right(kernel_size: int) -> None:
    """A disk larger than any image: the opening keeps the mask only where every pixel
    is above the threshold. The oracle uses the smallest covering disk instead."""
    rng = np.random.default_rng(5)
    maps = rng.random((3, 700, 900), dtype=np.float32)
    maps[1] = np.maximum(maps[1], 0.6)  # all above: stays all 255
    maps[2, 5, 5] = 0.7
    start = time.perf_counter()
    out = ap.compute_mask(maps, 0.5, kernel_size)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, elapsed
    assert not out[0].any() and out[1].all() and not out[2].any()
    small = maps[:, :60, :70]
    assert np.array_equal(
        ap.compute_mask(small, 0.5, kernel_size), spec_compute_mask(small, 0.5, kernel_size)
    )


def test_huge_zero_stride_batch() -> None:
    """100 000 maps that are all one map (zero batch stride): 30 MB out, 800 B in."""
    m = base_values()
    maps = np.broadcast_to(m, (100_000, H, W))
    image = base_image()
    color = ap.anomaly_map_to_color_map(maps)
    assert color.shape == (100_000, H, W, 3)
    assert np.array_equal(color, np.broadcast_to(ap.anomaly_map_to_color_map(m), color.shape))
    mask = ap.compute_mask(maps, 0.5, 2)
    assert np.array_equal(mask, np.broadcast_to(ap.compute_mask(m, 0.5, 2), mask.shape))
    overlay = ap.superimpose_anomaly_map(maps[:1000], image)
    assert np.array_equal(
        overlay, np.broadcast_to(ap.superimpose_anomaly_map(m, image), overlay.shape)
    )


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (3, 2)])
@pytest.mark.parametrize("kernel_size", [10**30, 2**62, 2**62 + 1, 2**63 - 1, 2**64])
def test_huge_kernel_on_tiny_maps(shape: tuple[int, int], kernel_size: int) -> None:
    m = base_values(shape)
    m[0, 0] = 0.9
    for threshold in (0.1, 0.95):
        out = ap.compute_mask(m, threshold, kernel_size)
        assert np.array_equal(out, spec_compute_mask(m, threshold, kernel_size))


# -------------------------------------------------------------------------------- out


class OutSubclass(np.ndarray):
    pass


def out_views() -> dict[str, tuple[Callable[[tuple[int, ...]], Any], Outcome]]:
    def buffer_view(shape: tuple[int, ...]) -> np.ndarray:
        buffer = np.zeros(math.prod(shape) + 1, np.uint8)
        return buffer[1:].reshape(shape)  # starts one byte in: uint8 is always aligned

    def read_only_out(shape: tuple[int, ...]) -> np.ndarray:
        out = np.zeros(shape, np.uint8)
        out.flags.writeable = False
        return out

    return {
        "None": (lambda shape: None, OK),
        "fresh": (lambda shape: np.zeros(shape, np.uint8), OK),
        "odd offset": (buffer_view, OK),
        "subclass": (lambda shape: np.zeros(shape, np.uint8).view(OutSubclass), OK),
        "explicit byte order": (lambda shape: np.zeros(shape, "<u1"), OK),
        "list": (lambda shape: np.zeros(shape, np.uint8).tolist(), TypeError),
        "str": (lambda shape: "out.png", TypeError),
        "bool": (lambda shape: True, TypeError),
        "int": (lambda shape: 0, TypeError),
        "bytearray": (lambda shape: bytearray(math.prod(shape)), TypeError),
        "float32": (lambda shape: np.zeros(shape, np.float32), TypeError),
        "float16": (lambda shape: np.zeros(shape, np.float16), TypeError),
        "int8": (lambda shape: np.zeros(shape, np.int8), TypeError),
        "bool array": (lambda shape: np.zeros(shape, bool), TypeError),
        "big-endian uint16": (lambda shape: np.zeros(shape, ">u2"), TypeError),
        "wrong ndim": (lambda shape: np.zeros(shape[:-1], np.uint8), ValueError),
        "extra axis": (lambda shape: np.zeros((1, *shape), np.uint8), ValueError),
        "flat": (lambda shape: np.zeros(math.prod(shape), np.uint8), ValueError),
        "empty": (lambda shape: np.zeros((0, *shape[1:]), np.uint8), ValueError),
        "read-only": (read_only_out, ValueError),
        "zero strides": (lambda shape: np.broadcast_to(np.zeros(1, np.uint8), shape), ValueError),
        "fortran": (lambda shape: np.zeros(shape, np.uint8, order="F"), ValueError),
        "negative strides": (lambda shape: np.zeros(shape, np.uint8)[::-1], ValueError),
        "stepped": (
            lambda shape: np.zeros((*shape[:-1], shape[-1] * 2), np.uint8)[..., ::2],
            ValueError,
        ),
    }


OUT_VIEWS = out_views()


@pytest.mark.parametrize("case", list(OUT_VIEWS))
@pytest.mark.parametrize("fn", ["color", "superimpose", "mask"])
def test_out(fn: str, case: str) -> None:
    make, outcome = OUT_VIEWS[case]
    m = base_values((2, H, W))
    image = base_image()
    calls: dict[str, tuple[tuple[int, ...], Callable[..., np.ndarray], Callable[[], Any]]] = {
        "color": (
            (2, H, W, 3),
            lambda out: ap.anomaly_map_to_color_map(m, out=out),
            lambda: spec_anomaly_map_to_color_map(m),
        ),
        "superimpose": (
            (2, H, W, 3),
            lambda out: ap.superimpose_anomaly_map(m, image, out=out),
            lambda: spec_superimpose_anomaly_map(m, image),
        ),
        "mask": (
            (2, H, W),
            lambda out: ap.compute_mask(m, 0.5, 1, out=out),
            lambda: spec_compute_mask(m, 0.5, 1),
        ),
    }
    shape, call, expected = calls[fn]
    out = make(shape)
    snapshot = np.array(out, copy=True) if isinstance(out, np.ndarray) else None

    def run() -> np.ndarray:
        result = call(out)
        if out is not None:
            assert result is out
        return np.asarray(result)

    check_outcome(run, "out", outcome, expected)
    if outcome is not OK and snapshot is not None:
        assert np.array_equal(out, snapshot)  # a rejected out= is left alone


def test_out_sharing_memory_with_an_input() -> None:
    """Inputs are never modified: an ``out`` overlapping the map or the image is refused
    (before anything is written); one next to it in the same buffer is fine."""
    raw = np.zeros(H * W * 8 + H * W * 3, np.uint8)
    m = raw[: H * W * 8].view(np.float64).reshape(H, W)
    m[...] = base_values()
    before = raw.copy()
    beside = raw[H * W * 8 :].reshape(H, W, 3)
    assert np.array_equal(
        ap.anomaly_map_to_color_map(m, out=beside), spec_anomaly_map_to_color_map(m)
    )
    overlapping = raw[H * W * 8 - 7 : H * W * 8 - 7 + H * W * 3].reshape(H, W, 3)
    image = base_image()
    image_before = image.copy()
    check_rejected(lambda: ap.anomaly_map_to_color_map(m, out=overlapping), "out", ValueError)
    check_rejected(lambda: ap.superimpose_anomaly_map(m, image, out=overlapping), "out", ValueError)
    check_rejected(lambda: ap.superimpose_anomaly_map(m, image, out=image), "out", ValueError)
    check_rejected(
        lambda: ap.compute_mask(m, 0.5, out=raw[: H * W].reshape(H, W)), "out", ValueError
    )
    assert np.array_equal(raw[: H * W * 8], before[: H * W * 8])
    assert np.array_equal(image, image_before)


# ------------------------------------------------------------------- set_num_threads


NUM_THREADS_CASES: dict[str, Case] = {
    "1": Case(1, OK),
    "2": Case(2, OK),
    "numpy int": Case(np.int64(2), OK, 2),
    "numpy uint8": Case(np.uint8(1), OK, 1),
    "0-d int array": Case(np.array(2), (OK, TypeError), 2),
    "0": Case(0, ValueError),
    "-1": Case(-1, ValueError),
    "negative huge": Case(-(10**30), ValueError),
    "numpy negative": Case(np.int8(-1), ValueError),
    "float": Case(2.0, TypeError),
    "nan": Case(math.nan, TypeError),
    "inf": Case(math.inf, TypeError),
    "None": Case(None, TypeError),
    "str": Case("2", TypeError),
    "bool": Case(True, TypeError),
    "numpy bool": Case(np.True_, TypeError),
    "complex": Case(2 + 0j, TypeError),
    "list": Case([2], TypeError),
    "1-d array": Case(np.array([2]), TypeError),
    "empty array": Case(np.array([], int), TypeError),
    "object": Case(object(), TypeError),
}


@pytest.mark.parametrize("case", list(NUM_THREADS_CASES))
def test_set_num_threads(case: str) -> None:
    c = NUM_THREADS_CASES[case]
    clean = c.value if c.clean is None else c.clean
    before = ap.get_num_threads()
    maps = base_values((4, H, W))
    options = c.outcome if isinstance(c.outcome, tuple) else (c.outcome,)
    try:
        ap.set_num_threads(c.value)
    except Exception as error:
        assert OK not in options or len(options) > 1, f"{type(error).__name__}: {error}"
        assert type(error) in options, f"{type(error).__name__}: {error}"
        assert "n" in str(error).split() or "n must" in str(error), str(error)
        assert ap.get_num_threads() == before  # unchanged
        return
    assert OK in options, f"accepted {c.value!r}"
    assert ap.get_num_threads() == operator.index(clean)
    assert np.array_equal(ap.compute_mask(maps, 0.5, 1), spec_compute_mask(maps, 0.5, 1))


def test_get_num_threads_takes_no_arguments() -> None:
    with pytest.raises(TypeError):
        ap.get_num_threads(1)  # type: ignore[call-arg]
    assert isinstance(ap.get_num_threads(), int) and ap.get_num_threads() >= 1


# Run in a child process with a 4 GiB address-space limit, so an implementation that
# tries to start that many OS threads fails fast instead of exhausting the machine.
_HUGE_THREADS_CHILD = textwrap.dedent(
    """
    import resource, sys, time, os
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    import numpy as np
    import anomaly_postprocess as ap
    n = int(sys.argv[1])
    start = time.perf_counter()
    try:
        ap.set_num_threads(n)
    except Exception as error:
        outcome = f"{type(error).__name__}: {error}"
    else:
        outcome = "accepted"
        assert ap.get_num_threads() == n, ap.get_num_threads()
        maps = np.random.default_rng(0).random((4, 30, 40))
        ap.compute_mask(maps, 0.5, 2)
    elapsed = time.perf_counter() - start
    threads = len(os.listdir("/proc/self/task"))
    print(repr((outcome, elapsed, threads)))
    """
)


@pytest.mark.parametrize("n", [10**9, 2**64, 10**30])
def test_set_num_threads_huge(n: int) -> None:
    """A huge thread count is either refused with a ValueError naming ``n``, or accepted
    without starting that many threads; either way promptly and without leaking threads."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _HUGE_THREADS_CHILD, str(n)],
            capture_output=True,
            text=True,
            timeout=10,
            env={**os.environ, "ANOMALY_POSTPROCESS_NUM_THREADS": "2"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"set_num_threads({n}) did not return within 10 s")
    assert done.returncode == 0, done.stderr[-2000:]
    outcome, elapsed, threads = eval(done.stdout.strip().splitlines()[-1])
    assert elapsed < 5.0, (outcome, elapsed)
    assert threads <= 16, (outcome, threads)
    if outcome != "accepted":
        kind, _, message = outcome.partition(": ")
        assert kind in ("ValueError", "TypeError"), outcome
        assert message.startswith("n ") or " n " in message, outcome
