"""The one-call path for the common case (one native float32 map ``(H, W)``, Python
number arguments, no ``out=``) gives exactly what the general path gives.

The general path is reached with the same data through ``out=`` or a leading batch axis
of one, which the shape rules (docs/behaviour.md#shapes) squeeze away; the fast path is
recognised with ``type(...) is`` checks only, so numpy subclasses, other dtypes and
options fall back.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import anomaly_postprocess as ap
from anomaly_postprocess import _native
from conftest import random_image

SHAPES = [(1, 1), (1, 70), (33, 64), (64, 129), (300, 257)]


def maps(rng: np.random.Generator, shape: tuple[int, int]) -> list[np.ndarray]:
    uniform = rng.random(shape, dtype=np.float32)
    spread = (rng.standard_normal(shape) * 3).astype(np.float32)
    # Values on level boundaries and around the usual thresholds.
    steps = (np.arange(math.prod(shape)) % 512 / 511).reshape(shape).astype(np.float32)
    return [uniform, spread, steps, np.full(shape, 0.5, np.float32)]


def general(function, anomaly_map: np.ndarray, *args, **kwargs) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The general path's result for the same arguments: through a batch axis of one."""
    return function(anomaly_map[None], *args, **kwargs)  # type: ignore[no-any-return]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("normalize", [True, False])
def test_color_map(rng: np.random.Generator, shape: tuple[int, int], normalize: bool) -> None:
    for m in maps(rng, shape):
        fast = ap.anomaly_map_to_color_map(m, normalize)
        assert fast.shape == shape + (3,) and fast.dtype == np.uint8
        assert fast.flags.c_contiguous and fast.flags.owndata
        assert np.array_equal(fast, general(ap.anomaly_map_to_color_map, m, normalize))
        out = np.empty(shape + (3,), np.uint8)
        assert np.array_equal(fast, ap.anomaly_map_to_color_map(m, normalize, out=out))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    "alpha, gamma, normalize",
    [(0.4, 0, False), (0.5, 0, False), (0.3, 2.5, True), (0.75, -10, False), (0.4, 2**53, False)],
)
def test_superimpose(
    rng: np.random.Generator, shape: tuple[int, int], alpha: float, gamma: float, normalize: bool
) -> None:
    image = random_image(rng, shape)
    strided = np.asfortranarray(image)  # any strides take the fast path
    for m in maps(rng, shape):
        if not normalize:
            m = np.clip(m, -0.1, 1.1)
        fast = ap.superimpose_anomaly_map(m, image, alpha, gamma, normalize)
        assert fast.flags.c_contiguous and fast.flags.owndata
        expected = general(ap.superimpose_anomaly_map, m, image, alpha, gamma, normalize)
        assert np.array_equal(fast, expected)
        assert np.array_equal(fast, ap.superimpose_anomaly_map(m, strided, alpha, gamma, normalize))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel_size", [0, 1, 4, 16, 2**62])
@pytest.mark.parametrize(
    "threshold",
    # Rounds differently in float32 and float64; beyond float32 both ways; subnormal.
    [0.5, 0.1, 0.7000000000000001, 1e39, -1e39, 5e-324, -0.0, 3.4028235677973366e38],
)
def test_mask(
    rng: np.random.Generator, shape: tuple[int, int], kernel_size: int, threshold: float
) -> None:
    for m in maps(rng, shape):
        fast = ap.compute_mask(m, threshold, kernel_size)
        assert fast.flags.c_contiguous and fast.flags.owndata
        assert np.array_equal(fast, general(ap.compute_mask, m, threshold, kernel_size))
        if kernel_size == 0:  # numpy 2's own comparison, weak Python float
            with np.errstate(over="ignore"):
                assert np.array_equal(fast, (m > threshold).astype(np.uint8) * 255)


POSTPROCESS_OPTIONS: list[dict[str, object]] = [
    {},
    {"normalize_heatmap": False, "normalize_overlay": True, "alpha": 0.5, "gamma": 3},
    {"value_range": (0.25, 0.75), "kernel_size": 0, "min_area": 5},
    {"heatmap": False, "boxes": False, "kernel_size": 16, "gamma": -2.5},
]


def assert_same_frame(fast: ap.Frame, general: ap.Frame) -> None:
    for field in ("heatmap", "overlay", "mask", "boxes", "scores"):
        ours, theirs = getattr(fast, field), getattr(general, field)
        assert (ours is None) == (theirs is None), field
        if ours is not None:
            assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), field
            if field in ("heatmap", "overlay", "mask"):
                assert ours.flags.c_contiguous and ours.flags.owndata, field


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("options", POSTPROCESS_OPTIONS)
@pytest.mark.parametrize(
    "with_image, threshold", [(True, 0.5), (False, 0.7000000000000001), (True, None), (False, None)]
)
def test_postprocess(
    rng: np.random.Generator,
    shape: tuple[int, int],
    options: dict[str, object],
    with_image: bool,
    threshold: float | None,
) -> None:
    image = random_image(rng, shape) if with_image else None
    strided = None if image is None else np.asfortranarray(image)
    for m in maps(rng, shape):
        fast = ap.postprocess(m, image, threshold, **options)  # type: ignore[arg-type]
        assert_same_frame(fast, general(ap.postprocess, m, image, threshold, **options))
        assert_same_frame(fast, ap.postprocess(m, strided, threshold, **options))  # type: ignore[arg-type]
        asked = (options.get("heatmap", True), with_image, threshold is not None)
        assert (fast.heatmap is not None, fast.overlay is not None, fast.mask is not None) == asked


