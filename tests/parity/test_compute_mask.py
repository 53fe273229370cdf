"""Parity of ``compute_mask`` with the reference: docs/behaviour.md#threshold,
docs/behaviour.md#opening, docs/behaviour.md#shapes, docs/behaviour.md#dtypes. Byte-exact
only."""

from __future__ import annotations

import math
import time
from fractions import Fraction
from typing import Any

import cv2
import numpy as np
import pytest
from skimage.morphology import disk

import anomaly_postprocess as ap
from conftest import (
    EXTREME_MAPS,
    SMALL_H,
    SMALL_W,
    FloatSubclass,
    assert_result,
    base_values,
    map_values,
    misaligned,
)
from reference import (
    anomalib_compute_mask,
    anomalib_mask_applies,
    covering_radius,
    skimage_agrees_with_opencv,
    spec_compute_mask,
    spec_compute_mask_2d,
)

SIZES = [
    (1, 1),
    (1, 2),
    (2, 1),
    (1, 100),
    (100, 1),
    (2, 6),
    (3, 3),
    (5, 8),
    (13, 7),
    (31, 33),
    (47, 64),
    (64, 63),
    (65, 65),
    (33, 127),
    (20, 128),
    (17, 129),
    (40, 191),
    (9, 200),
]


def check_against_both(
    m: np.ndarray, threshold, kernel_size: int, with_skimage: bool = True
) -> np.ndarray:
    """The package against the OpenCV oracle (always) and anomalib verbatim (where
    docs/behaviour.md#opening says scikit-image is right, and unless ``with_skimage`` is
    False because scikit-image is too slow for the disk), returning the package's answer."""
    out = ap.compute_mask(m, threshold, kernel_size)
    expected = spec_compute_mask_2d(m, threshold, kernel_size)
    assert np.array_equal(out, expected)
    h, w = m.shape
    if with_skimage and anomalib_mask_applies(h, w, kernel_size):
        assert np.array_equal(out, anomalib_compute_mask(m, threshold, kernel_size))
    return out


# --------------------------------------------------------------------- oracle sanity checks


def test_opencv_oracle_equals_anomalib_where_claimed(rng: np.random.Generator) -> None:
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(2, 30, 2))
        r = int(rng.integers(0, 2 * min(h, w) + 1))
        m = rng.random((h, w))
        t = float(rng.uniform(0.1, 0.9))
        assert skimage_agrees_with_opencv(h, w, r)
        assert np.array_equal(spec_compute_mask_2d(m, t, r), anomalib_compute_mask(m, t, r)), (
            h,
            w,
            r,
        )


def test_skimage_is_wrong_when_the_disk_is_far_larger_than_the_image() -> None:
    m = np.ones((2, 6))
    assert anomalib_compute_mask(m, 0.5, 10).tolist() == [[0] * 6] * 2  # scipy reflect padding
    assert spec_compute_mask_2d(m, 0.5, 10).tolist() == [[255] * 6] * 2
    assert ap.compute_mask(m, 0.5, 10).tolist() == [[255] * 6] * 2


def test_covering_radius_shortcut_is_sound(rng: np.random.Generator) -> None:
    for shape in [(1, 1), (2, 6), (7, 3), (9, 9)]:
        r = covering_radius(*shape)
        for _ in range(10):
            mask = (rng.random(shape) < 0.9).astype(np.uint8)
            big = cv2.morphologyEx(mask, cv2.MORPH_OPEN, disk(3 * r + 5).astype(np.uint8))
            assert np.array_equal(
                cv2.morphologyEx(mask, cv2.MORPH_OPEN, disk(r).astype(np.uint8)), big
            )


# ------------------------------------------------------------------------ kernel sizes


@pytest.mark.parametrize("kernel_size", range(26))
def test_kernel_sizes_0_to_25(
    make_blobby_map, kernel_size: int, check_fresh_output, unmodified
) -> None:
    for shape in SIZES:
        for dtype in (np.float32, np.float64):
            m = make_blobby_map(shape, dtype)
            for threshold in (0.5, 0.3):
                with unmodified(m):
                    out = check_against_both(
                        m, threshold, kernel_size, with_skimage=threshold == 0.5
                    )
                assert out.shape == shape
                check_fresh_output(out, m)
                assert set(np.unique(out).tolist()) <= {0, 255}


