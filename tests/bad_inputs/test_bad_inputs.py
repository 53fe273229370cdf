"""Rejected inputs, for every argument of every public function: a ``TypeError`` or
``ValueError`` whose message names the argument (docs/behaviour.md#errors); never a
crash, a Rust panic, another exception type or a silent answer; and the inputs exactly
as they were (bytes, dtype, shape, strides, flags).

One idiom. Each case is a row of ``CASES``: (function, argument, bad value, exception
type, message patterns), plus the other arguments of the call, with ``BAD`` where the
bad value goes. ``test_rejected`` makes the call and checks it with ``assert_rejected``
(conftest.py; the other files of this folder use it too):
the exception's exact type (a builtin TypeError/ValueError, not a subclass), the
argument's name as a word in the message, every pattern, and that no input array
changed. The checks that need more than one call use ``assert_rejected`` too.
"""

from __future__ import annotations

import datetime
import inspect
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from conftest import (
    FUNCTIONS,
    ODD_H,
    ODD_W,
    SMALL_H,
    SMALL_W,
    BrokenArray,
    TensorLike,
    Unmodified,
    Weird,
    assert_rejected,
    assert_result,
    assert_same_bytes,
    base_image,
    base_values,
    map_values,
    misaligned,
    random_image,
    result_shape,
    smooth_maps,
)
from reference import (
    spec_anomaly_map_to_color_map,
    spec_compute_mask,
    spec_superimpose_anomaly_map,
)


class _Placeholder:
    def __repr__(self) -> str:
        return "BAD"


BAD: Any = _Placeholder()  # where the bad value goes in a row's arguments


