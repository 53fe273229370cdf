"""Parity of ``superimpose_anomaly_map`` with the reference (docs/behaviour.md#blend,
docs/behaviour.md#shapes, docs/behaviour.md#dtypes), also with an image of another size
(docs/behaviour.md#resizing). Byte-exact only, except where the map itself is resized."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import cv2
import numpy as np
import pytest

import anomaly_postprocess as ap
from conftest import (
    EXTREME_MAPS,
    ODD_H,
    ODD_W,
    SMALL_H,
    SMALL_W,
    ArrayLike,
    FloatSubclass,
    assert_result,
    base_image,
    base_values,
    random_image,
    smooth_maps,
)
from reference import (
    anomalib_superimpose_anomaly_map,
    jet_rgb_opencv,
    spec_add_weighted,
    spec_add_weighted_exact,
    spec_color_map_2d,
    spec_superimpose_2d,
    spec_superimpose_anomaly_map,
)

ALPHAS = [0.4, 0.0, 1.0, 0.5, 0.3, 0.7, 1 / 3, 0.123456789, 0.999, 1e-7, -0.5, -1.0, 1.5, 2.0, 3.7]
GAMMAS = [0, 1, -1, 0.5, -0.5, 2.5, 10.3, -7.7, 100, -100, 1e-3, 0.49999997, 254.5]


def all_pairs_inputs() -> tuple[np.ndarray, np.ndarray]:
    """A (256, 256) map whose row i has level i, over an image whose column j is j in
    every channel: the output holds blend(JET[i][c], j) for every level and image value."""
    levels = (np.arange(256) + 0.5) / 255
    m = np.repeat(levels[:, None], 256, axis=1)
    image = np.repeat(
        np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 256, axis=0), 3, axis=2
    )
    return m, np.ascontiguousarray(image)


# --------------------------------------------------------------------- oracle sanity checks


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("alpha", ALPHAS)
def test_spec_formula_equals_opencv_add_weighted(alpha: float, gamma: float) -> None:
    """The fused formula of docs/behaviour.md#blend (emulated exactly, CPU-independent) is OpenCV's
    answer for every pair of uint8 values. Checks the oracle and the contract's claim,
    not the package."""
    a = np.repeat(np.arange(256, dtype=np.uint8), 256).reshape(256, 256)
    b = np.ascontiguousarray(a.T)
    assert np.array_equal(
        spec_add_weighted_exact(a, alpha, b, gamma), cv2.addWeighted(a, alpha, b, 1 - alpha, gamma)
    )


def test_unfused_formula_would_differ_from_opencv() -> None:
    a = np.repeat(np.arange(256, dtype=np.uint8), 256).reshape(256, 256)
    b = np.ascontiguousarray(a.T)
    alpha = 0.3
    unfused = np.clip(
        np.rint(
            a.astype(np.float32) * np.float32(alpha) + b.astype(np.float32) * np.float32(1 - alpha)
        ),
        0,
        255,
    ).astype(np.uint8)
    assert not np.array_equal(unfused, cv2.addWeighted(a, alpha, b, 1 - alpha, 0))


@pytest.mark.parametrize("alpha", [0.4, 0.5, 0.25, 0.9])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_anomalib_verbatim_in_its_domain(
    rng: np.random.Generator, dtype: type, alpha: float
) -> None:
    m = rng.random((1, 1, 45, 61)).astype(dtype)
    image = random_image(rng, (45, 61))
    for normalize in (False, True):
        expected = anomalib_superimpose_anomaly_map(m, image, alpha=alpha, normalize=normalize)
        assert np.array_equal(spec_superimpose_anomaly_map(m, image, alpha, 0, normalize), expected)
        assert np.array_equal(
            ap.superimpose_anomaly_map(m, image, alpha=alpha, normalize=normalize), expected
        )


# ----------------------------------------------------------------- the alpha/gamma grid


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("alpha", ALPHAS)
def test_every_colour_and_image_value(alpha: float, gamma: float) -> None:
    m, image = all_pairs_inputs()
    out = ap.superimpose_anomaly_map(m, image, alpha=alpha, gamma=gamma)
    assert np.array_equal(out, spec_superimpose_2d(m, image, alpha, gamma, False))
    assert np.array_equal(
        out,
        spec_add_weighted_exact(
            np.repeat(jet_rgb_opencv()[:, None], 256, axis=1), alpha, image, gamma
        ),
    )


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize(
    "alpha, gamma", [(0.4, 0), (0.6, 3), (-0.25, 0.5), (1.25, -20.5), (1, 0), (0, 0)]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape",
    [(1, 1), (1, 2), (2, 1), (1, 300), (300, 1), (7, 9), (64, 65), (240, 320)],
    ids=lambda s: f"{s[0]}x{s[1]}",
)
def test_random_maps(
    rng: np.random.Generator,
    shape: tuple[int, int],
    dtype: type,
    alpha: float,
    gamma: float,
    normalize: bool,
    check_fresh_output,
    unmodified,
) -> None:
    m = rng.uniform(-0.02, 1.02, shape).astype(dtype)
    image = random_image(rng, shape)
    with unmodified(m, image):
        out = ap.superimpose_anomaly_map(m, image, alpha, gamma, normalize)
    assert out.shape == shape + (3,)
    check_fresh_output(out, m, image)
    assert np.array_equal(out, spec_superimpose_2d(m, image, alpha, gamma, normalize))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_map(rng: np.random.Generator, dtype: type) -> None:
    m = rng.random((1024, 1024)).astype(dtype)
    image = random_image(rng, (1024, 1024))
    out = ap.superimpose_anomaly_map(m, image)
    assert np.array_equal(out, anomalib_superimpose_anomaly_map(m, image))
    out = ap.superimpose_anomaly_map(m, image, alpha=0.65, gamma=1.5, normalize=True)
    assert np.array_equal(out, spec_superimpose_2d(m, image, 0.65, 1.5, True))


def test_defaults_and_keywords(rng: np.random.Generator) -> None:
    m = rng.random((13, 14)) * 2
    image = random_image(rng, (13, 14))
    expected = spec_superimpose_2d(m, image, 0.4, 0, False)
    assert np.array_equal(ap.superimpose_anomaly_map(m, image), expected)
    assert np.array_equal(ap.superimpose_anomaly_map(m, image, 0.4, 0, False), expected)
    assert np.array_equal(
        ap.superimpose_anomaly_map(anomaly_map=m, image=image, alpha=0.4, gamma=0, normalize=False),
        expected,
    )
    assert np.array_equal(
        ap.superimpose_anomaly_map(m, image, normalize=True),
        spec_superimpose_2d(m, image, 0.4, 0, True),
    )


@pytest.mark.parametrize(
    "alpha, gamma",
    [
        (np.float32(0.3), np.float32(1.5)),
        (np.float64(0.7), np.int64(2)),
        (np.float16(0.5), np.int8(-3)),
        (1, 0),
        (0, 7),
        (np.int32(2), np.uint8(9)),
    ],
)
def test_numeric_option_types(rng: np.random.Generator, alpha, gamma) -> None:
    m = rng.random((16, 18)).astype(np.float32)
    image = random_image(rng, (16, 18))
    out = ap.superimpose_anomaly_map(m, image, alpha=alpha, gamma=gamma)
    assert np.array_equal(out, spec_superimpose_2d(m, image, float(alpha), float(gamma), False))


def test_alpha_one_and_zero_are_exact(rng: np.random.Generator) -> None:
    m = rng.random((20, 30))
    image = random_image(rng, (20, 30))
    assert np.array_equal(
        ap.superimpose_anomaly_map(m, image, alpha=1.0), spec_color_map_2d(m, False)
    )
    assert np.array_equal(ap.superimpose_anomaly_map(m, image, alpha=0.0), image)


@pytest.mark.parametrize(
    "alpha, gamma",
    [(1e10, 0), (-1e10, 0), (0.4, 1e12), (0.4, -1e12), (3e9, -1e9), (1e30, 5), (0.5, 3e38)],
)
def test_absurd_weights_saturate(alpha: float, gamma: float) -> None:
    """docs/behaviour.md#blend decision: results beyond ±2^31 saturate (OpenCV would give 0)."""
    m, image = all_pairs_inputs()
    out = ap.superimpose_anomaly_map(m, image, alpha=alpha, gamma=gamma)
    colour = np.repeat(jet_rgb_opencv()[:, None], 256, axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        expected = spec_add_weighted_exact(colour, alpha, image, gamma)
    assert np.array_equal(out, expected)
    assert np.array_equal(out, spec_superimpose_2d(m, image, alpha, gamma, False))


def test_opencv_zeroes_what_spec_saturates() -> None:
    """Documents the decision: OpenCV's int32 conversion overflows to 0."""
    colour = np.full((1, 1, 3), 255, np.uint8)
    image = np.zeros((1, 1, 3), np.uint8)
    assert cv2.addWeighted(colour, 1e10, image, 1 - 1e10, 0).tolist() == [[[0, 0, 0]]]
    assert spec_add_weighted(colour, 1e10, image, 0).tolist() == [[[255, 255, 255]]]
    m = np.ones((1, 1))  # level 255: JET (128, 0, 0)
    assert cv2.addWeighted(
        np.array([[[128, 0, 0]]], np.uint8), 1e10, image, 1 - 1e10, 0
    ).tolist() == [[[0, 0, 0]]]
    assert ap.superimpose_anomaly_map(m, image, alpha=1e10).tolist() == [[[255, 0, 0]]]


# ----------------------------------------------------------------------- maps and dtypes


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize(
    "dtype", [np.float16, np.int8, np.uint16, np.int64, np.bool_, ">f4", ">f8"]
)
def test_other_map_dtypes(rng: np.random.Generator, dtype, normalize: bool) -> None:
    m = (rng.random((23, 29)) * (1.1 if np.dtype(dtype).kind == "f" else 5)).astype(dtype)
    image = random_image(rng, (23, 29))
    out = ap.superimpose_anomaly_map(m, image, 0.45, 2, normalize)
    assert np.array_equal(out, spec_superimpose_2d(m, image, 0.45, 2, normalize))
    computed = (
        np.float32 if np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize <= 4 else np.float64
    )
    assert np.array_equal(
        out, ap.superimpose_anomaly_map(m.astype(computed), image, 0.45, 2, normalize)
    )


def test_constant_map(no_warnings) -> None:
    m = np.full((6, 7), 0.3, np.float32)
    image = np.full((6, 7, 3), 200, np.uint8)
    with no_warnings:
        out = ap.superimpose_anomaly_map(m, image, normalize=True)
    assert np.array_equal(out, spec_superimpose_2d(m, image, 0.4, 0, True))
    assert np.array_equal(
        out[0, 0],
        cv2.addWeighted(
            np.array([[[0, 0, 128]]], np.uint8), 0.4, np.full((1, 1, 3), 200, np.uint8), 0.6, 0
        )[0, 0],
    )


# ------------------------------------------------------------------------ shapes, batches


@pytest.mark.parametrize(
    "map_shape, image_shape, out_shape",
    [
        ((5, 7), (5, 7, 3), (5, 7, 3)),
        ((5, 7, 1), (5, 7, 3), (5, 7, 3)),
        ((1, 5, 7), (5, 7, 3), (5, 7, 3)),
        ((1, 1, 5, 7), (5, 7, 3), (5, 7, 3)),
        ((1, 1, 5, 7), (1, 5, 7, 3), (5, 7, 3)),
        ((5, 7), (1, 5, 7, 3), (5, 7, 3)),
        ((1, 7), (1, 7, 3), (1, 7, 3)),
        ((7, 1), (7, 1, 3), (7, 1, 3)),
        ((1, 1), (1, 1, 3), (1, 1, 3)),
        ((1, 7, 1), (1, 7, 3), (1, 7, 3)),
        ((4, 5, 7), (5, 7, 3), (4, 5, 7, 3)),
        ((4, 5, 7), (4, 5, 7, 3), (4, 5, 7, 3)),
        ((4, 5, 7), (1, 4, 5, 7, 3), (4, 5, 7, 3)),
        ((4, 5, 7, 1), (4, 5, 7, 3), (4, 5, 7, 3)),
        ((2, 3, 5, 7), (5, 7, 3), (2, 3, 5, 7, 3)),
        ((2, 3, 5, 7), (2, 3, 5, 7, 3), (2, 3, 5, 7, 3)),
        ((2, 1, 5, 7), (2, 1, 5, 7, 3), (2, 1, 5, 7, 3)),
    ],
)
def test_shape_rules(
    rng: np.random.Generator, map_shape, image_shape, out_shape, check_fresh_output
) -> None:
    m = rng.random(map_shape).astype(np.float32)
    image = random_image(rng, image_shape[:-1])
    out = ap.superimpose_anomaly_map(m, image, 0.35, 1, True)
    assert out.shape == out_shape
    check_fresh_output(out, m, image)
    assert np.array_equal(out, spec_superimpose_anomaly_map(m, image, 0.35, 1, True))


@pytest.mark.parametrize("normalize", [False, True])
def test_batch_equals_stack_of_single_calls(
    rng: np.random.Generator, normalize: bool, unmodified
) -> None:
    maps = np.stack([rng.random((19, 22)) * s + o for s, o in [(1, 0), (3, -1), (0.1, 0.4)]] * 2)
    maps = maps.reshape(2, 3, 19, 22)
    images = random_image(rng, (2, 3, 19, 22))
    with unmodified(maps, images):
        per_map = ap.superimpose_anomaly_map(maps, images, 0.55, -2, normalize)
    singles = np.stack(
        [
            ap.superimpose_anomaly_map(maps[i, j], images[i, j], 0.55, -2, normalize)
            for i in range(2)
            for j in range(3)
        ]
    )
    assert np.array_equal(per_map, singles.reshape(per_map.shape))
    assert np.array_equal(per_map, spec_superimpose_anomaly_map(maps, images, 0.55, -2, normalize))

    one_image = images[1, 2]
    with unmodified(maps, one_image):
        broadcast = ap.superimpose_anomaly_map(maps, one_image, 0.55, -2, normalize)
    singles = np.stack(
        [
            ap.superimpose_anomaly_map(maps[i, j], one_image, 0.55, -2, normalize)
            for i in range(2)
            for j in range(3)
        ]
    )
    assert np.array_equal(broadcast, singles.reshape(broadcast.shape))
    assert np.array_equal(
        broadcast,
        ap.superimpose_anomaly_map(
            maps, np.broadcast_to(one_image, images.shape), 0.55, -2, normalize
        ),
    )
    assert np.array_equal(
        broadcast, spec_superimpose_anomaly_map(maps, one_image, 0.55, -2, normalize)
    )


# ------------------------------------------------------------------------- strided inputs


def test_strided_maps_and_images(rng: np.random.Generator, unmodified, check_fresh_output) -> None:
    base_map = rng.uniform(-0.1, 1.1, (60, 60))
    base_image = random_image(rng, (100, 120))
    h, w = 25, 30
    maps = {
        "steps": base_map[::2, ::2][:h, :w],
        "negative": base_map[::-2, ::-2][:h, :w],
        "transpose": base_map.T[::2, ::2][:h, :w],
        "fortran": np.asfortranarray(base_map[:h, :w]),
        "float32 slice": base_map.astype(np.float32)[10 : 10 + h, 5 : 5 + w],
    }
    images = {
        "contiguous": np.ascontiguousarray(base_image[:h, :w]),
        "bgr view": base_image[:h, :w, ::-1],
        "steps": base_image[::4, ::4],
        "negative": base_image[::-4, ::-4],
        "fortran": np.asfortranarray(base_image[:h, :w]),
        "transposed": base_image[:w, :h].transpose(1, 0, 2),
        "broadcast": np.broadcast_to(base_image[0, 0], (h, w, 3)),
    }
    for map_name, m in maps.items():
        for image_name, image in images.items():
            assert m.shape == (h, w) and image.shape == (h, w, 3), (map_name, image_name)
            with unmodified(m, image):
                out = ap.superimpose_anomaly_map(m, image, alpha=0.45, gamma=0.5, normalize=True)
            check_fresh_output(out, m, image, base_map, base_image)
            expected = ap.superimpose_anomaly_map(
                np.ascontiguousarray(m),
                np.ascontiguousarray(image),
                alpha=0.45,
                gamma=0.5,
                normalize=True,
            )
            assert np.array_equal(out, expected), (map_name, image_name)
            assert np.array_equal(out, spec_superimpose_2d(m, image, 0.45, 0.5, True)), (
                map_name,
                image_name,
            )


def test_strided_batch(rng: np.random.Generator) -> None:
    maps = rng.random((3, 40, 30))[:, ::-2, ::3]
    images = random_image(rng, (6, 20, 20))[::2, :, ::-2]
    out = ap.superimpose_anomaly_map(maps, images, 0.5, 0, True)
    assert np.array_equal(
        out,
        ap.superimpose_anomaly_map(
            np.ascontiguousarray(maps), np.ascontiguousarray(images), 0.5, 0, True
        ),
    )
    assert np.array_equal(out, spec_superimpose_anomaly_map(maps, images, 0.5, 0, True))


def test_image_may_alias_the_map_buffer_owner(rng: np.random.Generator) -> None:
    """An image and map from the same buffer are read only: the result is fresh."""
    buf = rng.integers(0, 256, 6 * 8 * 3 + 6 * 8 * 8, dtype=np.uint8)
    image = buf[: 6 * 8 * 3].reshape(6, 8, 3)
    m = buf[6 * 8 * 3 :].view(np.float64).reshape(6, 8)
    m = np.where(np.isfinite(m), m, 0)  # random bytes can be NaN; a copy is fine here
    out = ap.superimpose_anomaly_map(m, image, normalize=True)
    assert not np.shares_memory(out, buf)
    assert np.array_equal(out, spec_superimpose_2d(m, image, 0.4, 0, True))


# --------------------------------------------------------------------------- array-likes


def test_array_likes(rng: np.random.Generator) -> None:
    m = rng.random((4, 5))
    image = random_image(rng, (4, 5))
    expected = spec_superimpose_2d(m, image, 0.4, 0, False)
    assert np.array_equal(ap.superimpose_anomaly_map(m.tolist(), image), expected)
    assert np.array_equal(ap.superimpose_anomaly_map(ArrayLike(m), ArrayLike(image)), expected)
    assert np.array_equal(ap.superimpose_anomaly_map(m, memoryview(image)), expected)


def test_every_width_up_to_130(rng: np.random.Generator) -> None:
    for w in range(1, 131):
        m = rng.uniform(-0.02, 1.02, (2, w)).astype(np.float32 if w % 2 else np.float64)
        image = random_image(rng, (2, w))
        out = ap.superimpose_anomaly_map(m, image, alpha=0.37, gamma=1.5)
        assert np.array_equal(out, spec_superimpose_2d(m, image, 0.37, 1.5, False)), w


# ------------------------------------------------------------------- extreme values


@pytest.mark.parametrize("name", list(EXTREME_MAPS))
@pytest.mark.parametrize("normalize", [True, False])
def test_map_extreme_values(name: str, normalize: bool) -> None:
    values = EXTREME_MAPS[name]
    image = base_image(values.shape)
    with np.errstate(all="ignore"):  # the oracle's float arithmetic overflows here
        overlay = spec_superimpose_anomaly_map(values, image, normalize=normalize)
    out = ap.superimpose_anomaly_map(values, image, normalize=normalize)
    assert np.array_equal(out, overlay)


# -------------------------------------------------- accepted alpha, gamma, normalize

# alpha and gamma: any finite real number, not bool; the result is that of the number
# as a Python float (``clean``). (Refused values, and 0-d arrays, are in
# bad_inputs/test_bad_inputs.py.)
WEIGHTS_ACCEPTED: dict[str, tuple[Any, Any]] = {
    "int": (1, 1),
    "negative": (-2.5, -2.5),
    "huge float": (1e300, 1e300),
    "huge negative float": (-1e300, -1e300),
    "huge int": (10**30, float(10**30)),
    "tiny": (5e-324, 5e-324),
    "float16": (np.float16(0.25), 0.25),
    "float32": (np.float32(0.7), float(np.float32(0.7))),
    "longdouble": (np.longdouble(0.5), 0.5),
    "uint64": (np.uint64(2**64 - 1), float(2**64 - 1)),
    "int8": (np.int8(-3), -3.0),
    "float subclass": (FloatSubclass(0.25), 0.25),
}


@pytest.mark.parametrize("case", list(WEIGHTS_ACCEPTED))
@pytest.mark.parametrize("name", ["alpha", "gamma"])
def test_accepted_weights(name: str, case: str) -> None:
    value, clean = WEIGHTS_ACCEPTED[case]
    m = base_values((2, SMALL_H, SMALL_W))
    image = base_image()
    result = ap.superimpose_anomaly_map(m, image, **{name: value})
    # Weights beyond float32 are inf after rounding: the oracle's arithmetic warns.
    with np.errstate(all="ignore"):
        expected = spec_superimpose_anomaly_map(m, image, **{name: clean})
    assert_result(result, expected)


@pytest.mark.parametrize("name", ["alpha", "gamma"])
def test_weights_that_are_real_numbers_of_other_types(name: str) -> None:
    m = np.linspace(0, 1, 20).reshape(4, 5)
    image = np.zeros((4, 5, 3), np.uint8)
    expected = ap.superimpose_anomaly_map(m, image, **{name: 0.5})
    assert np.array_equal(ap.superimpose_anomaly_map(m, image, **{name: Fraction(1, 2)}), expected)
    assert np.array_equal(ap.superimpose_anomaly_map(m, image, **{name: np.float16(0.5)}), expected)


# normalize: a bool or a numpy bool.
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
    image = base_image()
    assert_result(
        ap.superimpose_anomaly_map(m, image, normalize=value),
        spec_superimpose_anomaly_map(m, image, normalize=clean),
    )


# ----------------------------------- an image of another size (docs/behaviour.md#resizing)


SIZE_PAIRS = [
    ((64, 80), (128, 160)),  # 2x up
    ((128, 160), (64, 80)),  # exact 2x down: OpenCV takes its INTER_AREA path
    ((37, 53), (100, 91)),
    ((100, 91), (37, 53)),
    ((1, 40), (7, 9)),
    ((33, 1), (5, 44)),
    ((256, 256), (1080, 1920)),
]


@pytest.mark.parametrize(("map_shape", "image_shape"), SIZE_PAIRS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_image_resized_to_the_map_like_cv2_resize(map_shape, image_shape, dtype, rng) -> None:
    m = rng.random(map_shape).astype(dtype)
    image = random_image(rng, image_shape)
    before = image.copy()
    resized = cv2.resize(image, (map_shape[1], map_shape[0]), interpolation=cv2.INTER_LINEAR)
    expected = spec_superimpose_anomaly_map(m, resized, 0.4, 0, False)
    got = ap.superimpose_anomaly_map(m, image)
    assert got.shape == (*map_shape, 3)
    assert np.array_equal(got, expected)
    assert np.array_equal(ap.superimpose_anomaly_map(m, image, size="map"), expected)
    assert np.array_equal(image, before)


@pytest.mark.parametrize(("map_shape", "image_shape"), SIZE_PAIRS)
def test_map_resized_to_the_image(map_shape, image_shape, rng) -> None:
    """size="image": the float map is resized (bilinear, like cv2.resize INTER_LINEAR)
    before levels are taken. docs/behaviour.md#resizing allows one level on at most 0.1% of pixels
    against that OpenCV pipeline."""
    m = rng.random(map_shape, dtype=np.float32)
    image = random_image(rng, image_shape)
    got = ap.superimpose_anomaly_map(m, image, alpha=0.5, size="image")
    assert got.shape == (*image_shape, 3)
    grown = cv2.resize(m, (image_shape[1], image_shape[0]), interpolation=cv2.INTER_LINEAR)
    expected = spec_superimpose_anomaly_map(grown, image, 0.5, 0, False)
    differs = np.any(got != expected, axis=-1)
    assert differs.mean() <= 0.001
    # Adjacent JET levels differ by at most 5 per channel (4 on the ramps, 5 at level
    # 159); with alpha 0.5 one level moves a blended channel by at most 3.
    assert np.abs(got.astype(int) - expected.astype(int)).max(initial=0) <= 3


def test_batch_with_per_map_images_of_another_size(rng) -> None:
    maps = rng.random((3, 20, 30), dtype=np.float32)
    images = random_image(rng, (3, 41, 59))
    batch = ap.superimpose_anomaly_map(maps, images)
    for b in range(3):
        assert np.array_equal(batch[b], ap.superimpose_anomaly_map(maps[b], images[b]))
    grown = ap.superimpose_anomaly_map(maps, images, size="image")
    assert grown.shape == (3, 41, 59, 3)
    for b in range(3):
        assert np.array_equal(
            grown[b], ap.superimpose_anomaly_map(maps[b], images[b], size="image")
        )


def test_same_size_ignores_size(rng) -> None:
    m = rng.random((10, 12), dtype=np.float32)
    image = random_image(rng, (10, 12))
    a = ap.superimpose_anomaly_map(m, image, size="map")
    assert np.array_equal(a, ap.superimpose_anomaly_map(m, image, size="image"))


def test_pil_image_of_another_size_is_resized() -> None:
    """docs/behaviour.md#resizing: an image of another size is resized to the map's, like
    cv2.resize."""
    Image = pytest.importorskip("PIL.Image")
    pixels = random_image(70, (ODD_H, ODD_W + 1))
    pil = Image.fromarray(pixels)
    maps = smooth_maps((ODD_H, ODD_W), seed=69)
    resized = cv2.resize(pixels, (ODD_W, ODD_H), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(
        ap.superimpose_anomaly_map(maps, pil), ap.superimpose_anomaly_map(maps, resized)
    )
