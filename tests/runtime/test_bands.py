"""One map split into bands of rows across threads (docs/behaviour.md#threads): every
function gives the bytes of one thread on 2, 3 and 7 threads, for odd sizes below and
above the size from which a map is split (1024x1024 pixels), for one-row and one-column
maps, and a batch of fewer maps than threads; an error on a non-finite value names the
same first position whatever band met it.

Correctness only (nothing here measures a duration): the 1-thread result is computed
first and every other thread count must give exactly its bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from conftest import assert_same_bytes, random_image, smooth_maps

THREADS = (2, 3, 7)

# (H, W): below the split (257x263, 1031x517), above it and odd (1031x1031: 2 bands),
# a single row and a single column longer than the split size, and one camera-sized
# map (2 bands on 2 threads, 7 on 7).
SHAPES = [
    (257, 263),
    (1031, 517),
    (1031, 1031),
    (1, 1_100_001),
    (1_100_001, 1),
    (2048, 2448),
]


@pytest.fixture(autouse=True)
def _restore(restore_threads: None) -> Iterator[None]:
    yield


def _on_threads(call: Callable[[], Any]) -> tuple[Any, list[Any]]:
    """``call()`` on 1 thread, then on each of THREADS."""
    ap.set_num_threads(1)
    single = call()
    others = []
    for n in THREADS:
        ap.set_num_threads(n)
        others.append(call())
    return single, others


def _same_bytes_on_every_thread_count(call: Callable[[], np.ndarray]) -> None:
    single, others = _on_threads(call)
    for result in others:
        assert_same_bytes(result, single)


def _map(shape: tuple[int, int], dtype: Any = np.float32) -> np.ndarray:
    # Values beyond [0, 1] as well, so that normalising and the raw levels' saturation
    # both matter.
    m = smooth_maps(shape, seed=shape[0] * 7 + shape[1], dtype=np.float64)
    return (m * 1.4 - 0.2).astype(dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_color_map(shape: tuple[int, int]) -> None:
    m = _map(shape)
    for normalize in (True, False):
        _same_bytes_on_every_thread_count(
            lambda normalize=normalize: ap.anomaly_map_to_color_map(m, normalize=normalize)
        )


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_color_map_other_dtypes_and_a_table(dtype: Any) -> None:
    m = _map((1031, 1031), dtype)
    _same_bytes_on_every_thread_count(lambda: ap.anomaly_map_to_color_map(m))
    _same_bytes_on_every_thread_count(
        lambda: ap.anomaly_map_to_color_map(m, normalize=False, colormap="viridis")
    )


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_superimpose(shape: tuple[int, int]) -> None:
    m = _map(shape)
    image = random_image(3, shape)
    for normalize in (True, False):
        for alpha, gamma in ((0.4, 0.0), (0.37, 3.3)):  # fixed-point and float blends
            _same_bytes_on_every_thread_count(
                lambda alpha=alpha, gamma=gamma, normalize=normalize: ap.superimpose_anomaly_map(
                    m, image, alpha=alpha, gamma=gamma, normalize=normalize
                )
            )


def test_superimpose_at_image_size() -> None:
    m = _map((517, 777))
    image = random_image(4, (1031, 1553))
    _same_bytes_on_every_thread_count(
        lambda: ap.superimpose_anomaly_map(m, image, normalize=True, size="image")
    )


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("kernel_size", [0, 1, 4, 16])
def test_mask(shape: tuple[int, int], kernel_size: int) -> None:
    m = _map(shape)
    _same_bytes_on_every_thread_count(lambda: ap.compute_mask(m, 0.5, kernel_size))
    _same_bytes_on_every_thread_count(lambda: ap.compute_mask(m, 0.5, kernel_size, min_area=40))


def _blobs(shape: tuple[int, int], scale: int, seed: int) -> np.ndarray:
    """A smooth float32 map of blobs about ``scale`` pixels across (random values on a
    grid ``scale`` apart, interpolated bilinearly): thresholded at 0.5, long runs and
    large regions, which the opening by larger disks changes without emptying."""
    h, w = shape
    coarse = np.random.default_rng(seed).random((h // scale + 2, w // scale + 2))
    fy, fx = np.arange(h) / scale, np.arange(w) / scale
    iy, ix = fy.astype(int), fx.astype(int)
    ty, tx = (fy - iy)[:, None], fx - ix
    rows = coarse[iy] * (1 - ty) + coarse[iy + 1] * ty
    return (rows[:, ix] * (1 - tx) + rows[:, ix + 1] * tx).astype(np.float32)


# compute_mask with an opening splits from 1024 x 1024 pixels into bands of at least
# 16 * kernel_size rows, each from a block of its rows and 2 * kernel_size rows around
# them (docs/behaviour.md#threads); a map too short for that (k = 130 on 2048 rows)
# splits its erosion and dilation instead, into bands of at least 4 * kernel_size rows
# that read copies of the rows around them. Odd sizes just above the split, one column
# (bands of one-pixel rows), 1031 x 1031 just above it and 1021 x 1021 just below it
# (all on one thread).
@pytest.mark.parametrize(
    "shape",
    [(1021, 1021), (1031, 1031), (1031, 2063), (2048, 2448), (2_200_003, 1)],
    ids=lambda s: f"{s[0]}x{s[1]}",
)
@pytest.mark.parametrize("kernel_size", [2, 7, 24, 64, 130])
def test_opening_of_blobs(shape: tuple[int, int], kernel_size: int) -> None:
    # Blobs a few disks across, so that the opening neither keeps nor removes them all.
    m = _blobs(shape, max(40, 3 * kernel_size), seed=shape[0] + kernel_size)
    if shape[1] == 1:
        m = _map(shape)
    _same_bytes_on_every_thread_count(lambda: ap.compute_mask(m, 0.5, kernel_size))


# postprocess opens its swept mask in compute_mask's bands (blocks of the swept rows),
# or whole where compute_mask would not split (k = 130: bands would be too short).
@pytest.mark.parametrize("kernel_size", [2, 24, 130])
@pytest.mark.parametrize("min_area", [0, 50])
def test_postprocess_mask_and_boxes(kernel_size: int, min_area: int) -> None:
    m = _blobs((1031, 2063), max(40, 3 * kernel_size), seed=kernel_size + min_area)

    def frame() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        f = ap.postprocess(m, None, 0.5, heatmap=False, kernel_size=kernel_size, min_area=min_area)
        assert f.mask is not None and f.boxes is not None and f.scores is not None
        return f.mask, f.boxes, f.scores

    single, others = _on_threads(frame)
    assert_same_bytes(single[0], ap.compute_mask(m, 0.5, kernel_size, min_area=min_area))
    for mask, boxes, scores in others:
        assert_same_bytes(mask, single[0])
        assert np.array_equal(boxes, single[1])
        assert scores.dtype == single[2].dtype and scores.tobytes() == single[2].tobytes()


@pytest.mark.parametrize("shape", [(1031, 2063), (2048, 2448)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("min_area", [2, 50, 900])
def test_opening_then_min_area(shape: tuple[int, int], min_area: int) -> None:
    m = _blobs(shape, 25, seed=min_area)
    for kernel_size in (0, 3, 12):
        _same_bytes_on_every_thread_count(
            lambda k=kernel_size: ap.compute_mask(m, 0.55, k, min_area=min_area)
        )


@pytest.mark.parametrize("shape", [(1031, 1031), (2048, 2448)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_boxes_and_boundaries(shape: tuple[int, int]) -> None:
    m = _map(shape)
    image = random_image(5, shape)

    def boxes() -> np.ndarray:
        return ap.mask_to_boxes(ap.compute_mask(m, 0.5, 4), min_area=10)

    single, others = _on_threads(boxes)
    for result in others:
        assert result.dtype == single.dtype and np.array_equal(result, single)
    _same_bytes_on_every_thread_count(lambda: ap.mark_boundaries(image, ap.compute_mask(m, 0.5, 1)))

    # Scores: the bands' maxima, and, where every score is ±0 (the signs mixed), the
    # one-thread relabelling; to the byte on every thread count.
    mask = ap.compute_mask(m, 0.5, 4)
    signs = np.where(random_image(7, shape)[..., 0] < 128, np.float32(0.0), np.float32(-0.0))
    for scores_map in (m, signs):
        single, others = _on_threads(lambda s=scores_map: ap.mask_to_boxes(mask, anomaly_map=s))
        for boxes_, scores in others:
            assert np.array_equal(boxes_, single[0])
            assert scores.dtype == single[1].dtype and scores.tobytes() == single[1].tobytes()


def test_batch_of_fewer_maps_than_threads() -> None:
    maps = np.stack([_map((1031, 1031)), _map((1031, 1031))[::-1].copy()])
    image = random_image(6, (1031, 1031))
    ap.set_num_threads(1)
    singles = [
        (
            ap.anomaly_map_to_color_map(m),
            ap.superimpose_anomaly_map(m, image),
            ap.compute_mask(m, 0.5, 4),
        )
        for m in maps
    ]
    for n in THREADS:
        ap.set_num_threads(n)
        colour = ap.anomaly_map_to_color_map(maps)
        overlay = ap.superimpose_anomaly_map(maps, image)
        mask = ap.compute_mask(maps, 0.5, 4)
        for b, (c, o, k) in enumerate(singles):
            assert_same_bytes(colour[b], c)
            assert_same_bytes(overlay[b], o)
            assert_same_bytes(mask[b], k)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_error_is_the_same_on_every_thread_count(bad: float) -> None:
    m = _map((1031, 1031))
    # Several bad values in later bands, the first in row-major order in the second
    # half: whichever band finds one, the message names row 700, column 3 and counts all
    # four.
    for y, x in ((1000, 2), (700, 400), (700, 3), (900, 0)):
        m[y, x] = bad
    image = random_image(7, m.shape)
    calls: list[Callable[[], Any]] = [
        lambda: ap.anomaly_map_to_color_map(m, normalize=True),
        lambda: ap.anomaly_map_to_color_map(m, normalize=False),
        lambda: ap.superimpose_anomaly_map(m, image, normalize=True),
        lambda: ap.superimpose_anomaly_map(m, image, normalize=False),
    ]
    for call in calls:

        def message(call: Callable[[], Any] = call) -> str:
            with pytest.raises(ValueError) as info:
                call()
            return str(info.value)

        single, others = _on_threads(message)
        assert "4 NaN/±inf values; the first is at row 700, column 3" in single, single
        for text in others:
            assert text == single