@dataclass(frozen=True)
class Rejected:
    """``function(*args, **kwargs)`` with ``value`` in place of ``BAD`` raises ``exc``
    naming ``argument`` and matching every regex of ``patterns``."""

    id: str
    function: Callable[..., Any]
    argument: str
    value: Any
    exc: type[Exception]
    patterns: tuple[str, ...] = ()
    args: tuple[Any, ...] = (BAD,)
    kwargs: dict[str, Any] = field(default_factory=dict)

    def call_arguments(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        args = tuple(self.value if a is BAD else a for a in self.args)
        kwargs = {k: self.value if v is BAD else v for k, v in self.kwargs.items()}
        return args, kwargs


NAMES: dict[Callable[..., Any], str] = {
    ap.anomaly_map_to_color_map: "color_map",
    ap.superimpose_anomaly_map: "superimpose",
    ap.compute_mask: "compute_mask",
    ap.mask_to_boxes: "mask_to_boxes",
    ap.mark_boundaries: "mark_boundaries",
    ap.draw_boxes: "draw_boxes",
    ap.postprocess: "postprocess",
    ap.set_num_threads: "set_num_threads",
}

CASES: list[Rejected] = []


def reject(
    function: Callable[..., Any],
    argument: str,
    value: Any,
    exc: type[Exception],
    *patterns: str,
    label: str,
    args: tuple[Any, ...] = (BAD,),
    kwargs: dict[str, Any] | None = None,
    name: str | None = None,
) -> None:
    """Adds a row; its id is ``<function>-<argument>-<label>``."""
    prefix = name or NAMES[function]
    CASES.append(
        Rejected(
            f"{prefix}-{argument}-{label}",
            function,
            argument,
            value,
            exc,
            patterns,
            args,
            kwargs or {},
        )
    )


def literal(text: str) -> str:
    return re.escape(text)


def show(value: Any) -> str:
    """A stable label for a value (no memory addresses in test ids)."""
    text = repr(value)
    return f"{type(value).__name__}()" if " at 0x" in text else text


# ============================================================= anomaly_map: dtypes, types

MAP = np.linspace(0, 1, 20).reshape(4, 5)  # the (4, 5) map of the one-map rows
IMAGE = np.zeros((4, 5, 3), np.uint8)


def image_for(m: Any) -> np.ndarray:
    """An all-zero image of the map's (H, W), or IMAGE when the map has no usable (H, W)."""
    try:
        shape = np.shape(m)
    except ValueError:  # ragged
        shape = ()
    if len(shape) >= 2 and 0 not in shape[-2:]:
        return np.zeros(tuple(shape[-2:]) + (3,), np.uint8)
    return IMAGE


def every_function(
    argument: str, value: Any, exc: type[Exception], *patterns: str, label: str
) -> None:
    """The map ``value`` given to the three functions (one map, its own-size image)."""
    reject(ap.anomaly_map_to_color_map, argument, value, exc, *patterns, label=label)
    reject(
        ap.superimpose_anomaly_map,
        argument,
        value,
        exc,
        *patterns,
        label=label,
        args=(BAD, image_for(value)),
    )
    reject(ap.compute_mask, argument, value, exc, *patterns, label=label, args=(BAD, 0.5))


# Map dtypes that are not numbers: TypeError naming anomaly_map.
MAP_DTYPES_REJECTED = {
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
for _label, _value in MAP_DTYPES_REJECTED.items():
    # The message says what was expected and what came (for complex64: both dtypes).
    _patterns = ("complex64", "float") if _label == "complex64" else ()
    every_function("anomaly_map", _value, TypeError, *_patterns, label=f"dtype {_label}")

# Not arrays at all. (None, object() and a dict for the colour map and the mask are the
# rows of BAD_MAPS below.)
for _value, _exc in [("map", TypeError), (3.5, ValueError), (7, ValueError)]:
    every_function("anomaly_map", _value, _exc, label=f"non-array {_value!r}")
for _value in [None, object(), {"a": 1}]:
    reject(
        ap.superimpose_anomaly_map,
        "anomaly_map",
        _value,
        TypeError,
        label=f"non-array {show(_value)}",
        args=(BAD, IMAGE),
    )

# Fewer than two dimensions, and empty maps: ValueError with the shape received.
for _shape in [(), (1,)]:
    every_function(
        "anomaly_map", np.zeros(_shape), ValueError, literal(str(_shape)), label=f"shape {_shape}"
    )
for _shape in [(5,), (0,)]:  # the colour map's and the mask's rows are in BAD_MAPS below
    reject(
        ap.superimpose_anomaly_map,
        "anomaly_map",
        np.zeros(_shape),
        ValueError,
        literal(str(_shape)),
        label=f"shape {_shape}",
        args=(BAD, IMAGE),
    )
for _shape in [
    (0, 5),
    (5, 0),
    (0, 0),
    (1, 0, 5),
    (2, 0, 5),
    (0, 4, 5),
    (4, 0, 1),
    (1, 1, 0, 1),
    (3, 0, 4, 5),
]:
    every_function(
        "anomaly_map",
        np.zeros(_shape, np.float32),
        ValueError,
        literal(str(_shape)),  # what was received
        label=f"empty {_shape}",
    )
for _value in ([], [[]]):  # (the colour map's and the mask's rows are in BAD_MAPS below)
    reject(
        ap.superimpose_anomaly_map,
        "anomaly_map",
        _value,
        ValueError,
        label=f"empty list {_value!r}",
        args=(BAD, IMAGE),
    )

# Anything else that is not a map, given to every function with a (9, 11) image.
BAD_MAPS: dict[str, tuple[Any, type[Exception], tuple[str, ...]]] = {
    "None": (None, TypeError, ()),
    "str": ("0.5", TypeError, ()),
    "bytes": (b"abc", TypeError, ()),
    "bool": (True, ValueError, ()),
    "int": (3, ValueError, ()),
    "float": (0.5, ValueError, ()),
    "nan": (math.nan, ValueError, ()),
    "object": (object(), TypeError, ()),
    "dict": ({"a": 1}, TypeError, ()),
    "set": ({1.0, 2.0}, TypeError, ()),
    "object array": (np.array([[0.1, None]], dtype=object), TypeError, ()),
    "str array": (np.array([["0.1", "0.2"]]), TypeError, ()),
    "datetime array": (np.zeros((2, 2), "datetime64[ns]"), TypeError, ()),
    "structured": (np.zeros((2, 2), [("a", "<f4")]), TypeError, ()),
    "broken __array__": (BrokenArray(), TypeError, ()),
    "ragged": ([[0.1, 0.2], [0.3]], TypeError, ()),
    "0-d": (np.float32(0.5), ValueError, ()),
    "1-d": (np.zeros(5), ValueError, (literal("(5,)"),)),
    "empty 1-d": (np.zeros(0), ValueError, (literal("(0,)"),)),
    "empty list": ([], ValueError, ()),
    "empty rows": ([[]], ValueError, ()),
    "empty (0, W)": (np.zeros((0, SMALL_W), np.float32), ValueError, ()),
    "empty batch": (np.zeros((0, SMALL_H, SMALL_W)), ValueError, ()),
    "empty broadcast": (np.broadcast_to(np.float32(0.5), (SMALL_H, 0)), ValueError, ()),
    "empty misaligned": (misaligned(np.zeros((0, 4), np.float32)), ValueError, ()),
}
for _label, (_value, _exc, _patterns) in BAD_MAPS.items():
    reject(ap.anomaly_map_to_color_map, "anomaly_map", _value, _exc, *_patterns, label=_label)
    reject(
        ap.superimpose_anomaly_map,
        "anomaly_map",
        _value,
        _exc,
        *_patterns,
        label=f"{_label}, (9, 11) image",
        args=(BAD, base_image()),
    )
    reject(ap.compute_mask, "anomaly_map", _value, _exc, *_patterns, label=_label, args=(BAD, 0.5))
# The complex64 map of MAP_DTYPES_REJECTED with a (9, 11) image.
reject(
    ap.superimpose_anomaly_map,
    "anomaly_map",
    np.zeros((3, 3), np.complex64),
    TypeError,
    label="complex, (9, 11) image",
    args=(BAD, base_image()),
)


# ============================================================ anomaly_map: non-finite values
# The colour map and the overlay reject NaN/±inf, saying how many and where the first is
# (docs/behaviour.md#levels); the mask accepts them (see parity/test_compute_mask.py).


def _with(base: np.ndarray, *where: tuple[tuple[int, ...], float], dtype: Any = None) -> Any:
    m = base.astype(dtype) if dtype is not None else base.copy()
    for index, value in where:
        m[index] = value
    return m


def _map_args(fn: Callable[..., Any], image: np.ndarray) -> tuple[Any, ...]:
    """The positional arguments of a call with the bad map: the overlay takes ``image``."""
    return (BAD, image) if fn is ap.superimpose_anomaly_map else (BAD,)


for _fn in (ap.anomaly_map_to_color_map, ap.superimpose_anomaly_map):
    for _dtype in (np.float16, np.float32, np.float64, ">f8"):
        for _bad in (np.nan, np.inf, -np.inf):
            reject(
                _fn,
                "anomaly_map",
                _with(MAP, ((2, 3), _bad), dtype=_dtype),
                ValueError,
                r"\b1\b",  # how many
                r"row 2\b.*column 3\b",  # where
                label=f"{_bad} in {np.dtype(_dtype).str} (4, 5)",
                args=_map_args(_fn, IMAGE),
            )
    # Four of them: the count, and the first in row-major order.
    _four = _with(
        np.zeros((6, 7), np.float32),
        ((4, 1), np.inf),
        ((1, 5), np.nan),
        ((5, 6), -np.inf),
        ((1, 6), np.nan),
    )
    for _normalize in (True, False):
        reject(
            _fn,
            "anomaly_map",
            _four,
            ValueError,
            r"\b4\b",
            r"row 1\b.*column 5\b",
            label=f"count and first position, normalize={_normalize}",
            args=_map_args(_fn, np.zeros((6, 7, 3), np.uint8)),
            kwargs={"normalize": _normalize},
        )
    # In a strided view, the coordinates are the view's.
    _base = _with(np.zeros((10, 12)), ((9, 0), np.nan))
    for _label, _view, _where in [
        ("reversed and stepped view", _base[::-1, ::2], r"row 0\b.*column 0\b"),
        ("transposed view", _base.T, r"row 0\b.*column 9\b"),
    ]:
        reject(
            _fn,
            "anomaly_map",
            _view,
            ValueError,
            _where,
            label=f"non-finite in a {_label}",
            args=_map_args(_fn, image_for(_view)),
        )
    # In a batch: the count over the whole argument, and the first one's map, row, column.
    reject(
        _fn,
        "anomaly_map",
        _with(np.zeros((3, 4, 5)), ((1, 2, 4), np.nan), ((2, 0, 0), np.inf), ((2, 1, 1), -np.inf)),
        ValueError,
        r"\b1\b.*row 2\b.*column 4\b",  # map 1, row 2, column 4
        r"\b3\b",  # three non-finite values in anomaly_map
        label="non-finite in a batch",
        args=_map_args(_fn, IMAGE),
    )
    # A (9, 11) map in three dtypes, each normalisation (positional for the colour map).
    for _dtype in ("<f2", "<f4", ">f8"):
        for _bad in (np.nan, np.inf, -np.inf):
            for _normalize in (True, False):
                reject(
                    _fn,
                    "anomaly_map",
                    _with(base_values(), ((3, 4), _bad), dtype=_dtype),
                    ValueError,
                    label=f"{_bad} in {_dtype} (9, 11), normalize={_normalize}",
                    # The colour map takes normalize positionally, the overlay by keyword.
                    args=(BAD, _normalize)
                    if _fn is ap.anomaly_map_to_color_map
                    else (BAD, base_image()),
                    kwargs={} if _fn is ap.anomaly_map_to_color_map else {"normalize": _normalize},
                )

# A batch of batches: the map's index is its batch index.
reject(
    ap.anomaly_map_to_color_map,
    "anomaly_map",
    _with(np.zeros((2, 3, 4, 5)), ((1, 2, 3, 4), np.nan), ((1, 2, 0, 0), np.inf)),
    ValueError,
    literal("2 NaN/±inf values"),
    literal("map (1, 2), row 0, column 0"),
    label="non-finite in a 2-d batch",
)
# A rejected map leaves the map and the image untouched.
reject(
    ap.superimpose_anomaly_map,
    "anomaly_map",
    _with(MAP, ((0, 0), np.nan)),
    ValueError,
    label="non-finite, inputs untouched",
    args=(BAD, np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)),
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_found_at_every_position(dtype: type) -> None:
    """A single NaN/inf anywhere (vector bodies and tails alike) is found and located."""
    for w in (1, 7, 8, 15, 16, 17, 31, 33, 64, 65):
        for x in range(w):
            for bad in (np.nan, np.inf):
                m = np.zeros((2, w), dtype)
                m[1, x] = bad
                assert_rejected(
                    lambda m=m: ap.anomaly_map_to_color_map(m),
                    "anomaly_map",
                    ValueError,
                    rf"row 1\b.*column {x}\b",
                    inputs=[m],
                )


# ===================================================================================== image

for _image, _exc in [
    (np.zeros((4, 5, 3), np.float32), TypeError),
    (np.zeros((4, 5, 3), np.float64), TypeError),
    (np.zeros((4, 5, 3), np.uint16), TypeError),
    (np.zeros((4, 5, 3), np.int8), TypeError),
    (np.zeros((4, 5, 3), np.int64), TypeError),
    (np.zeros((4, 5, 3), bool), TypeError),
    (np.zeros((4, 5, 3), object), TypeError),
    (np.zeros((4, 5, 3), ">u2"), TypeError),
    (np.zeros((4, 5, 3)).tolist(), TypeError),
]:
    _dtype_name = str(np.asarray(_image).dtype)
    reject(
        ap.superimpose_anomaly_map,
        "image",
        _image,
        _exc,
        "uint8",  # what is expected
        literal(_dtype_name),  # what came
        label=f"dtype {_dtype_name}{' list' if isinstance(_image, list) else ''}",
        args=(MAP, BAD),
    )

for _shape in [
    (4, 5),
    (4, 5, 4),
    (4, 5, 1),
    (4, 5, 3, 1),
    (3, 4, 5),
    (2, 4, 5, 3),
    (1, 4, 5, 4),
    (4,),
    (),
]:
    reject(
        ap.superimpose_anomaly_map,
        "image",
        np.zeros(_shape, np.uint8),
        ValueError,
        literal(str(_shape)),  # what was received
        literal("(4, 5"),  # what is expected: the map's (H, W)
        label=f"shape {_shape}",
        args=(MAP, BAD),
    )

# Only the batch axes and the channels must match: another (h, w) is resized
# (docs/behaviour.md#resizing).
for _shape in [(2, 4, 5, 3), (3, 1, 4, 5, 3), (2, 3, 4, 5, 3), (2, 5, 4, 3)]:
    reject(
        ap.superimpose_anomaly_map,
        "image",
        np.zeros(_shape, np.uint8),
        ValueError,
        literal(str(_shape)),
        label=f"shape {_shape} for 3 maps",
        args=(np.zeros((3, 4, 5)), BAD),
    )
reject(
    ap.superimpose_anomaly_map,
    "image",
    np.zeros((3, 2, 4, 5, 3), np.uint8),
    ValueError,
    literal("(3, 2, 4, 5, 3)"),
    label="shape (3, 2, 4, 5, 3) for (2, 3) maps",
    args=(np.zeros((2, 3, 4, 5)), BAD),
)

for _value, _exc in [
    (None, TypeError),
    ("image", TypeError),
    (3, TypeError),
    (object(), TypeError),
]:
    reject(
        ap.superimpose_anomaly_map,
        "image",
        _value,
        _exc,
        label=f"non-array {show(_value)}",
        args=(MAP, BAD),
    )

BAD_IMAGES: dict[str, tuple[Any, type[Exception]]] = {
    "None": (None, TypeError),
    "str": ("image.png", TypeError),
    "bytes": (b"\x00" * (SMALL_H * SMALL_W * 3), TypeError),
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
    "4 channels": (np.zeros((SMALL_H, SMALL_W, 4), np.uint8), ValueError),
    "1 channel": (np.zeros((SMALL_H, SMALL_W, 1), np.uint8), ValueError),
    "channels first": (np.zeros((3, SMALL_H, SMALL_W), np.uint8), ValueError),
    "empty": (np.zeros((0, 0, 3), np.uint8), ValueError),
    "empty batch": (np.zeros((0, SMALL_H, SMALL_W, 3), np.uint8), ValueError),
    "0-d": (np.uint8(7), ValueError),
    "batch of 2 for 1 map": (np.zeros((2, SMALL_H, SMALL_W, 3), np.uint8), ValueError),
}
for _label, (_value, _exc) in BAD_IMAGES.items():
    reject(
        ap.superimpose_anomaly_map,
        "image",
        _value,
        _exc,
        label=f"{_label}, (9, 11) map",
        args=(base_values(), BAD),
    )


@pytest.mark.parametrize(
    ("mode", "exc"), [("RGBA", ValueError), ("L", ValueError), ("I;16", TypeError)]
)
def test_pil_image_of_another_mode_is_rejected(mode: str, exc: type[Exception]) -> None:
    """Not RGB: 4 channels or 1 (a ValueError), or 16-bit pixels (a TypeError)."""
    image = pytest.importorskip("PIL.Image")
    pil = image.new(mode, (ODD_W, ODD_H))
    assert_rejected(
        lambda: ap.superimpose_anomaly_map(smooth_maps((ODD_H, ODD_W), seed=68), pil),
        "image",
        exc,
    )


# ========================================================================== alpha, gamma

WEIGHTS_REJECTED: dict[str, tuple[Any, type[Exception]]] = {
    "float beyond float64": (10**400, ValueError),
    "nan": (math.nan, ValueError),
    "inf": (math.inf, ValueError),
    "-inf": (-math.inf, ValueError),
    "float32 nan": (np.float32("nan"), ValueError),
    "None": (None, TypeError),
    "str": ("0.4", TypeError),
    "bytes": (b"0.4", TypeError),
    "bool": (True, TypeError),
    "numpy bool": (np.False_, TypeError),
    "complex": (0.4 + 0j, TypeError),
    "complex64": (np.complex64(0.4), TypeError),
    "list": ([0.4], TypeError),
    "1-d array": (np.array([0.4]), TypeError),
    "empty array": (np.array([]), TypeError),
    "object": (object(), TypeError),
    "pretends to be a number": (Weird(), TypeError),
}

for _name in ("alpha", "gamma"):
    # alpha and gamma: any finite real number, not bool.
    for _value in [
        math.nan,
        math.inf,
        -math.inf,
        np.float32("nan"),
        np.float64("inf"),
        np.float16("-inf"),
        # (float("1e400") is math.inf, above.)
    ]:
        reject(
            ap.superimpose_anomaly_map,
            _name,
            _value,
            ValueError,
            label=f"{show(_value)}, one map",
            args=(MAP, IMAGE),
            kwargs={_name: BAD},
        )
    for _value in [
        None,
        "0.4",
        True,
        False,
        np.True_,
        1 + 0j,
        np.complex64(1),
        [0.4],
        np.array([0.4]),
        object(),
    ]:
        reject(
            ap.superimpose_anomaly_map,
            _name,
            _value,
            TypeError,
            label=f"{show(_value)}, one map",
            args=(MAP, IMAGE),
            kwargs={_name: BAD},
        )
    # A batch of two (9, 11) maps.
    for _label, (_value, _exc) in WEIGHTS_REJECTED.items():
        reject(
            ap.superimpose_anomaly_map,
            _name,
            _value,
            _exc,
            label=f"{_label}, batch",
            args=(base_values((2, SMALL_H, SMALL_W)), base_image()),
            kwargs={_name: BAD},
        )


# ============================================================================= normalize

for _value in [None, "False", "True", "", [True], np.array([True, False])]:
    reject(
        ap.anomaly_map_to_color_map,
        "normalize",
        _value,
        TypeError,
        label=f"{show(_value)}, keyword",
        args=(MAP,),
        kwargs={"normalize": BAD},
    )
    reject(
        ap.superimpose_anomaly_map,
        "normalize",
        _value,
        TypeError,
        label=f"{show(_value)}, keyword",
        args=(MAP, IMAGE),
        kwargs={"normalize": BAD},
    )
# A string like "False" must not silently mean True.
reject(
    ap.anomaly_map_to_color_map,
    "normalize",
    "False",
    TypeError,
    label="'False', positional",
    args=(MAP, BAD),
)

FLAGS_REJECTED: dict[str, Any] = {
    "None": None,
    "str False": "False",
    "empty str": "",
    "int 1": 1,
    "int 0": 0,
    "float nan": math.nan,
    "negative": -1,
    "huge": 10**30,
    "bool array": np.array([True]),
    "empty array": np.array([], bool),
    "list": [True],
    "object": object(),
}
_FLAG_MAP = base_values() * 0.5 + 0.2
for _label, _value in FLAGS_REJECTED.items():
    reject(
        ap.anomaly_map_to_color_map,
        "normalize",
        _value,
        TypeError,
        label=f"{_label}, (9, 11) map, positional",
        args=(_FLAG_MAP, BAD),
    )
    reject(
        ap.superimpose_anomaly_map,
        "normalize",
        _value,
        TypeError,
        label=f"{_label}, (9, 11) map",
        args=(_FLAG_MAP, base_image()),
        kwargs={"normalize": BAD},
    )


# ============================================================================= threshold

for _value in [
    math.nan,
    np.float32("nan"),
    np.float64("nan"),
    np.float16("nan"),
    np.array(np.nan),
    np.longdouble("nan"),
]:
    reject(
        ap.compute_mask,
        "threshold",
        _value,
        ValueError,
        label=f"{show(_value)} {type(_value).__name__}, (4, 5) map",
        args=(MAP, BAD),
    )
for _value in [
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
]:
    reject(
        ap.compute_mask,
        "threshold",
        _value,
        TypeError,
        label=f"{show(_value)} {type(_value).__name__}, (4, 5) map",
        args=(MAP, BAD),
    )

THRESHOLDS_REJECTED: dict[str, tuple[Any, type[Exception]]] = {
    "nan": (math.nan, ValueError),
    "float32 nan": (np.float32("nan"), ValueError),
    "0-d nan array": (np.array(np.nan), ValueError),
    "None": (None, TypeError),
    "str": ("0.5", TypeError),
    "bool": (True, TypeError),
    "numpy bool": (np.True_, TypeError),
    "complex": (0.5 + 0j, TypeError),
    "list": ([0.5], TypeError),
    "1-d array": (np.array([0.5]), TypeError),
    "2-d array": (np.full((SMALL_H, SMALL_W), 0.5), TypeError),
    "empty array": (np.array([]), TypeError),
    "str array": (np.array("0.5"), TypeError),
    "datetime": (np.datetime64(1, "s"), TypeError),
    "object": (object(), TypeError),
    "pretends to be a number": (Weird(), TypeError),
}


def threshold_map(dtype: str) -> np.ndarray:
    """Two (9, 11) maps; float ones hold values whose comparison with 0.3 depends on the
    precision it is done in."""
    m = map_values(dtype, (2, SMALL_H, SMALL_W))
    if m.dtype.kind == "f":
        m.reshape(-1)[3::11] = np.asarray(0.3).astype(m.dtype)
        m.reshape(-1)[5::11] = -0.25
    return m


THRESHOLD_MAP_DTYPES = ["<f2", ">f4", "<f8", "|u1", "<i8", "|b1"]
for _dtype in THRESHOLD_MAP_DTYPES:
    for _label, (_value, _exc) in THRESHOLDS_REJECTED.items():
        for _kernel_size in (0, 1):
            reject(
                ap.compute_mask,
                "threshold",
                _value,
                _exc,
                label=f"{_label}, {_dtype} maps, kernel_size={_kernel_size}",
                args=(threshold_map(_dtype), BAD, _kernel_size),
            )


# =========================================================================== kernel_size

for _values, _exc in [
    ([-1, -(10**30), np.int64(-3), -1.0], ValueError),  # negative
    ([2.5, 0.1, np.float32(3.5), math.inf, -math.inf, math.nan, Fraction(1, 2)], ValueError),
    ([None, "4", True, False, np.True_, 4 + 0j, [4], np.array([4]), object()], TypeError),
]:
    for _value in _values:
        reject(
            ap.compute_mask,
            "kernel_size",
            _value,
            _exc,
            label=f"{show(_value)} {type(_value).__name__}, (4, 5) map",
            args=(MAP, 0.5, BAD),
        )

KERNEL_SIZES_REJECTED: dict[str, tuple[Any, type[Exception]]] = {
    "-1": (-1, ValueError),
    "negative huge": (-(10**30), ValueError),
    "negative float": (-2.0, ValueError),
    "numpy negative": (np.int64(-1), ValueError),
    "fraction": (2.5, ValueError),
    "nan": (math.nan, ValueError),
    "inf": (math.inf, ValueError),
    "-inf": (-math.inf, ValueError),
    "float32 nan": (np.float32("nan"), ValueError),
    "None": (None, TypeError),
    "str": ("4", TypeError),
    "bool": (True, TypeError),
    "numpy bool": (np.False_, TypeError),
    "complex": (4 + 0j, TypeError),
    "list": ([4], TypeError),
    "1-d array": (np.array([4]), TypeError),
    "empty array": (np.array([], int), TypeError),
    "object": (object(), TypeError),
    "pretends to be a number": (Weird(), TypeError),
}
_KERNEL_MAPS = base_values((2, 40, 50))
_KERNEL_MAPS[0, 10:20, 10:25] = 0.9  # a block that survives small disks
for _label, (_value, _exc) in KERNEL_SIZES_REJECTED.items():
    reject(
        ap.compute_mask,
        "kernel_size",
        _value,
        _exc,
        label=f"{_label}, batch",
        args=(_KERNEL_MAPS, 0.5, BAD),
    )


# ============================================================================ colormap=

_COLORMAP_LIST = r"colormap must be one of \[.*'jet'.*\].*\(256, 3\) uint8 RGB table"
for _value in [
    "nope",
    "",
    99,
    -1,
    1.5,
    None,
    np.zeros((255, 3), np.uint8),
    np.zeros((256, 3), np.float32),
    np.zeros((256, 4), np.uint8),
    True,
]:
    _label = (
        show(_value) if not isinstance(_value, np.ndarray) else f"{_value.shape} {_value.dtype}"
    )
    # The message lists what is accepted (docs/behaviour.md#colour-tables).
    reject(
        ap.anomaly_map_to_color_map,
        "colormap",
        _value,
        ValueError,
        _COLORMAP_LIST,
        label=_label,
        args=(np.zeros((3, 3), np.float32),),
        kwargs={"colormap": BAD},
    )
    reject(
        ap.superimpose_anomaly_map,
        "colormap",
        _value,
        ValueError,
        "colormap must be",
        label=_label,
        args=(np.zeros((3, 3), np.float32), np.zeros((3, 3, 3), np.uint8)),
        kwargs={"colormap": BAD},
    )


# ================================================================================ size=

# Only a str is a size: anything else is a TypeError, an unknown str a ValueError.
for _value, _exc in [
    ("Map", ValueError),
    ("both", ValueError),
    (None, TypeError),
    (3, TypeError),
    ("", ValueError),
]:
    reject(
        ap.superimpose_anomaly_map,
        "size",
        _value,
        _exc,
        'size must be "map" or "image"',
        label=show(_value),
        args=(np.zeros((4, 5)), np.zeros((4, 5, 3), np.uint8)),
        kwargs={"size": BAD},
    )


# ======================================================= mask_to_boxes, mark_boundaries

reject(
    ap.mask_to_boxes,
    "mask",
    np.zeros((2, 3, 4, 5)),
    ValueError,
    "mask must be one 2-D mask",
    label="4-d",
)
reject(
    ap.mask_to_boxes, "mask", np.zeros((0, 4)), ValueError, "mask must not be empty", label="empty"
)
reject(ap.mask_to_boxes, "mask", np.array([["a"]]), TypeError, "mask must be", label="str")
reject(
    ap.mask_to_boxes,
    "min_area",
    -1,
    ValueError,
    "min_area",
    label="-1",
    args=(np.zeros((2, 2)),),
    kwargs={"min_area": BAD},
)
reject(
    ap.mask_to_boxes,
    "min_area",
    1.5,
    TypeError,
    "min_area",
    label="1.5",
    args=(np.zeros((2, 2)),),
    kwargs={"min_area": BAD},
)
reject(
    ap.compute_mask,
    "min_area",
    -3,
    ValueError,
    "min_area",
    label="-3",
    args=(np.zeros((2, 2)), 0.5),
    kwargs={"min_area": BAD},
)
reject(
    ap.compute_mask,
    "min_area",
    True,
    TypeError,
    "min_area",
    label="True",
    args=(np.zeros((2, 2)), 0.5),
    kwargs={"min_area": BAD},
)
reject(
    ap.mark_boundaries,
    "mask",
    np.zeros((3, 2)),
    ValueError,
    "image must be an RGB image .* to match mask",
    label="another size than the image",
    args=(np.zeros((2, 2, 3), np.uint8), BAD),
)
reject(
    ap.mark_boundaries,
    "image",
    np.zeros((2, 2, 3)),
    TypeError,
    "image must be",
    label="float64",
    args=(BAD, np.zeros((2, 2))),
)
for _value, _exc in [((1, 2), TypeError), ((1, 2, 300), ValueError), ("red", TypeError)]:
    reject(
        ap.mark_boundaries,
        "color",
        _value,
        _exc,
        "color",
        label=show(_value),
        args=(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2))),
        kwargs={"color": BAD},
    )


