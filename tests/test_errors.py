"""Rejected inputs (SPEC §1–§4): always a TypeError or ValueError naming the argument,
never a crash, a Rust panic or a silent answer."""

from __future__ import annotations

import datetime
import math
import re
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from reference import spec_compute_mask_2d

IMAGE = np.zeros((4, 5, 3), np.uint8)
MAP = np.linspace(0, 1, 20).reshape(4, 5)


def color_map(m: Any) -> Any:
    return ap.anomaly_map_to_color_map(m)


def superimpose(m: Any) -> Any:
    try:
        shape = np.shape(m)
    except ValueError:  # ragged
        shape = ()
    image = (
        np.zeros(tuple(shape[-2:]) + (3,), np.uint8)
        if len(shape) >= 2 and 0 not in shape[-2:]
        else IMAGE
    )
    return ap.superimpose_anomaly_map(m, image)


def mask(m: Any) -> Any:
    return ap.compute_mask(m, 0.5)


ALL = [color_map, superimpose, mask]
COLOUR = [color_map, superimpose]


def raises(
    exc: type[BaseException] | tuple[type[BaseException], ...], call: Callable[[], Any], *names: str
) -> str:
    """Runs ``call``; asserts it raises ``exc`` (a TypeError/ValueError) whose message
    contains every one of ``names``. Returns the message."""
    with pytest.raises(exc) as info:
        call()
    assert isinstance(info.value, (TypeError, ValueError))
    assert type(info.value).__module__ == "builtins"  # not a wrapped panic or cv2.error
    message = str(info.value)
    for name in names:
        assert name in message, (name, message)
    return message


# ------------------------------------------------------------------------- map dtypes


BAD_MAPS = {
    "complex64": np.zeros((3, 3), np.complex64),
    "complex128": np.zeros((3, 3), np.complex128),
    "object": np.array([[1.0, 2.0], [3.0, 4.0]], dtype=object),
    "object of None": np.full((2, 2), None),
    "str": np.array([["a", "b"], ["c", "d"]]),
    "numeric str": np.array([["0.1", "0.2"], ["0.3", "0.4"]]),
    "bytes": np.array([[b"a", b"b"]]),
    "datetime": np.zeros((2, 2), "datetime64[s]"),
    "timedelta": np.zeros((2, 2), "timedelta64[ms]"),
    "structured": np.zeros((2, 2), dtype=[("a", np.float32), ("b", np.float32)]),
    "void": np.zeros((2, 2), dtype="V4"),
    "list of str": [["a", "b"], ["c", "d"]],
    "list of complex": [[1j, 2], [3, 4]],
    "ragged list": [[1.0, 2.0], [3.0]],
    "mixed list": [[1.0, "x"], [None, 2.0]],
    "datetime objects": [[datetime.datetime(2020, 1, 1)] * 2] * 2,
}


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", list(BAD_MAPS), ids=str)
def test_map_dtypes_rejected(fn: Callable[[Any], Any], bad: str) -> None:
    raises(TypeError, lambda: fn(BAD_MAPS[bad]), "anomaly_map")


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_map_dtype_message_says_expected_and_received(fn: Callable[[Any], Any]) -> None:
    message = raises(
        TypeError, lambda: fn(np.zeros((3, 3), np.complex64)), "anomaly_map", "complex64"
    )
    assert "float" in message


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_longdouble_map_is_computed_or_rejected_cleanly(fn: Callable[[Any], Any]) -> None:
    """float128 is not in SPEC's list of accepted dtypes: if rejected, cleanly."""
    m = MAP.astype(np.longdouble)
    try:
        out = fn(m)
    except (TypeError, ValueError) as error:
        assert "anomaly_map" in str(error)
    else:
        assert np.array_equal(out, fn(MAP))


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", [None, "map", 3.5, 7, object(), {"a": 1}], ids=repr)
def test_non_arrays_rejected(fn: Callable[[Any], Any], bad: Any) -> None:
    raises((TypeError, ValueError), lambda: fn(bad), "anomaly_map")


# ---------------------------------------------------------------------- map shapes


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", [(), (1,), (5,), (0,)], ids=str)
def test_fewer_than_two_dimensions(fn: Callable[[Any], Any], shape: tuple[int, ...]) -> None:
    message = raises(ValueError, lambda: fn(np.zeros(shape)), "anomaly_map")
    assert str(shape) in message


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "shape",
    [
        (0, 5),
        (5, 0),
        (0, 0),
        (1, 0, 5),
        (2, 0, 5),
        (0, 4, 5),
        (4, 0, 1),
        (1, 1, 0, 1),
        (3, 0, 4, 5),
    ],
    ids=str,
)
def test_empty_maps(fn: Callable[[Any], Any], shape: tuple[int, ...]) -> None:
    message = raises(ValueError, lambda: fn(np.zeros(shape, np.float32)), "anomaly_map")
    assert str(shape) in message  # what was received


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_empty_lists(fn: Callable[[Any], Any]) -> None:
    raises(ValueError, lambda: fn([]), "anomaly_map")
    raises(ValueError, lambda: fn([[]]), "anomaly_map")


