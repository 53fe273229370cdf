"""Rejected DLPack objects and ``value_range`` values (docs/behaviour.md#errors): a plain
TypeError or ValueError naming the argument, with what was expected and what came, and
nothing modified.

DLPack: an array on another device than the CPU is refused from its
``__dlpack_device__`` alone, before anything is exported (``__dlpack__`` is never
called); a producer that refuses to export has its reason passed on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import array_api_strict as xp
import numpy as np
import pytest

import anomaly_postprocess as ap
from conftest import SMALL_H, SMALL_W, Unmodified, assert_rejected, base_image, base_values

MAP = base_values()
IMAGE = base_image()
MASK = (MAP > 0.5).astype(np.uint8)
TABLE = np.random.default_rng(2).integers(0, 256, (256, 3), dtype=np.uint8)
BOXES = np.array([[1, 1, 5, 5], [0, 2, 3, 8]])
RANGE = np.array([0.0, 1.0])
COLOR = np.array([255, 0, 0])
THRESHOLD = np.array(0.5)


# Every array argument of every function, as ``(id, argument, call(value), the ndarray
# the value stands for)``.
ARGUMENTS: list[tuple[str, str, Callable[[Any], Any], np.ndarray]] = [
    ("color-anomaly_map", "anomaly_map", lambda v: ap.anomaly_map_to_color_map(v), MAP),
    ("superimpose-anomaly_map", "anomaly_map", lambda v: ap.superimpose_anomaly_map(v, IMAGE), MAP),
    ("superimpose-image", "image", lambda v: ap.superimpose_anomaly_map(MAP, v), IMAGE),
    ("compute_mask-anomaly_map", "anomaly_map", lambda v: ap.compute_mask(v, 0.5), MAP),
    ("mask_to_boxes-mask", "mask", lambda v: ap.mask_to_boxes(v), MASK),
    ("mark_boundaries-image", "image", lambda v: ap.mark_boundaries(v, MASK), IMAGE),
    ("mark_boundaries-mask", "mask", lambda v: ap.mark_boundaries(IMAGE, v), MASK),
    (
        "mask_to_boxes-anomaly_map",
        "anomaly_map",
        lambda v: ap.mask_to_boxes(MASK, anomaly_map=v),
        MAP,
    ),
    ("draw_boxes-image", "image", lambda v: ap.draw_boxes(v, BOXES), IMAGE),
    ("draw_boxes-boxes", "boxes", lambda v: ap.draw_boxes(IMAGE, v), BOXES),
    ("color-colormap", "colormap", lambda v: ap.anomaly_map_to_color_map(MAP, colormap=v), TABLE),
    (
        "superimpose-colormap",
        "colormap",
        lambda v: ap.superimpose_anomaly_map(MAP, IMAGE, colormap=v),
        TABLE,
    ),
    ("postprocess-anomaly_map", "anomaly_map", lambda v: ap.postprocess(v, IMAGE, 0.5), MAP),
    ("postprocess-image", "image", lambda v: ap.postprocess(MAP, v, 0.5), IMAGE),
    ("postprocess-colormap", "colormap", lambda v: ap.postprocess(MAP, IMAGE, colormap=v), TABLE),
    # Where an array stands for numbers (docs/behaviour.md#api).
    (
        "color-value_range",
        "value_range",
        lambda v: ap.anomaly_map_to_color_map(MAP, value_range=v),
        RANGE,
    ),
    (
        "superimpose-value_range",
        "value_range",
        lambda v: ap.superimpose_anomaly_map(MAP, IMAGE, value_range=v),
        RANGE,
    ),
    (
        "postprocess-value_range",
        "value_range",
        lambda v: ap.postprocess(MAP, IMAGE, 0.5, value_range=v),
        RANGE,
    ),
    ("draw_boxes-color", "color", lambda v: ap.draw_boxes(IMAGE, BOXES, v), COLOR),
    ("mark_boundaries-color", "color", lambda v: ap.mark_boundaries(IMAGE, MASK, v), COLOR),
    ("compute_mask-threshold", "threshold", lambda v: ap.compute_mask(MAP, v), THRESHOLD),
    ("postprocess-threshold", "threshold", lambda v: ap.postprocess(MAP, IMAGE, v), THRESHOLD),
]
ARGUMENT_IDS = [a[0] for a in ARGUMENTS]


def expected_exception(argument: str) -> type[Exception]:
    # A bad colormap is always a ValueError, whatever it is (docs/behaviour.md#errors).
    return ValueError if argument == "colormap" else TypeError


class OnDevice:
    """A tensor-like on a DLPack device: ``__dlpack_device__`` reports ``device``;
    ``__dlpack__`` records that it was called and exports the CPU array anyway (so a
    consumer that skipped the device check would silently succeed)."""

    def __init__(self, array: np.ndarray, device: tuple[int, int]) -> None:
        self._array = array
        self._device = device
        self.exports = 0
        self.device_asked = 0

    def __dlpack__(self, **kwargs: Any) -> Any:
        self.exports += 1
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        self.device_asked += 1
        return self._device


DEVICES = {
    (2, 0): r"cuda:0 \(DLPack device \(2, 0\)\)",
    (2, 3): r"cuda:3 \(DLPack device \(2, 3\)\)",
    (3, 0): r"cuda_host:0 \(DLPack device \(3, 0\)\)",  # pinned: GPU work may be pending
    (13, 1): r"cuda_managed:1 \(DLPack device \(13, 1\)\)",
    (8, 0): r"metal:0 \(DLPack device \(8, 0\)\)",
    (10, 0): r"rocm:0 \(DLPack device \(10, 0\)\)",
    (14, 0): r"oneapi:0 \(DLPack device \(14, 0\)\)",
    (99, 2): r"DLPack device type 99:2 \(DLPack device \(99, 2\)\)",
}


@pytest.mark.parametrize("device", list(DEVICES), ids=[f"{t}-{i}" for t, i in DEVICES])
@pytest.mark.parametrize(("case", "argument", "call", "array"), ARGUMENTS, ids=ARGUMENT_IDS)
def test_array_on_another_device(
    case: str, argument: str, call: Callable[[Any], Any], array: np.ndarray, device: Any
) -> None:
    source = OnDevice(array, device)
    with Unmodified(array, MAP, IMAGE, MASK, TABLE, BOXES, RANGE, COLOR, THRESHOLD):
        message = assert_rejected(
            lambda: call(source),
            argument,
            expected_exception(argument),
            rf"{argument} is on {DEVICES[device]}",
            r"move it to the CPU first, e\.g\. with \.cpu\(\)",
        )
    assert source.device_asked == 1
    assert source.exports == 0, "nothing may be exported from another device"
    if argument == "colormap":
        assert "(256, 3) uint8 RGB table" in message


def test_the_cuda_message_in_full() -> None:
    with pytest.raises(TypeError) as info:
        ap.anomaly_map_to_color_map(OnDevice(MAP, (2, 0)))
    assert str(info.value) == (
        "anomaly_map is on cuda:0 (DLPack device (2, 0)); move it to the CPU first, "
        "e.g. with .cpu()"
    )


class Refusing:
    """A CPU tensor-like whose export fails, e.g. torch's for a tensor that requires
    grad."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.exports = 0

    def __dlpack__(self, **kwargs: Any) -> Any:
        self.exports += 1
        raise self.error

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