# ================================================================================== out=

# A (2, 9, 11) batch into an ``out`` that is not a writable C-contiguous uint8 array of
# the result's shape (docs/behaviour.md#memory).


def _read_only_out(shape: tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    out.flags.writeable = False
    return out


OUTS_REJECTED: dict[str, tuple[Callable[[tuple[int, ...]], Any], type[Exception]]] = {
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
    "read-only": (_read_only_out, ValueError),
    "zero strides": (lambda shape: np.broadcast_to(np.zeros(1, np.uint8), shape), ValueError),
    "fortran": (lambda shape: np.zeros(shape, np.uint8, order="F"), ValueError),
    "negative strides": (lambda shape: np.zeros(shape, np.uint8)[::-1], ValueError),
    "stepped": (
        lambda shape: np.zeros((*shape[:-1], shape[-1] * 2), np.uint8)[..., ::2],
        ValueError,
    ),
}
_OUT_MAPS = base_values((2, SMALL_H, SMALL_W))
for _label, (_make, _exc) in OUTS_REJECTED.items():
    reject(
        ap.anomaly_map_to_color_map,
        "out",
        _make((2, SMALL_H, SMALL_W, 3)),
        _exc,
        label=f"{_label}, (2, 9, 11) maps",
        args=(_OUT_MAPS,),
        kwargs={"out": BAD},
    )
    reject(
        ap.superimpose_anomaly_map,
        "out",
        _make((2, SMALL_H, SMALL_W, 3)),
        _exc,
        label=f"{_label}, (2, 9, 11) maps",
        args=(_OUT_MAPS, base_image()),
        kwargs={"out": BAD},
    )
    reject(
        ap.compute_mask,
        "out",
        _make((2, SMALL_H, SMALL_W)),
        _exc,
        label=f"{_label}, (2, 9, 11) maps",
        args=(_OUT_MAPS, 0.5, 1),
        kwargs={"out": BAD},
    )

# Odd-sized single maps and batches, through FUNCTIONS: the message says what is expected
# and what came.


def _odd_out_rows(name: str, batch: tuple[int, ...], batch_label: str) -> None:
    maps = smooth_maps(batch + (ODD_H, ODD_W), seed=11)
    image = random_image(12, (ODD_H, ODD_W))
    shape = result_shape(name, maps.shape)

    def row(value: Any, exc: type[Exception], *patterns: str, label: str) -> None:
        reject(
            FUNCTIONS[name],
            "out",
            value,
            exc,
            *patterns,
            label=f"{label}, (37, 53) {batch_label}",
            args=(maps, image),
            kwargs={"out": BAD},
            name={"color": "color_map", "mask": "compute_mask"}.get(name, name),
        )

    # Wrong dtype: TypeError naming the expected and the received dtype.
    for dtype in (np.float32, np.int8, np.uint16, np.bool_, np.float64):
        dtype_name = np.dtype(dtype).name
        row(
            np.zeros(shape, dtype),
            TypeError,
            "(?i)uint8",
            "(?i)" + literal(dtype_name),
            label=f"dtype {dtype_name}",
        )
    # Not an array: TypeError saying what is expected.
    for label, value in [
        ("list", np.zeros(shape, np.uint8).tolist()),
        ("bytearray", bytearray(math.prod(shape))),
        ("str", "out"),
        ("int", 3),
        ("memoryview", memoryview(np.zeros(shape, np.uint8))),
    ]:
        row(value, TypeError, "(?i)uint8", label=f"non-array {label}")
    # Wrong shape: ValueError with the expected and the received shape.
    for wrong in [
        shape[:-1] + (shape[-1] + 1,),
        (1,) + shape,
        shape[1:],
        (math.prod(shape),),
        tuple(reversed(shape)),
    ]:
        row(
            np.zeros(wrong, np.uint8),
            ValueError,
            "(?i)shape",
            literal(str(shape)),
            literal(str(wrong)),
            label=f"shape {wrong}",
        )
    # Not C-contiguous: ValueError.
    wide = np.zeros(shape[:-1] + (2 * shape[-1],), np.uint8)
    row(wide[..., ::2], ValueError, "(?i)contiguous", label="stepped")
    row(np.asfortranarray(np.zeros(shape, np.uint8)), ValueError, "(?i)contiguous", label="fortran")
    row(np.zeros(shape, np.uint8)[::-1], ValueError, "(?i)contiguous", label="reversed")
    # Read-only: ValueError.
    row(_read_only_out(shape), ValueError, "(?i)writ", label="read-only")
    row(np.broadcast_to(np.zeros(shape[-1:], np.uint8), shape), ValueError, label="broadcast")


for _name in ("color", "superimpose", "mask"):
    for _batch, _batch_label in [((), "single"), ((2,), "batch")]:
        _odd_out_rows(_name, _batch, _batch_label)


# An ``out`` that overlaps an input is refused before anything is written (inputs are
# never modified); one next to it in the same buffer is fine (docs/behaviour.md#memory).


def test_out_sharing_memory_with_an_input() -> None:
    h, w = SMALL_H, SMALL_W
    raw = np.zeros(h * w * 8 + h * w * 3, np.uint8)
    m = raw[: h * w * 8].view(np.float64).reshape(h, w)
    m[...] = base_values()
    before = raw.copy()
    beside = raw[h * w * 8 :].reshape(h, w, 3)
    assert np.array_equal(
        ap.anomaly_map_to_color_map(m, out=beside), spec_anomaly_map_to_color_map(m)
    )
    overlapping = raw[h * w * 8 - 7 : h * w * 8 - 7 + h * w * 3].reshape(h, w, 3)
    image = base_image()
    image_before = image.copy()
    assert_rejected(
        lambda: ap.anomaly_map_to_color_map(m, out=overlapping), "out", ValueError, inputs=[m]
    )
    assert_rejected(
        lambda: ap.superimpose_anomaly_map(m, image, out=overlapping),
        "out",
        ValueError,
        inputs=[m, image],
    )
    assert_rejected(
        lambda: ap.superimpose_anomaly_map(m, image, out=image),
        "out",
        ValueError,
        inputs=[m, image],
    )
    assert_rejected(
        lambda: ap.compute_mask(m, 0.5, out=raw[: h * w].reshape(h, w)),
        "out",
        ValueError,
        inputs=[m],
    )
    assert np.array_equal(raw[: h * w * 8], before[: h * w * 8])
    assert np.array_equal(image, image_before)


def _reject_out(name: str, maps: Any, image: np.ndarray, out: Any, *patterns: str) -> None:
    """FUNCTIONS[name](maps, image, out=out) is a ValueError naming out and matching
    ``patterns``; the maps, the image and out are untouched."""
    assert_rejected(
        lambda: FUNCTIONS[name](maps, image, out=out),
        "out",
        ValueError,
        *patterns,
        inputs=[maps, image, out],
    )


@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_sharing_memory_with_the_map(name: str, dtype: Any) -> None:
    fn = FUNCTIONS[name]
    h, w = ODD_H, ODD_W
    image = random_image(13, (h, w))
    shape = result_shape(name, (h, w))
    itemsize = np.dtype(dtype).itemsize
    # One buffer, viewed both as the map and as out (the map's bytes come first).
    size = math.prod(shape)
    buffer = np.zeros(h * w * itemsize + size, np.uint8)
    maps = buffer[: h * w * itemsize].view(dtype).reshape(h, w)
    maps[...] = smooth_maps((h, w), seed=14, dtype=dtype)
    _reject_out(name, maps, image, buffer[:size].reshape(shape), "(?i)share")
    # Overlapping only the last byte of the map.
    tail = buffer[h * w * itemsize - 1 :][:size]
    _reject_out(name, maps, image, tail.reshape(shape), "(?i)share")
    # Right after the map: no overlap, so it works.
    after = buffer[h * w * itemsize :]
    assert fn(maps, image, out=after.reshape(shape)) is not None
    assert_same_bytes(after.reshape(shape), fn(maps.copy(), image))


def test_out_sharing_memory_with_the_image() -> None:
    h, w = ODD_H, ODD_W
    m = smooth_maps((h, w), seed=15)
    image = random_image(16, (h, w))
    _reject_out("superimpose", m, image, image, "(?i)share")
    batch_images = random_image(17, (2, h, w))
    _reject_out(
        "superimpose", smooth_maps((2, h, w), seed=18), batch_images, batch_images, "(?i)share"
    )
    # An image that is a view of part of a larger out.
    big = np.zeros((2, h, w, 3), np.uint8)
    big[1] = image
    _reject_out("superimpose", smooth_maps((2, h, w), seed=19), big[1], big, "(?i)share")


@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
@pytest.mark.parametrize("dtype", ["uint8", "bool", "float16", ">f4", "int16"])
def test_out_sharing_memory_with_a_map_that_gets_converted(name: str, dtype: str) -> None:
    """A map of a dtype the kernels do not compute in is converted first; ``out`` must
    still not share memory with the caller's map (inputs are never modified)."""
    h, w = ODD_H, ODD_W
    image = random_image(20, (h, w))
    shape = result_shape(name, (h, w))
    itemsize = np.dtype(dtype).itemsize
    buffer = np.zeros(max(h * w * itemsize, math.prod(shape)), np.uint8)
    maps = buffer[: h * w * itemsize].view(dtype).reshape(h, w)
    maps[...] = (
        (smooth_maps((h, w), seed=21) > 0.5)
        if dtype == "bool"
        else (smooth_maps((h, w), seed=21) * (200 if np.dtype(dtype).kind in "iu" else 1)).astype(
            dtype
        )
    )
    out = buffer[: math.prod(shape)].reshape(shape)
    before = maps.copy()
    assert_rejected(
        lambda: FUNCTIONS[name](maps, image, out=out), "out", ValueError, r"\bout\b.*share"
    )
    assert np.array_equal(maps, before), "the caller's map was overwritten through out="


def test_out_sharing_memory_with_a_wrapped_map() -> None:
    h, w = ODD_H, ODD_W
    buffer = np.zeros(h * w * 4, np.uint8)
    maps = buffer.view(np.float32).reshape(h, w)
    maps[...] = smooth_maps((h, w), seed=64)
    assert_rejected(
        lambda: ap.compute_mask(TensorLike(maps), 0.5, out=buffer[: h * w].reshape(h, w)),
        "out",
        ValueError,
        r"\bout\b.*share",
        inputs=[maps],
    )


# ======================================================================= set_num_threads

_N_WORD = r"(?:^|\s)n(?:\s|$)|n must"  # n, as a word of its own, or "n must"
NUM_THREADS_REJECTED: dict[str, tuple[Any, type[Exception], tuple[str, ...]]] = {
    "0": (0, ValueError, (_N_WORD, "1", literal("0"))),
    "-1": (-1, ValueError, (_N_WORD, "1", literal("-1"))),
    "negative huge": (-(10**30), ValueError, (_N_WORD,)),
    "-2**70": (-(2**70), ValueError, ("1", literal(str(-(2**70))))),
    "numpy negative": (np.int8(-1), ValueError, (_N_WORD,)),
    "float": (2.0, TypeError, (_N_WORD, "integer")),
    "float 1.5": (1.5, TypeError, ("integer",)),
    "numpy float": (np.float64(2), TypeError, ("integer",)),
    "nan": (math.nan, TypeError, (_N_WORD,)),
    "inf": (math.inf, TypeError, (_N_WORD,)),
    "None": (None, TypeError, (_N_WORD, "integer")),
    "str": ("2", TypeError, (_N_WORD, "integer")),
    "bool": (True, TypeError, (_N_WORD, "integer")),
    "False": (False, TypeError, ("integer",)),
    "numpy bool": (np.True_, TypeError, (_N_WORD,)),
    "complex": (2 + 0j, TypeError, (_N_WORD, "integer")),
    "list": ([2], TypeError, (_N_WORD, "integer")),
    "1-d array": (np.array([2]), TypeError, (_N_WORD,)),
    "empty array": (np.array([], int), TypeError, (_N_WORD,)),
    "object": (object(), TypeError, (_N_WORD,)),
}
for _label, (_value, _exc, _patterns) in NUM_THREADS_REJECTED.items():
    reject(ap.set_num_threads, "n", _value, _exc, *_patterns, label=_label)


# ============================================== mask_to_boxes(anomaly_map=), draw_boxes

for _mask, _map, _exc, _patterns, _label in [
    (np.zeros((4, 5)), np.zeros((4, 5), np.complex64), TypeError, ["must have dtype"], "complex"),
    (np.zeros((4, 5)), np.zeros((4, 5), object), TypeError, ["must have dtype"], "object"),
    (np.zeros((4, 5)), np.full((4, 5), "a"), TypeError, ["must have dtype"], "str"),
    (np.zeros((4, 5)), np.zeros((4, 5), "M8[s]"), TypeError, ["must have dtype"], "datetime"),
    (np.zeros((4, 5)), np.zeros((4, 5), np.longdouble), TypeError, ["dtype"], "longdouble"),
    (np.zeros((4, 5)), [[1, 2], [3]], TypeError, ["numpy cannot convert"], "ragged"),
    (np.zeros((4, 5)), np.zeros((5, 4)), ValueError, [r"mask's shape \(4, 5\)"], "transposed"),
    (np.zeros((4, 5)), np.zeros((2, 4, 5)), ValueError, ["mask's shape"], "batch for one mask"),
    (
        np.zeros((2, 4, 5)),
        np.zeros((4, 5)),
        ValueError,
        [r"shape \(2, 4, 5\) \(one map per mask\)"],
        "one map for a batch",
    ),
    (np.zeros((2, 4, 5)), np.zeros((3, 4, 5)), ValueError, ["mask's shape"], "other batch"),
    (np.zeros((4, 5)), np.float64(3.0), ValueError, ["mask's shape"], "scalar"),
]:
    reject(
        ap.mask_to_boxes,
        "anomaly_map",
        _map,
        _exc,
        *_patterns,
        label=_label,
        args=(_mask,),
        kwargs={"anomaly_map": BAD},
    )
for _mask, _exc, _pattern, _label in [
    (np.zeros((2, 3, 4, 5)), ValueError, "mask must be one 2-D mask", "4-d with a map"),
    (np.zeros((0, 4, 4)), ValueError, "mask must not be empty", "empty batch"),
    (np.full((2, 2), "a"), TypeError, "mask must be", "str with a map"),
]:
    reject(
        ap.mask_to_boxes,
        "mask",
        _mask,
        _exc,
        _pattern,
        label=_label,
        kwargs={"anomaly_map": np.zeros(_mask.shape)},
    )

_BOX_IMAGE = np.zeros((6, 7, 3), np.uint8)
_BOXES = [[1, 1, 4, 4]]
for _argument, _value, _exc, _pattern, _label in [
    ("image", np.zeros((6, 7, 3)), TypeError, "one RGB image", "float"),
    ("image", np.zeros((6, 7, 4), np.uint8), ValueError, r"one RGB image .* \(6, 7, 4\)", "rgba"),
    ("image", np.zeros((2, 6, 7, 3), np.uint8), ValueError, "one RGB image", "batch"),
    ("image", np.zeros((0, 7, 3), np.uint8), ValueError, "one RGB image", "empty"),
    ("image", np.zeros((6, 7), np.uint8), ValueError, "one RGB image", "2-d"),
    ("image", "picture", TypeError, "one RGB image", "str"),
    ("boxes", [[1, 2, 3]], ValueError, r"\(K, 4\).*shape \(1, 3\)", "3 columns"),
    ("boxes", [1, 2, 3, 4], ValueError, r"shape \(4,\)", "one box, 1-d"),
    ("boxes", np.zeros((1, 1, 4), np.int64), ValueError, r"\(K, 4\)", "3-d"),
    ("boxes", [[1.5, 2, 3, 4]], ValueError, "whole numbers, got 1.5", "fraction"),
    ("boxes", [[np.nan, 2, 3, 4]], ValueError, "whole numbers", "nan"),
    ("boxes", [[np.inf, 2, 3, 4]], ValueError, "whole numbers", "inf"),
    ("boxes", [[True, False, True, True]], TypeError, "integer array.*bool", "bool"),
    ("boxes", [["1", "2", "3", "4"]], TypeError, "integer array", "str"),
    ("boxes", [[1, 2, 3, 2**70]], TypeError, "integer array.*object", "beyond int64"),
    ("boxes", np.zeros((1, 4), np.complex64), TypeError, "integer array", "complex"),
    ("boxes", [[1, 2], [3]], TypeError, "integer array", "ragged"),
    ("color", (1, 2), TypeError, "three integers", "2 values"),
    ("color", (1, 2, 256), ValueError, "three integers", "256"),
    ("color", (1.0, 2, 3), TypeError, "three integers", "float"),
    ("color", {0: 1, 1: 2, 2: 3}, TypeError, "in a sequence", "mapping"),
    ("color", 5, TypeError, "three integers", "int"),
    ("thickness", 0, ValueError, "integer from 1 to 32767", "0"),
    ("thickness", -1, ValueError, "integer from 1 to 32767", "filled (-1)"),
    ("thickness", 32768, ValueError, r"\(OpenCV's limit\), got 32768", "32768"),
    ("thickness", 10**30, ValueError, "integer from 1 to 32767", "huge"),
    ("thickness", 2.5, ValueError, "integer from 1 to 32767, got 2.5", "2.5"),
    ("thickness", math.nan, ValueError, "integer from 1 to 32767", "nan"),
    ("thickness", math.inf, ValueError, "integer from 1 to 32767", "inf"),
    ("thickness", True, TypeError, "integer from 1 to 32767", "True"),
    ("thickness", np.bool_(True), TypeError, "integer from 1 to 32767", "np.True_"),
    ("thickness", "2", TypeError, "integer from 1 to 32767", "str"),
    ("thickness", None, TypeError, "integer from 1 to 32767", "None"),
]:
    _call = {"image": _BOX_IMAGE, "boxes": _BOXES, "color": (255, 0, 0), "thickness": 2}
    reject(
        ap.draw_boxes,
        _argument,
        _value,
        _exc,
        _pattern,
        label=_label,
        args=(),
        kwargs={**_call, _argument: BAD},
    )


# ================================= hostile values for colormap=, size=, min_area=, regions
# Every argument added since the reliability work, against the same kinds of bad value:
# wrong type, wrong dtype, wrong shape, NaN, ±inf, huge, negative, and out= read-only or
# overlapping an input (docs/behaviour.md#errors, docs/behaviour.md#memory). Values the
# contract accepts (a huge min_area, NaN in a mask or in anomaly_map=, read-only inputs)
# are checked by the tests after the table.

# colormap=: anything but a name, its number or a (256, 3) uint8 table is a ValueError
# listing what is accepted, whatever its type (docs/behaviour.md#colour-tables).
_TABLE_MAP = np.zeros((3, 3), np.float32)
for _label, _value in {
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "huge 10**30": 10**30,
    "huge 2**64": 2**64,
    "negative -22": -22,
    "22, one past the last": 22,
    "bytes": b"jet",
    "padded name": " jet",
    "object": object(),
    "0-d int array": np.array(2),
    "table int16": np.zeros((256, 3), np.int16),
    "table int64": np.full((256, 3), 7),
    "table bool": np.zeros((256, 3), bool),
    "table float64": np.zeros((256, 3)),
    "table NaN": np.full((256, 3), np.nan),
    "table inf": np.full((256, 3), np.inf),
    "table huge": np.full((256, 3), 10**6),
    "table negative": np.full((256, 3), -1),
    "table transposed (3, 256)": np.zeros((3, 256), np.uint8),
    "table (1, 256, 3)": np.zeros((1, 256, 3), np.uint8),
    "table flat (768,)": np.zeros(768, np.uint8),
    "table empty (0, 3)": np.zeros((0, 3), np.uint8),
    "table (257, 3)": np.zeros((257, 3), np.uint8),
}.items():
    reject(
        ap.anomaly_map_to_color_map,
        "colormap",
        _value,
        ValueError,
        _COLORMAP_LIST,
        label=_label,
        args=(_TABLE_MAP,),
        kwargs={"colormap": BAD},
    )
    reject(
        ap.superimpose_anomaly_map,
        "colormap",
        _value,
        ValueError,
        _COLORMAP_LIST,
        label=_label,
        args=(_TABLE_MAP, np.zeros((3, 3, 3), np.uint8)),
        kwargs={"colormap": BAD},
    )

# out= sharing memory with a colormap= table: refused, the table untouched. A (16, 16)
# map's result is exactly the table's 768 bytes.
_TABLE_BUFFER = np.arange(2 * 768, dtype=np.int64).astype(np.uint8)
_OVERLAPPED_TABLE = _TABLE_BUFFER[:768].reshape(256, 3)
for _label, _out in {
    "the table itself": _OVERLAPPED_TABLE.reshape(16, 16, 3),
    "overlapping its last byte": _TABLE_BUFFER[767 : 767 + 768].reshape(16, 16, 3),
}.items():
    reject(
        ap.anomaly_map_to_color_map,
        "out",
        _out,
        ValueError,
        r"out must not share memory with colormap",
        label=f"{_label}, colormap= table",
        args=(np.zeros((16, 16)),),
        kwargs={"colormap": _OVERLAPPED_TABLE, "out": BAD},
    )
    reject(
        ap.superimpose_anomaly_map,
        "out",
        _out,
        ValueError,
        r"out must not share memory with colormap",
        label=f"{_label}, colormap= table",
        args=(np.zeros((16, 16)), np.zeros((16, 16, 3), np.uint8)),
        kwargs={"colormap": _OVERLAPPED_TABLE, "out": BAD},
    )

# size=: only a str is a size (TypeError otherwise), and only "map" or "image" (ValueError)
# (docs/behaviour.md#resizing).
for _label, _value, _exc in [
    ("nan", math.nan, TypeError),
    ("inf", math.inf, TypeError),
    ("-inf", -math.inf, TypeError),
    ("huge", 10**30, TypeError),
    ("negative", -1, TypeError),
    ("bytes", b"map", TypeError),
    ("list", ["map"], TypeError),
    ("tuple of sizes", (4, 5), TypeError),
    ("0-d str array", np.array("map"), TypeError),
    ("1-d str array", np.array(["map"]), TypeError),
    ("upper case", "MAP", ValueError),
    ("padded", "map ", ValueError),
    ("NUL", "map\0", ValueError),
]:
    reject(
        ap.superimpose_anomaly_map,
        "size",
        _value,
        _exc,
        'size must be "map" or "image"',
        label=_label,
        args=(np.zeros((4, 5)), np.zeros((4, 5, 3), np.uint8)),
        kwargs={"size": BAD},
    )

# min_area=: an integer >= 0, Python or numpy, not bool, not a float
# (docs/behaviour.md#regions).
_MIN_AREA_TYPE = "min_area must be an integer >= 0"
for _label, _value, _exc in [
    ("nan", math.nan, TypeError),
    ("inf", math.inf, TypeError),
    ("-inf", -math.inf, TypeError),
    ("float 2.0", 2.0, TypeError),
    ("float 2.5", 2.5, TypeError),
    ("numpy float", np.float64(2.0), TypeError),
    ("False", False, TypeError),
    ("numpy bool", np.bool_(True), TypeError),
    ("str", "3", TypeError),
    ("None", None, TypeError),
    ("complex", 2 + 0j, TypeError),
    ("1-d array", np.array([3]), TypeError),
    ("negative huge", -(10**30), ValueError),
    ("-2**63", -(2**63), ValueError),
    ("numpy negative", np.int64(-1), ValueError),
    ("numpy int8 -128", np.int8(-128), ValueError),
]:
    _patterns = (_MIN_AREA_TYPE,) + ((literal(str(int(_value))),) if _exc is ValueError else ())
    reject(
        ap.compute_mask,
        "min_area",
        _value,
        _exc,
        *_patterns,
        label=_label,
        args=(np.zeros((2, 2)), 0.5),
        kwargs={"min_area": BAD},
    )
    reject(
        ap.mask_to_boxes,
        "min_area",
        _value,
        _exc,
        *_patterns,
        label=_label,
        args=(np.zeros((2, 2)), BAD),  # positional, as mask_to_boxes allows
    )

# mask (mask_to_boxes and mark_boundaries): numeric or bool, one 2-D mask (a batch for
# mask_to_boxes), not empty. NaN, ±inf, huge and negative pixels are pixel values, not
# errors (set where > 0).
for _label, _value, _exc, _mb_pattern, _mk_pattern in [
    ("None", None, TypeError, "of numbers or bools, got dtype object", "numeric or bool"),
    ("object", np.zeros((4, 5), object), TypeError, "got dtype object", "got dtype object"),
    ("complex", np.zeros((4, 5), complex), TypeError, "complex128", "complex128"),
    ("datetime", np.zeros((4, 5), "M8[s]"), TypeError, "datetime64", "datetime64"),
    ("bytes", np.zeros((4, 5), "S1"), TypeError, "mask must be", "mask must be"),
    ("1-d", np.zeros(20), ValueError, r"got shape \(20,\)", r"got shape \(20,\)"),
    ("0-d", np.array(1.0), ValueError, r"got shape \(\)", r"got shape \(\)"),
    ("no rows", np.zeros((0, 5)), ValueError, "must not be empty", "must not be empty"),
]:
    reject(ap.mask_to_boxes, "mask", _value, _exc, _mb_pattern, label=f"hostile {_label}")
    reject(
        ap.mark_boundaries,
        "mask",
        _value,
        _exc,
        _mk_pattern,
        label=_label,
        args=(np.zeros((4, 5, 3), np.uint8), BAD),
    )
reject(
    ap.mark_boundaries,
    "mask",
    np.zeros((2, 4, 5)),
    ValueError,
    r"mask must be one 2-D mask \(H, W\), got shape \(2, 4, 5\)",
    label="batch",
    args=(np.zeros((4, 5, 3), np.uint8), BAD),
)

# anomaly_map= of mask_to_boxes: wrong shapes and dtypes not in the rows above.
for _label, _value, _exc, _pattern in [
    ("flat", np.zeros(20), ValueError, r"mask's shape \(4, 5\).*got shape \(20,\)"),
    ("None inside", [[None] * 5] * 4, TypeError, "must have dtype"),
    ("bytes", np.zeros((4, 5), "S1"), TypeError, "must have dtype"),
    ("timedelta", np.zeros((4, 5), "m8[ms]"), TypeError, "must have dtype"),
]:
    reject(
        ap.mask_to_boxes,
        "anomaly_map",
        _value,
        _exc,
        _pattern,
        label=_label,
        args=(np.zeros((4, 5)),),
        kwargs={"anomaly_map": BAD},
    )

# image of mark_boundaries: one uint8 RGB image of the mask's (H, W).
_MARK_MASK = np.zeros((4, 5))
for _label, _value, _exc in [
    ("float32", np.zeros((4, 5, 3), np.float32), TypeError),
    ("NaN", np.full((4, 5, 3), np.nan), TypeError),
    ("int16", np.zeros((4, 5, 3), np.int16), TypeError),
    ("negative ints", np.full((4, 5, 3), -1), TypeError),
    ("huge ints", np.full((4, 5, 3), 2**40), TypeError),
    ("bool", np.zeros((4, 5, 3), bool), TypeError),
    ("None", None, TypeError),
    ("str", "image.png", TypeError),
    ("rgba", np.zeros((4, 5, 4), np.uint8), ValueError),
    ("2-d", np.zeros((4, 5), np.uint8), ValueError),
    ("batch", np.zeros((2, 4, 5, 3), np.uint8), ValueError),
    ("transposed", np.zeros((5, 4, 3), np.uint8), ValueError),
    ("empty", np.zeros((0, 5, 3), np.uint8), ValueError),
]:
    reject(
        ap.mark_boundaries,
        "image",
        _value,
        _exc,
        r"image must be an RGB image \(H, W, 3\) = \(4, 5, 3\) uint8",
        label=_label,
        args=(BAD, _MARK_MASK),
    )

# color of mark_boundaries and draw_boxes: three integers 0..255 (TypeError when not three
# integers, ValueError when one is outside 0..255).
_BOX_CALL = {"image": _BOX_IMAGE, "boxes": _BOXES}
for _label, _value, _exc in [
    ("nan", (math.nan, 0, 0), TypeError),
    ("inf", (0, math.inf, 0), TypeError),
    ("-inf", (0, 0, -math.inf), TypeError),
    ("negative", (-1, 0, 0), ValueError),
    ("huge", (0, 10**30, 0), ValueError),
    ("numpy 256", (np.int64(256), 0, 0), ValueError),
    ("None", None, TypeError),
    ("float array", np.array([1.0, 2.0, 3.0]), TypeError),
    ("2-d array", np.zeros((1, 3), np.uint8), TypeError),
    ("4 values", (1, 2, 3, 4), TypeError),
    ("bools", (True, False, True), TypeError),
    ("huge int", 10**30, TypeError),
]:
    reject(
        ap.mark_boundaries,
        "color",
        _value,
        _exc,
        r"color must be three integers 0\.\.255",
        label=_label,
        args=(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2))),
        kwargs={"color": BAD},
    )
    reject(
        ap.draw_boxes,
        "color",
        _value,
        _exc,
        r"color must be three integers 0\.\.255",
        label=f"hostile {_label}",
        args=(),
        kwargs={**_BOX_CALL, "color": BAD},
    )