def test_float32_threshold_rounding_reaches_the_kernel() -> None:
    # 0.1 rounds up in float32: a value equal to float32(0.1) is not above it (it would
    # be above the float64 0.1).
    m = np.array([[np.float32(0.1), np.nextafter(np.float32(0.1), np.float32(1))]])
    assert ap.compute_mask(m, 0.1, 0).tolist() == [[0, 255]]
    frame = ap.postprocess(m, None, 0.1, kernel_size=0)
    assert frame.mask is not None and frame.mask.tolist() == [[0, 255]]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_maps_give_the_same_error(bad: float) -> None:
    m = np.zeros((5, 70), np.float32)
    m[3, 66] = bad  # in the tail after the last 64 pixels of a row
    image = np.zeros((5, 70, 3), np.uint8)
    for call in (
        lambda a: ap.anomaly_map_to_color_map(a),
        lambda a: ap.anomaly_map_to_color_map(a, False),
        lambda a: ap.superimpose_anomaly_map(a, image),
        lambda a: ap.postprocess(a, image, 0.5),
        lambda a: ap.postprocess(a, None, None),
        lambda a: ap.postprocess(a, image, None, heatmap=False),
    ):
        with pytest.raises(ValueError) as fast:
            call(m)
        with pytest.raises(ValueError) as slow:
            call(m[None])
        assert str(fast.value) == str(slow.value)
        assert "row 3, column 66" in str(fast.value)


def test_what_falls_back_to_the_general_path(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everything but the common case goes the general way (which handles it)."""

    def refuse(*args: object) -> None:
        raise AssertionError("fast path taken")

    for name in ("color_map_f32", "superimpose_f32", "mask_f32", "frame_f32"):
        monkeypatch.setattr(_native, name, refuse)
    m = rng.random((8, 9), dtype=np.float32)
    image = random_image(rng, (8, 9))
    others = (
        m.astype(np.float64),
        m.astype(np.float16),
        m.astype(">f4"),
        m.view(np.matrix),
        m[None],
        m[..., None],
        m.tolist(),
    )
    for other in others:
        assert ap.anomaly_map_to_color_map(other).shape == (8, 9, 3)
        assert ap.superimpose_anomaly_map(other, image).shape == (8, 9, 3)
        assert ap.compute_mask(other, 0.5).shape == (8, 9)
        assert ap.postprocess(other, image, 0.5).overlay.shape == (8, 9, 3)  # type: ignore[union-attr]
    ap.anomaly_map_to_color_map(m, colormap="turbo")
    ap.anomaly_map_to_color_map(m, colormap="JET")
    ap.anomaly_map_to_color_map(m, np.True_)
    ap.anomaly_map_to_color_map(m, out=np.empty((8, 9, 3), np.uint8))
    ap.superimpose_anomaly_map(m, image, alpha=1)
    ap.superimpose_anomaly_map(m, image, gamma=np.float32(1))
    ap.superimpose_anomaly_map(m, image, gamma=2**53 + 1)
    ap.superimpose_anomaly_map(m, image[:4], size="image")
    ap.superimpose_anomaly_map(m, image[None])
    ap.compute_mask(m, np.float32(0.5))
    ap.compute_mask(m, 1)
    ap.compute_mask(m, 0.5, 4.0)
    ap.compute_mask(m, 0.5, min_area=3)
    ap.compute_mask(m, 0.5, out=np.empty((8, 9), np.uint8))
    ap.postprocess(m, image, 0.5, colormap="turbo")
    ap.postprocess(m, image, 0.5, heatmap=np.True_)
    ap.postprocess(m, image, 0.5, alpha=1)
    ap.postprocess(m, image, 0.5, gamma=2**53 + 1)
    ap.postprocess(m, image[:4], 0.5)  # resized
    ap.postprocess(m, image[:4], 0.5, size="image")
    ap.postprocess(m, image[None], 0.5)
    ap.postprocess(m, None, np.float32(0.5))
    ap.postprocess(m, None, 1)
    ap.postprocess(m, None, 0.5, kernel_size=4.0)
    ap.postprocess(m, None, 0.5, min_area=np.int64(3))
    ap.postprocess(m, None, 0.5, out_mask=np.empty((8, 9), np.uint8))
    ap.postprocess(m, image, None, out_overlay=np.empty((8, 9, 3), np.uint8))
    ap.postprocess(m, None, None, out_heatmap=np.empty((8, 9, 3), np.uint8))