REFUSALS = {
    "requires grad": RuntimeError(
        "Can't export tensors that require gradient, use tensor.detach()"
    ),
    "buffer": BufferError("Cannot export readonly array since signalling readonly is unsupported"),
    "type": TypeError("unsupported dtype bfloat16"),
    "value": ValueError("strides are not supported"),
    "other": KeyError("whatever"),
}


@pytest.mark.parametrize("refusal", list(REFUSALS))
@pytest.mark.parametrize(("case", "argument", "call", "array"), ARGUMENTS, ids=ARGUMENT_IDS)
def test_export_refused(
    case: str, argument: str, call: Callable[[Any], Any], array: np.ndarray, refusal: str
) -> None:
    error = REFUSALS[refusal]
    source = Refusing(error)
    with Unmodified(MAP, IMAGE, MASK, TABLE, BOXES, RANGE, COLOR, THRESHOLD):
        assert_rejected(
            lambda: call(source),
            argument,
            expected_exception(argument),
            rf"{argument} is a DLPack tensor whose data could not be exported to numpy",
            re.escape(f"{type(error).__name__}: {error}"),
        )
    assert source.exports >= 1


def test_the_requires_grad_message_in_full() -> None:
    with pytest.raises(TypeError) as info:
        ap.compute_mask(Refusing(REFUSALS["requires grad"]), 0.5)
    assert str(info.value) == (
        "anomaly_map is a DLPack tensor whose data could not be exported to numpy: RuntimeError: "
        "Can't export tensors that require gradient, use tensor.detach()"
    )