# boxes and image of draw_boxes: the kinds not in the rows above. Negative or huge whole
# coordinates are boxes outside the image, not errors.
for _argument, _label, _value, _exc, _pattern in [
    ("boxes", "None", None, TypeError, "got dtype object"),
    ("boxes", "str", "boxes", TypeError, "integer array"),
    ("boxes", "datetime", np.zeros((1, 4), "M8[s]"), TypeError, "datetime64"),
    ("boxes", "-inf", [[0, 0, -np.inf, 4]], ValueError, "whole numbers"),
    ("boxes", "float32 fraction", np.full((1, 4), 0.5, np.float32), ValueError, "whole numbers"),
    ("image", "NaN", np.full((6, 7, 3), np.nan), TypeError, "one RGB image"),
    ("image", "int16", np.zeros((6, 7, 3), np.int16), TypeError, "one RGB image"),
    ("image", "negative ints", np.full((6, 7, 3), -1), TypeError, "one RGB image"),
    ("image", "bool", np.zeros((6, 7, 3), bool), TypeError, "one RGB image"),
    ("image", "None", None, TypeError, "one RGB image"),
]:
    reject(
        ap.draw_boxes,
        _argument,
        _value,
        _exc,
        _pattern,
        label=f"hostile {_label}",
        args=(),
        kwargs={"image": _BOX_IMAGE, "boxes": _BOXES, _argument: BAD},
    )

