"""Inputs in any memory layout: strided, reversed, transposed, Fortran-ordered,
zero-stride (broadcast), misaligned, read-only and big-endian maps and images, and
array-like objects (``__array__``, ``__array_interface__``, PIL images, lists,
memoryviews) give exactly the bytes of a clean contiguous copy, and the oracle's; float32
and float64 maps are read in place (tracemalloc sees no copy). See docs/behaviour.md#shapes,
docs/behaviour.md#dtypes and docs/behaviour.md#memory.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
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
    ArrayLike,
    InterfaceOnly,
    TensorLike,
    assert_same_bytes,
    base_image,
    base_values,
    batch_of_one_broadcast,
    clean_copy,
    map_values,
    misaligned,
    misaligned_big_endian_reversed,
    negative_strides,
    random_image,
    read_only,
    result_shape,
    smooth_maps,
    stepped,
    transposed,
    zero_strides,
)
from reference import (
    spec_anomaly_map_to_color_map,
    spec_canonical_maps,
    spec_compute_mask,
    spec_superimpose_anomaly_map,
)

H, W = ODD_H, ODD_W  # odd sizes: no row is a multiple of a vector width


# ===================================================== map layouts x dtypes (9, 11)


MAP_LAYOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
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


def mask_threshold(dtype: str) -> Any:
    """A threshold in the middle of the values (0.5 hits exact ties for the floats)."""
    kind = np.dtype(dtype).kind
    return 0.5 if kind in "fb" else 3


@pytest.mark.parametrize("layout", list(MAP_LAYOUTS))
@pytest.mark.parametrize("dtype", MAP_DTYPES)
@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_map_layouts_and_dtypes(dtype: str, layout: str, batch: bool) -> None:
    """Every map dtype in every layout: the same bytes as a clean contiguous copy, and as
    the oracle. Integers are computed as float64 (exact for these values), so the mask
    of the clean float64 copy is the same as the integer comparison."""
    shape = (2, SMALL_H, SMALL_W) if batch else (SMALL_H, SMALL_W)
    m = MAP_LAYOUTS[layout](map_values(dtype, shape))
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


# ========================================================== image layouts (9, 11)


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
    clean = np.ascontiguousarray(image.reshape(SMALL_H, SMALL_W, 3))
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
    images = np.broadcast_to(image, (3, SMALL_H, SMALL_W, 3))
    out = ap.superimpose_anomaly_map(maps, images)
    assert np.array_equal(out, ap.superimpose_anomaly_map(maps, image))
    assert np.array_equal(out, spec_superimpose_anomaly_map(maps, image))


# ============================================================ strided batches (37, 53)


def _layouts(dtype: Any) -> dict[str, np.ndarray]:
    """Batches ``(*B, H, W)`` whose memory is not C-contiguous."""
    base = smooth_maps((4, 6, H, W), seed=50, dtype=dtype)
    return {
        "transposed batch": np.ascontiguousarray(base[0].transpose(1, 2, 0)).transpose(2, 0, 1),
        "transposed maps": np.ascontiguousarray(base[0].transpose(0, 2, 1)).transpose(0, 2, 1),
        "negative steps": base[1, ::-1, ::-1, ::-1],
        "every other column": smooth_maps((3, H, 2 * W), seed=51, dtype=dtype)[:, :, 1::2],
        "unmergeable batch (slice)": base[:, ::2],
        "unmergeable batch (swap)": base.transpose(1, 0, 2, 3)[:, ::-1],
        "unmergeable 3-d batch": smooth_maps((2, 3, 4, H, W), seed=52, dtype=dtype)[
            :, ::2, 1:
        ].swapaxes(0, 2),
        "fortran": np.asfortranarray(base[2]),
        "zero batch stride": np.broadcast_to(base[3, 0], (5, H, W)),
        "zero map stride": np.broadcast_to(base[3, 1, :, :1], (3, H, W)),
        "misc": base[::-3, 1::2, 3:-2, ::-2].transpose(1, 0, 2, 3),
    }


BATCH_LAYOUTS = list(_layouts(np.float32))


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", BATCH_LAYOUTS)
def test_strided_maps_equal_contiguous_copies(
    restore_threads: None, name: str, dtype: Any, layout: str
) -> None:
    fn = FUNCTIONS[name]
    maps = _layouts(dtype)[layout]
    assert not maps.flags.c_contiguous
    contiguous = np.ascontiguousarray(maps)
    image = random_image(53, maps.shape[-2:])
    for threads in (1, 2):
        ap.set_num_threads(threads)
        expected = fn(contiguous, image)
        assert_same_bytes(fn(maps, image), expected)
        out = np.empty_like(expected)
        assert fn(maps, image, out=out) is out
        assert_same_bytes(out, expected)


@pytest.mark.parametrize("name", ["superimpose", "superimpose opts"])
@pytest.mark.parametrize(
    "layout",
    ["negative steps", "transposed batch", "every other pixel", "fortran", "zero batch stride"],
)
def test_strided_images_equal_contiguous_copies(name: str, layout: str) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps((4, H, W), seed=54)
    base = random_image(55, (4, H, W))
    image = {
        "negative steps": base[::-1, ::-1, ::-1, ::-1],
        "transposed batch": np.ascontiguousarray(base.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2),
        "every other pixel": random_image(56, (4, H, 2 * W))[:, :, ::2],
        "fortran": np.asfortranarray(base),
        "zero batch stride": np.broadcast_to(base[0], (4, H, W, 3)),
    }[layout]
    expected = fn(maps, np.ascontiguousarray(image))
    assert_same_bytes(fn(maps, image), expected)
    assert_same_bytes(
        fn(maps[::-1, ::-1], image[2]),
        fn(np.ascontiguousarray(maps[::-1, ::-1]), np.ascontiguousarray(image[2])),
    )


@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "layout", ["transposed batch", "negative steps", "unmergeable batch (slice)", "fortran"]
)
def test_strided_maps_are_not_copied(name: str, dtype: Any, layout: str) -> None:
    """float32/float64 maps are read in place whatever their strides: with ``out=``,
    a call allocates (almost) nothing that numpy's allocator sees."""
    fn = FUNCTIONS[name]
    base = smooth_maps((4, 6, 96, 128), seed=57, dtype=dtype)
    maps = {
        "transposed batch": np.ascontiguousarray(base[0].transpose(1, 2, 0)).transpose(2, 0, 1),
        "negative steps": base[1, ::-1, ::-1, ::-1],
        "unmergeable batch (slice)": base[:, ::2],
        "fortran": np.asfortranarray(base[2]),
    }[layout]
    image = random_image(58, (96, 128))
    out = np.empty(result_shape(name, maps.shape), np.uint8)
    fn(maps, image, out=out)  # warm-up
    tracemalloc.start()
    try:
        fn(maps, image, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < maps.nbytes // 8, (peak, maps.nbytes)
    assert_same_bytes(out, fn(np.ascontiguousarray(maps), image))


# ==================================================================== array-likes


class MapSubclass(np.ndarray):
    pass


GOOD_MAP_OBJECTS: dict[str, Any] = {
    "nested list": base_values().tolist(),
    "tuple of tuples": tuple(map(tuple, base_values().tolist())),
    "__array__": ArrayLike(base_values()),
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


def test_huge_zero_stride_batch() -> None:
    """100 000 maps that are all one map (zero batch stride): 30 MB out, 800 B in."""
    m = base_values()
    maps = np.broadcast_to(m, (100_000, SMALL_H, SMALL_W))
    image = base_image()
    color = ap.anomaly_map_to_color_map(maps)
    assert color.shape == (100_000, SMALL_H, SMALL_W, 3)
    assert np.array_equal(color, np.broadcast_to(ap.anomaly_map_to_color_map(m), color.shape))
    mask = ap.compute_mask(maps, 0.5, 2)
    assert np.array_equal(mask, np.broadcast_to(ap.compute_mask(m, 0.5, 2), mask.shape))
    overlay = ap.superimpose_anomaly_map(maps[:1000], image)
    assert np.array_equal(
        overlay, np.broadcast_to(ap.superimpose_anomaly_map(m, image), overlay.shape)
    )


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("wrapper", [TensorLike, InterfaceOnly])
@pytest.mark.parametrize("shape", [(H, W), (1, 1, H, W), (3, H, W), (2, 2, H, W)], ids=str)
def test_array_like_objects(name: str, wrapper: type, shape: tuple[int, ...]) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps(shape, seed=60)
    image = random_image(61, (H, W))
    expected = fn(maps, image)
    assert_same_bytes(fn(wrapper(maps), image), expected)
    if name.startswith("superimpose"):
        assert_same_bytes(fn(wrapper(maps), wrapper(image)), expected)
        per_map = random_image(62, shape[:-2] + (H, W))
        assert_same_bytes(fn(wrapper(maps), wrapper(per_map)), fn(maps, per_map))
    out = np.empty_like(expected)
    assert fn(wrapper(maps), image, out=out) is out
    assert_same_bytes(out, expected)


def test_array_like_strided_tensor_is_not_copied() -> None:
    base = smooth_maps((128, 160, 3), seed=63)
    tensor = TensorLike(base.transpose(2, 0, 1))  # like tensor.permute(2, 0, 1)
    out = np.empty((3, 128, 160, 3), np.uint8)
    expected = ap.anomaly_map_to_color_map(np.ascontiguousarray(base.transpose(2, 0, 1)))
    ap.anomaly_map_to_color_map(tensor, out=out)
    assert tensor.calls >= 1
    tracemalloc.start()
    try:
        ap.anomaly_map_to_color_map(tensor, out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < base.nbytes // 8
    assert_same_bytes(out, expected)


@pytest.mark.parametrize("name", ["superimpose", "superimpose opts"])
def test_pil_image(name: str) -> None:
    Image = pytest.importorskip("PIL.Image")
    fn = FUNCTIONS[name]
    pixels = random_image(65, (H, W))
    pil = Image.fromarray(pixels)
    assert pil.mode == "RGB" and pil.size == (W, H)
    maps = smooth_maps((H, W), seed=66)
    expected = fn(maps, pixels)
    assert_same_bytes(fn(maps, pil), expected)
    out = np.empty_like(expected)
    assert fn(maps, pil, out=out) is out
    assert_same_bytes(out, expected)
    # One PIL image for a whole batch.
    batch = smooth_maps((3, H, W), seed=67)
    assert_same_bytes(fn(batch, pil), fn(batch, pixels))
    assert_same_bytes(fn(TensorLike(batch), pil), fn(batch, pixels))