class BadDevice:
    """``__dlpack_device__`` that fails or answers nonsense; ``__dlpack__`` never runs."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.exports = 0

    def __dlpack__(self, **kwargs: Any) -> Any:
        self.exports += 1
        raise AssertionError("exported without a device")

    def __dlpack_device__(self) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


BAD_DEVICES = {
    "raises": RuntimeError("device lost"),
    "a string": "cpu",
    "one number": (1,),
    "three numbers": (1, 0, 0),
    "floats": (1.0, 0.0),
    "None": None,
}


@pytest.mark.parametrize("answer", list(BAD_DEVICES))
@pytest.mark.parametrize(("case", "argument", "call", "array"), ARGUMENTS, ids=ARGUMENT_IDS)
def test_dlpack_device_that_fails(
    case: str, argument: str, call: Callable[[Any], Any], array: np.ndarray, answer: str
) -> None:
    source = BadDevice(BAD_DEVICES[answer])
    assert_rejected(
        lambda: call(source),
        argument,
        expected_exception(argument),
        rf"{argument} has __dlpack_device__, but it did not give a DLPack device",
    )
    assert source.exports == 0


@pytest.mark.parametrize(("case", "argument", "call", "array"), ARGUMENTS, ids=ARGUMENT_IDS)
def test_dlpack_arrays_of_a_rejected_dtype(
    case: str, argument: str, call: Callable[[Any], Any], array: np.ndarray
) -> None:
    """A DLPack array gets the dtype rules of any other array."""
    source = xp.asarray(array.astype(np.complex64))
    assert_rejected(lambda: call(source), argument, expected_exception(argument), "complex64")


def test_dlpack_map_of_the_wrong_shape() -> None:
    assert_rejected(
        lambda: ap.anomaly_map_to_color_map(xp.asarray(MAP[0])),
        "anomaly_map",
        ValueError,
        r"at least 2 dimensions",
    )
    assert_rejected(
        lambda: ap.superimpose_anomaly_map(MAP, xp.asarray(IMAGE[..., :2])),
        "image",
        ValueError,
        r"shape \(9, 11, 2\)",
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda out: ap.anomaly_map_to_color_map(MAP, out=out),
        lambda out: ap.superimpose_anomaly_map(MAP, IMAGE, out=out),
        lambda out: ap.compute_mask(MAP, 0.5, out=out),
        lambda out: ap.mark_boundaries(IMAGE, MASK, out=out),
    ],
    ids=["color", "superimpose", "compute_mask", "mark_boundaries"],
)
def test_out_is_not_a_dlpack_object(call: Callable[[Any], Any]) -> None:
    """``out`` is written and returned as the result: a numpy array, never a DLPack
    object (docs/behaviour.md#memory)."""
    out = xp.zeros((SMALL_H, SMALL_W, 3), dtype=xp.uint8)
    before = np.from_dlpack(out).copy()
    assert_rejected(
        lambda: call(out), "out", TypeError, r"must be a numpy uint8 array", r"inputs only"
    )
    assert np.array_equal(np.from_dlpack(out), before)


# ======================================================================== value_range

F32_MAP = base_values().astype(np.float32)

# postprocess's names for the separate calls' options.
POSTPROCESS_NAMES = {"out": "out_heatmap", "normalize": "normalize_heatmap"}

VALUE_RANGE_CALLS: dict[str, Callable[..., Any]] = {
    "color": lambda m, value_range, **kw: ap.anomaly_map_to_color_map(
        m, value_range=value_range, **kw
    ),
    "superimpose": lambda m, value_range, **kw: ap.superimpose_anomaly_map(
        m, IMAGE, value_range=value_range, **kw
    ),
    "postprocess": lambda m, value_range, **kw: ap.postprocess(
        m, IMAGE, 0.5, value_range=value_range, **{POSTPROCESS_NAMES[k]: v for k, v in kw.items()}
    ),
}

# (id, value, exception, patterns)
BAD_RANGES: list[tuple[str, Any, type[Exception], tuple[str, ...]]] = [
    ("str", "0,1", TypeError, (r"got str '0,1'",)),
    ("bytes", b"01", TypeError, (r"got bytes",)),
    ("number", 1.0, TypeError, (r"got float 1\.0",)),
    ("numpy number", np.float32(1.0), TypeError, (r"got float32",)),
    ("0-d array", np.array(1.0), TypeError, (r"shape \(\)",)),
    ("dict", {0: 1}, TypeError, (r"got dict",)),
    ("set", {0.0, 1.0}, TypeError, (r"got set",)),
    ("object", object(), TypeError, (r"got object",)),
    ("bool low", (False, 1), TypeError, (r"got bool False",)),
    ("numpy bool high", (0, np.True_), TypeError, (r"got bool",)),
    ("str bound", (0, "1"), TypeError, (r"got str '1'",)),
    ("None bound", (None, 1), TypeError, (r"got NoneType None",)),
    ("complex bound", (0, 1j), TypeError, (r"got complex",)),
    ("complex array", np.array([0, 1j]), TypeError, (r"complex",)),
    ("bool array", np.array([False, True]), TypeError, (r"bool",)),
    ("datetime array", np.array(["2020", "2021"], "datetime64[Y]"), TypeError, ("datetime",)),
    ("one value", (0.5,), ValueError, (r"got 1 values",)),
    ("three values", (0, 0.5, 1), ValueError, (r"got 3 values",)),
    ("empty", [], ValueError, (r"got 0 values",)),
    ("2-D array", np.array([[0.0, 1.0]]), ValueError, (r"shape \(1, 2\)",)),
    ("NaN low", (np.nan, 1), ValueError, (r"finite", r"nan")),
    ("NaN high", (0, np.float32("nan")), ValueError, (r"finite", r"nan")),
    ("inf high", (0, np.inf), ValueError, (r"finite", r"inf")),
    ("-inf low", (-np.inf, 0), ValueError, (r"finite",)),
    ("int beyond float64", (0, 10**400), ValueError, (r"float64's range",)),
    ("equal", (0.5, 0.5), ValueError, (r"low 0\.5 >= high 0\.5",)),
    ("inverted", (1, 0), ValueError, (r"low 1 >= high 0",)),
    ("inverted array", np.array([1.0, 0.0]), ValueError, (r">= high",)),
    ("huge inverted", (1e308, -1e308), ValueError, (r">= high",)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(VALUE_RANGE_CALLS))
@pytest.mark.parametrize(
    ("case", "value", "exc", "patterns"), BAD_RANGES, ids=[r[0] for r in BAD_RANGES]
)
def test_bad_value_range(
    case: str,
    value: Any,
    exc: type[Exception],
    patterns: tuple[str, ...],
    name: str,
    dtype: str,
) -> None:
    m = MAP.astype(dtype)
    out = np.full((SMALL_H, SMALL_W, 3), 7, np.uint8)
    for kwargs in ({}, {"out": out}, {"normalize": True}):
        with Unmodified(m, IMAGE):
            message = assert_rejected(
                lambda kw=kwargs: VALUE_RANGE_CALLS[name](m, value, **kw),
                "value_range",
                exc,
                *patterns,
            )
        assert "value_range must be two finite real numbers (low, high) with low < high" in (
            message
        )
    assert (out == 7).all()


# Ranges that are fine as float64 but have no usable width in float32 (the kernel's
# check, docs/behaviour.md#levels): ``(id, value, pattern)``.
NARROW_OR_WIDE = [
    ("overflows", (-3e38, 3e38), r"is too wide for a float32 map: high - low overflows float32"),
    ("beyond float32", (-1e39, 0.0), r"does not fit a float32 map: a bound is beyond float32"),
    ("beyond float32 int", (0, 10**39), r"does not fit a float32 map"),
    ("rounds together", (1.0, 1.0 + 1e-9), r"is empty for a float32 map: low and high round"),
    ("rounds together numpy", (np.float64(0.1), np.float64(0.1) + 1e-12), r"is empty for a"),
]


@pytest.mark.parametrize("name", list(VALUE_RANGE_CALLS))
@pytest.mark.parametrize(
    ("case", "value", "pattern"), NARROW_OR_WIDE, ids=[r[0] for r in NARROW_OR_WIDE]
)
def test_value_range_unusable_in_float32(case: str, value: Any, pattern: str, name: str) -> None:
    """Refused before anything is written, with the same message on the one-call path
    (a 2-D float32 map, a tuple of Python numbers) as on the general one (``out=``, a
    batch, a float16 map, which computes as float32); fine for a float64 map."""
    call = VALUE_RANGE_CALLS[name]
    messages = set()
    out = np.full((SMALL_H, SMALL_W, 3), 7, np.uint8)
    batch_out = np.full((2, SMALL_H, SMALL_W, 3), 7, np.uint8)
    for m, kwargs in [
        (F32_MAP, {}),
        (F32_MAP, {"out": out}),
        (np.stack([F32_MAP, F32_MAP]), {"out": batch_out}),
        (F32_MAP.astype(np.float16), {}),
        (F32_MAP, {"normalize": True}),
    ]:
        with Unmodified(m, IMAGE):
            message = assert_rejected(
                lambda m=m, kw=kwargs: call(m, value, **kw), "value_range", ValueError, pattern
            )
        messages.add(message)
    assert len(messages) == 1, messages
    assert (out == 7).all() and (batch_out == 7).all()
    # A float64 map (or an integer map, computed in float64) takes it.
    for m in (F32_MAP.astype(np.float64), (MAP * 100).astype(np.int32)):
        call(m, value)


def test_value_range_with_a_bad_map_names_the_map() -> None:
    """Argument errors come in the usual order: the map first."""
    assert_rejected(
        lambda: ap.anomaly_map_to_color_map(MAP[0], value_range=(0, 1)),
        "anomaly_map",
        ValueError,
        "at least 2 dimensions",
    )
    m = MAP.copy()
    m[2, 3] = np.inf
    assert_rejected(
        lambda: ap.anomaly_map_to_color_map(m, value_range=(0, 1)),
        "anomaly_map",
        ValueError,
        r"1 NaN/±inf value; the first is at row 2, column 3",
    )


def test_value_range_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        ap.anomaly_map_to_color_map(MAP, True, (0, 1))  # type: ignore[misc]
    with pytest.raises(TypeError):
        ap.superimpose_anomaly_map(MAP, IMAGE, 0.4, 0, False, (0, 1))  # type: ignore[misc]
    with pytest.raises(TypeError):
        ap.compute_mask(MAP, 0.5, value_range=(0, 1))  # type: ignore[call-arg]
