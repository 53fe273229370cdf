"""Array arguments given as DLPack objects (docs/behaviour.md#api): every array argument
of every function gives exactly the bytes of the same values as an ndarray, whoever
produced it, and CPU memory is read in place, never copied.

The producers: numpy's own (an ndarray behind a class that offers nothing but
``__dlpack__``/``__dlpack_device__``), array-api-strict (a real array-API library), and
``CapsuleProducer``, which is not numpy at all: it builds an unversioned DLPack capsule
with ctypes over a buffer it owns, with any strides, and records every export. The
rejected ones (other devices, refused exports) are in
tests/bad_inputs/test_value_range_and_dlpack_inputs.py.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import array_api_strict as xp
import numpy as np
import pytest

import anomaly_postprocess as ap
from anomaly_postprocess import _args
from conftest import (
    SMALL_H,
    SMALL_W,
    assert_same_bytes,
    base_image,
    map_values,
    read_only,
    smooth_maps,
)

# ==================================================================== the producers


class NumpyProducer:
    """numpy's DLPack export of ``array`` and nothing else (no ``__array__``, no buffer
    protocol, no ``__array_interface__``): numpy can only read it through DLPack."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = array
        self.exports = 0

    def __dlpack__(self, **kwargs: Any) -> Any:
        self.exports += 1
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self) -> tuple[int, int]:
        return self._array.__dlpack_device__()  # type: ignore[no-any-return]


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensor(ctypes.Structure):
    # deleter NULL: the spec allows it; the producer object owns all the memory.
    _fields_ = [
        ("dl_tensor", _DLTensor),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", ctypes.c_void_p),
    ]


_PyCapsule_New = ctypes.pythonapi.PyCapsule_New
_PyCapsule_New.restype = ctypes.py_object
_PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_CAPSULE_NAME = b"dltensor"  # module-level: the capsule keeps a pointer to it
_DLPACK_CODES = {"b": 6, "i": 0, "u": 1, "f": 2}  # kDLBool, kDLInt, kDLUInt, kDLFloat