@pytest.mark.parametrize("kernel_size", [0, 1, 4, 12])
def test_kernel_size_on_a_dense_or_empty_mask(kernel_size: int) -> None:
    for shape in [(1, 1), (3, 70), (70, 3), (64, 64)]:
        full = np.ones(shape)
        assert np.array_equal(
            ap.compute_mask(full, 0.5, kernel_size), np.full(shape, 255, np.uint8)
        )
        assert np.array_equal(ap.compute_mask(full, 1.0, kernel_size), np.zeros(shape, np.uint8))


def test_kernel_size_zero_is_the_plain_threshold(rng: np.random.Generator) -> None:
    m = rng.random((37, 129))
    assert np.array_equal(ap.compute_mask(m, 0.5, 0), (m > 0.5).astype(np.uint8) * 255)


@pytest.mark.parametrize("kernel_size", [31, 63, 64, 65, 100, 127, 128, 129])
def test_large_kernels_across_word_boundaries(make_blobby_map, kernel_size: int) -> None:
    for shape in [(130, 300), (300, 130), (2, 400), (400, 2)]:
        m = make_blobby_map(shape)
        # low thresholds make big blobs that survive a large disk
        for threshold in (0.05, 0.2):
            out = check_against_both(m, threshold, kernel_size, with_skimage=False)
            assert out.shape == shape


def test_specks_are_removed_and_discs_survive() -> None:
    m = np.zeros((40, 60), np.float32)
    yy, xx = np.mgrid[:40, :60]
    m[(yy - 20) ** 2 + (xx - 20) ** 2 <= 36] = 1  # disk of radius 6 survives kernel 4..6
    m[5, 50] = 1  # a speck
    m[30:33, 45:48] = 1  # a 3×3 square: removed by radius >= 2
    for k in range(9):
        out = check_against_both(m, 0.5, k)
        assert out[20, 20] == (255 if k <= 6 else 0)
        assert out[5, 50] == (255 if k == 0 else 0)


@pytest.mark.parametrize("kernel_size", [4, 25])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_maps(make_blobby_map, dtype: type, kernel_size: int) -> None:
    m = make_blobby_map((1024, 1024), dtype)
    out = ap.compute_mask(m, 0.5, kernel_size)
    assert np.array_equal(out, spec_compute_mask_2d(m, 0.5, kernel_size))
    if kernel_size == 4:  # skimage is slow for large disks
        assert np.array_equal(out, anomalib_compute_mask(m, 0.5, kernel_size))


def test_odd_large_map_default_kernel(make_blobby_map) -> None:
    m = make_blobby_map((1001, 777), np.float32)
    out = ap.compute_mask(m, 0.45)
    assert np.array_equal(out, anomalib_compute_mask(m, 0.45))