# out= of mark_boundaries and draw_boxes: the same bad outs as the map functions', and
# outs sharing memory with an input (docs/behaviour.md#memory).
_REGION_IMAGE = np.arange(6 * 7 * 3, dtype=np.int64).astype(np.uint8).reshape(6, 7, 3)
_REGION_MASK = np.zeros((6, 7))
_REGION_MASK[1:4, 2:5] = 1
for _label, (_make, _exc) in OUTS_REJECTED.items():
    reject(
        ap.mark_boundaries,
        "out",
        _make((6, 7, 3)),
        _exc,
        label=_label,
        args=(_REGION_IMAGE, _REGION_MASK),
        kwargs={"out": BAD},
    )
    reject(
        ap.draw_boxes,
        "out",
        _make((6, 7, 3)),
        _exc,
        label=_label,
        args=(_REGION_IMAGE, _BOXES),
        kwargs={"out": BAD},
    )
# The image itself, and a view starting one byte into it.
_SHARED = np.zeros(6 * 7 * 3 + 1, np.uint8)
_SHARED_IMAGE = _SHARED[:-1].reshape(6, 7, 3)
_SHARED_IMAGE[...] = _REGION_IMAGE
for _function, _second in [(ap.mark_boundaries, _REGION_MASK), (ap.draw_boxes, _BOXES)]:
    for _label, _out in [
        ("the image", _SHARED_IMAGE),
        ("one byte into the image", _SHARED[1:].reshape(6, 7, 3)),
    ]:
        reject(
            _function,
            "out",
            _out,
            ValueError,
            "out must not share memory with image",
            label=f"sharing memory with {_label}",
            args=(_SHARED_IMAGE, _second),
            kwargs={"out": BAD},
        )