# -------------------------------------------------------------------- non-finite maps


@pytest.mark.parametrize("fn", COLOUR, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, ">f8"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_maps_rejected(fn: Callable[[Any], Any], dtype: Any, bad: float) -> None:
    m = MAP.astype(dtype)
    m[2, 3] = bad
    message = raises(ValueError, lambda: fn(m), "anomaly_map")
    assert re.search(r"\b1\b", message), message  # how many
    assert re.search(r"row 2\b.*column 3\b", message), message  # where


@pytest.mark.parametrize("fn", COLOUR, ids=lambda f: f.__name__)
@pytest.mark.parametrize("normalize", [True, False])
def test_non_finite_count_and_first_position(fn: Callable[[Any], Any], normalize: bool) -> None:
    m = np.zeros((6, 7), np.float32)
    m[4, 1] = np.inf
    m[1, 5] = np.nan  # first in row-major order
    m[5, 6] = -np.inf
    m[1, 6] = np.nan
    if fn is color_map:
        call = lambda: ap.anomaly_map_to_color_map(m, normalize=normalize)  # noqa: E731
    else:
        call = lambda: ap.superimpose_anomaly_map(  # noqa: E731
            m, np.zeros((6, 7, 3), np.uint8), normalize=normalize
        )
    message = raises(ValueError, call, "anomaly_map")
    assert re.search(r"\b4\b", message), message
    assert re.search(r"row 1\b.*column 5\b", message), message


@pytest.mark.parametrize("fn", COLOUR, ids=lambda f: f.__name__)
def test_non_finite_in_strided_view_reports_view_coordinates(fn: Callable[[Any], Any]) -> None:
    base = np.zeros((10, 12))
    base[9, 0] = np.nan  # in base[::-1, ::2] this is row 0, column 0
    message = raises(ValueError, lambda: fn(base[::-1, ::2]), "anomaly_map")
    assert re.search(r"row 0\b.*column 0\b", message), message
    message = raises(ValueError, lambda: fn(base.T), "anomaly_map")  # row 0, column 9
    assert re.search(r"row 0\b.*column 9\b", message), message


@pytest.mark.parametrize("fn", COLOUR, ids=lambda f: f.__name__)
def test_non_finite_in_a_batch(fn: Callable[[Any], Any]) -> None:
    """The message says how many non-finite values the argument holds, and where the
    first one is (with the map's index in the batch)."""
    m = np.zeros((3, 4, 5))
    m[1, 2, 4] = np.nan
    m[2, 0, 0] = np.inf
    m[2, 1, 1] = -np.inf
    message = raises(ValueError, lambda: fn(m), "anomaly_map")
    assert re.search(r"\b1\b.*row 2\b.*column 4\b", message), message  # map 1, row 2, column 4
    assert re.search(r"\b3\b", message), message  # three non-finite values in anomaly_map


def test_mask_accepts_non_finite_maps() -> None:
    m = np.array([[np.nan, np.inf, -np.inf, 0.9]])
    assert ap.compute_mask(m, 0.5, 0).tolist() == [[0, 255, 0, 255]]


# ----------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((4, 5, 3), np.float32),
        np.zeros((4, 5, 3), np.float64),
        np.zeros((4, 5, 3), np.uint16),
        np.zeros((4, 5, 3), np.int8),
        np.zeros((4, 5, 3), np.int64),
        np.zeros((4, 5, 3), bool),
        np.zeros((4, 5, 3), object),
        np.zeros((4, 5, 3), ">u2"),
        np.zeros((4, 5, 3)).tolist(),
    ],
    ids=lambda a: str(np.asarray(a).dtype),
)
def test_image_dtype_rejected(image: Any) -> None:
    message = raises(
        (TypeError, ValueError), lambda: ap.superimpose_anomaly_map(MAP, image), "image", "uint8"
    )
    assert str(np.asarray(image).dtype) in message