@pytest.mark.parametrize("kernel_size", [10**9, 2**40, 2**63 - 1, 2**64, 10**30])
def test_huge_kernel_sizes_are_fast_and_right(rng: np.random.Generator, kernel_size: int) -> None:
    for shape in [(1, 1), (7, 3), (40, 60), (600, 1000)]:
        full = np.ones(shape, np.float32)
        holed = full.copy()
        holed[shape[0] // 2, shape[1] // 2] = 0
        noisy = rng.random(shape)
        start = time.perf_counter()
        out_full = ap.compute_mask(full, 0.5, kernel_size)
        out_holed = ap.compute_mask(holed, 0.5, kernel_size)
        out_noisy = ap.compute_mask(noisy, 0.1, kernel_size)
        assert time.perf_counter() - start < 1.0
        # a disk covering the whole image: all or nothing
        assert np.array_equal(out_full, np.full(shape, 255, np.uint8))
        assert np.array_equal(
            out_holed, np.zeros(shape, np.uint8) if shape != (1, 1) else np.full(shape, 0, np.uint8)
        )
        assert np.array_equal(
            out_noisy, np.full(shape, 255 if (noisy > 0.1).all() else 0, np.uint8)
        )
        if shape[0] * shape[1] <= 40 * 60:  # OpenCV with the covering disk: affordable here
            assert np.array_equal(out_full, spec_compute_mask_2d(full, 0.5, kernel_size))
            assert np.array_equal(out_holed, spec_compute_mask_2d(holed, 0.5, kernel_size))
            assert np.array_equal(out_noisy, spec_compute_mask_2d(noisy, 0.1, kernel_size))


def test_kernel_sizes_around_the_covering_radius(rng: np.random.Generator) -> None:
    for shape in [(2, 6), (5, 9), (12, 4), (16, 16)]:
        r0 = covering_radius(*shape)
        for r in range(max(0, r0 - 6), r0 + 3):
            for _ in range(5):
                m = rng.random(shape)
                m[rng.random(shape) < 0.5] = 1.0
                assert np.array_equal(
                    ap.compute_mask(m, 0.2, r), spec_compute_mask_2d(m, 0.2, r)
                ), (shape, r)


@pytest.mark.parametrize(
    "kernel_size", [4, np.int64(4), np.uint8(4), np.int32(4), 4.0, np.float64(4.0), np.float32(4.0)]
)
def test_kernel_size_types(make_blobby_map, kernel_size) -> None:
    m = make_blobby_map((50, 70))
    assert np.array_equal(ap.compute_mask(m, 0.5, kernel_size), spec_compute_mask_2d(m, 0.5, 4))
    assert np.array_equal(ap.compute_mask(m, 0.5, kernel_size=kernel_size), ap.compute_mask(m, 0.5))


def test_defaults_and_keywords(make_blobby_map) -> None:
    m = make_blobby_map((33, 44))
    expected = spec_compute_mask_2d(m, 0.5, 4)
    assert np.array_equal(ap.compute_mask(m, 0.5), expected)
    assert np.array_equal(ap.compute_mask(m, 0.5, 4), expected)
    assert np.array_equal(ap.compute_mask(anomaly_map=m, threshold=0.5, kernel_size=4), expected)


# -------------------------------------------------------------------------- thresholds


def test_threshold_on_a_float32_value() -> None:
    """docs/behaviour.md#threshold: a Python float is rounded to the map's dtype; a numpy
    scalar is not."""
    v = np.float32(0.1)
    m = np.full((3, 4), v, dtype=np.float32)
    assert not ap.compute_mask(m, 0.1, 0).any()  # f32(0.1) > f32(0.1): no
    assert ap.compute_mask(m, np.float64(0.1), 0).all()  # 0.100000001 > 0.1: yes
    assert not ap.compute_mask(m, np.float32(0.1), 0).any()
    assert ap.compute_mask(m, np.array(0.1), 0).all()  # a 0-d float64 array is a numpy scalar
    assert not ap.compute_mask(m, np.array(0.1, np.float32), 0).any()
    for t in (0.1, np.float64(0.1), np.float32(0.1), np.array(0.1)):
        assert np.array_equal(ap.compute_mask(m, t, 0), spec_compute_mask_2d(m, t, 0))
        assert np.array_equal(ap.compute_mask(m, t, 0), (m > t).astype(np.uint8) * 255)


def test_threshold_on_a_float64_value() -> None:
    m = np.array([[0.1, np.nextafter(0.1, 1), np.nextafter(0.1, 0)]])
    assert ap.compute_mask(m, 0.1, 0).tolist() == [[0, 255, 0]]
    assert ap.compute_mask(m, np.float32(0.1), 0).tolist() == [[0, 0, 0]]  # f32(0.1) > all three
    assert ap.compute_mask(m, np.float16(0.1), 0).tolist() == [[255, 255, 255]]  # f16(0.1) < all


def test_threshold_between_float32_neighbours(rng: np.random.Generator) -> None:
    """Python thresholds that are not float32 values: rounding to the map's dtype decides."""
    m = rng.random((64, 64)).astype(np.float32)
    values = np.unique(m)[::97]
    for v in values:
        for t in (
            float(v),
            float(v) + 1e-12,
            float(v) - 1e-12,
            (float(v) + float(np.nextafter(v, np.float32(2)))) / 2,
            (float(v) + float(np.nextafter(v, np.float32(-1)))) / 2,
        ):
            out = ap.compute_mask(m, t, 0)
            assert np.array_equal(out, (m > t).astype(np.uint8) * 255), t
            assert np.array_equal(out, spec_compute_mask_2d(m, t, 0))
            assert np.array_equal(
                ap.compute_mask(m, np.float64(t), 0), (m > np.float64(t)).astype(np.uint8) * 255
            )


def test_float16_maps(rng: np.random.Generator) -> None:
    m = rng.random((40, 50)).astype(np.float16)
    m.flat[:3] = [np.float16(0.1), np.float16(0.3), np.float16(0.5)]
    for t in (
        0.1,
        0.3,
        0.5,
        np.float64(0.1),
        np.float32(0.1),
        np.float16(0.1),
        np.float64(0.3),
        0.30001,
        70000.0,
        -70000.0,
        1e300,
        65504.0,
        65519.0,
        65520.0,
    ):
        for k in (0, 2):
            out = ap.compute_mask(m, t, k)
            assert np.array_equal(out, spec_compute_mask_2d(m, t, k)), (t, k)
            with np.errstate(over="ignore"):  # numpy warns when a Python float overflows float16
                expected = anomalib_compute_mask(m, t, k) if k else (m > t).astype(np.uint8) * 255
            assert np.array_equal(out, expected)
    tenth = np.full((2, 2), np.float16(0.1))  # f16(0.1) = 0.0999755859375
    assert not ap.compute_mask(tenth, 0.1, 0).any()  # 0.1 rounds to f16(0.1): equal, not above
    assert not ap.compute_mask(tenth, np.float64(0.1), 0).any()  # exact 0.1 is above it
    assert ap.compute_mask(tenth, np.float64(0.09997), 0).all()
    assert not ap.compute_mask(tenth, 0.09997, 0).any()  # rounds to f16(0.1) again


def test_threshold_too_large_for_the_dtype_rounds_to_inf() -> None:
    m = np.array([[np.inf, np.finfo(np.float32).max, -np.inf, 0]], np.float32)
    assert ap.compute_mask(m, 1e39, 0).tolist() == [[0, 0, 0, 0]]  # rounds to +inf
    assert ap.compute_mask(m, -1e39, 0).tolist() == [[255, 255, 0, 255]]  # rounds to -inf
    assert ap.compute_mask(m, np.float64(1e39), 0).tolist() == [[255, 0, 0, 0]]  # exact 1e39
    for t in (1e39, -1e39, np.float64(1e39), np.float64(-1e39), float("inf"), float("-inf")):
        assert np.array_equal(ap.compute_mask(m, t, 0), spec_compute_mask_2d(m, t, 0))


def test_python_int_thresholds_beyond_float64() -> None:
    m = np.array([[1e300, -1e300, 0.0]])
    assert ap.compute_mask(m, 10**400, 0).tolist() == [[0, 0, 0]]
    assert ap.compute_mask(m, -(10**400), 0).tolist() == [[255, 255, 255]]


def test_nan_and_inf_pixels() -> None:
    m = np.array([[np.nan, np.inf, -np.inf, 0.7, 0.2]], np.float32)
    for t in (0.5, -1e30, 1e30, float("-inf"), float("inf"), np.float64(0.5)):
        out = ap.compute_mask(m, t, 0)
        with np.errstate(invalid="ignore"):
            assert np.array_equal(out, (m > t).astype(np.uint8) * 255)
        assert out[0, 0] == 0  # NaN is never above
        assert np.array_equal(out, spec_compute_mask_2d(m, t, 0))
    m2 = np.full((9, 9), np.nan)
    m2[2:7, 2:7] = 1.0
    assert np.array_equal(ap.compute_mask(m2, 0.5, 2), spec_compute_mask_2d(m2, 0.5, 2))


@pytest.mark.parametrize(
    "dtype",
    [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64, np.bool_],
)
def test_integer_and_bool_maps(rng: np.random.Generator, dtype: type) -> None:
    if dtype is np.bool_:
        m = rng.random((30, 40)) < 0.6
    else:
        m = rng.integers(0, 10, (30, 40)).astype(dtype)
    thresholds = [
        0,
        1,
        4,
        4.5,
        3.9999,
        -1,
        0.5,
        np.float32(4.5),
        np.float16(4.0),
        np.int64(4),
        np.uint8(4),
        np.float64(0.5),
        1e20,
        -1e20,
    ]
    if dtype is not np.bool_:  # numpy raises OverflowError for bool > 10**20
        thresholds += [10**20, -(10**20)]
    for t in thresholds:
        for k in (0, 1, 3):
            out = ap.compute_mask(m, t, k)
            assert np.array_equal(out, spec_compute_mask_2d(m, t, k)), (t, k)
            assert np.array_equal(out, anomalib_compute_mask(m, t, k)), (t, k)
    assert not ap.compute_mask(m, 10**20, 0).any()
    assert ap.compute_mask(m, -(10**20), 0).all()


def test_int64_map_beyond_float64_precision() -> None:
    """docs/behaviour.md#threshold: the comparison is numpy 2's ``anomaly_map > threshold``,
    which for an int64 map and a Python int or an int64 threshold is an exact integer
    comparison."""
    big = 2**53
    m = np.array([[big + 1, big, big - 1]], dtype=np.int64)
    for t in (big, np.int64(big)):
        assert (m > t).tolist() == [[True, False, False]]
        assert np.array_equal(ap.compute_mask(m, t, 0), spec_compute_mask_2d(m, t, 0)), repr(t)
    m = np.array([[2**64 - 1, 2**64 - 2]], dtype=np.uint64)
    assert (m > 2**64 - 2).tolist() == [[True, False]]
    assert np.array_equal(ap.compute_mask(m, 2**64 - 2, 0), spec_compute_mask_2d(m, 2**64 - 2, 0))


def test_longdouble_threshold() -> None:
    """docs/behaviour.md#threshold: a numpy scalar threshold compares in result_type(map,
    threshold), which for np.longdouble is extended precision where the platform has it."""
    m = np.array([[0.1, 0.2]])
    t = np.longdouble("0.1")
    assert np.array_equal(ap.compute_mask(m, t, 0), (m > t).astype(np.uint8) * 255)


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">f2", ">i4", "<f4"])
def test_explicit_byte_orders(make_blobby_map, dtype: str, unmodified) -> None:
    native = (make_blobby_map((30, 41)) * (10 if dtype[1] == "i" else 1)).astype(
        np.dtype(dtype).newbyteorder("=")
    )
    m = native.astype(dtype)
    t = 5 if dtype[1] == "i" else 0.5
    with unmodified(m):
        out = ap.compute_mask(m, t, 2)
    assert np.array_equal(out, ap.compute_mask(native, t, 2))
    assert np.array_equal(out, spec_compute_mask_2d(native, t, 2))


