"""draw_boxes against cv2.rectangle and anomalib's draw_boxes, byte for byte
(docs/behaviour.md#regions)."""

from __future__ import annotations

import itertools
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import anomaly_postprocess as ap
from conftest import misaligned

SETTINGS = settings(
    max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def opencv_boxes(
    image: np.ndarray, boxes: Any, color: tuple[int, int, int] = (255, 0, 0), thickness: int = 2
) -> np.ndarray:
    """cv2.rectangle for each box, on a copy."""
    drawn = image.copy()
    for x1, y1, x2, y2 in np.asarray(boxes).reshape(-1, 4).tolist():
        cv2.rectangle(drawn, (x1, y1), (x2, y2), color=color, thickness=thickness)
    return drawn


def anomalib_draw_boxes(
    image: np.ndarray, boxes: np.ndarray, color: tuple[int, int, int]
) -> np.ndarray:
    """anomalib's draw_boxes (post_process.py), which draws into the image it is given."""
    for box in boxes:
        x_1, y_1, x_2, y_2 = box.astype(int)
        image = cv2.rectangle(image, (x_1, y_1), (x_2, y_2), color=color, thickness=2)
    return image


def random_image(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.integers(0, 256, shape + (3,), dtype=np.uint8)


@pytest.mark.parametrize("thickness", [1, 2, 3, 4, 5, 6])
def test_every_box_near_a_small_image(thickness: int) -> None:
    """Every box whose corners lie within reach of a 3×4 image (beyond (thickness + 1)
    // 2 + 1 pixels outside, a line cannot reach into it): inside, touching or crossing
    the border, outside, degenerate (x1 == x2, y1 == y2) and inverted (x2 < x1)."""
    image = np.arange(3 * 4 * 3, dtype=np.uint8).reshape(3, 4, 3)
    reach = (thickness + 1) // 2 + 1
    xs, ys = range(-reach, 4 + reach), range(-reach, 3 + reach)
    for x1, x2 in itertools.product(xs, repeat=2):
        for y1, y2 in itertools.product(ys, repeat=2):
            box = [[x1, y1, x2, y2]]
            got = ap.draw_boxes(image, box, (7, 8, 9), thickness)
            expected = opencv_boxes(image, box, (7, 8, 9), thickness)
            assert np.array_equal(got, expected), (box, thickness)


@pytest.mark.parametrize("thickness", [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 33, 100, 1001, 32767])
def test_random_boxes(thickness: int, rng) -> None:
    for _ in range(60):
        shape = (int(rng.integers(1, 90)), int(rng.integers(1, 90)))
        image = random_image(rng, shape)
        boxes = rng.integers(-40, 130, (int(rng.integers(0, 6)), 4))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        got = ap.draw_boxes(image, boxes, color, thickness)
        assert np.array_equal(got, opencv_boxes(image, boxes, color, thickness))


@pytest.mark.parametrize("thickness", [1, 2, 5, 40])
def test_far_coordinates(thickness: int, rng) -> None:
    """Coordinates anywhere in int32 (cv2's Point) match cv2; beyond, a coordinate far
    outside the image draws as one just outside it."""
    image = random_image(rng, (30, 40))
    # OpenCV 4 fills a thick line's polygon row by row from its top, even above the
    # image: a y far below 0 would cost it seconds, so thick lines stay above -10**5.
    top = -(2**31) if thickness == 1 else -(10**5)
    for _ in range(200):
        boxes = rng.integers(-(2**31), 2**31, (2, 4))
        boxes[:, 1::2] = rng.integers(top, 2**31, (2, 2))
        extreme = rng.random((2, 4)) < 0.3
        boxes[extreme] = np.array([[-(2**31), top, 2**31 - 1, 2**31 - 1]] * 2)[extreme]
        boxes[rng.random((2, 4)) < 0.3] = rng.integers(-50, 50)
        got = ap.draw_boxes(image, boxes, (1, 2, 3), thickness)
        assert np.array_equal(got, opencv_boxes(image, boxes, (1, 2, 3), thickness))
    near = np.array([[-1000, 5, 1000, 20], [3, -1000, 30, 1000]])
    expected = opencv_boxes(image, near, (1, 2, 3), thickness)
    for far in (
        np.array([[-(2**63), 5, 2**63 - 1, 20], [3, -(2**63), 30, 2**63 - 1]]),
        np.array([[-1e300, 5, 1e300, 20], [3, -1e300, 30, 1e300]]),
    ):
        assert np.array_equal(ap.draw_boxes(image, far, (1, 2, 3), thickness), expected)
    huge = np.array([[2**64 - 1, 5, 3, 20]], np.uint64)
    assert np.array_equal(
        ap.draw_boxes(image, huge, (1, 2, 3), thickness),
        opencv_boxes(image, [[1000, 5, 3, 20]], (1, 2, 3), thickness),
    )


def test_pipeline_equals_anomalib(make_blobby_map, rng) -> None:
    """anomalib's visualisation: boxes from the mask, drawn in red with thickness 2
    (anomalib's boxes are float tensors: whole numbers)."""
    anomaly_map = make_blobby_map((120, 160), np.float32)
    image = random_image(rng, (120, 160))
    boxes = ap.mask_to_boxes(ap.compute_mask(anomaly_map, 0.6, 2))
    assert len(boxes) > 1
    expected = anomalib_draw_boxes(image.copy(), boxes.astype(np.float32), (255, 0, 0))
    assert np.array_equal(ap.draw_boxes(image, boxes), expected)
    assert np.array_equal(ap.draw_boxes(image, boxes.astype(np.float32), (255, 0, 0)), expected)


def test_color_is_in_the_image_channel_order(rng) -> None:
    image = random_image(rng, (20, 30))
    boxes = [[2, 3, 20, 15]]
    got = ap.draw_boxes(image, boxes, (10, 20, 30), 1)
    assert got[3, 2].tolist() == [10, 20, 30]
    assert np.array_equal(got, opencv_boxes(image, boxes, (10, 20, 30), 1))


def test_input_untouched_and_result_fresh(rng) -> None:
    image = random_image(rng, (25, 35))
    boxes = np.array([[1, 1, 30, 20]])
    before = image.copy(), boxes.copy()
    got = ap.draw_boxes(image, boxes)
    assert np.array_equal(image, before[0]) and np.array_equal(boxes, before[1])
    assert got.flags.c_contiguous and got.flags.owndata and not np.shares_memory(got, image)
    assert not np.array_equal(got, image)


def test_misaligned_boxes(rng) -> None:
    image = random_image(rng, (30, 40))
    boxes = rng.integers(-5, 45, (6, 4))
    for table in (misaligned(boxes), misaligned(boxes.astype(np.float64))):
        assert np.array_equal(ap.draw_boxes(image, table), opencv_boxes(image, boxes))


def test_no_boxes_is_a_copy(rng) -> None:
    image = random_image(rng, (6, 7))
    for boxes in ([], np.empty((0, 4), np.int64), np.empty((0, 4), np.float32)):
        got = ap.draw_boxes(image, boxes)
        assert np.array_equal(got, image) and not np.shares_memory(got, image)


def test_out(rng) -> None:
    image = random_image(rng, (25, 35))
    boxes = [[3, 4, 20, 22], [10, -3, 40, 8]]
    out = np.empty_like(image)
    assert ap.draw_boxes(image, boxes, thickness=3, out=out) is out
    assert np.array_equal(out, opencv_boxes(image, boxes, thickness=3))
    with pytest.raises(ValueError, match="out must not share memory"):
        ap.draw_boxes(image, boxes, out=image)
    with pytest.raises(ValueError, match="out must have shape"):
        ap.draw_boxes(image, boxes, out=np.empty((25, 36, 3), np.uint8))
    with pytest.raises(TypeError, match="out must have dtype uint8"):
        ap.draw_boxes(image, boxes, out=np.empty((25, 35, 3), np.float32))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        ap.draw_boxes(image, boxes, out=np.empty((35, 25, 3), np.uint8).transpose(1, 0, 2))


def test_strided_inputs_and_leading_unit_axes(rng) -> None:
    image = random_image(rng, (50, 40)).transpose(1, 0, 2)[::-1]
    boxes = np.array([[1, 2, 30, 40, 9, 9], [5, 5, 6, 6, 9, 9]])[:, :4][::-1]
    expected = opencv_boxes(np.ascontiguousarray(image), boxes, thickness=4)
    assert np.array_equal(ap.draw_boxes(image, boxes, thickness=4), expected)
    assert np.array_equal(ap.draw_boxes(image[None, None], boxes, thickness=4), expected)


@pytest.mark.parametrize("thickness", [2.0, np.int64(2), np.uint8(2), np.float32(2.0)])
def test_thickness_types(thickness, rng) -> None:
    image = random_image(rng, (20, 20))
    expected = opencv_boxes(image, [[2, 2, 15, 15]], thickness=2)
    assert np.array_equal(ap.draw_boxes(image, [[2, 2, 15, 15]], thickness=thickness), expected)


@st.composite
def drawings(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int], int]:
    h, w = draw(st.integers(1, 30)), draw(st.integers(1, 30))
    coordinate = st.integers(-40, 70) | st.sampled_from([-1, 0, h - 1, w - 1, h, w])
    boxes = draw(st.lists(st.lists(coordinate, min_size=4, max_size=4), max_size=4))
    color = tuple(draw(st.lists(st.integers(0, 255), min_size=3, max_size=3)))
    thickness = draw(st.integers(1, 12) | st.integers(13, 200))
    image = np.full((h, w, 3), draw(st.integers(0, 255)), np.uint8)
    return image, np.array(boxes, np.int64).reshape(-1, 4), color, thickness  # type: ignore[return-value]


@SETTINGS
@given(drawings())
def test_property_equals_cv2_rectangle(case) -> None:
    image, boxes, color, thickness = case
    got = ap.draw_boxes(image, boxes, color, thickness)
    assert np.array_equal(got, opencv_boxes(image, boxes, color, thickness))