# The mask's bytes (a uint8 mask at the start of out's buffer), the boxes' bytes (int64
# boxes at the start of out's buffer).
_MASK_BUFFER = np.zeros(6 * 7 * 3, np.uint8)
_MASK_IN_OUT = _MASK_BUFFER[: 6 * 7].reshape(6, 7)
_MASK_IN_OUT[1:4, 2:5] = 1
reject(
    ap.mark_boundaries,
    "out",
    _MASK_BUFFER.reshape(6, 7, 3),
    ValueError,
    "out must not share memory with mask",
    label="sharing memory with the mask",
    args=(_REGION_IMAGE, _MASK_IN_OUT),
    kwargs={"out": BAD},
)
_BOXES_BUFFER = np.zeros(6 * 7 * 3 + 6, np.uint8)  # 132 bytes: room for 16 int64 values
_BOXES_IN_OUT = _BOXES_BUFFER[:32].view(np.int64).reshape(1, 4)
_BOXES_IN_OUT[...] = _BOXES
reject(
    ap.draw_boxes,
    "out",
    _BOXES_BUFFER[: 6 * 7 * 3].reshape(6, 7, 3),
    ValueError,
    "out must not share memory with boxes",
    label="sharing memory with the boxes",
    args=(_REGION_IMAGE, _BOXES_IN_OUT),
    kwargs={"out": BAD},
)
# Boxes that are converted or copied before drawing (float64, int32, a misaligned int64
# array): out is still checked against the caller's own array.
for _label, _dtype, _offset in [
    ("float64", np.float64, 0),
    ("int32", np.int32, 0),
    ("misaligned int64", np.int64, 1),
]:
    _buffer = np.zeros(6 * 7 * 3 + 8, np.uint8)
    _converted = _buffer[_offset : _offset + 4 * np.dtype(_dtype).itemsize].view(_dtype)
    _converted[...] = _BOXES[0]
    reject(
        ap.draw_boxes,
        "out",
        _buffer[: 6 * 7 * 3].reshape(6, 7, 3),
        ValueError,
        "out must not share memory with boxes",
        label=f"sharing memory with {_label} boxes",
        args=(_REGION_IMAGE, _converted.reshape(1, 4)),
        kwargs={"out": BAD},
    )


# ============================================================================ postprocess
# Every argument of postprocess (docs/behaviour.md#api) against the same bad values as the
# separate functions' rows above, checked whether or not its product is asked for; its
# three outputs as out= is (docs/behaviour.md#memory), each also against the others, and
# refused for a product not asked for.

_PP_MAP = base_values()  # (9, 11)
_PP_IMAGE = base_image()
_PP_CALL = (_PP_MAP, _PP_IMAGE, 0.5)


def postprocess_row(
    argument: str, value: Any, exc: type[Exception], *patterns: str, label: str, **kwargs: Any
) -> None:
    """A row of postprocess with ``argument`` bad: positional for the first three."""
    if argument in ("anomaly_map", "image", "threshold"):
        position = ("anomaly_map", "image", "threshold").index(argument)
        args = tuple(BAD if i == position else a for i, a in enumerate(_PP_CALL))
        reject(
            ap.postprocess, argument, value, exc, *patterns, label=label, args=args, kwargs=kwargs
        )
    else:
        reject(
            ap.postprocess,
            argument,
            value,
            exc,
            *patterns,
            label=label,
            args=_PP_CALL,
            kwargs={argument: BAD, **kwargs},
        )


for _label, (_value, _exc, _patterns) in BAD_MAPS.items():
    postprocess_row("anomaly_map", _value, _exc, *_patterns, label=_label)
for _label, _value in MAP_DTYPES_REJECTED.items():
    reject(
        ap.postprocess,
        "anomaly_map",
        _value,
        TypeError,
        label=f"dtype {_label}",
        args=(BAD, None, 0.5),
    )
# NaN/±inf: refused, counted and placed, whenever the heatmap or the overlay is computed.
for _dtype in (np.float16, np.float32, ">f8"):
    for _bad in (np.nan, np.inf, -np.inf):
        for _label, _kwargs in [
            ("heatmap", {}),
            ("raw heatmap", {"normalize_heatmap": False}),
            ("overlay only", {"heatmap": False}),
            ("normalised overlay only", {"heatmap": False, "normalize_overlay": True}),
            ("value_range", {"value_range": (0, 1)}),
        ]:
            postprocess_row(
                "anomaly_map",
                _with(base_values(), ((3, 4), _bad), ((7, 1), _bad), dtype=_dtype),
                ValueError,
                r"\b2 NaN/±inf values",
                r"row 3\b.*column 4\b",
                label=f"{_bad} in {np.dtype(_dtype).str}, {_label}",
                **_kwargs,
            )