# ------------------------------------------------------------------------ views and shapes


def test_strided_views(make_blobby_map, unmodified, check_fresh_output) -> None:
    for dtype in (np.float32, np.float64, np.float16):
        base = make_blobby_map((90, 140), dtype)
        views = {
            "steps": base[::2, ::3],
            "offset steps": base[1::3, 2::2],
            "transpose": base.T,
            "negative": base[::-1, ::-1],
            "negative cols": base[:, ::-3],
            "negative transpose": base[::-2, 1::3].T,
            "fortran": np.asfortranarray(base),
            "fortran slice": np.asfortranarray(base)[5:, ::-2],
            "column": base[:, 7:8],
            "row": base[4:5, ::-1],
            "broadcast": np.broadcast_to(base[:, :1], base.shape),
        }
        for name, view in views.items():
            for k in (0, 3):
                with unmodified(base, view):
                    out = ap.compute_mask(view, 0.4, k)
                check_fresh_output(out, base, view)
                assert np.array_equal(out, ap.compute_mask(np.ascontiguousarray(view), 0.4, k)), (
                    name
                )
                assert np.array_equal(
                    out, spec_compute_mask_2d(np.ascontiguousarray(view), 0.4, k)
                ), name


def test_unaligned_and_readonly_maps(make_blobby_map) -> None:
    values = make_blobby_map((21, 70))
    for dtype in (np.float32, np.float64):
        buffer = bytearray(values.size * np.dtype(dtype).itemsize + 3)
        unaligned = np.frombuffer(buffer, dtype=dtype, count=values.size, offset=3).reshape(
            values.shape
        )
        unaligned[...] = values.astype(dtype)
        assert not unaligned.flags.aligned
        expected = spec_compute_mask_2d(values.astype(dtype), 0.5, 2)
        assert np.array_equal(ap.compute_mask(unaligned, 0.5, 2), expected)
        readonly = values.astype(dtype)
        readonly.flags.writeable = False
        assert np.array_equal(ap.compute_mask(readonly, 0.5, 2), expected)


