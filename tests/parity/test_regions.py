"""min_area=, mask_to_boxes and mark_boundaries against OpenCV / scikit-image
(docs/behaviour.md#regions). Refused arguments are rows of bad_inputs/test_bad_inputs.py."""

import cv2
import numpy as np
import pytest
from skimage.segmentation import find_boundaries

import anomaly_postprocess as ap
from conftest import random_image, random_mask
from reference import spec_compute_mask_2d as spec_compute_mask

SIZES = [(1, 1), (1, 57), (57, 1), (2, 2), (9, 130), (64, 64), (101, 67), (256, 300)]


def opencv_components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (mask > 0).astype(np.uint8), connectivity=8
    )
    return labels, stats[1:count]


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("density", [0.1, 0.4, 0.6, 0.9])
@pytest.mark.parametrize("min_area", [0, 1, 2, 5, 40])
def test_mask_to_boxes_equals_opencv_stats(shape, density, min_area, rng) -> None:
    mask = random_mask(rng, shape, density)
    _, stats = opencv_components(mask)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    x, y = stats[keep, cv2.CC_STAT_LEFT], stats[keep, cv2.CC_STAT_TOP]
    w, h = stats[keep, cv2.CC_STAT_WIDTH], stats[keep, cv2.CC_STAT_HEIGHT]
    expected = np.stack([x, y, x + w - 1, y + h - 1], axis=1).astype(np.int64).reshape(-1, 4)
    got = ap.mask_to_boxes(mask, min_area=min_area)
    assert got.dtype == np.int64 and got.shape == expected.shape
    assert np.array_equal(got, expected)


@pytest.mark.parametrize("threads", [1, 2])
def test_label_order_with_opencv_threads(threads: int, rng) -> None:
    previous = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        mask = random_mask(rng, (997, 613), 0.3)
        _, stats = opencv_components(mask)
        got = ap.mask_to_boxes(mask)
        assert np.array_equal(got[:, 0], stats[:, cv2.CC_STAT_LEFT])
        assert np.array_equal(got[:, 1], stats[:, cv2.CC_STAT_TOP])
    finally:
        cv2.setNumThreads(previous)


def test_no_components_gives_0_by_4(rng) -> None:
    assert ap.mask_to_boxes(np.zeros((5, 7), np.uint8)).shape == (0, 4)
    assert ap.mask_to_boxes(random_mask(rng, (5, 7), 0.5), min_area=10**6).shape == (0, 4)


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int32, np.float32, np.float64])
def test_mask_dtypes_use_greater_than_zero(dtype, rng) -> None:
    values = rng.choice([0, 2, -1], size=(33, 47), p=[0.75, 0.15, 0.1])
    if dtype in (np.bool_, np.uint8):
        values = np.abs(values)
    mask = values.astype(dtype)
    expected = ap.mask_to_boxes((mask > 0).astype(np.uint8) * 255)
    assert len(expected) > 1
    assert np.array_equal(ap.mask_to_boxes(mask), expected)


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("min_area", [0, 2, 7, 30])
@pytest.mark.parametrize("kernel_size", [0, 1, 3])
def test_compute_mask_min_area_equals_filtered_components(
    shape, min_area, kernel_size, rng
) -> None:
    m = rng.random(shape, dtype=np.float32)
    opened = spec_compute_mask(m, 0.55, kernel_size)
    labels, stats = opencv_components(opened)
    small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_area) + 1
    expected = opened.copy()
    expected[np.isin(labels, small)] = 0
    assert np.array_equal(ap.compute_mask(m, 0.55, kernel_size, min_area=min_area), expected)


def test_min_area_in_a_batch_is_per_map(rng) -> None:
    maps = rng.random((3, 40, 50), dtype=np.float32)
    batch = ap.compute_mask(maps, 0.6, 1, min_area=12)
    for b in range(3):
        assert np.array_equal(batch[b], ap.compute_mask(maps[b], 0.6, 1, min_area=12))


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("density", [0.05, 0.5, 0.95])
def test_mark_boundaries_equals_find_boundaries_thick(shape, density, rng) -> None:
    mask = random_mask(rng, shape, density)
    image = random_image(rng, shape)
    before = image.copy()
    expected = image.copy()
    expected[find_boundaries(mask > 0, mode="thick")] = (255, 0, 0)
    got = ap.mark_boundaries(image, mask)
    assert np.array_equal(got, expected)
    assert np.array_equal(image, before)
    expected[find_boundaries(mask > 0, mode="thick")] = (1, 2, 3)
    assert np.array_equal(ap.mark_boundaries(image, mask > 0, color=(1, 2, 3)), expected)


def test_mark_boundaries_strided_inputs(rng) -> None:
    mask = random_mask(rng, (80, 90), 0.5)
    image = random_image(rng, (90, 80)).transpose(1, 0, 2)
    expected = np.ascontiguousarray(image)
    expected[find_boundaries(mask > 0, mode="thick")] = (255, 0, 0)
    assert np.array_equal(ap.mark_boundaries(image, mask[::-1][::-1]), expected)