postprocess_row(
    "anomaly_map",
    _with(np.zeros((3, 4, 5)), ((1, 2, 4), np.nan), ((2, 0, 0), np.inf)),
    ValueError,
    literal("2 NaN/±inf values; the first is at map 1, row 2, column 4"),
    label="non-finite in a batch",
)

for _label, (_value, _exc) in BAD_IMAGES.items():
    if _value is not None:  # None: no overlay
        postprocess_row("image", _value, _exc, label=_label)
reject(
    ap.postprocess,
    "image",
    np.zeros((3, SMALL_H, SMALL_W, 3), np.uint8),
    ValueError,
    literal("(3, 9, 11, 3)"),
    label="3 images for a batch of 2",
    args=(base_values((2, SMALL_H, SMALL_W)), BAD, 0.5),
)

for _label, (_value, _exc) in THRESHOLDS_REJECTED.items():
    if _value is not None:  # None: no mask
        postprocess_row("threshold", _value, _exc, label=_label)
        reject(
            ap.postprocess,
            "threshold",
            _value,
            _exc,
            label=f"{_label}, integer maps",
            args=(threshold_map("<i8"), None, BAD),
        )

for _argument in ("heatmap", "boxes", "normalize_heatmap", "normalize_overlay"):
    for _label, _value in FLAGS_REJECTED.items():
        postprocess_row(_argument, _value, TypeError, f"{_argument} must be a bool", label=_label)
    # Checked also where its product is not computed.
    reject(
        ap.postprocess,
        _argument,
        "False",
        TypeError,
        label="'False', nothing computed",
        args=(_PP_MAP,),
        kwargs={_argument: BAD, "heatmap": False} if _argument != "heatmap" else {_argument: BAD},
    )

for _argument in ("alpha", "gamma"):
    for _label, (_value, _exc) in WEIGHTS_REJECTED.items():
        postprocess_row(_argument, _value, _exc, label=_label)
    reject(
        ap.postprocess,
        _argument,
        math.nan,
        ValueError,
        label="nan, no image",
        args=(_PP_MAP, None, 0.5),
        kwargs={_argument: BAD},
    )

for _label, _value, _exc, _pattern in [
    ("nan", (math.nan, 1.0), ValueError, "finite"),
    ("inf", (0.0, math.inf), ValueError, "finite"),
    ("reversed", (1.0, 0.0), ValueError, "low < high"),
    ("equal", (0.5, 0.5), ValueError, "low < high"),
    ("one value", (0.5,), ValueError, "1 values"),
    ("three values", [0, 1, 2], ValueError, "3 values"),
    ("scalar", 0.5, TypeError, "two finite real numbers"),
    ("str", "0,1", TypeError, "two finite real numbers"),
    ("bools", (False, True), TypeError, "two finite real numbers"),
    ("2-d", np.zeros((2, 2)), ValueError, "shape"),
    ("huge", (0, 10**400), ValueError, "finite"),
    ("too wide for float32", (-3e38, 3e38), ValueError, "too wide for a float32 map"),
    ("empty in float32", (1.0, 1.0 + 1e-9), ValueError, "is empty for a float32 map"),
]:
    reject(
        ap.postprocess,
        "value_range",
        _value,
        _exc,
        _pattern,
        label=_label,
        args=(_PP_MAP.astype(np.float32), _PP_IMAGE, 0.5),
        kwargs={"value_range": BAD},
    )

for _value in ["nope", "", 99, -1, 1.5, None, np.zeros((255, 3), np.uint8), True]:
    _label = show(_value) if not isinstance(_value, np.ndarray) else f"{_value.shape}"
    postprocess_row("colormap", _value, ValueError, _COLORMAP_LIST, label=_label)

for _value, _exc in [("Map", ValueError), ("", ValueError), (None, TypeError), (3, TypeError)]:
    postprocess_row("size", _value, _exc, 'size must be "map" or "image"', label=show(_value))
    reject(
        ap.postprocess,
        "size",
        _value,
        _exc,
        label=f"{show(_value)}, no image",
        args=(_PP_MAP,),
        kwargs={"size": BAD},
    )

for _label, (_value, _exc) in KERNEL_SIZES_REJECTED.items():
    postprocess_row("kernel_size", _value, _exc, label=_label)
for _label, _value, _exc in [
    ("-1", -1, ValueError),
    ("negative huge", -(10**30), ValueError),
    ("True", True, TypeError),
    ("float 2.0", 2.0, TypeError),
    ("nan", math.nan, TypeError),
    ("str", "3", TypeError),
    ("None", None, TypeError),
]:
    postprocess_row("min_area", _value, _exc, _MIN_AREA_TYPE, label=_label)

# The outputs: each as out= (wrong type, dtype, shape, layout, read-only), in a batch.
_PP_MAPS = base_values((2, SMALL_H, SMALL_W))
for _argument, _shape in [
    ("out_heatmap", (2, SMALL_H, SMALL_W, 3)),
    ("out_overlay", (2, SMALL_H, SMALL_W, 3)),
    ("out_mask", (2, SMALL_H, SMALL_W)),
]:
    for _label, (_make, _exc) in OUTS_REJECTED.items():
        reject(
            ap.postprocess,
            _argument,
            _make(_shape),
            _exc,
            label=f"{_label}, (2, 9, 11) maps",
            args=(_PP_MAPS, _PP_IMAGE, 0.5),
            kwargs={_argument: BAD},
        )
    # The shapes in the message: expected and received.
    reject(
        ap.postprocess,
        _argument,
        np.zeros(_shape[1:], np.uint8),
        ValueError,
        literal(str(_shape)),
        literal(str(_shape[1:])),
        label="the shape of one map for a batch",
        args=(_PP_MAPS, _PP_IMAGE, 0.5),
        kwargs={_argument: BAD},
    )
# size="image": out_overlay has the image's (h, w).
reject(
    ap.postprocess,
    "out_overlay",
    np.zeros((SMALL_H, SMALL_W, 3), np.uint8),
    ValueError,
    literal("(18, 22, 3)"),
    label="the map's size with size='image'",
    args=(_PP_MAP, base_image((18, 22)), 0.5),
    kwargs={"out_overlay": BAD, "size": "image"},
)
# An output for a product that is not computed.
for _argument, _shape, _args, _kwargs, _why in [
    ("out_heatmap", (SMALL_H, SMALL_W, 3), _PP_CALL, {"heatmap": False}, "heatmap=False"),
    ("out_overlay", (SMALL_H, SMALL_W, 3), (_PP_MAP, None, 0.5), {}, "no image"),
    ("out_mask", (SMALL_H, SMALL_W), (_PP_MAP, _PP_IMAGE), {}, "no threshold"),
]:
    reject(
        ap.postprocess,
        _argument,
        np.zeros(_shape, np.uint8),
        ValueError,
        literal(f"{_argument} was given, but with {_why} no "),
        label="product not asked for",
        args=_args,
        kwargs={_argument: BAD, **_kwargs},
    )

# Overlaps: an output sharing memory with an input or with another output is refused,
# naming both; nothing is written.
_PP_H, _PP_W = SMALL_H, SMALL_W
_PP_RAW = np.zeros(_PP_H * _PP_W * 8, np.uint8)
_PP_MAP_IN_RAW = _PP_RAW.view(np.float64).reshape(_PP_H, _PP_W)
_PP_MAP_IN_RAW[...] = base_values()
_PP_SHARED = np.zeros(_PP_H * _PP_W * 6, np.uint8)
_PP_HEAT_A = _PP_SHARED[: _PP_H * _PP_W * 3].reshape(_PP_H, _PP_W, 3)
_PP_OVERLAY_B = _PP_SHARED[_PP_H * _PP_W : _PP_H * _PP_W * 4].reshape(_PP_H, _PP_W, 3)
_PP_MASK_C = _PP_SHARED[_PP_H * _PP_W * 2 : _PP_H * _PP_W * 3].reshape(_PP_H, _PP_W)
_PP_IMAGE_BUFFER = np.zeros(_PP_H * _PP_W * 3, np.uint8)
_PP_IMAGE_IN = _PP_IMAGE_BUFFER.reshape(_PP_H, _PP_W, 3)
for _argument, _value, _others, _pattern, _label in [
    (
        "out_mask",
        _PP_RAW[: _PP_H * _PP_W].reshape(_PP_H, _PP_W),
        {},
        "out_mask must not share memory with anomaly_map",
        "over the map",
    ),
    (
        "out_heatmap",
        _PP_RAW[5 : 5 + _PP_H * _PP_W * 3].reshape(_PP_H, _PP_W, 3),
        {},
        "out_heatmap must not share memory with anomaly_map",
        "over the map's middle",
    ),
    (
        "out_overlay",
        _PP_IMAGE_IN,
        {},
        "out_overlay must not share memory with image",
        "the image itself",
    ),
    (
        "out_heatmap",
        _PP_IMAGE_IN,
        {},
        "out_heatmap must not share memory with image",
        "the heatmap into the image",
    ),
    (
        "out_heatmap",
        _PP_HEAT_A,
        {"out_overlay": _PP_OVERLAY_B},
        "out_heatmap must not share memory with out_overlay",
        "heatmap over overlay",
    ),
    (
        "out_heatmap",
        _PP_HEAT_A,
        {"out_mask": _PP_MASK_C},
        "out_heatmap must not share memory with out_mask",
        "heatmap over mask",
    ),
    (
        "out_overlay",
        _PP_OVERLAY_B,
        {"out_mask": _PP_MASK_C},
        "out_overlay must not share memory with out_mask",
        "overlay over mask",
    ),
    (
        "out_overlay",
        _PP_HEAT_A,
        {"out_heatmap": _PP_HEAT_A.copy(), "out_mask": _PP_HEAT_A[..., 0].copy()},
        r"out_overlay must not share memory with image\b",
        "overlay over the image, other outputs fine",
    ),
]:
    _image = _PP_HEAT_A if _label.startswith("overlay over the image") else _PP_IMAGE_IN
    reject(
        ap.postprocess,
        _argument,
        _value,
        ValueError,
        _pattern,
        label=f"overlapping, {_label}",
        args=(_PP_MAP_IN_RAW, _image, 0.5),
        kwargs={_argument: BAD, **_others},
    )
# A (16, 16) heatmap is 768 bytes: exactly a (256, 3) table.
_PP_TABLE_OUT = np.zeros((16, 16, 3), np.uint8)
for _argument in ("out_heatmap", "out_overlay"):
    reject(
        ap.postprocess,
        _argument,
        _PP_TABLE_OUT,
        ValueError,
        f"{_argument} must not share memory with colormap",
        label="overlapping the colormap table",
        args=(base_values((16, 16)), base_image((16, 16)), 0.5),
        kwargs={_argument: BAD, "colormap": _PP_TABLE_OUT.reshape(256, 3)},
    )

# ====================================================================== the table's test

_ids = [case.id for case in CASES]
assert len(_ids) == len(set(_ids)), sorted(i for i in _ids if _ids.count(i) > 1)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_rejected(case: Rejected, restore_threads: None) -> None:
    args, kwargs = case.call_arguments()
    if case.function is ap.set_num_threads:
        ap.set_num_threads(3)  # a refused count leaves this one
    assert_rejected(
        lambda: case.function(*args, **kwargs),
        case.argument,
        case.exc,
        *case.patterns,
        inputs=[*args, *kwargs.values()],
    )
    if case.function is ap.set_num_threads:
        assert ap.get_num_threads() == 3  # unchanged