@pytest.mark.parametrize(
    "shape, out_shape",
    [
        ((6, 8), (6, 8)),
        ((6, 8, 1), (6, 8)),
        ((1, 6, 8), (6, 8)),
        ((1, 1, 6, 8), (6, 8)),
        ((1, 6, 8, 1), (6, 8)),
        ((1, 8), (1, 8)),
        ((8, 1), (8, 1)),
        ((1, 1), (1, 1)),
        ((1, 1, 1), (1, 1)),
        ((1, 8, 1), (1, 8)),
        ((3, 6, 8), (3, 6, 8)),
        ((3, 6, 8, 1), (3, 6, 8)),
        ((2, 3, 6, 8), (2, 3, 6, 8)),
        ((1, 2, 3, 6, 8), (2, 3, 6, 8)),
        ((2, 1, 6, 8), (2, 1, 6, 8)),
    ],
)
def test_shape_rules(rng: np.random.Generator, shape, out_shape, check_fresh_output) -> None:
    m = rng.random(shape)
    for k in (0, 1, 4):
        out = ap.compute_mask(m, 0.3, k)
        assert out.shape == out_shape
        check_fresh_output(out, m)
        assert np.array_equal(out, spec_compute_mask(m, 0.3, k))


def test_row_and_column_maps_unlike_the_reference(rng: np.random.Generator) -> None:
    """docs/behaviour.md#shapes: (1, W) and (H, 1) maps work (anomalib's squeeze makes them 1-D)."""
    for shape in [(1, 50), (50, 1)]:
        m = rng.random(shape)
        m[0, 0] = 1.0
        for k in (0, 1, 5):
            assert np.array_equal(ap.compute_mask(m, 0.5, k), spec_compute_mask_2d(m, 0.5, k))
    # pixels outside the image are ignored, so a run of 2r + 1 survives in a single row
    line = np.array([[0, 1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1]], np.float32)
    assert ap.compute_mask(line, 0.5, 1).tolist() == [
        [0, 255, 255, 255, 0, 0, 0, 0, 255, 255, 255, 255, 255]
    ]
    assert ap.compute_mask(line.T, 0.5, 1).T.tolist() == ap.compute_mask(line, 0.5, 1).tolist()


