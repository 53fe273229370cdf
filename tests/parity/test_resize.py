"""Parity of the native bilinear resizes with ``cv2.resize(..., interpolation=cv2.INTER_LINEAR)``.

Byte-exact for uint8 images and bit-exact for float32/float64 maps (see ``src/resize.rs``
for the arithmetic and the OpenCV code paths it reproduces).
"""

from __future__ import annotations

import platform

import cv2
import numpy as np
import pytest

from anomaly_postprocess import _native
from reference import opencv_x86_resize_u8

# (src_h, src_w, dst_h, dst_w): 1-pixel sizes, exact 2x/3x/4x down and up (both axes and
# one axis), odd ratios, near-identity, extreme ratios and camera-sized images.
SIZES = [
    (1, 1, 1, 1),
    (1, 1, 5, 7),
    (1, 1, 1, 9),
    (1, 9, 1, 1),
    (9, 1, 1, 1),
    (1, 9, 4, 17),
    (9, 1, 17, 4),
    (1, 16, 1, 8),
    (16, 1, 8, 1),
    (1, 7, 3, 3),
    (2, 2, 1, 1),
    (2, 2, 3, 3),
    (2, 2, 4, 4),
    (2, 3, 1, 1),
    (4, 4, 2, 2),
    (6, 8, 3, 4),
    (7, 9, 3, 4),
    (8, 8, 4, 2),
    (8, 8, 2, 4),
    (10, 10, 5, 10),
    (10, 10, 10, 5),
    (64, 64, 32, 32),
    (64, 64, 32, 64),
    (480, 640, 240, 320),
    (9, 12, 3, 4),
    (12, 9, 4, 3),
    (300, 300, 100, 100),
    (16, 16, 4, 4),
    (400, 600, 100, 150),
    (3, 4, 6, 8),
    (3, 4, 9, 12),
    (5, 5, 20, 20),
    (50, 70, 200, 280),
    (100, 100, 33, 33),
    (100, 100, 67, 67),
    (37, 53, 80, 41),
    (121, 7, 349, 13),
    (141, 141, 423, 423),
    (255, 256, 256, 255),
    (256, 256, 255, 257),
    (1000, 1000, 7, 3),
    (3, 7, 1000, 1000),
    (1000, 1, 1, 1000),
    (1, 1000, 1000, 1),
    (1080, 1920, 256, 256),
    (256, 256, 1080, 1920),
    (768, 1024, 224, 224),
    (224, 224, 999, 1001),
    (999, 1001, 224, 224),
]


def cv2_resize(src: np.ndarray, dst_h: int, dst_w: int) -> np.ndarray:
    """``cv2.resize`` with the output reshaped like the input (cv2 drops a unit channel)."""
    out = cv2.resize(src, (dst_w, dst_h), interpolation=cv2.INTER_LINEAR)
    return out.reshape((dst_h, dst_w) + src.shape[2:])


def native_image(src: np.ndarray, dst_h: int, dst_w: int) -> np.ndarray:
    out = np.empty((dst_h, dst_w, src.shape[2]), np.uint8)
    _native.resize_image(src, out)
    return out


def native_map(src: np.ndarray, dst_h: int, dst_w: int) -> np.ndarray:
    out = np.empty((dst_h, dst_w), src.dtype)
    _native.resize_map(src, out)
    return out


def assert_image_parity(src: np.ndarray, dst_h: int, dst_w: int) -> None:
    expected = cv2_resize(np.ascontiguousarray(src), dst_h, dst_w)
    got = native_image(src, dst_h, dst_w)
    if not np.array_equal(got, expected):
        bad = np.argwhere(got != expected)
        first = tuple(bad[0])
        raise AssertionError(
            f"{src.shape} -> {(dst_h, dst_w)}: {len(bad)} bytes differ, first at {first}: "
            f"got {got[first]}, cv2 {expected[first]}"
        )


def assert_map_parity(src: np.ndarray, dst_h: int, dst_w: int) -> None:
    expected = cv2_resize(np.ascontiguousarray(src), dst_h, dst_w)
    got = native_map(src, dst_h, dst_w)
    assert got.dtype == expected.dtype
    if not np.array_equal(got, expected):
        bad = np.argwhere(got != expected)
        first = tuple(bad[0])
        raise AssertionError(
            f"{src.dtype} {src.shape} -> {(dst_h, dst_w)}: {len(bad)} values differ, first "
            f"at {first}: got {got[first]!r}, cv2 {expected[first]!r}"
        )