@pytest.mark.parametrize(
    "shape",
    [
        (4, 5),
        (4, 5, 4),
        (4, 5, 1),
        (4, 5, 3, 1),
        (3, 4, 5),
        (2, 4, 5, 3),
        (1, 4, 5, 4),
        (4,),
        (),
    ],
    ids=str,
)
def test_image_shape_rejected(shape: tuple[int, ...]) -> None:
    message = raises(
        ValueError, lambda: ap.superimpose_anomaly_map(MAP, np.zeros(shape, np.uint8)), "image"
    )
    assert str(shape) in message  # what was received
    assert "(4, 5" in message  # what is expected: the map's (H, W)


def test_batch_image_shape_rejected() -> None:
    maps = np.zeros((3, 4, 5))
    # Only the batch axes and the channels must match: another (h, w) is resized (issue 5).
    for shape in [(2, 4, 5, 3), (3, 1, 4, 5, 3), (2, 3, 4, 5, 3), (2, 5, 4, 3)]:
        message = raises(
            ValueError,
            lambda shape=shape: ap.superimpose_anomaly_map(maps, np.zeros(shape, np.uint8)),
            "image",
        )
        assert str(shape) in message
    maps = np.zeros((2, 3, 4, 5))
    message = raises(
        ValueError,
        lambda: ap.superimpose_anomaly_map(maps, np.zeros((3, 2, 4, 5, 3), np.uint8)),
        "image",
    )
    assert "(3, 2, 4, 5, 3)" in message


@pytest.mark.parametrize("bad", [None, "image", 3, object()], ids=repr)
def test_image_not_an_array(bad: Any) -> None:
    raises((TypeError, ValueError), lambda: ap.superimpose_anomaly_map(MAP, bad), "image")


# ----------------------------------------------------------------------- alpha, gamma


@pytest.mark.parametrize("name", ["alpha", "gamma"])
@pytest.mark.parametrize(
    "bad",
    [
        math.nan,
        math.inf,
        -math.inf,
        np.float32("nan"),
        np.float64("inf"),
        np.float16("-inf"),
        float("1e400"),
    ],
    ids=repr,
)
def test_non_finite_weights(name: str, bad: Any) -> None:
    raises(ValueError, lambda: ap.superimpose_anomaly_map(MAP, IMAGE, **{name: bad}), name)


@pytest.mark.parametrize("name", ["alpha", "gamma"])
@pytest.mark.parametrize(
    "bad",
    [None, "0.4", True, False, np.True_, 1 + 0j, np.complex64(1), [0.4], np.array([0.4]), object()],
    ids=repr,
)
def test_non_numeric_weights(name: str, bad: Any) -> None:
    raises(TypeError, lambda: ap.superimpose_anomaly_map(MAP, IMAGE, **{name: bad}), name)


@pytest.mark.parametrize("name", ["alpha", "gamma"])
def test_weights_that_are_real_numbers_of_other_types(name: str) -> None:
    expected = ap.superimpose_anomaly_map(MAP, IMAGE, **{name: 0.5})
    assert np.array_equal(
        ap.superimpose_anomaly_map(MAP, IMAGE, **{name: Fraction(1, 2)}), expected
    )
    assert np.array_equal(
        ap.superimpose_anomaly_map(MAP, IMAGE, **{name: np.float16(0.5)}), expected
    )


# --------------------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    "bad", [None, "False", "True", "", [True], np.array([True, False])], ids=repr
)
def test_normalize_must_be_a_bool(bad: Any) -> None:
    raises(TypeError, lambda: ap.anomaly_map_to_color_map(MAP, normalize=bad), "normalize")
    raises(TypeError, lambda: ap.superimpose_anomaly_map(MAP, IMAGE, normalize=bad), "normalize")


def test_normalize_positional_string_is_not_truthy() -> None:
    """A string like "False" must not silently mean True."""
    raises(TypeError, lambda: ap.anomaly_map_to_color_map(MAP, "False"), "normalize")


# --------------------------------------------------------------------------- threshold


@pytest.mark.parametrize(
    "bad",
    [
        math.nan,
        np.float32("nan"),
        np.float64("nan"),
        np.float16("nan"),
        np.array(np.nan),
        np.longdouble("nan"),
    ],
    ids=repr,
)
def test_nan_threshold(bad: Any) -> None:
    raises(ValueError, lambda: ap.compute_mask(MAP, bad), "threshold")


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "0.5",
        True,
        False,
        np.True_,
        0.5 + 0j,
        np.complex128(0.5),
        [0.5],
        np.array([0.5]),
        np.array([[0.5]]),
        object(),
        np.datetime64(1, "s"),
        np.array("0.5"),
    ],
    ids=repr,
)
def test_non_numeric_threshold(bad: Any) -> None:
    raises(TypeError, lambda: ap.compute_mask(MAP, bad), "threshold")