@pytest.mark.parametrize("kernel_size", [0, 2, 5])
def test_batch_equals_stack_of_single_calls(make_blobby_map, kernel_size: int, unmodified) -> None:
    maps = make_blobby_map((2, 3, 33, 40), np.float32)
    with unmodified(maps):
        out = ap.compute_mask(maps, 0.5, kernel_size)
    singles = np.stack([ap.compute_mask(m, 0.5, kernel_size) for m in maps.reshape(6, 33, 40)])
    assert np.array_equal(out, singles.reshape(out.shape))
    assert np.array_equal(out, spec_compute_mask(maps, 0.5, kernel_size))
    strided = maps[:, ::-1, ::2, ::-3]
    assert np.array_equal(
        ap.compute_mask(strided, 0.5, kernel_size),
        spec_compute_mask(np.ascontiguousarray(strided), 0.5, kernel_size),
    )


def test_array_likes() -> None:
    rows = [[0.1, 0.9, 0.9], [0.9, 0.9, 0.9], [0.2, 0.9, 0.9]]
    expected = spec_compute_mask_2d(np.array(rows), 0.5, 1)
    assert np.array_equal(ap.compute_mask(rows, 0.5, 1), expected)

    class Wrapped:
        def __array__(self, dtype=None, copy=None):
            a = np.array(rows)
            return a if dtype is None else a.astype(dtype)

    assert np.array_equal(ap.compute_mask(Wrapped(), 0.5, 1), expected)
    assert np.array_equal(
        ap.compute_mask([[1, 0], [1, 1]], 0, 0), np.array([[255, 0], [255, 255]], np.uint8)
    )
    assert np.array_equal(ap.compute_mask([[True, False]], 0.5, 0), np.array([[255, 0]], np.uint8))