def random_sizes(rng: np.random.Generator, n: int, hi: int) -> list[tuple[int, int, int, int]]:
    sizes: list[tuple[int, int, int, int]] = []
    for _ in range(n):
        sh, sw, dh, dw = (int(v) for v in rng.integers(1, hi, size=4))
        sizes.append((sh, sw, dh, dw))
    # Integer factors, up and down, on both axes or one.
    for _ in range(n // 4):
        h, w = (int(v) for v in rng.integers(1, hi // 4, size=2))
        k, m = (int(v) for v in rng.integers(2, 5, size=2))
        sizes += [
            (h * k, w * k, h, w),
            (h, w, h * k, w * k),
            (h * k, w * m, h, w),
            (h * 2, w, h, w),
        ]
    return sizes


# ------------------------------------------------------------------------------- uint8 images


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"),
    reason="the reference is OpenCV's x86-64 arithmetic; OpenCV's aarch64 wheels round "
    "some uint8 resizes differently (docs/behaviour.md#resizing)",
)
def test_x86_reference_is_cv2_resize(rng: np.random.Generator) -> None:
    """The numpy reference that stands in for ``cv2.resize`` where OpenCV's own build
    gives other bytes (scripts/ci/resize_reference.py) is OpenCV's x86-64 arithmetic."""
    for sh, sw, dh, dw in SIZES + random_sizes(rng, 60, 90):
        for channels in (1, 2, 3, 4, 5):
            src = rng.integers(0, 256, (sh, sw, channels), dtype=np.uint8)
            expected = cv2_resize(src, dh, dw)
            got = opencv_x86_resize_u8(src, dh, dw)
            assert np.array_equal(got, expected), ((sh, sw, dh, dw), channels)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "{}x{}->{}x{}".format(*s))
def test_image_parity_curated(rng: np.random.Generator, size: tuple[int, int, int, int]) -> None:
    sh, sw, dh, dw = size
    assert_image_parity(rng.integers(0, 256, (sh, sw, 3), dtype=np.uint8), dh, dw)


def test_image_parity_random_sizes(rng: np.random.Generator) -> None:
    for sh, sw, dh, dw in random_sizes(rng, 400, 300):
        assert_image_parity(rng.integers(0, 256, (sh, sw, 3), dtype=np.uint8), dh, dw)


def test_image_parity_large_random_sizes(rng: np.random.Generator) -> None:
    for sh, sw, dh, dw in random_sizes(rng, 16, 1100):
        assert_image_parity(rng.integers(0, 256, (sh, sw, 3), dtype=np.uint8), dh, dw)


@pytest.mark.parametrize("kind", ["zeros", "full", "checker", "stripes", "ramp"])
def test_image_parity_structured(rng: np.random.Generator, kind: str) -> None:
    for sh, sw, dh, dw in random_sizes(rng, 40, 120) + SIZES[:30]:
        y, x = np.mgrid[:sh, :sw]
        plane = {
            "zeros": np.zeros((sh, sw)),
            "full": np.full((sh, sw), 255),
            "checker": ((y + x) % 2) * 255,
            "stripes": (x % 2) * 255,
            "ramp": (y * 7 + x * 13) % 256,
        }[kind]
        src = np.stack([plane, 255 - plane, (plane // 2 + 64)], axis=-1).astype(np.uint8)
        assert_image_parity(src, dh, dw)


@pytest.mark.parametrize("channels", [1, 2, 4, 5])
def test_image_parity_other_channel_counts(rng: np.random.Generator, channels: int) -> None:
    # OpenCV's 2x area path rounds half up for 1, 3 and 4 channels and half to even for
    # the others; the bilinear path is the same for any count.
    for sh, sw, dh, dw in random_sizes(rng, 40, 120) + SIZES[:30]:
        assert_image_parity(rng.integers(0, 256, (sh, sw, channels), dtype=np.uint8), dh, dw)


def test_image_strided_inputs_and_outputs(rng: np.random.Generator) -> None:
    big = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    views = [
        big[::2, ::3],
        big[::-1, ::-1],
        big[5:70:3, 100:3:-2],
        big.transpose(1, 0, 2),
        np.asfortranarray(big),
        big[:, :, ::-1],
        big[::2, ::2],  # an exact 2x downscale of a strided view below
    ]
    for view in views:
        h, w = view.shape[:2]
        for dh, dw in [(h, w), (h // 2, w // 2), (2 * h, 2 * w), (h + 7, max(1, w - 5)), (1, 1)]:
            assert_image_parity(view, dh, dw)
    # Non-contiguous outputs are written like contiguous ones.
    src = big[:40, :50]
    expected = cv2_resize(np.ascontiguousarray(src), 33, 47)
    out = np.zeros((47, 33, 3), np.uint8).transpose(1, 0, 2)
    _native.resize_image(src, out)
    np.testing.assert_array_equal(out, expected)
    holder = np.zeros((66, 94, 3), np.uint8)
    _native.resize_image(src, holder[::2, ::2])
    np.testing.assert_array_equal(holder[::2, ::2], expected)
    assert not holder[1::2].any() and not holder[:, 1::2].any()


def test_image_input_untouched(rng: np.random.Generator) -> None:
    src = rng.integers(0, 256, (31, 17, 3), dtype=np.uint8)
    before = src.copy()
    native_image(src, 50, 9)
    np.testing.assert_array_equal(src, before)


def test_image_shape_errors() -> None:
    src = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="out must have shape"):
        _native.resize_image(src, np.zeros((2, 2, 4), np.uint8))
    with pytest.raises(ValueError, match="resize source"):
        _native.resize_image(np.zeros((0, 4, 3), np.uint8), np.zeros((2, 2, 3), np.uint8))
    _native.resize_image(src, np.zeros((0, 2, 3), np.uint8))  # nothing to write
    with pytest.raises(TypeError):
        _native.resize_image(src.astype(np.float32), np.zeros((2, 2, 3), np.uint8))


# ------------------------------------------------------------------------------- float maps

# cv2 hands float resizes of sources at least 2x2 to Intel IPP, whose arithmetic the native
# kernel reproduces; builds without IPP (e.g. ARM wheels) run OpenCV's own float kernel.
needs_ipp = pytest.mark.skipif(
    not cv2.ipp.useIPP(), reason="cv2 without IPP resizes floats with its own kernel"
)


def random_map(rng: np.random.Generator, shape: tuple[int, int], dtype: type) -> np.ndarray:
    scale = float(rng.choice([1.0, 1e-3, 255.0, 1e6]))
    offset = float(rng.choice([0.0, -0.5, 3.0]))
    return ((rng.random(shape) + offset) * scale).astype(dtype)


@needs_ipp
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: "{}x{}->{}x{}".format(*s))
def test_map_parity_curated(
    rng: np.random.Generator, dtype: type, size: tuple[int, int, int, int]
) -> None:
    sh, sw, dh, dw = size
    assert_map_parity(random_map(rng, (sh, sw), dtype), dh, dw)


@needs_ipp
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_map_parity_random_sizes(rng: np.random.Generator, dtype: type) -> None:
    for sh, sw, dh, dw in random_sizes(rng, 300, 300):
        assert_map_parity(random_map(rng, (sh, sw), dtype), dh, dw)


@needs_ipp
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_map_parity_exact_grid_points(rng: np.random.Generator, dtype: type) -> None:
    # Integer upscales put destination pixels exactly on source pixels, where the float32
    # and float64 coordinate roundings of OpenCV's backend differ.
    for sw in [2, 3, 7, 33, 62, 87, 121, 141, 204]:
        for k in [3, 5, 7]:
            src = random_map(rng, (5, sw), dtype)
            assert_map_parity(src, 5, sw * k)
            assert_map_parity(src.T, sw * k, 5)
            assert_map_parity(src, 11, sw * k + 1)
    for sh, sw, dh, dw in [(24, 121, 115, 349), (291, 204, 245, 348), (11, 148, 33, 444)]:
        assert_map_parity(random_map(rng, (sh, sw), dtype), dh, dw)


@needs_ipp
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_map_strided_inputs(rng: np.random.Generator, dtype: type) -> None:
    big = random_map(rng, (80, 100), dtype)
    for view in [big[::2, ::3], big[::-1], big.T, np.asfortranarray(big), big[3:60:4, 90:10:-3]]:
        h, w = view.shape
        for dh, dw in [(h, w), (2 * h, 3 * w), (max(1, h // 2), max(1, w // 2)), (1, 1)]:
            assert_map_parity(view, dh, dw)


@needs_ipp
def test_map_levels_after_resize(rng: np.random.Generator) -> None:
    # What the product needs: colour levels of the resized map agree with cv2's.
    for sh, sw, dh, dw in [(64, 64, 256, 256), (256, 256, 1080, 1920), (100, 150, 37, 41)]:
        src = rng.random((sh, sw), dtype=np.float32)
        got = native_map(src, dh, dw)
        expected = cv2_resize(src, dh, dw)
        np.testing.assert_array_equal(
            (got * 255).astype(np.uint8), (expected * 255).astype(np.uint8)
        )


def test_map_errors() -> None:
    src = np.zeros((4, 4), np.float32)
    with pytest.raises(TypeError, match="dtype of map"):
        _native.resize_map(src, np.zeros((2, 2), np.float64))
    with pytest.raises(TypeError):
        _native.resize_map(src.astype(np.float16), np.zeros((2, 2), np.float16))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="resize source"):
        _native.resize_map(np.zeros((3, 0), np.float64), np.zeros((2, 2), np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_map_close_to_opencv_without_ipp(rng: np.random.Generator, dtype: type) -> None:
    # OpenCV's own float kernel (no IPP) rounds differently by a few ulps; after taking
    # colour levels at most 0.1% of pixels may differ, and by one level only.
    use_ipp = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(False)
    try:
        differ = total = 0
        for sh, sw, dh, dw in random_sizes(rng, 100, 300) + SIZES:
            src: np.ndarray = rng.random((sh, sw)).astype(dtype)
            got = native_map(src, dh, dw)
            expected = cv2_resize(src, dh, dw)
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
            levels = np.abs((got * 255).astype(np.int64) - (expected * 255).astype(np.int64))
            assert levels.max() <= 1
            differ += np.count_nonzero(levels)
            total += levels.size
        assert differ <= total / 1000
    finally:
        cv2.ipp.setUseIPP(use_ipp)
