"""superimpose_anomaly_map with an image of another size (issue 5)."""

import cv2
import numpy as np
import pytest

import anomaly_postprocess as ap
from reference import spec_superimpose_anomaly_map

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
    image = rng.integers(0, 256, (*image_shape, 3), dtype=np.uint8)
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
    before levels are taken. The issue allows one level on at most 0.1% of pixels
    against that OpenCV pipeline."""
    m = rng.random(map_shape, dtype=np.float32)
    image = rng.integers(0, 256, (*image_shape, 3), dtype=np.uint8)
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
    images = rng.integers(0, 256, (3, 41, 59, 3), dtype=np.uint8)
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
    image = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    a = ap.superimpose_anomaly_map(m, image, size="map")
    assert np.array_equal(a, ap.superimpose_anomaly_map(m, image, size="image"))


@pytest.mark.parametrize("bad", ["Map", "both", None, 3, ""])
def test_bad_size(bad) -> None:
    with pytest.raises(ValueError, match='size must be "map" or "image"'):
        ap.superimpose_anomaly_map(np.zeros((4, 5)), np.zeros((4, 5, 3), np.uint8), size=bad)