def test_infinite_threshold_is_accepted() -> None:
    assert not ap.compute_mask(MAP, math.inf, 0).any()
    assert ap.compute_mask(MAP, -math.inf, 0).all()


# ------------------------------------------------------------------------- kernel_size


@pytest.mark.parametrize("bad", [-1, -(10**30), np.int64(-3), -1.0], ids=repr)
def test_negative_kernel_size(bad: Any) -> None:
    raises(ValueError, lambda: ap.compute_mask(MAP, 0.5, bad), "kernel_size")


@pytest.mark.parametrize(
    "bad", [2.5, 0.1, np.float32(3.5), math.inf, -math.inf, math.nan, Fraction(1, 2)], ids=repr
)
def test_non_integral_kernel_size(bad: Any) -> None:
    raises(ValueError, lambda: ap.compute_mask(MAP, 0.5, bad), "kernel_size")


@pytest.mark.parametrize(
    "bad", [None, "4", True, False, np.True_, 4 + 0j, [4], np.array([4]), object()], ids=repr
)
def test_non_numeric_kernel_size(bad: Any) -> None:
    raises(TypeError, lambda: ap.compute_mask(MAP, 0.5, bad), "kernel_size")


@pytest.mark.parametrize("size", [10**9, 10**18, 2**64 + 1, 10**100])
def test_huge_kernel_size_is_fast_and_right(size: int) -> None:
    m = np.random.default_rng(0).random((512, 512))
    m[m < 0.05] = 0.95  # everything above 0.04 ...
    start = time.perf_counter()
    out = ap.compute_mask(m, 0.04, size)
    low = ap.compute_mask(np.where(m > 0.04, m, 0.5), 0.04, size)
    assert time.perf_counter() - start < 1.0
    assert np.array_equal(out, np.full(m.shape, 255 if (m > 0.04).all() else 0, np.uint8))
    assert low.all()
    small = m[:30, :40]
    assert np.array_equal(ap.compute_mask(small, 0.5, size), spec_compute_mask_2d(small, 0.5, size))


# ------------------------------------------------------------------ signature and order


def test_signatures() -> None:
    import inspect

    def params(fn: Callable[..., Any]) -> list[tuple[str, Any]]:
        return [
            (p.name, p.default)
            for p in inspect.signature(fn).parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD
        ]

    empty = inspect.Parameter.empty
    assert params(ap.anomaly_map_to_color_map) == [("anomaly_map", empty), ("normalize", True)]
    assert params(ap.superimpose_anomaly_map) == [
        ("anomaly_map", empty),
        ("image", empty),
        ("alpha", 0.4),
        ("gamma", 0),
        ("normalize", False),
    ]
    assert params(ap.compute_mask) == [
        ("anomaly_map", empty),
        ("threshold", empty),
        ("kernel_size", 4),
    ]


def test_missing_and_unknown_arguments() -> None:
    with pytest.raises(TypeError):
        ap.compute_mask(MAP)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ap.superimpose_anomaly_map(MAP)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ap.anomaly_map_to_color_map(MAP, normalise=True)  # type: ignore[call-arg]


def test_rejected_inputs_leave_arguments_untouched() -> None:
    m = MAP.copy()
    m[0, 0] = np.nan
    before = m.copy()
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    image_before = image.copy()
    with pytest.raises(ValueError):
        ap.superimpose_anomaly_map(m, image)
    assert np.array_equal(m, before, equal_nan=True)
    assert np.array_equal(image, image_before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_found_at_every_position(dtype: type) -> None:
    """A single NaN/inf anywhere (vector bodies and tails alike) is found and located."""
    for w in (1, 7, 8, 15, 16, 17, 31, 33, 64, 65):
        for x in range(w):
            for bad in (np.nan, np.inf):
                m = np.zeros((2, w), dtype)
                m[1, x] = bad
                message = raises(
                    ValueError, lambda m=m: ap.anomaly_map_to_color_map(m), "anomaly_map"
                )
                assert re.search(rf"row 1\b.*column {x}\b", message), (w, x, message)


def test_non_finite_names_the_map_by_its_batch_index() -> None:
    maps = np.zeros((2, 3, 4, 5))
    maps[1, 2, 3, 4] = np.nan
    maps[1, 2, 0, 0] = np.inf
    message = raises(ValueError, lambda: ap.anomaly_map_to_color_map(maps), "anomaly_map")
    assert "2 NaN/±inf values" in message
    assert "map (1, 2), row 0, column 0" in message