# ====================================================== accepted, or else rejected cleanly
# Values the contract neither requires nor forbids (0-d arrays as scalars, float128 maps):
# either the right answer or a clean rejection naming the argument.


@dataclass(frozen=True)
class Either:
    id: str
    call: Callable[[], np.ndarray]
    argument: str
    errors: tuple[type[Exception], ...]
    expected: Callable[[], np.ndarray]
    patterns: tuple[str, ...] = ()


EITHER: list[Either] = []


def _run(fn: Callable[..., Any], m: Any) -> np.ndarray:
    """``fn`` on the map ``m`` as the one-map rows call it."""
    if fn is ap.superimpose_anomaly_map:
        return fn(m, image_for(m))  # type: ignore[no-any-return]
    if fn is ap.compute_mask:
        return fn(m, 0.5)  # type: ignore[no-any-return]
    return fn(m)  # type: ignore[no-any-return]


for _fn in (ap.anomaly_map_to_color_map, ap.superimpose_anomaly_map, ap.compute_mask):
    # float128 is not among the accepted dtypes (docs/behaviour.md#dtypes).
    EITHER.append(
        Either(
            f"{NAMES[_fn]}-anomaly_map-longdouble",
            lambda fn=_fn: _run(fn, MAP.astype(np.longdouble)),
            "anomaly_map",
            (TypeError, ValueError),
            lambda fn=_fn: _run(fn, MAP),
        )
    )

_WEIGHT_MAPS = base_values((2, SMALL_H, SMALL_W))
for _name in ("alpha", "gamma"):
    for _label, _value in [
        ("0-d array", np.array(0.4)),
        ("0-d big-endian array", np.array(0.4, ">f8")),
    ]:

        def _expected(name: str = _name) -> np.ndarray:
            with np.errstate(all="ignore"):
                return spec_superimpose_anomaly_map(_WEIGHT_MAPS, base_image(), **{name: 0.4})

        EITHER.append(
            Either(
                f"superimpose-{_name}-{_label}",
                lambda name=_name, value=_value: ap.superimpose_anomaly_map(
                    _WEIGHT_MAPS, base_image(), **{name: value}
                ),
                _name,
                (TypeError,),
                _expected,
            )
        )

EITHER.append(
    Either(
        "color_map-normalize-0-d bool array",
        lambda: ap.anomaly_map_to_color_map(_FLAG_MAP, np.array(True)),
        "normalize",
        (TypeError,),
        lambda: spec_anomaly_map_to_color_map(_FLAG_MAP, True),
    )
)
EITHER.append(
    Either(
        "superimpose-normalize-0-d bool array",
        lambda: ap.superimpose_anomaly_map(_FLAG_MAP, base_image(), normalize=np.array(True)),
        "normalize",
        (TypeError,),
        lambda: spec_superimpose_anomaly_map(_FLAG_MAP, base_image(), normalize=True),
    )
)
EITHER.append(
    Either(
        "compute_mask-kernel_size-0-d array",
        lambda: ap.compute_mask(_KERNEL_MAPS, 0.5, np.array(2)),
        "kernel_size",
        (TypeError,),
        lambda: spec_compute_mask(_KERNEL_MAPS, 0.5, 2),
    )
)


def _set_two_threads_then_mask() -> np.ndarray:
    ap.set_num_threads(np.array(2))
    assert ap.get_num_threads() == 2
    return ap.compute_mask(base_values((4, SMALL_H, SMALL_W)), 0.5, 1)


EITHER.append(
    Either(
        "set_num_threads-n-0-d int array",
        _set_two_threads_then_mask,
        "n",
        (TypeError,),
        lambda: spec_compute_mask(base_values((4, SMALL_H, SMALL_W)), 0.5, 1),
        (_N_WORD,),
    )
)


@pytest.mark.parametrize("case", EITHER, ids=[case.id for case in EITHER])
def test_accepted_or_rejected_cleanly(case: Either, restore_threads: None) -> None:
    threads = ap.get_num_threads()
    try:
        result = case.call()
    except Exception as error:
        assert type(error) in case.errors, f"{type(error).__name__}: {error}"
        message = str(error)
        assert re.search(rf"\b{re.escape(case.argument)}\b", message), (case.argument, message)
        for pattern in case.patterns:
            assert re.search(pattern, message), (pattern, message)
        assert ap.get_num_threads() == threads  # a refused thread count changes nothing
        return
    assert_result(result, case.expected())


# ========================================== accepted: the hostile-looking values the contract
# allows (docs/behaviour.md#regions, docs/behaviour.md#memory)


def _read_only_copy(array: Any) -> np.ndarray:
    copy = np.array(array)
    copy.flags.writeable = False
    return copy


_RO_MASK = np.zeros((6, 7))
_RO_MASK[1:4, 2:5] = 1
_RO_MAP = np.linspace(0, 1, 42).reshape(6, 7)
_RO_TABLE = np.arange(768, dtype=np.int64).astype(np.uint8).reshape(256, 3)
READ_ONLY_CALLS: dict[str, Callable[[Callable[[Any], Any]], Any]] = {
    "color_map colormap table": lambda w: ap.anomaly_map_to_color_map(
        _RO_MAP, colormap=w(_RO_TABLE)
    ),
    "superimpose colormap table": lambda w: ap.superimpose_anomaly_map(
        _RO_MAP, _REGION_IMAGE, colormap=w(_RO_TABLE)
    ),
    "mask_to_boxes mask": lambda w: ap.mask_to_boxes(w(_RO_MASK)),
    "mask_to_boxes mask and anomaly_map": lambda w: ap.mask_to_boxes(
        w(_RO_MASK), anomaly_map=w(_RO_MAP)
    ),
    "mark_boundaries image and mask": lambda w: ap.mark_boundaries(
        w(_REGION_IMAGE), w(_RO_MASK), color=(1, 2, 3)
    ),
    "draw_boxes image and boxes": lambda w: ap.draw_boxes(
        w(_REGION_IMAGE), w(np.array(_BOXES)), color=(1, 2, 3), thickness=1
    ),
}


@pytest.mark.parametrize("name", list(READ_ONLY_CALLS))
def test_read_only_inputs_are_accepted(name: str) -> None:
    """Read-only arrays are fine wherever they are inputs (only out= must be writable):
    the same result as from writable copies, and the inputs still read-only and unchanged."""
    given: list[tuple[np.ndarray, np.ndarray]] = []  # (read-only copy, its source)

    def wrap(array: Any) -> np.ndarray:
        given.append((_read_only_copy(array), np.array(array)))
        return given[-1][0]

    result = READ_ONLY_CALLS[name](wrap)
    expected = READ_ONLY_CALLS[name](np.array)
    for read_only_result, writable_result in zip(
        result if isinstance(result, tuple) else (result,),
        expected if isinstance(expected, tuple) else (expected,),
        strict=True,
    ):
        _assert_identical(read_only_result, writable_result)
    assert given
    for array, source in given:
        assert not array.flags.writeable
        _assert_identical(array, source)


def _assert_identical(actual: np.ndarray, expected: np.ndarray) -> None:
    """Same type, dtype, shape and bytes (any dtype; assert_same_bytes is uint8's)."""
    assert type(actual) is np.ndarray
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert actual.tobytes() == expected.tobytes()


@pytest.mark.parametrize("min_area", [10**30, 2**64, 2**63, np.uint64(2**64 - 1)], ids=show)
def test_a_huge_min_area_clears_every_region(min_area: Any) -> None:
    maps = np.ones((2, 5, 6))
    assert_same_bytes(
        ap.compute_mask(maps, 0.5, 0, min_area=min_area), np.zeros((2, 5, 6), np.uint8)
    )
    boxes = ap.mask_to_boxes(maps[0], min_area)
    assert boxes.shape == (0, 4) and boxes.dtype == np.int64


@pytest.mark.parametrize(
    "value, set_",
    [(np.nan, False), (np.inf, True), (-np.inf, False), (1e300, True), (-1.0, False)],
    ids=["nan", "inf", "-inf", "huge", "negative"],
)
def test_non_finite_huge_and_negative_mask_pixels_are_pixel_values(
    value: float, set_: bool
) -> None:
    """A mask pixel is set when > 0: NaN is not, +inf is (docs/behaviour.md#regions)."""
    mask = np.zeros((6, 7))
    mask[1:3, 1:3] = 1
    mask[4, 5] = value
    reference = (mask > 0) if set_ else (mask == 1)
    assert (mask > 0).any() and np.array_equal(mask > 0, reference)
    with Unmodified(mask):
        boxes = ap.mask_to_boxes(mask)
        outlined = ap.mark_boundaries(_REGION_IMAGE, mask)
    _assert_identical(boxes, ap.mask_to_boxes(reference.astype(np.uint8)))
    assert_same_bytes(outlined, ap.mark_boundaries(_REGION_IMAGE, reference.astype(np.uint8)))
    assert len(boxes) == (2 if set_ else 1)


@pytest.mark.parametrize(
    "value, score",
    [(np.nan, 0.75), (np.inf, np.inf), (-np.inf, 0.75), (1e300, 1e300), (-1e300, 0.75)],
    ids=["nan", "inf", "-inf", "huge", "negative huge"],
)
def test_non_finite_huge_and_negative_scores(value: float, score: float) -> None:
    """anomaly_map= of mask_to_boxes: NaN pixels are ignored, ±inf and huge values are
    values (docs/behaviour.md#regions)."""
    mask = np.zeros((4, 5), np.uint8)
    mask[1:3, 1:4] = 1
    scores_map = np.full((4, 5), 0.5)
    scores_map[2, 3] = 0.75
    scores_map[1, 1] = value
    with Unmodified(mask, scores_map):
        boxes, scores = ap.mask_to_boxes(mask, anomaly_map=scores_map)
    assert boxes.tolist() == [[1, 1, 3, 2]]
    assert scores.dtype == np.float64 and scores.tolist() == [score]


# ============================================================ signatures, argument passing


def test_signatures() -> None:
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
    # postprocess: everything after the three inputs is keyword-only.
    assert params(ap.postprocess) == [
        ("anomaly_map", empty),
        ("image", None),
        ("threshold", None),
    ]


def test_missing_and_unknown_arguments() -> None:
    with pytest.raises(TypeError):
        ap.compute_mask(MAP)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ap.superimpose_anomaly_map(MAP)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ap.anomaly_map_to_color_map(MAP, normalise=True)  # type: ignore[call-arg]


def test_out_is_keyword_only() -> None:
    m = smooth_maps((ODD_H, ODD_W), seed=9)
    image = random_image(10, (ODD_H, ODD_W))
    out3 = np.empty((ODD_H, ODD_W, 3), np.uint8)
    with pytest.raises(TypeError):
        ap.anomaly_map_to_color_map(m, True, out3)  # type: ignore[misc]
    with pytest.raises(TypeError):
        ap.superimpose_anomaly_map(m, image, 0.4, 0, False, out3)  # type: ignore[misc]
    with pytest.raises(TypeError):
        ap.compute_mask(m, 0.5, 4, np.empty((ODD_H, ODD_W), np.uint8))  # type: ignore[misc]


def test_get_num_threads_takes_no_arguments() -> None:
    with pytest.raises(TypeError):
        ap.get_num_threads(1)  # type: ignore[call-arg]
    assert isinstance(ap.get_num_threads(), int) and ap.get_num_threads() >= 1