class CapsuleProducer:
    """A DLPack producer that is not numpy: ``values`` are copied once into a ctypes
    buffer of ``len(values) * spread`` elements, laid out by ``layout`` ("c", "f",
    "spread": every ``spread``-th element, "reversed": rows and columns backwards), and
    exported as an unversioned DLPack capsule pointing into that buffer. Accepts (and
    records) any keywords of ``__dlpack__``."""

    def __init__(self, values: np.ndarray, layout: str = "c", spread: int = 3) -> None:
        dtype = values.dtype
        self.buffer = (ctypes.c_char * (values.nbytes * spread))()
        whole = np.frombuffer(self.buffer, dtype=dtype)
        # ``view``: the numpy picture of exactly what the capsule describes.
        if layout == "c":
            view = whole[: values.size].reshape(values.shape)
        elif layout == "f":
            view = whole[: values.size].reshape(values.shape[::-1]).T
        elif layout == "spread":
            view = whole[::spread][: values.size].reshape(values.shape)
        elif layout == "reversed":
            view = whole[: values.size].reshape(values.shape)[..., ::-1, ::-1]
        else:
            raise AssertionError(layout)
        view[...] = values
        self.view = view
        self.address = view.__array_interface__["data"][0]  # of element [0, ..., 0]
        base = ctypes.addressof(self.buffer)
        ndim = values.ndim
        self._shape = (ctypes.c_int64 * ndim)(*values.shape)
        self._strides = (ctypes.c_int64 * ndim)(*(s // dtype.itemsize for s in view.strides))
        self._managed = _DLManagedTensor()
        tensor = self._managed.dl_tensor
        tensor.data = base
        tensor.byte_offset = self.address - base
        tensor.device = _DLDevice(1, 0)
        tensor.ndim = ndim
        tensor.dtype = _DLDataType(_DLPACK_CODES[dtype.kind], dtype.itemsize * 8, 1)
        tensor.shape = self._shape
        tensor.strides = self._strides
        self.calls: list[dict[str, Any]] = []

    def __dlpack__(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        return _PyCapsule_New(ctypes.addressof(self._managed), _CAPSULE_NAME, None)

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)


def array_api_strict_producer(array: np.ndarray) -> Any:
    return xp.asarray(array)


PRODUCERS: dict[str, Callable[[np.ndarray], Any]] = {
    "numpy": NumpyProducer,
    "array-api-strict": array_api_strict_producer,
    "capsule": CapsuleProducer,
    "capsule F order": lambda a: CapsuleProducer(a, "f"),
    "capsule spread": lambda a: CapsuleProducer(a, "spread"),
    "capsule reversed": lambda a: CapsuleProducer(a, "reversed"),
}


def producers_for(dtype: str) -> list[str]:
    # The array API has no float16.
    return [p for p in PRODUCERS if not (dtype == "float16" and p == "array-api-strict")]


def as_dlpack(producer: str, array: np.ndarray) -> Any:
    return PRODUCERS[producer](array)


# ========================================================================= the maps

MAP_DTYPES = ["float32", "float64", "float16", "int16", "uint8", "bool"]

CALLS: dict[str, Callable[[Any, Any], np.ndarray]] = {
    "color": lambda m, image: ap.anomaly_map_to_color_map(m),
    "color raw": lambda m, image: ap.anomaly_map_to_color_map(m, False),
    "color turbo": lambda m, image: ap.anomaly_map_to_color_map(m, colormap="turbo"),
    "superimpose": lambda m, image: ap.superimpose_anomaly_map(m, image),
    "superimpose normalized": lambda m, image: ap.superimpose_anomaly_map(m, image, 0.3, 2, True),
    "mask": lambda m, image: ap.compute_mask(m, 0.5),
    "mask r1": lambda m, image: ap.compute_mask(m, 0.3, 1, min_area=2),
}


def _map(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    return map_values(dtype, shape)


@pytest.mark.parametrize(
    "shape", [(SMALL_H, SMALL_W), (1, SMALL_H, SMALL_W), (2, SMALL_H, SMALL_W)]
)
@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize(
    ("dtype", "producer"), [(d, p) for d in MAP_DTYPES for p in producers_for(d)]
)
def test_anomaly_map(dtype: str, producer: str, call: str, shape: tuple[int, ...]) -> None:
    values = _map(dtype, shape)
    image = base_image()
    source = as_dlpack(producer, values)
    assert_same_bytes(CALLS[call](source, image), CALLS[call](values, image))


@pytest.mark.parametrize("producer", list(PRODUCERS))
@pytest.mark.parametrize("per_map", [False, True], ids=["one image", "one per map"])
def test_image_of_superimpose(producer: str, per_map: bool) -> None:
    maps = smooth_maps((2, SMALL_H, SMALL_W), seed=3)
    image = base_image((2, SMALL_H, SMALL_W) if per_map else (SMALL_H, SMALL_W))
    for kwargs in ({}, {"size": "image"}):
        expected = ap.superimpose_anomaly_map(maps, image, **kwargs)
        result = ap.superimpose_anomaly_map(maps, as_dlpack(producer, image), **kwargs)
        assert_same_bytes(result, expected)
        both = ap.superimpose_anomaly_map(
            as_dlpack(producer, maps), as_dlpack(producer, image), **kwargs
        )
        assert_same_bytes(both, expected)


def test_image_of_another_size_is_resized() -> None:
    m = smooth_maps((SMALL_H, SMALL_W), seed=4)
    image = base_image((2 * SMALL_H + 1, SMALL_W - 3))
    for size in ("map", "image"):
        expected = ap.superimpose_anomaly_map(m, image, size=size)
        for producer in PRODUCERS:
            result = ap.superimpose_anomaly_map(m, as_dlpack(producer, image), size=size)
            assert_same_bytes(result, expected)


@pytest.mark.parametrize("producer", list(PRODUCERS))
@pytest.mark.parametrize("dtype", ["uint8", "bool", "float32", "int64"])
def test_mask_of_mask_to_boxes_and_mark_boundaries(producer: str, dtype: str) -> None:
    mask = ap.compute_mask(smooth_maps((SMALL_H, SMALL_W), seed=5), 0.5, 1)
    values = mask.astype(dtype) if dtype != "bool" else mask > 0
    expected_boxes = ap.mask_to_boxes(values, min_area=2)
    boxes = ap.mask_to_boxes(as_dlpack(producer, values), min_area=2)
    assert boxes.dtype == np.int64 and np.array_equal(boxes, expected_boxes)
    image = base_image()
    expected = ap.mark_boundaries(image, values, (0, 255, 0))
    assert_same_bytes(ap.mark_boundaries(image, as_dlpack(producer, values), (0, 255, 0)), expected)
    both = ap.mark_boundaries(as_dlpack(producer, image), as_dlpack(producer, values), (0, 255, 0))
    assert_same_bytes(both, expected)


@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_batches_and_scores_of_mask_to_boxes(producer: str) -> None:
    maps = smooth_maps((3, SMALL_H, SMALL_W), seed=10)
    masks = ap.compute_mask(maps, 0.5, 1)
    expected = ap.mask_to_boxes(masks, anomaly_map=maps)
    result = ap.mask_to_boxes(as_dlpack(producer, masks), anomaly_map=as_dlpack(producer, maps))
    assert len(result) == len(expected) == 3
    for (boxes, scores), (want_boxes, want_scores) in zip(result, expected, strict=True):
        assert np.array_equal(boxes, want_boxes) and boxes.dtype == want_boxes.dtype
        assert np.array_equal(scores, want_scores) and scores.dtype == want_scores.dtype


@pytest.mark.parametrize("producer", list(PRODUCERS))
@pytest.mark.parametrize("dtype", ["int64", "int32", "float64"])
def test_image_and_boxes_of_draw_boxes(producer: str, dtype: str) -> None:
    image = base_image()
    boxes = np.array([[1, 1, 5, 5], [0, 2, 3, 8], [-2, 4, 20, 6]]).astype(dtype)
    expected = ap.draw_boxes(image, boxes, (0, 255, 0), 1)
    for args in [
        (as_dlpack(producer, image), boxes),
        (image, as_dlpack(producer, boxes)),
        (as_dlpack(producer, image), as_dlpack(producer, boxes)),
    ]:
        assert_same_bytes(ap.draw_boxes(*args, (0, 255, 0), 1), expected)


@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_colormap_table(producer: str) -> None:
    table = np.random.default_rng(6).integers(0, 256, (256, 3), dtype=np.uint8)
    m = smooth_maps((2, SMALL_H, SMALL_W), seed=7)
    image = base_image()
    expected = ap.anomaly_map_to_color_map(m, colormap=table)
    assert_same_bytes(ap.anomaly_map_to_color_map(m, colormap=as_dlpack(producer, table)), expected)
    expected = ap.superimpose_anomaly_map(m, image, colormap=table)
    result = ap.superimpose_anomaly_map(m, image, colormap=as_dlpack(producer, table))
    assert_same_bytes(result, expected)


def assert_same_frames(actual: ap.Frame, expected: ap.Frame) -> None:
    """The same products, byte for byte; boxes and scores (lists for a batch) alike."""
    for name in ("heatmap", "overlay", "mask"):
        got, want = getattr(actual, name), getattr(expected, name)
        assert (got is None) == (want is None), name
        if want is not None:
            assert_same_bytes(got, want)
    boxes, scores = actual.boxes, actual.scores
    want_boxes, want_scores = expected.boxes, expected.scores
    if not isinstance(want_boxes, list):
        boxes, scores, want_boxes, want_scores = [boxes], [scores], [want_boxes], [want_scores]
    assert isinstance(boxes, list) and isinstance(scores, list)
    assert len(boxes) == len(want_boxes) == len(scores) == len(want_scores)
    for got, want in zip(boxes + scores, want_boxes + want_scores, strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.array_equal(got, want, equal_nan=True)


@pytest.mark.parametrize("shape", [(SMALL_H, SMALL_W), (2, SMALL_H, SMALL_W)], ids=str)
@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_postprocess(producer: str, shape: tuple[int, ...]) -> None:
    """postprocess takes DLPack objects for its map, image and colormap table as the
    separate calls do: every product is the ndarray call's."""
    maps = smooth_maps(shape, seed=11)
    image = base_image(shape[-2:])
    table = np.random.default_rng(12).integers(0, 256, (256, 3), dtype=np.uint8)
    for kwargs in (
        {},
        {"normalize_overlay": True, "kernel_size": 1, "min_area": 3},
        {"colormap": "table", "value_range": (0.2, 0.7)},
    ):
        expected_kwargs = {**kwargs, "colormap": table} if "colormap" in kwargs else kwargs
        expected = ap.postprocess(maps, image, 0.5, **expected_kwargs)
        given = (
            {**kwargs, "colormap": as_dlpack(producer, table)} if "colormap" in kwargs else kwargs
        )
        result = ap.postprocess(as_dlpack(producer, maps), image, 0.5, **given)
        assert_same_frames(result, expected)
        both = ap.postprocess(as_dlpack(producer, maps), as_dlpack(producer, image), 0.5, **given)
        assert_same_frames(both, expected)
    # An image of another size, both ways.
    large = base_image((2 * SMALL_H, SMALL_W + 5))
    for size in ("map", "image"):
        expected = ap.postprocess(maps, large, 0.5, size=size)
        result = ap.postprocess(
            as_dlpack(producer, maps), as_dlpack(producer, large), 0.5, size=size
        )
        assert_same_frames(result, expected)


@pytest.mark.parametrize("dtype", ["float16", "float64", "int16", "uint8", "bool"])
def test_postprocess_map_dtypes(dtype: str) -> None:
    values = map_values(dtype, (2, SMALL_H, SMALL_W))
    image = base_image()
    threshold = 0.5 if np.dtype(dtype).kind in "fb" else 100
    expected = ap.postprocess(values, image, threshold, kernel_size=1)
    for producer in producers_for(dtype):
        result = ap.postprocess(as_dlpack(producer, values), image, threshold, kernel_size=1)
        assert_same_frames(result, expected)


# ======================================================= numbers given as a small array

# Producers of the 0-d and 1-d arrays below ("capsule reversed" reverses two axes).
SMALL_PRODUCERS = [p for p in PRODUCERS if p != "capsule reversed"]


@pytest.mark.parametrize("producer", SMALL_PRODUCERS)
def test_value_range_as_a_tensor(producer: str) -> None:
    """value_range as a 1-D array of two values: a DLPack one gives the same bytes."""
    m = smooth_maps((2, SMALL_H, SMALL_W), seed=13)
    image = base_image()
    for bounds in (np.array([0.25, 0.75]), np.array([0.25, 0.75], np.float32), np.array([0, 2])):
        tensor = as_dlpack(producer, bounds)
        expected = tuple(bounds.tolist())
        assert_same_bytes(
            ap.anomaly_map_to_color_map(m, value_range=tensor),
            ap.anomaly_map_to_color_map(m, value_range=expected),
        )
        assert_same_bytes(
            ap.superimpose_anomaly_map(m, image, value_range=tensor),
            ap.superimpose_anomaly_map(m, image, value_range=expected),
        )
        assert_same_frames(
            ap.postprocess(m, image, 0.5, value_range=tensor),
            ap.postprocess(m, image, 0.5, value_range=expected),
        )


@pytest.mark.parametrize("producer", SMALL_PRODUCERS)
@pytest.mark.parametrize("dtype", ["uint8", "int64"])
def test_color_as_a_tensor(producer: str, dtype: str) -> None:
    image = base_image()
    mask = ap.compute_mask(smooth_maps((SMALL_H, SMALL_W), seed=14), 0.5, 1)
    boxes = np.array([[1, 1, 5, 5], [0, 2, 3, 8]])
    color = np.array([0, 255, 7], dtype)
    tensor = as_dlpack(producer, color)
    assert_same_bytes(
        ap.draw_boxes(image, boxes, tensor, 1), ap.draw_boxes(image, boxes, (0, 255, 7), 1)
    )
    assert_same_bytes(
        ap.mark_boundaries(image, mask, tensor), ap.mark_boundaries(image, mask, (0, 255, 7))
    )


@pytest.mark.parametrize("producer", SMALL_PRODUCERS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_threshold_as_a_0d_tensor(producer: str, dtype: str) -> None:
    """A 0-d tensor threshold is the 0-d array numpy imports: a "strong" numpy scalar
    (docs/behaviour.md#threshold). np.float32(0.1) against a float32 map holding it is
    not above; np.float64(0.1) is."""
    m = smooth_maps((2, SMALL_H, SMALL_W), seed=15)
    m[0, 0, :3] = np.float32(0.1)
    value = np.array(0.1 if dtype != "int64" else 0, dtype)
    tensor = as_dlpack(producer, value)
    expected = ap.compute_mask(m, value[()], 1)
    assert_same_bytes(ap.compute_mask(m, tensor, 1), expected)
    assert_same_bytes(ap.compute_mask(m, value, 1), expected)
    assert bool(expected[0, 0, 0]) == (dtype == "float64" or dtype == "int64")
    assert_same_frames(
        ap.postprocess(m, None, tensor, kernel_size=1),
        ap.postprocess(m, None, value[()], kernel_size=1),
    )
    ints = (m * 1000).astype(np.int32)
    for limit in (np.array(500, np.int64), np.array(499.5)):
        assert_same_bytes(
            ap.compute_mask(ints, as_dlpack(producer, limit), 0),
            ap.compute_mask(ints, limit[()], 0),
        )


def test_out_is_still_written_and_returned() -> None:
    m = smooth_maps((SMALL_H, SMALL_W), seed=8)
    out = np.empty((SMALL_H, SMALL_W, 3), np.uint8)
    result = ap.anomaly_map_to_color_map(CapsuleProducer(m), out=out)
    assert result is out
    assert_same_bytes(out, ap.anomaly_map_to_color_map(m))


# ============================================================== read in place, never copied


@pytest.mark.parametrize("layout", ["c", "f", "spread", "reversed"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8"])
def test_cpu_memory_is_read_in_place(layout: str, dtype: str) -> None:
    """The array the functions read is a view of the producer's own buffer: the same
    address for element [0, 0], the same strides, after exactly one export."""
    producer = CapsuleProducer(map_values(dtype, (2, SMALL_H, SMALL_W)), layout)
    array = _args.as_ndarray(producer, "anomaly_map", "a map")
    assert len(producer.calls) == 1
    assert array.__array_interface__["data"][0] == producer.address
    assert array.strides == producer.view.strides
    assert np.shares_memory(array, producer.view)
    assert np.array_equal(array, producer.view)


@pytest.mark.parametrize("producer", ["numpy", "array-api-strict"])
def test_numpy_and_array_api_exports_are_read_in_place(producer: str) -> None:
    values = map_values("float32", (SMALL_H, SMALL_W))
    source = as_dlpack(producer, values)
    array = _args.as_ndarray(source, "anomaly_map", "a map")
    exported = np.from_dlpack(source)
    assert array.__array_interface__["data"][0] == exported.__array_interface__["data"][0]
    if producer == "numpy":
        assert np.shares_memory(array, values)


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("color", lambda m, out: ap.anomaly_map_to_color_map(m, out=out)),
        ("superimpose", lambda m, out: ap.superimpose_anomaly_map(m, base_image(), out=out)),
        ("mask", lambda m, out: ap.compute_mask(m, 0.5, out=out)),
    ],
)
def test_out_overlapping_the_producers_buffer_is_refused(name: str, call: Any) -> None:
    """Seen from the public functions: ``out`` over the producer's buffer is refused as
    sharing memory with anomaly_map, which it can only do if the map was not copied."""
    producer = CapsuleProducer(map_values("float32", (SMALL_H, SMALL_W)), "spread", spread=8)
    shape = (SMALL_H, SMALL_W) if name == "mask" else (SMALL_H, SMALL_W, 3)
    out = np.frombuffer(producer.buffer, np.uint8)[: int(np.prod(shape))].reshape(shape)
    before = bytes(producer.buffer)
    with pytest.raises(ValueError, match="out must not share memory with anomaly_map"):
        call(producer, out)
    assert bytes(producer.buffer) == before


@pytest.mark.parametrize("name", ["out_heatmap", "out_overlay", "out_mask"])
def test_postprocess_outputs_overlapping_the_producers_buffer_are_refused(name: str) -> None:
    """postprocess reads the producer's buffer in place too: an output over it is
    refused as sharing memory with anomaly_map (or image), and nothing is written."""
    maps = CapsuleProducer(map_values("float32", (SMALL_H, SMALL_W)), "spread", spread=8)
    image = CapsuleProducer(base_image(), "spread", spread=4)
    shape = (SMALL_H, SMALL_W) if name == "out_mask" else (SMALL_H, SMALL_W, 3)
    for producer, argument in ((maps, "anomaly_map"), (image, "image")):
        out = np.frombuffer(producer.buffer, np.uint8)[: int(np.prod(shape))].reshape(shape)
        before = bytes(maps.buffer), bytes(image.buffer)
        with pytest.raises(ValueError, match=f"{name} must not share memory with {argument}"):
            ap.postprocess(maps, image, 0.5, **{name: out})
        assert (bytes(maps.buffer), bytes(image.buffer)) == before


def test_inputs_are_not_modified() -> None:
    m = CapsuleProducer(map_values("float64", (2, SMALL_H, SMALL_W)), "reversed")
    image = CapsuleProducer(base_image((2, SMALL_H + 2, SMALL_W)), "f")
    table = CapsuleProducer(np.random.default_rng(9).integers(0, 256, (256, 3), np.uint8))
    before = [bytes(p.buffer) for p in (m, image, table)]
    ap.anomaly_map_to_color_map(m, colormap=table)
    ap.superimpose_anomaly_map(m, image, 0.6, 1, True, colormap=table, size="image")
    ap.superimpose_anomaly_map(m, image, colormap=table)
    ap.compute_mask(m, 0.5)
    ap.postprocess(m, image, 0.5, colormap=table, normalize_overlay=True, size="image")
    ap.postprocess(m, image, 0.5, colormap=table, value_range=(0.2, 0.6))
    assert [bytes(p.buffer) for p in (m, image, table)] == before


def test_read_only_exports_are_fine() -> None:
    """numpy exports a read-only array (flagged read-only in DLPack 1.0); inputs are only
    read, so that is accepted."""
    values = read_only(map_values("float32", (SMALL_H, SMALL_W)))
    image = read_only(base_image())
    assert_same_bytes(
        ap.superimpose_anomaly_map(NumpyProducer(values), NumpyProducer(image), 0.5, 0, True),
        ap.superimpose_anomaly_map(values, image, 0.5, 0, True),
    )


# ================================================================== which route is taken


class DLPackAndArray(NumpyProducer):
    """A tensor-like with both ``__array__`` and DLPack, whose ``__array__`` fails (as a
    torch tensor that requires grad does): DLPack is asked first."""

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        raise AssertionError("__array__ must not be called when DLPack is offered")


def test_dlpack_is_preferred_over_array() -> None:
    values = map_values("float32", (SMALL_H, SMALL_W))
    source = DLPackAndArray(values)
    assert_same_bytes(ap.anomaly_map_to_color_map(source), ap.anomaly_map_to_color_map(values))
    assert source.exports == 1


def test_ndarrays_do_not_go_through_dlpack(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("np.from_dlpack called for an ndarray")

    monkeypatch.setattr(np, "from_dlpack", refuse)
    values = map_values("float32", (2, SMALL_H, SMALL_W))
    for array in (values, values[0], np.float32(1.0)):
        assert _args.as_ndarray(array, "anomaly_map", "a map") is not None
    subclass = values.view(Subclass)
    assert_same_bytes(ap.compute_mask(subclass, 0.5), ap.compute_mask(values, 0.5))


class Subclass(np.ndarray):
    """An ndarray subclass: it has ``__dlpack_device__`` too, and is read as an ndarray."""


class LegacyProducer(NumpyProducer):
    """A producer from before DLPack 1.0: ``__dlpack__`` takes ``stream`` only."""

    def __dlpack__(self, stream: Any = None) -> Any:  # type: ignore[override]
        self.exports += 1
        return self._array.__dlpack__()


def test_producers_without_the_dlpack_1_keywords() -> None:
    """On numpy >= 2.1 the map is asked for with ``copy=False``; a producer that does not
    know the keyword is then asked the old way (numpy does not retry when copy= is
    given). On older numpy, the old way directly."""
    values = map_values("float32", (SMALL_H, SMALL_W))
    writable = values.copy()  # the legacy export refuses read-only arrays
    source = LegacyProducer(writable)
    assert_same_bytes(ap.anomaly_map_to_color_map(source), ap.anomaly_map_to_color_map(values))
    assert source.exports == 1


def test_copy_false_is_asked_where_numpy_has_it() -> None:
    producer = CapsuleProducer(map_values("float32", (SMALL_H, SMALL_W)))
    _args.as_ndarray(producer, "anomaly_map", "a map")
    if np.lib.NumpyVersion(np.__version__) >= "2.1.0":
        assert _args._FROM_DLPACK_HAS_COPY
        assert producer.calls[0].get("copy") is False
    else:
        assert not _args._FROM_DLPACK_HAS_COPY
        assert producer.calls[0].get("copy") is None


def test_numpy_without_the_copy_keyword(monkeypatch: pytest.MonkeyPatch) -> None:
    """The branch for numpy < 2.1 (``np.from_dlpack(x)`` only), run on any numpy."""
    monkeypatch.setattr(_args, "_FROM_DLPACK_HAS_COPY", False)
    for layout in ("c", "spread"):
        values = map_values("float64", (2, SMALL_H, SMALL_W))
        producer = CapsuleProducer(values, layout)
        array = _args.as_ndarray(producer, "anomaly_map", "a map")
        assert array.__array_interface__["data"][0] == producer.address
        assert producer.calls[0].get("copy") is None  # numpy >= 2.1 passes None
        assert_same_bytes(
            ap.anomaly_map_to_color_map(producer), ap.anomaly_map_to_color_map(values)
        )
