"""mask_to_boxes with anomaly_map= (box scores) and batches of masks, against OpenCV's
labels with numpy maxima, and against anomalib's masks_to_boxes (docs/behaviour.md#regions)."""

from __future__ import annotations

import warnings
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import anomaly_postprocess as ap
from conftest import misaligned, random_mask

SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SIZES = [(1, 1), (1, 57), (57, 1), (2, 2), (9, 130), (64, 64), (101, 67)]


def score_dtype(dtype: Any) -> type[np.floating[Any]]:
    """float16/float32 maps score in float32, every other accepted dtype in float64."""
    kind, size = np.dtype(dtype).kind, np.dtype(dtype).itemsize
    return np.float32 if kind == "f" and size <= 4 else np.float64


def reference(
    mask: np.ndarray, anomaly_map: np.ndarray, min_area: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's components in its label order; each score the NaN-ignoring maximum of
    the map over the component's pixels (NaN when they are all NaN)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (mask > 0).astype(np.uint8), connectivity=8
    )
    boxes, scores = [], []
    for label in range(1, count):
        if stats[label, cv2.CC_STAT_AREA] < min_area:
            continue
        ys, xs = np.nonzero(labels == label)
        boxes.append([xs.min(), ys.min(), xs.max(), ys.max()])
        values = anomaly_map[ys, xs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice
            scores.append(np.nanmax(values) if values.dtype.kind == "f" else values.max())
    dtype = score_dtype(anomaly_map.dtype)
    return np.array(boxes, np.int64).reshape(-1, 4), np.array(scores).astype(dtype)


def anomalib_masks_to_boxes(
    masks: np.ndarray, anomaly_maps: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """anomalib's masks_to_boxes (CPU path) in numpy: cv2.connectedComponents (8-connected)
    on each mask cast to uint8, labels in ascending order, boxes from the pixel
    coordinates' extremes, scores from the maximum (NaN-propagating, as torch.max)."""
    height, width = masks.shape[-2:]
    masks = masks.reshape((-1, height, width)).astype(np.float32)
    anomaly_maps = anomaly_maps.reshape((-1, height, width))
    batch_boxes, batch_scores = [], []
    for mask, anomaly_map in zip(masks, anomaly_maps, strict=True):
        _, comps = cv2.connectedComponents(mask.astype(np.uint8))
        boxes, scores = [], []
        for label in np.unique(comps)[1:]:
            y_loc, x_loc = np.where(comps == label)
            boxes.append([x_loc.min(), y_loc.min(), x_loc.max(), y_loc.max()])
            scores.append(anomaly_map[y_loc, x_loc].max())
        batch_boxes.append(np.array(boxes, np.float32).reshape(-1, 4))
        batch_scores.append(np.array(scores, anomaly_map.dtype))
    return batch_boxes, batch_scores


def assert_same(
    got: tuple[np.ndarray, np.ndarray], expected: tuple[np.ndarray, np.ndarray]
) -> None:
    boxes, scores = got
    assert boxes.dtype == np.int64 and boxes.shape == expected[0].shape
    assert np.array_equal(boxes, expected[0])
    assert scores.dtype == expected[1].dtype and scores.shape == (len(boxes),)
    assert np.array_equal(scores, expected[1], equal_nan=True)


@pytest.mark.parametrize("shape", SIZES)
@pytest.mark.parametrize("density", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("min_area", [0, 3, 40])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scores_equal_numpy_maxima_per_opencv_label(shape, density, min_area, dtype, rng) -> None:
    mask = random_mask(rng, shape, density)
    anomaly_map = rng.normal(size=shape).astype(dtype)
    anomaly_map[rng.random(shape) < 0.2] = np.nan
    anomaly_map[rng.random(shape) < 0.02] = -np.inf
    anomaly_map[rng.random(shape) < 0.02] = np.inf
    got = ap.mask_to_boxes(mask, min_area, anomaly_map=anomaly_map)
    assert_same(got, reference(mask, anomaly_map, min_area))
    # The boxes are exactly those without a map.
    assert np.array_equal(got[0], ap.mask_to_boxes(mask, min_area))


@pytest.mark.parametrize(
    "dtype", ["<f2", "<f4", ">f4", "<f8", ">f8", "?", "u1", "i2", ">i4", "u4", "i8"]
)
def test_score_dtypes(dtype, rng) -> None:
    shape = (40, 50)
    mask = random_mask(rng, shape, 0.4)
    if np.dtype(dtype).kind == "f":
        anomaly_map = rng.normal(size=shape).astype(dtype)
    elif np.dtype(dtype).kind == "b":
        anomaly_map = rng.random(shape) < 0.3
    else:
        info = np.iinfo(dtype)
        anomaly_map = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
    boxes, scores = ap.mask_to_boxes(mask, anomaly_map=anomaly_map)
    assert scores.dtype == score_dtype(dtype)
    assert len(boxes) > 3
    assert_same((boxes, scores), reference(mask, anomaly_map))


def test_int64_scores_are_the_float64_rounding_of_the_exact_maximum() -> None:
    mask = np.ones((1, 3), np.uint8)
    anomaly_map = np.array([[2**62 + 1, -(2**63), 2**53 + 1]], np.int64)
    _, scores = ap.mask_to_boxes(mask, anomaly_map=anomaly_map)
    assert scores.dtype == np.float64 and scores[0] == float(2**62 + 1)


def test_equals_anomalib_masks_to_boxes_without_nan(make_blobby_map) -> None:
    maps = make_blobby_map((3, 70, 90), np.float32)
    masks = ap.compute_mask(maps, 0.6, 2)
    boxes, scores = anomalib_masks_to_boxes(masks, maps)
    got = ap.mask_to_boxes(masks, anomaly_map=maps)
    assert isinstance(got, list) and len(got) == 3
    for (our_boxes, our_scores), their_boxes, their_scores in zip(got, boxes, scores, strict=True):
        assert len(our_boxes) > 0
        assert np.array_equal(our_boxes, their_boxes)
        assert our_scores.dtype == their_scores.dtype == np.float32
        assert np.array_equal(our_scores, their_scores)


def test_nan_pixels_are_ignored_where_anomalib_gives_nan() -> None:
    mask = np.zeros((4, 8), np.uint8)
    mask[1:3, 1:3] = 255
    mask[1:3, 5:7] = 255
    anomaly_map = np.zeros((4, 8), np.float64)
    anomaly_map[1, 1], anomaly_map[2, 2] = np.nan, 0.75
    anomaly_map[1:3, 5:7] = np.nan
    _, theirs = anomalib_masks_to_boxes(mask, anomaly_map)
    assert np.isnan(theirs[0]).all()
    boxes, scores = ap.mask_to_boxes(mask, anomaly_map=anomaly_map)
    assert boxes.tolist() == [[1, 1, 2, 2], [5, 1, 6, 2]]
    assert scores[0] == 0.75 and np.isnan(scores[1])


@pytest.mark.parametrize("with_map", [False, True])
@pytest.mark.parametrize("threads", [1, 2])
def test_batch_is_the_list_of_single_results(with_map, threads, rng) -> None:
    masks = random_mask(rng, (5, 33, 47), 0.45)
    maps = rng.random((5, 33, 47))
    before = ap.get_num_threads()
    ap.set_num_threads(threads)
    try:
        got = ap.mask_to_boxes(masks, 2, anomaly_map=maps if with_map else None)
    finally:
        ap.set_num_threads(before)
    assert isinstance(got, list) and len(got) == 5
    for b in range(5):
        if with_map:
            assert_same(got[b], reference(masks[b], maps[b], 2))
        else:
            assert np.array_equal(got[b], ap.mask_to_boxes(masks[b], 2))


@pytest.mark.parametrize(
    ("mask_shape", "map_shape", "batch"),
    [
        ((30, 40), (30, 40), None),
        ((1, 30, 40), (30, 40), None),
        ((30, 40), (1, 1, 30, 40), None),
        ((30, 40, 1), (30, 40), None),
        ((30, 40), (30, 40, 1), None),
        ((3, 30, 40), (3, 30, 40), 3),
        ((3, 30, 40, 1), (3, 30, 40), 3),
        ((1, 3, 30, 40), (3, 30, 40, 1), 3),
    ],
)
def test_shapes(mask_shape, map_shape, batch, rng) -> None:
    masks = random_mask(rng, mask_shape, 0.4)
    maps = rng.random(map_shape).astype(np.float32)
    got = ap.mask_to_boxes(masks, anomaly_map=maps)
    flat_masks, flat_maps = masks.reshape(-1, 30, 40), maps.reshape(-1, 30, 40)
    if batch is None:
        assert isinstance(got, tuple)
        assert_same(got, reference(flat_masks[0], flat_maps[0]))
    else:
        assert isinstance(got, list) and len(got) == batch
        for b in range(batch):
            assert_same(got[b], reference(flat_masks[b], flat_maps[b]))


def test_a_batch_of_one_is_one_mask_as_before(rng) -> None:
    mask = random_mask(rng, (1, 20, 30), 0.5)
    assert np.array_equal(ap.mask_to_boxes(mask), ap.mask_to_boxes(mask[0]))
    assert isinstance(ap.mask_to_boxes(mask), np.ndarray)


def test_strided_views_and_inputs_untouched(rng) -> None:
    masks = random_mask(rng, (4, 60, 80), 0.5)
    maps = rng.normal(size=(4, 80, 60)).astype(np.float32)
    mask_view = masks[::2, ::-1, ::1]
    map_view = maps[::2].transpose(0, 2, 1)[:, ::-1, :]
    copies = mask_view.copy(), map_view.copy()
    got = ap.mask_to_boxes(mask_view, anomaly_map=map_view)
    assert np.array_equal(mask_view, copies[0]) and np.array_equal(map_view, copies[1])
    for b in range(2):
        assert_same(got[b], reference(copies[0][b], copies[1][b]))


def test_map_sharing_memory_with_the_mask(rng) -> None:
    # A float map viewed as bytes gives the mask: reading both at once is fine.
    anomaly_map = rng.normal(size=(16, 8)).astype(np.float32)
    mask = anomaly_map.view(np.uint8)[:, ::4]
    before = anomaly_map.copy()
    assert_same(ap.mask_to_boxes(mask, anomaly_map=anomaly_map), reference(mask, anomaly_map))
    assert np.array_equal(anomaly_map, before, equal_nan=True)


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<f8", "<f2", "<i4"])
def test_misaligned_maps(dtype: str, rng) -> None:
    mask = random_mask(rng, (17, 23), 0.5)
    anomaly_map = rng.normal(size=(17, 23)).astype(dtype)
    view = misaligned(anomaly_map)
    assert_same(ap.mask_to_boxes(mask, anomaly_map=view), reference(mask, anomaly_map))
    assert np.array_equal(view, anomaly_map)


def test_lists_and_bool_masks(rng) -> None:
    mask = rng.random((9, 11)) < 0.5
    anomaly_map = rng.random((9, 11))
    expected = reference(mask, anomaly_map)
    assert_same(ap.mask_to_boxes(mask.tolist(), anomaly_map=anomaly_map.tolist()), expected)
    assert_same(ap.mask_to_boxes(mask, anomaly_map=anomaly_map), expected)


def test_no_components_gives_empty_scores(rng) -> None:
    boxes, scores = ap.mask_to_boxes(np.zeros((5, 7)), anomaly_map=np.ones((5, 7), np.float32))
    assert boxes.shape == (0, 4) and scores.shape == (0,) and scores.dtype == np.float32
    boxes, scores = ap.mask_to_boxes(
        random_mask(rng, (5, 7), 0.5), 10**6, anomaly_map=np.ones((5, 7))
    )
    assert boxes.shape == (0, 4) and scores.shape == (0,) and scores.dtype == np.float64


@st.composite
def masks_and_maps(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    h, w = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    mask = draw(hnp.arrays(np.bool_, (h, w)))
    dtype = np.dtype(draw(st.sampled_from(["<f2", "<f4", ">f4", "<f8", "<i4", "|u1", "?"])))
    if dtype.kind == "f":
        elements = st.floats(width=dtype.itemsize * 8, allow_subnormal=True)
    elif dtype.kind == "b":
        elements = st.booleans()
    else:
        info = np.iinfo(dtype)
        elements = st.integers(int(info.min), int(info.max))
    anomaly_map = draw(hnp.arrays(dtype, (h, w), elements=elements))
    if draw(st.booleans()):
        mask, anomaly_map = mask[::-1, ::-1], anomaly_map[::-1, ::-1]
    return mask, anomaly_map


@SETTINGS
@given(masks_and_maps(), st.integers(0, 6))
def test_property_scores_equal_reference(case, min_area) -> None:
    mask, anomaly_map = case
    assert_same(
        ap.mask_to_boxes(mask, min_area, anomaly_map=anomaly_map),
        reference(mask, anomaly_map, min_area),
    )
