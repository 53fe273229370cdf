"""Parity of ``anomaly_map_to_color_map`` with the reference: docs/behaviour.md#levels,
docs/behaviour.md#colour-tables, docs/behaviour.md#shapes, docs/behaviour.md#dtypes.
Byte-exact only."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from conftest import EXTREME_MAPS, ArrayLike, assert_result, base_values
from reference import (
    anomalib_anomaly_map_to_color_map,
    jet_rgb_closed_form,
    jet_rgb_opencv,
    spec_anomaly_map_to_color_map,
    spec_color_map_2d,
    spec_levels,
)

FLOATS = [np.float32, np.float64]

SIZES = [
    (1, 1),
    (1, 2),
    (2, 1),
    (1, 257),
    (257, 1),
    (3, 5),
    (5, 3),
    (7, 13),
    (31, 33),
    (63, 65),
    (64, 64),
    (127, 129),
    (255, 257),
    (480, 640),
]

LARGE_SIZES = [(1024, 1024), (1031, 1025)]


def native_jet() -> np.ndarray:
    """The package's JET table, read through the colour map: level k of a raw map is
    trunc(value * 255), so (k + 0.5) / 255 is level k for every k."""
    levels = ((np.arange(256) + 0.5) / 255).reshape(1, 256)
    return ap.anomaly_map_to_color_map(levels, normalize=False).reshape(256, 3)


def level_map(levels: np.ndarray) -> np.ndarray:
    """The RGB image of a level array, by table lookup (independent of the oracle)."""
    return jet_rgb_opencv()[levels]


# ------------------------------------------------------------------------------- JET table


def test_jet_table_equals_opencv() -> None:
    assert native_jet().shape == (256, 3)
    assert np.array_equal(native_jet(), jet_rgb_opencv())


def test_jet_table_equals_spec_closed_form() -> None:
    assert np.array_equal(jet_rgb_closed_form(), jet_rgb_opencv())
    assert np.array_equal(native_jet(), jet_rgb_closed_form())


@pytest.mark.parametrize(
    "level, rgb",
    [
        (0, (0, 0, 128)),
        (32, (0, 0, 255)),
        (96, (2, 255, 254)),
        (159, (254, 255, 1)),
        (160, (255, 252, 0)),
        (255, (128, 0, 0)),
    ],
)
def test_jet_spot_values(level: int, rgb: tuple[int, int, int]) -> None:
    assert tuple(native_jet()[level]) == rgb
    m = np.array([[level / 255 + 1e-9]], dtype=np.float64)  # exactly this level
    assert tuple(ap.anomaly_map_to_color_map(m, normalize=False)[0, 0]) == rgb


def test_every_level_through_the_public_function() -> None:
    # (k + 0.5) / 255 * 255 truncates to k in float64 for every k.
    m = ((np.arange(256) + 0.5) / 255).reshape(16, 16)
    out = ap.anomaly_map_to_color_map(m, normalize=False)
    assert np.array_equal(out.reshape(256, 3), jet_rgb_opencv())


# --------------------------------------------------------------------- oracle sanity checks


@pytest.mark.parametrize("dtype", FLOATS)
def test_spec_oracle_equals_anomalib_in_its_domain(rng: np.random.Generator, dtype: type) -> None:
    for shape in [(2, 3), (37, 41), (256, 256)]:
        m = rng.random(shape).astype(dtype)
        for normalize in (True, False):
            expected = anomalib_anomaly_map_to_color_map(m, normalize=normalize)
            assert np.array_equal(spec_color_map_2d(m, normalize), expected)
            assert np.array_equal(ap.anomaly_map_to_color_map(m, normalize=normalize), expected)


def test_spec_oracle_saturates_where_anomalib_wraps() -> None:
    # The example of docs/behaviour.md#levels: 1.004 with normalize=False shows as dark blue
    # in the reference.
    m = np.array([[1.004, -0.003]], dtype=np.float32)
    with np.errstate(invalid="ignore"):
        wrapped = anomalib_anomaly_map_to_color_map(m, normalize=False)
    assert tuple(wrapped[0, 0]) != (128, 0, 0)
    assert spec_levels(m, False).tolist() == [[255, 0]]
    assert ap.anomaly_map_to_color_map(m, normalize=False).tolist() == [[[128, 0, 0], [0, 0, 128]]]


# --------------------------------------------------------------------- random-map parity


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_random_maps(
    rng: np.random.Generator,
    shape: tuple[int, int],
    dtype: type,
    normalize: bool,
    check_fresh_output,
    unmodified,
) -> None:
    for m in (
        rng.random(shape).astype(dtype),
        (rng.normal(size=shape) * rng.uniform(0.01, 100)).astype(dtype),
    ):
        with unmodified(m):
            out = ap.anomaly_map_to_color_map(m, normalize=normalize)
        assert out.shape == shape + (3,)
        check_fresh_output(out, m)
        assert np.array_equal(out, spec_color_map_2d(m, normalize))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", LARGE_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_large_maps(rng: np.random.Generator, shape: tuple[int, int], dtype: type) -> None:
    m = rng.random(shape).astype(dtype)
    assert np.array_equal(ap.anomaly_map_to_color_map(m), anomalib_anomaly_map_to_color_map(m))
    m = rng.uniform(-0.01, 1.01, shape).astype(dtype)
    assert np.array_equal(
        ap.anomaly_map_to_color_map(m, normalize=False), spec_color_map_2d(m, normalize=False)
    )


def test_default_is_normalize_true(rng: np.random.Generator) -> None:
    m = rng.random((9, 11)) * 0.3 + 0.2
    assert np.array_equal(ap.anomaly_map_to_color_map(m), spec_color_map_2d(m, True))
    assert np.array_equal(ap.anomaly_map_to_color_map(m, True), spec_color_map_2d(m, True))
    assert np.array_equal(ap.anomaly_map_to_color_map(m, np.True_), spec_color_map_2d(m, True))
    assert np.array_equal(ap.anomaly_map_to_color_map(m, np.False_), spec_color_map_2d(m, False))
    assert not np.array_equal(spec_color_map_2d(m, True), spec_color_map_2d(m, False))


# ------------------------------------------------------------------ values at the edges


@pytest.mark.parametrize("dtype", FLOATS)
def test_values_slightly_outside_unit_interval_saturate(
    rng: np.random.Generator, dtype: type
) -> None:
    m = rng.uniform(-0.02, 1.02, (97, 103)).astype(dtype)
    special = np.array(
        [
            1.004,
            1.0,
            0.0,
            -0.0,
            -0.001,
            -1e-30,
            1 + 1e-7,
            256 / 255,
            255.99 / 255,
            1e30,
            -1e30,
            2.0,
            -2.0,
            1e-45,
        ],
        dtype=dtype,
    )
    m.flat[: special.size] = special
    out = ap.anomaly_map_to_color_map(m, normalize=False)
    assert np.array_equal(out, spec_color_map_2d(m, normalize=False))
    levels = spec_levels(m, False)
    assert np.all(levels[m >= 1] == 255) and np.all(levels[m <= 0] == 0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_extreme_magnitudes_without_normalisation(dtype: type) -> None:
    info = np.finfo(dtype)
    m = np.array(
        [[info.max, -info.max, info.tiny, -info.tiny, info.smallest_subnormal, info.eps]],
        dtype=dtype,
    )
    out = ap.anomaly_map_to_color_map(m, normalize=False)  # info.max * 255 overflows to inf
    with np.errstate(over="ignore"):
        assert np.array_equal(out, spec_color_map_2d(m, normalize=False))
    assert np.array_equal(out[0, :2], level_map(np.array([255, 0])))


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("dtype", FLOATS)
def test_level_boundaries(dtype: type, normalize: bool) -> None:
    """k/255 and its float neighbours: truncation decides between k-1 and k, and the
    answer depends on doing the arithmetic in the map's own precision."""
    k = np.arange(256, dtype=dtype)
    centre = k / dtype(255)
    values = np.concatenate(
        [
            centre,
            np.nextafter(centre, dtype(2)),
            np.nextafter(centre, dtype(-1)),
            np.nextafter(np.nextafter(centre, dtype(-1)), dtype(-1)),
        ]
    )
    values = np.concatenate([values, [dtype(0), dtype(1)]])  # min 0, max 1: ptp 1
    m = np.resize(values, (32, values.size // 32 + 1)).astype(dtype)
    m.flat[-2:] = [0, 1]
    out = ap.anomaly_map_to_color_map(m, normalize=normalize)
    assert np.array_equal(out, spec_color_map_2d(m, normalize))
    if not normalize:
        # Cross-check the levels without any oracle: float arithmetic in the map's dtype.
        expected = np.clip(m * dtype(255), 0, 255).astype(np.uint8)
        assert np.array_equal(out, level_map(expected))


def near_level_boundaries(dtype: type, ptp: float, ulps: int = 4) -> np.ndarray:
    """Values x in (0, ptp) within a few ulps of k * ptp / 255, plus 0 and ptp themselves
    (so a map of them normalises with min 0 and ptp exactly ``ptp``)."""
    p = dtype(ptp)
    centre = np.arange(1, 255, dtype=dtype) * p / dtype(255)
    values = [centre]
    up, down = centre.copy(), centre.copy()
    for _ in range(ulps):
        up, down = np.nextafter(up, dtype(np.inf)), np.nextafter(down, dtype(-np.inf))
        values += [up, down]
    x = np.concatenate(values)
    x = x[(x > 0) & (x < p)]
    return np.concatenate([[dtype(0), p], x]).astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_precision_is_the_maps_own(dtype: type) -> None:
    """Values whose level differs between float32 and float64 arithmetic."""
    other = np.float64 if dtype is np.float32 else np.float32
    x = near_level_boundaries(dtype, 0.37)
    p = x[1]
    own = (x / p * dtype(255)).astype(np.uint8)
    foreign = (x.astype(other) / other(p) * other(255)).astype(np.uint8)
    assert np.count_nonzero(own != foreign) > 0  # the test has teeth
    out = ap.anomaly_map_to_color_map(x[None])
    assert np.array_equal(out, level_map(own[None]))
    assert np.array_equal(out, spec_color_map_2d(x[None], True))
    assert np.array_equal(out, anomalib_anomaly_map_to_color_map(x[None]))


@pytest.mark.parametrize("ptp", [0.37, 0.7, 0.1, 3.0])
@pytest.mark.parametrize("dtype", FLOATS)
def test_normalisation_divides_rather_than_multiplying_by_reciprocal(
    dtype: type, ptp: float
) -> None:
    x = near_level_boundaries(dtype, ptp)
    p = x[1]
    by_division = (x / p * 255).astype(np.uint8)
    by_reciprocal = (x * (dtype(1) / p) * 255).astype(np.uint8)
    assert np.count_nonzero(by_division != by_reciprocal) > 0  # the test has teeth
    m = np.resize(x, (8, x.size // 8 + 1))
    m.flat[:2] = x[:2]
    out = ap.anomaly_map_to_color_map(m)
    assert np.array_equal(out, level_map((m / p * 255).astype(np.uint8)))
    assert np.array_equal(out, anomalib_anomaly_map_to_color_map(m))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize(
    "scale, offset",
    [(1.0, 0.0), (1e-3, 1000.0), (1e-30, 0.0), (1e30, -5e29), (7.0, -3.0), (1e-38, 1e-38)],
)
def test_normalisation_over_unusual_ranges(
    rng: np.random.Generator, dtype: type, scale: float, offset: float
) -> None:
    m = (rng.random((41, 43)) * scale + offset).astype(dtype)
    if np.ptp(m) == 0:
        pytest.fail("test map collapsed to a constant")
    with np.errstate(under="ignore"):
        expected = spec_color_map_2d(m, True)
    assert np.array_equal(ap.anomaly_map_to_color_map(m), expected)


@pytest.mark.parametrize("dtype", FLOATS)
def test_normalisation_with_subnormal_values(dtype: type) -> None:
    tiny = np.finfo(dtype).smallest_subnormal
    m = (np.arange(60, dtype=dtype).reshape(6, 10) * tiny).astype(dtype)
    out = ap.anomaly_map_to_color_map(m)
    assert np.array_equal(out, spec_color_map_2d(m, True))
    assert tuple(out[0, 0]) == (0, 0, 128) and tuple(out[-1, -1]) == (128, 0, 0)


@pytest.mark.parametrize("dtype", FLOATS)
def test_normalisation_whose_range_overflows(dtype: type) -> None:
    """max - min overflows to inf: the levels are (finite)/inf = 0 and inf/inf = NaN → 0."""
    big = np.finfo(dtype).max
    m = np.array([[-big, 0, big], [big / 2, -big / 2, 1]], dtype=dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = spec_color_map_2d(m, True)
    assert np.array_equal(ap.anomaly_map_to_color_map(m), expected)


# ------------------------------------------------------------------------- constant maps


@pytest.mark.parametrize(
    "dtype", [np.float16, np.float32, np.float64, np.int32, np.uint8, np.bool_]
)
@pytest.mark.parametrize("value", [0, 1, 0.5, -5.25, 1e30, 200])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (17, 23), (3, 4, 5)])
def test_constant_maps_normalised_are_level_zero_without_warnings(
    dtype: type, value: float, shape: tuple[int, ...], no_warnings
) -> None:
    with np.errstate(over="ignore", invalid="ignore"):
        # Cast the scalar once: an out-of-range cast (-5.25 -> uint8) is undefined, and
        # numpy's vector and scalar paths may disagree on it (aarch64), so a cast array
        # need not be constant.
        m = np.full(shape, np.asarray(value).astype(dtype))
    if not np.isfinite(m.astype(np.float64)).all():
        return  # 1e30 in float16 is inf: covered by the error tests
    with no_warnings:
        out = ap.anomaly_map_to_color_map(m, normalize=True)
    assert out.shape == shape + (3,)
    assert np.array_equal(out, np.broadcast_to(np.array([0, 0, 128], np.uint8), out.shape))
    assert np.array_equal(out, spec_anomaly_map_to_color_map(m, True))


@pytest.mark.parametrize("value, level", [(0.0, 0), (0.5, 127), (1.0, 255), (-3.0, 0), (7.0, 255)])
@pytest.mark.parametrize("dtype", FLOATS)
def test_constant_maps_without_normalisation_keep_their_level(
    dtype: type, value: float, level: int
) -> None:
    m = np.full((5, 6), value, dtype=dtype)
    out = ap.anomaly_map_to_color_map(m, normalize=False)
    assert np.array_equal(out, np.broadcast_to(jet_rgb_opencv()[level], (5, 6, 3)))
    assert np.array_equal(out, spec_color_map_2d(m, False))


def test_constant_map_matches_reference_pixels(no_warnings) -> None:
    m = np.full((4, 4), 0.25, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        reference = anomalib_anomaly_map_to_color_map(m)  # 0/0 = NaN cast to 0 on x86
    with no_warnings:
        out = ap.anomaly_map_to_color_map(m)
    assert np.array_equal(out, reference)


# ------------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("normalize", [True, False])
def test_float16_is_computed_as_float32(rng: np.random.Generator, normalize: bool) -> None:
    m = rng.uniform(-0.05, 1.05, (67, 71)).astype(np.float16)
    out = ap.anomaly_map_to_color_map(m, normalize=normalize)
    assert np.array_equal(
        out, ap.anomaly_map_to_color_map(m.astype(np.float32), normalize=normalize)
    )
    assert np.array_equal(out, spec_color_map_2d(m, normalize))
    # and the float32 computation is not the same as a float16 one everywhere
    m16 = m
    if normalize:
        m16 = (m - m.min()) / np.ptp(m)
    half_levels = np.clip(m16 * np.float16(255), 0, 255).astype(np.uint8)
    assert not np.array_equal(out, level_map(half_levels))


@pytest.mark.parametrize(
    "dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]
)
def test_integer_maps(rng: np.random.Generator, dtype: type) -> None:
    info = np.iinfo(dtype)
    m = rng.integers(info.min, info.max, (33, 35), dtype=dtype, endpoint=True)
    m.flat[:2] = [info.min, info.max]
    out = ap.anomaly_map_to_color_map(m)
    assert np.array_equal(out, ap.anomaly_map_to_color_map(m.astype(np.float64)))
    assert np.array_equal(out, spec_color_map_2d(m, True))
    # normalize=False: values saturate (0 → level 0, anything >= 1 → 255), never wrap
    small = rng.integers(max(info.min, -3), min(info.max, 3), (9, 8), dtype=dtype, endpoint=True)
    out = ap.anomaly_map_to_color_map(small, normalize=False)
    assert np.array_equal(out, spec_color_map_2d(small, False))
    assert np.array_equal(out, level_map(np.where(small >= 1, 255, 0).astype(np.uint8)))


def test_small_integer_maps_normalised_equal_the_reference(rng: np.random.Generator) -> None:
    """Where anomalib's integer arithmetic does not overflow it is the same as float64."""
    m = rng.integers(0, 1000, (20, 30), dtype=np.int64)
    assert np.array_equal(ap.anomaly_map_to_color_map(m), anomalib_anomaly_map_to_color_map(m))


def test_int8_normalisation_does_not_wrap() -> None:
    m = np.array([[-128, 0, 127]], dtype=np.int8)  # anomalib's int8 m - min wraps
    out = ap.anomaly_map_to_color_map(m)
    assert np.array_equal(out, level_map(np.array([[0, 128, 255]], np.uint8)))


@pytest.mark.parametrize("normalize", [True, False])
def test_bool_maps(normalize: bool) -> None:
    m = np.array([[True, False, True], [False, False, True]])
    out = ap.anomaly_map_to_color_map(m, normalize=normalize)
    assert np.array_equal(out, level_map(np.where(m, 255, 0).astype(np.uint8)))
    assert np.array_equal(out, spec_color_map_2d(m, normalize))


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">f2", ">i4", ">u8", "<f4", "<f8"])
@pytest.mark.parametrize("normalize", [True, False])
def test_explicit_byte_orders(
    rng: np.random.Generator, dtype: str, normalize: bool, unmodified
) -> None:
    native = (rng.random((13, 17)) * (100 if dtype[1] in "iu" else 1.1)).astype(
        np.dtype(dtype).newbyteorder("=")
    )
    m = native.astype(dtype)
    assert m.dtype.str == np.dtype(dtype).str
    with unmodified(m):
        out = ap.anomaly_map_to_color_map(m, normalize=normalize)
    assert np.array_equal(out, ap.anomaly_map_to_color_map(native, normalize=normalize))
    assert np.array_equal(out, spec_color_map_2d(native, normalize))


# --------------------------------------------------------------------------- strided views


def strided_views(base: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "step rows": base[::2],
        "step cols": base[:, ::3],
        "steps with offset": base[1::3, 2::2],
        "transpose": base.T,
        "negative rows": base[::-1],
        "negative cols": base[:, ::-1],
        "negative both": base[::-1, ::-1],
        "negative step transpose": base[::-2, 1::3].T,
        "fortran": np.asfortranarray(base),
        "fortran slice": np.asfortranarray(base)[3:, ::-2],
        "single column view": base[:, 5:6],
        "single row view": base[7:8, ::-1],
        "broadcast": np.broadcast_to(base[:1], base.shape),
    }


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("dtype", FLOATS + [np.float16, np.int16])
def test_strided_views(
    rng: np.random.Generator, dtype: type, normalize: bool, unmodified, check_fresh_output
) -> None:
    base = (rng.random((60, 70)) * (50 if dtype is np.int16 else 1)).astype(dtype)
    for name, view in strided_views(base).items():
        with unmodified(base, view):
            out = ap.anomaly_map_to_color_map(view, normalize=normalize)
        check_fresh_output(out, base, view)
        contiguous = ap.anomaly_map_to_color_map(np.ascontiguousarray(view), normalize=normalize)
        assert np.array_equal(out, contiguous), name
        assert np.array_equal(out, spec_color_map_2d(np.ascontiguousarray(view), normalize)), name


def test_strided_batch_views(rng: np.random.Generator) -> None:
    base = rng.random((6, 40, 50)).astype(np.float32)
    for view in (
        base[::2],
        base[:, ::-1, 1::2],
        base.transpose(0, 2, 1),
        base.transpose(2, 1, 0),
        np.asfortranarray(base),
        base[::-1, ::3, ::-4],
    ):
        out = ap.anomaly_map_to_color_map(view)
        assert np.array_equal(out, ap.anomaly_map_to_color_map(np.ascontiguousarray(view)))
        assert np.array_equal(out, spec_anomaly_map_to_color_map(np.ascontiguousarray(view)))


def test_unaligned_and_readonly_maps(rng: np.random.Generator) -> None:
    values = rng.random((19, 23))
    for dtype in FLOATS:
        itemsize = np.dtype(dtype).itemsize
        buffer = bytearray(values.size * itemsize + 1)
        unaligned = np.frombuffer(buffer, dtype=dtype, count=values.size, offset=1).reshape(
            values.shape
        )
        unaligned[...] = values.astype(dtype)
        assert not unaligned.flags.aligned
        out = ap.anomaly_map_to_color_map(unaligned)
        assert np.array_equal(out, spec_color_map_2d(values.astype(dtype), True))
        readonly = values.astype(dtype)
        readonly.flags.writeable = False
        assert np.array_equal(ap.anomaly_map_to_color_map(readonly), out)


# ------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize(
    "shape, out_shape",
    [
        ((5, 7), (5, 7, 3)),
        ((5, 7, 1), (5, 7, 3)),
        ((1, 5, 7), (5, 7, 3)),
        ((1, 1, 5, 7), (5, 7, 3)),
        ((1, 5, 7, 1), (5, 7, 3)),
        ((1, 1, 1, 5, 7, 1), (5, 7, 3)),
        ((1, 7), (1, 7, 3)),
        ((7, 1), (7, 1, 3)),
        ((1, 1), (1, 1, 3)),
        ((1, 1, 1), (1, 1, 3)),
        ((1, 7, 1), (1, 7, 3)),
        ((1, 1, 7), (1, 7, 3)),
        ((3, 5, 7), (3, 5, 7, 3)),
        ((3, 5, 7, 1), (3, 5, 7, 3)),
        ((1, 3, 5, 7), (3, 5, 7, 3)),
        ((2, 3, 5, 7), (2, 3, 5, 7, 3)),
        ((2, 1, 5, 7), (2, 1, 5, 7, 3)),
        ((2, 3, 1, 7), (2, 3, 1, 7, 3)),
        ((4, 1, 7), (4, 1, 7, 3)),
    ],
)
def test_shape_rules(
    rng: np.random.Generator, shape: tuple[int, ...], out_shape: tuple[int, ...]
) -> None:
    m = rng.random(shape).astype(np.float32)
    for normalize in (True, False):
        out = ap.anomaly_map_to_color_map(m, normalize=normalize)
        assert out.shape == out_shape
        assert out.flags.c_contiguous and out.flags.owndata
        assert np.array_equal(out, spec_anomaly_map_to_color_map(m, normalize))


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("dtype", FLOATS)
def test_batch_equals_stack_of_single_calls(
    rng: np.random.Generator, dtype: type, normalize: bool, check_fresh_output
) -> None:
    # maps with very different ranges, so a shared normalisation would show
    maps = np.stack(
        [rng.random((21, 25)) * s + o for s, o in [(1, 0), (10, -3), (0.01, 5), (0, 2)]] * 3
    )
    maps = maps.astype(dtype).reshape(3, 4, 21, 25)
    out = ap.anomaly_map_to_color_map(maps, normalize=normalize)
    check_fresh_output(out, maps)
    assert out.shape == (3, 4, 21, 25, 3)
    singles = np.stack(
        [ap.anomaly_map_to_color_map(m, normalize=normalize) for m in maps.reshape(12, 21, 25)]
    )
    assert np.array_equal(out, singles.reshape(out.shape))
    assert np.array_equal(out, spec_anomaly_map_to_color_map(maps, normalize))


def test_large_batch(rng: np.random.Generator) -> None:
    maps = rng.random((8, 256, 256)).astype(np.float32)
    out = ap.anomaly_map_to_color_map(maps)
    for i in range(8):
        assert np.array_equal(out[i], anomalib_anomaly_map_to_color_map(maps[i]))


# --------------------------------------------------------------------------- array-likes


def test_nested_lists() -> None:
    floats = [[0.0, 0.25, 0.5], [0.75, 1.0, 0.1]]
    expected = spec_color_map_2d(np.array(floats), True)
    assert np.array_equal(ap.anomaly_map_to_color_map(floats), expected)
    assert np.array_equal(ap.anomaly_map_to_color_map(tuple(map(tuple, floats))), expected)
    ints = [[0, 3, 9], [1, 2, 4]]
    assert np.array_equal(
        ap.anomaly_map_to_color_map(ints), spec_color_map_2d(np.array(ints, np.float64), True)
    )
    bools = [[True, False]]
    assert np.array_equal(
        ap.anomaly_map_to_color_map(bools, normalize=False),
        level_map(np.array([[255, 0]], np.uint8)),
    )


def test_objects_with_array_protocol(rng: np.random.Generator) -> None:
    m = rng.random((2, 11, 12)).astype(np.float32)
    out = ap.anomaly_map_to_color_map(ArrayLike(m))
    assert np.array_equal(out, spec_anomaly_map_to_color_map(m))
    assert np.array_equal(ap.anomaly_map_to_color_map(memoryview(m[0])), spec_color_map_2d(m[0]))


def test_outputs_are_independent_between_calls(rng: np.random.Generator) -> None:
    m = rng.random((10, 10))
    a = ap.anomaly_map_to_color_map(m)
    b = ap.anomaly_map_to_color_map(m)
    assert not np.shares_memory(a, b)
    a[...] = 0
    assert np.array_equal(b, spec_color_map_2d(m))


# ------------------------------------------------------- every width (vector tails)


def test_every_width_up_to_130(rng: np.random.Generator) -> None:
    """Vectorised kernels handle the leftover pixels of a row: every width, both dtypes."""
    for w in range(1, 131):
        for dtype in FLOATS:
            m = rng.uniform(-0.02, 1.02, (3, w)).astype(dtype)
            for normalize in (True, False):
                assert np.array_equal(
                    ap.anomaly_map_to_color_map(m, normalize=normalize),
                    spec_color_map_2d(m, normalize),
                ), (w, dtype, normalize)
            # the extreme values at the very end of the buffer
            m[-1, -1], m[0, 0] = 7.0, -7.0
            assert np.array_equal(ap.anomaly_map_to_color_map(m), spec_color_map_2d(m, True)), (
                w,
                dtype,
            )


# ------------------------------------------------------------------- extreme values


@pytest.mark.parametrize("name", list(EXTREME_MAPS))
@pytest.mark.parametrize("normalize", [True, False])
def test_map_extreme_values(name: str, normalize: bool) -> None:
    values = EXTREME_MAPS[name]
    with np.errstate(all="ignore"):  # the oracle's float arithmetic overflows here
        color = spec_anomaly_map_to_color_map(values, normalize)
    assert np.array_equal(ap.anomaly_map_to_color_map(values, normalize), color)


# ---------------------------------------------------------- accepted normalize values

# normalize: a bool or a numpy bool, given positionally. (Refused values, and 0-d
# arrays, are in bad_inputs/test_bad_inputs.py.)
NORMALIZE_ACCEPTED: dict[str, tuple[Any, bool]] = {
    "True": (True, True),
    "False": (False, False),
    "numpy True": (np.True_, True),
    "numpy False": (np.False_, False),
}


@pytest.mark.parametrize("case", list(NORMALIZE_ACCEPTED))
def test_accepted_normalize(case: str) -> None:
    value, clean = NORMALIZE_ACCEPTED[case]
    m = base_values() * 0.5 + 0.2
    assert_result(ap.anomaly_map_to_color_map(m, value), spec_anomaly_map_to_color_map(m, clean))