def test_every_width_up_to_200(rng: np.random.Generator) -> None:
    """Bit-packed rows: every width around and across 64-bit word boundaries."""
    for w in range(1, 201):
        m = rng.random((9, w))
        m[:, : w // 2] = np.maximum(m[:, : w // 2], 0.6)  # a solid band survives the opening
        for k in (0, 1, 3):
            assert np.array_equal(ap.compute_mask(m, 0.5, k), spec_compute_mask_2d(m, 0.5, k)), (
                w,
                k,
            )


def test_weak_threshold_rounding_equals_numpys_cast(rng: np.random.Generator) -> None:
    """The Python layer rounds a Python-float threshold to float32 without numpy (fast
    path); it must equal numpy's cast everywhere, overflow to ±inf and subnormals
    included."""
    from anomaly_postprocess._args import _round_to_float_dtype

    edges = [0.1, 0.5, 1e39, -1e39, 3.4028235e38, 3.4028235677973366e38, 3.40282357e38]
    edges += [-3.4028235677973362e38, 1e-46, -1e-46, 7e-46, 2.0**128 - 2.0**103, math.inf]
    edges += [-math.inf, 2.0**128 - 2.0**104, -0.0]
    randoms = rng.standard_normal(20000) * 10.0 ** rng.integers(-50, 50, 20000)
    for value in edges + [float(v) for v in randoms]:
        with np.errstate(over="ignore"):
            expected = float(np.asarray(value).astype(np.float32))
        got = _round_to_float_dtype(value, np.dtype(np.float32))
        assert got == expected and math.copysign(1, got) == math.copysign(1, expected), value
        assert _round_to_float_dtype(value, np.dtype(np.float64)) == value
        with np.errstate(over="ignore"):
            half = float(np.asarray(value).astype(np.float16))
        assert _round_to_float_dtype(value, np.dtype(np.float16)) == half


# ------------------------------------------------------------------- extreme values


@pytest.mark.parametrize("name", list(EXTREME_MAPS))
def test_map_extreme_values(name: str) -> None:
    values = EXTREME_MAPS[name]
    for threshold in (0, 0.5, -1e300, 1e300):
        for kernel_size in (0, 2):
            out = ap.compute_mask(values, threshold, kernel_size)
            assert np.array_equal(out, spec_compute_mask(values, threshold, kernel_size))


# ------------------------------------------------------------------ non-finite values


def test_mask_accepts_non_finite_maps() -> None:
    m = np.array([[np.nan, np.inf, -np.inf, 0.9]])
    assert ap.compute_mask(m, 0.5, 0).tolist() == [[0, 255, 0, 255]]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", ["<f2", "<f4", ">f8"])
def test_non_finite_maps_in_odd_layouts(dtype: str, bad: float) -> None:
    """The mask is defined on non-finite maps: NaN is never above (the colour map and
    the overlay refuse them: bad_inputs/test_bad_inputs.py)."""
    m = base_values().astype(dtype)
    m[3, 4] = bad
    for view in (m, misaligned(m), m[::-1], np.asfortranarray(m)):
        for kernel_size in (0, 1):
            out = ap.compute_mask(view, 0.5, kernel_size)
            assert np.array_equal(out, spec_compute_mask(view, 0.5, kernel_size))


def test_infinite_threshold_is_accepted() -> None:
    m = np.linspace(0, 1, 20).reshape(4, 5)
    assert not ap.compute_mask(m, math.inf, 0).any()
    assert ap.compute_mask(m, -math.inf, 0).all()


# ------------------------------------------------------------- accepted thresholds

# Thresholds the mask accepts: it compares exactly as numpy's ``anomaly_map > threshold``
# (the oracle) with ``clean``. (Refused values are in bad_inputs/test_bad_inputs.py.)
THRESHOLDS_ACCEPTED: dict[str, tuple[Any, Any]] = {
    "int": (0, 0),
    "negative": (-0.25, -0.25),
    "huge float": (1e300, 1e300),
    "huge negative float": (-1e300, -1e300),
    # numpy itself raises OverflowError for some of these (bool maps); the answer is that
    # of ±inf, as every value of these maps is below 10**30.
    "huge int": (10**30, math.inf),
    "int beyond float64": (10**400, math.inf),
    "negative int beyond float64": (-(10**400), -math.inf),
    "inf": (math.inf, math.inf),
    "-inf": (-math.inf, -math.inf),
    "float16": (np.float16(0.5), np.float16(0.5)),
    "float32": (np.float32(0.3), np.float32(0.3)),
    "float64": (np.float64(0.3), np.float64(0.3)),
    "longdouble": (np.longdouble(0.3), np.longdouble(0.3)),
    "int8": (np.int8(-3), np.int8(-3)),
    "uint64 max": (np.uint64(2**64 - 1), np.uint64(2**64 - 1)),
    "0-d array": (np.array(0.3), np.array(0.3)),
    "0-d big-endian array": (np.array(0.3, ">f4"), np.array(0.3, ">f4")),
    # numpy compares these as float64 / exactly (only exact int and float are "weak").
    "float subclass": (FloatSubclass(0.3), FloatSubclass(0.3)),
    "fraction": (Fraction(3, 10), Fraction(3, 10)),
}


@pytest.mark.parametrize("case", list(THRESHOLDS_ACCEPTED))
@pytest.mark.parametrize("dtype", ["<f2", ">f4", "<f8", "|u1", "<i8", "|b1"])
def test_accepted_threshold(dtype: str, case: str) -> None:
    value, clean = THRESHOLDS_ACCEPTED[case]
    m = map_values(dtype, (2, SMALL_H, SMALL_W))
    if m.dtype.kind == "f":
        # Values whose comparison with 0.3 depends on the precision it is done in.
        m.reshape(-1)[3::11] = np.asarray(0.3).astype(m.dtype)
        m.reshape(-1)[5::11] = -0.25
    for kernel_size in (0, 1):
        assert_result(
            ap.compute_mask(m, value, kernel_size), spec_compute_mask(m, clean, kernel_size)
        )


# ---------------------------------------------------------- accepted kernel sizes

# Kernel sizes the mask accepts: integers >= 0 of any type, integral floats; the result
# is that of ``clean`` (10**9 stands for any disk larger than the maps).
KERNEL_SIZES_ACCEPTED: dict[str, tuple[Any, Any]] = {
    "0": (0, 0),
    "1": (1, 1),
    "integral float": (3.0, 3),
    "negative zero": (-0.0, 0),
    "numpy int8": (np.int8(2), 2),
    "numpy uint64 max": (np.uint64(2**64 - 1), 10**9),
    "numpy float32 integral": (np.float32(2.0), 2),
    "10**9": (10**9, 10**9),
    "10**30": (10**30, 10**9),
    "2**63": (2**63, 10**9),
    "2**64 + 1": (2**64 + 1, 10**9),
    "huge integral float": (1e300, 10**9),
    "max float": (np.finfo(np.float64).max, 10**9),
}


@pytest.mark.parametrize("case", list(KERNEL_SIZES_ACCEPTED))
def test_accepted_kernel_size(case: str) -> None:
    value, clean = KERNEL_SIZES_ACCEPTED[case]
    m = base_values((2, 40, 50))
    m[0, 10:20, 10:25] = 0.9  # a block that survives small disks
    assert_result(ap.compute_mask(m, 0.5, value), spec_compute_mask(m, 0.5, clean))


# ------------------------------------------------------------- huge kernel sizes


@pytest.mark.parametrize("size", [10**9, 10**18, 2**64 + 1, 10**100])
def test_huge_kernel_size_on_a_512x512_map(size: int) -> None:
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


@pytest.mark.parametrize("kernel_size", [10**9, 10**30])
def test_huge_kernel_size_on_a_batch_of_700x900_maps(kernel_size: int) -> None:
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


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (3, 2)])
@pytest.mark.parametrize("kernel_size", [10**30, 2**62, 2**62 + 1, 2**63 - 1, 2**64])
def test_huge_kernel_on_tiny_maps(shape: tuple[int, int], kernel_size: int) -> None:
    m = base_values(shape)
    m[0, 0] = 0.9
    for threshold in (0.1, 0.95):
        out = ap.compute_mask(m, threshold, kernel_size)
        assert np.array_equal(out, spec_compute_mask(m, threshold, kernel_size))
