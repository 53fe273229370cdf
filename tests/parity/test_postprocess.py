"""``postprocess`` (docs/behaviour.md#api): every product of a frame in one call, each
byte-identical to the separate call with the same arguments —

- ``heatmap`` == ``anomaly_map_to_color_map(m, normalize_heatmap, value_range=…,
  colormap=…)``,
- ``overlay`` == ``superimpose_anomaly_map(m, image, alpha, gamma, normalize_overlay,
  value_range=…, colormap=…, size=…)``,
- ``mask`` == ``compute_mask(m, threshold, kernel_size, min_area=…)``,
- ``(boxes, scores)`` == ``mask_to_boxes(mask, anomaly_map=m)`` (== with ``min_area``
  too: the mask has no smaller region),

and raising what the separate calls raise. The separate calls' own parity with OpenCV,
scikit-image and anomalib is tested in the other files here; rejected arguments are
rows of bad_inputs/test_bad_inputs.py.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
import re
import sys
import threading
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from anomaly_postprocess import _native
from conftest import (
    EXTREME_MAPS,
    ODD_H,
    ODD_W,
    TensorLike,
    Unmodified,
    another_thread_ran_during,
    base_values,
    blobby_map,
    random_image,
    smooth_maps,
)

# =========================================================================== helpers


def scores_map(anomaly_map: Any, mask: np.ndarray) -> np.ndarray:
    """The map in the mask's shape (the shape rules give both the same pixels), for
    ``mask_to_boxes(mask, anomaly_map=...)``."""
    return np.asarray(anomaly_map).reshape(mask.shape)


def separate(
    anomaly_map: Any,
    image: Any = None,
    threshold: Any = None,
    *,
    heatmap: bool = True,
    boxes: bool = True,
    normalize_heatmap: bool = True,
    normalize_overlay: bool = False,
    value_range: Any = None,
    alpha: Any = 0.4,
    gamma: Any = 0,
    colormap: Any = "jet",
    size: str = "map",
    kernel_size: Any = 4,
    min_area: Any = 0,
) -> dict[str, Any]:
    """What the separate calls return for ``postprocess``'s arguments."""
    expected: dict[str, Any] = dict.fromkeys(("heatmap", "overlay", "mask", "boxes", "scores"))
    if heatmap:
        expected["heatmap"] = ap.anomaly_map_to_color_map(
            anomaly_map, normalize_heatmap, value_range=value_range, colormap=colormap
        )
    if image is not None:
        expected["overlay"] = ap.superimpose_anomaly_map(
            anomaly_map,
            image,
            alpha,
            gamma,
            normalize_overlay,
            value_range=value_range,
            colormap=colormap,
            size=size,
        )
    if threshold is not None:
        mask = ap.compute_mask(anomaly_map, threshold, kernel_size, min_area=min_area)
        expected["mask"] = mask
        if boxes:
            batch = mask.shape[:-2]
            flat = mask.reshape((-1,) + mask.shape[-2:]) if batch else mask
            found = ap.mask_to_boxes(flat, anomaly_map=scores_map(anomaly_map, flat))
            # With min_area too: the mask holds no region under min_area pixels.
            again = ap.mask_to_boxes(flat, min_area, anomaly_map=scores_map(anomaly_map, flat))
            assert_same_results(again, found)
            found = found if batch else [found]
            box_list = [b for b, _ in found]
            score_list = [s for _, s in found]
            expected["boxes"] = nest(box_list, batch)
            expected["scores"] = nest(score_list, batch)
    return expected


def nest(flat: list[Any], batch: tuple[int, ...]) -> Any:
    """Per-map results as nested lists along the batch axes (one map: its result)."""
    if not batch:
        return flat[0]
    if len(batch) == 1:
        return flat
    step = math.prod(batch[1:])
    return [nest(flat[i * step : (i + 1) * step], batch[1:]) for i in range(batch[0])]


def assert_same_results(actual: Any, expected: Any) -> None:
    """Arrays with the same dtype, shape and bytes; lists and tuples of such, alike."""
    if expected is None:
        assert actual is None
    elif isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_same_results(a, e)
    else:
        assert type(actual) is np.ndarray, type(actual)
        assert actual.dtype == expected.dtype and actual.shape == expected.shape
        assert actual.tobytes() == expected.tobytes()
        assert actual.flags.c_contiguous and actual.flags.writeable


def check(anomaly_map: Any, image: Any = None, threshold: Any = None, **options: Any) -> ap.Frame:
    """``postprocess`` gives the separate calls' products and leaves the inputs alone."""
    with Unmodified(anomaly_map, image):
        frame = ap.postprocess(anomaly_map, image, threshold, **options)
    expected = separate(anomaly_map, image, threshold, **options)
    return assert_frame(frame, expected)


def assert_frame(frame: Any, expected: dict[str, Any]) -> ap.Frame:
    assert isinstance(frame, ap.Frame)
    for field, value in expected.items():
        assert_same_results(getattr(frame, field), value)
    return frame


def same_error(call: Any, separate_call: Any) -> str:
    """``call`` raises exactly the exception type and message of ``separate_call``."""
    with pytest.raises(Exception) as expected:
        separate_call()
    with pytest.raises(type(expected.value), match=f"^{re.escape(str(expected.value))}$"):
        call()
    return str(expected.value)


SHAPES = [(ODD_H, ODD_W), (1, 1), (1, 70), (70, 1), (3, ODD_H, ODD_W), (2, 2, 17, 19)]
DTYPES = ["<f4", "<f8", "<f2", ">f4", ">f8", "|u1", "<i2", "<i8", "|b1"]


def maps_of(dtype: str, shape: tuple[int, ...], seed: int) -> list[np.ndarray]:
    """Smooth maps (blobs after the threshold), uniform noise (specks), and maps on the
    edges: constant, level boundaries, the threshold itself."""
    kind = np.dtype(dtype).kind
    with np.errstate(invalid="ignore"):  # one pixel: its own range is empty
        smooth = np.nan_to_num(smooth_maps(shape, seed).astype(np.float64), nan=0.25)
    if kind == "b":
        rng = np.random.default_rng(seed)
        return [rng.random(shape) > 0.5, np.zeros(shape, bool), np.ones(shape, bool)]
    if kind in "iu":
        info = np.iinfo(dtype)
        rng = np.random.default_rng(seed)
        low, high = max(int(info.min), -1000), min(int(info.max), 1000)
        spread = np.rint(low + smooth * (high - low))
        return [
            spread.astype(dtype),
            rng.integers(low, high, shape, endpoint=True).astype(dtype),
            np.full(shape, low, dtype),
        ]
    steps = (np.arange(math.prod(shape)) % 512 / 511).reshape(shape)
    return [
        smooth.astype(dtype),
        np.random.default_rng(seed).random(shape).astype(dtype),
        np.full(shape, 0.5, dtype),
        steps.astype(dtype),
    ]


def threshold_for(dtype: str) -> list[Any]:
    kind = np.dtype(dtype).kind
    if kind in "iu":  # an integer threshold compares exactly; a float one as float64
        return [300 if kind == "i" else 100, 0.5, np.float32(120.25)]
    return [0.5, np.float64(0.3)] if kind == "f" else [0.5]


# ====================================================================== byte parity


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_product_equals_the_separate_call(dtype: str, shape: tuple[int, ...]) -> None:
    image = random_image(7, shape[-2:])
    for i, m in enumerate(maps_of(dtype, shape, seed=len(shape) + 3)):
        for threshold in threshold_for(dtype):
            kernel_size = 2 if i % 2 else 4
            check(m, image, threshold, kernel_size=kernel_size)
        # The other normalisations of both colour products.
        check(m, image, threshold_for(dtype)[0], normalize_heatmap=False, normalize_overlay=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_options(dtype: Any) -> None:
    rng = np.random.default_rng(1)
    m = blobby_map(rng, (ODD_H, ODD_W), dtype)
    image = random_image(rng, (ODD_H, ODD_W))
    table = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    for options in [
        {},
        {"value_range": (0.2, 0.8)},
        {"value_range": (float(m.min()), float(m.max())), "normalize_heatmap": False},
        {"alpha": 0.5, "gamma": 3},  # no integer form of the blend
        {"alpha": 0.7, "gamma": -20.5, "normalize_overlay": True},
        {"alpha": 1.9, "gamma": 7},  # extrapolates, saturates
        {"colormap": "turbo"},
        {"colormap": 16, "value_range": [0, 2]},
        {"colormap": table},
        {"kernel_size": 0},
        {"kernel_size": 1},
        {"kernel_size": 40},  # a disk larger than the map
        {"kernel_size": 3.0, "min_area": 12},
        {"min_area": 10**6},  # every region removed
        {"boxes": False},
        {"heatmap": False},
        {"heatmap": False, "boxes": False},
    ]:
        for threshold in (0.45, np.float64(0.6)):
            check(m, image, threshold, **options)
            check(m, None, threshold, **options)
        check(m, image, None, **options)
        check(m, None, None, **options)


def test_products_asked_for() -> None:
    """Each product iff asked for: the heatmap iff ``heatmap=True``, the overlay iff
    ``image``, the mask iff ``threshold``, the boxes iff ``threshold`` and
    ``boxes=True``; the others are None."""
    m = smooth_maps((ODD_H, ODD_W), seed=2)
    image = random_image(3, (ODD_H, ODD_W))
    for heatmap in (True, False):
        for picture in (image, None):
            for threshold in (0.5, None):
                for boxes in (True, False):
                    frame = check(m, picture, threshold, heatmap=heatmap, boxes=boxes)
                    assert (frame.heatmap is not None) == heatmap
                    assert (frame.overlay is not None) == (picture is not None)
                    assert (frame.mask is not None) == (threshold is not None)
                    has_boxes = threshold is not None and boxes
                    assert (frame.boxes is not None) == has_boxes
                    assert (frame.scores is not None) == has_boxes


def test_batches_with_one_image_per_map() -> None:
    maps = smooth_maps((2, 3, 21, 26), seed=4)
    images = random_image(5, (2, 3, 21, 26))
    frame = check(maps, images, 0.5, kernel_size=1)
    assert frame.heatmap is not None and frame.heatmap.shape == (2, 3, 21, 26, 3)
    assert isinstance(frame.boxes, list) and len(frame.boxes) == 2
    assert all(isinstance(row, list) and len(row) == 3 for row in frame.boxes)
    # A leading axis of one is squeezed: one map, not a batch of one.
    single = check(maps[:1, :1], images[0, 0], 0.5, kernel_size=1)
    assert isinstance(single.boxes, np.ndarray)
    check(maps[0], images[0], 0.5, kernel_size=1)
    check(maps[0, :, None], images[0, :, None], 0.5)  # batch axes (3, 1)


@pytest.mark.parametrize("size", ["map", "image"])
@pytest.mark.parametrize("image_shape", [(ODD_H * 2 + 1, ODD_W + 9), (ODD_H - 8, ODD_W // 2)])
def test_an_image_of_another_size(size: str, image_shape: tuple[int, int]) -> None:
    m = smooth_maps((ODD_H, ODD_W), seed=6)
    image = random_image(8, image_shape)
    for options in ({}, {"normalize_overlay": True}, {"value_range": (0.1, 0.7)}):
        frame = check(m, image, 0.5, size=size, **options)
        expected_shape = image_shape if size == "image" else (ODD_H, ODD_W)
        assert frame.overlay is not None and frame.overlay.shape[:2] == expected_shape
        assert frame.mask is not None and frame.mask.shape == (ODD_H, ODD_W)
    batch = smooth_maps((3, ODD_H, ODD_W), seed=9)
    check(batch, image, 0.5, size=size)
    check(batch, random_image(10, (3, *image_shape)), 0.5, size=size, heatmap=False)
    check(batch.astype(np.float64), image, None, size=size, normalize_overlay=True)


@pytest.mark.parametrize("name", sorted(EXTREME_MAPS))
def test_extreme_maps(name: str) -> None:
    """Constant, huge, subnormal, overflowing ranges, integer extremes: whatever the
    separate calls give (or raise)."""
    m = EXTREME_MAPS[name]
    image = random_image(11, m.shape[-2:])
    for options in ({}, {"normalize_heatmap": False, "normalize_overlay": True}):
        check(m, image, 0.0, **options)
        check(m, image, float(np.asarray(m).flat[0]), kernel_size=1, **options)


def test_integer_maps_against_huge_integer_thresholds() -> None:
    """An integer map against an integer threshold compares as integers, also beyond
    2**53 where float64 cannot tell neighbours apart (docs/behaviour.md#threshold); the
    colour products and the scores are of the map as float64."""
    big = 2**62
    m = np.array([[big, big + 1, big + 2, 0], [big + 1, big + 3, 5, big + 1]] * 3, np.int64)
    image = random_image(12, m.shape)
    for threshold in (big, big + 1, np.int64(big + 2), 4, -(2**63)):
        frame = check(m, image, threshold, kernel_size=0)
        assert frame.scores is not None and frame.scores.dtype == np.float64
    u = np.array([[2**64 - 1, 2**64 - 2, 3]], np.uint64)
    check(u, None, 2**64 - 2, kernel_size=0)
    check(u, None, 2**64 - 3, kernel_size=0)


def test_array_likes_and_views() -> None:
    base = smooth_maps((ODD_H * 2, ODD_W * 3), seed=13)
    stepped = base[::2, ::3]
    image = random_image(14, (ODD_H, ODD_W))
    for m in (stepped, stepped.T.copy().T, base[::-2, ::3], stepped.tolist()):
        check(m, image, 0.5, kernel_size=1)
    wrapped = TensorLike(np.ascontiguousarray(stepped))
    frame = ap.postprocess(wrapped, image, 0.5, kernel_size=1)
    assert_same_results(frame.mask, ap.compute_mask(stepped, 0.5, 1))
    check(stepped, np.asfortranarray(image), 0.5)


# ================================================================== non-finite maps


@pytest.mark.parametrize("dtype", ["<f4", "<f8", "<f2", ">f8"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_maps(dtype: str, bad: float) -> None:
    """The colour products refuse NaN/±inf with the separate calls' message (how many,
    and where the first is); the mask accepts them (docs/behaviour.md#levels,
    docs/behaviour.md#threshold)."""
    m = smooth_maps((2, ODD_H, ODD_W), seed=15).astype(dtype)
    m[1, 4, 7] = bad
    m[1, 9, 2] = bad
    image = random_image(16, (ODD_H, ODD_W))
    other = random_image(17, (ODD_H + 10, ODD_W - 4))
    message = same_error(
        lambda: ap.postprocess(m, image, 0.5),
        lambda: ap.anomaly_map_to_color_map(m),
    )
    assert "2 NaN/±inf values; the first is at map 1, row 4, column 7" in message
    for normalize in (True, False):
        same_error(
            lambda n=normalize: ap.postprocess(m, None, 0.5, normalize_heatmap=n),
            lambda n=normalize: ap.anomaly_map_to_color_map(m, n),
        )
        same_error(
            lambda n=normalize: ap.postprocess(m, image, 0.5, heatmap=False, normalize_overlay=n),
            lambda n=normalize: ap.superimpose_anomaly_map(m, image, normalize=n),
        )
        for size in ("map", "image"):
            same_error(
                lambda n=normalize, s=size: ap.postprocess(
                    m, other, heatmap=False, normalize_overlay=n, size=s
                ),
                lambda n=normalize, s=size: ap.superimpose_anomaly_map(
                    m, other, normalize=n, size=s
                ),
            )
    same_error(
        lambda: ap.postprocess(m, value_range=(0, 1)),
        lambda: ap.anomaly_map_to_color_map(m, value_range=(0, 1)),
    )
    # The mask (and its boxes) alone: NaN is never above the threshold, ±inf compare.
    check(m, None, 0.5, heatmap=False)
    check(m, None, -np.inf, heatmap=False, kernel_size=0)


def test_a_finite_map_whose_resize_overflows() -> None:
    m = np.where(base_values((ODD_H, ODD_W)) > 0.5, 3.4e38, -3.4e38).astype(np.float32)
    image = random_image(18, (ODD_H * 2, ODD_W * 2))
    message = same_error(
        lambda: ap.postprocess(m, image, size="image", heatmap=False),
        lambda: ap.superimpose_anomaly_map(m, image, size="image"),
    )
    assert message.startswith("anomaly_map is finite, but resizing it")


def test_value_range_errors_are_the_separate_calls() -> None:
    m = smooth_maps((ODD_H, ODD_W), seed=19)
    image = random_image(20, (ODD_H, ODD_W))
    for value_range in [(-3e38, 3e38), (1, 1 + 1e-9), (-1e39, 0)]:
        same_error(
            lambda v=value_range: ap.postprocess(m, image, 0.5, value_range=v),
            lambda v=value_range: ap.anomaly_map_to_color_map(m, value_range=v),
        )
        same_error(
            lambda v=value_range: ap.postprocess(m, image, value_range=v, heatmap=False),
            lambda v=value_range: ap.superimpose_anomaly_map(m, image, value_range=v),
        )
        # In float64 they are fine.
        check(m.astype(np.float64), image, 0.5, value_range=value_range)


# ========================================================================== threads


@pytest.mark.parametrize("threads", [1, 2, 3, 7])
def test_the_same_bytes_on_any_number_of_threads(restore_threads: None, threads: int) -> None:
    """Maps large enough to be split into bands, and a batch, on odd sizes: the bytes of
    the separate calls, whatever the thread count (docs/behaviour.md#threads)."""
    ap.set_num_threads(threads)
    rng = np.random.default_rng(21)
    single = blobby_map(rng, (1031, 1033), np.float32)
    image = random_image(rng, (1031, 1033))
    check(single, image, 0.6, kernel_size=3, min_area=20)
    check(single.astype(np.float64), image, 0.4, normalize_overlay=True)
    batch = blobby_map(rng, (3, 301, 257), np.float32)
    check(batch, random_image(rng, (3, 301, 257)), 0.5)
    check(np.stack([single, single[::-1]]), image, 0.6, heatmap=False)
    # Large enough for one band per thread on 7 threads.
    large = blobby_map(rng, (1901, 2039), np.float32)
    check(large, random_image(rng, (1901, 2039)), 0.5, value_range=(0.2, 0.9))


def test_hand_written_loops_and_portable_loops_agree() -> None:
    """The VBMI colour and blend loops (where the CPU has them) and the portable ones
    give one frame the same bytes (docs/behaviour.md#simd)."""
    rng = np.random.default_rng(22)
    m = blobby_map(rng, (ODD_H * 3, 130), np.float32)
    image = random_image(rng, (ODD_H * 3, 130))
    fast = ap.postprocess(m, image, 0.5, value_range=(0.1, 0.9), alpha=0.3)
    _native._set_hand_written_simd(False)
    try:
        portable = check(m, image, 0.5, value_range=(0.1, 0.9), alpha=0.3)
    finally:
        _native._set_hand_written_simd(True)
    for field in ("heatmap", "overlay", "mask", "boxes", "scores"):
        assert_same_results(getattr(fast, field), getattr(portable, field))


def test_python_threads_calling_at_once(restore_threads: None) -> None:
    ap.set_num_threads(2)
    maps = [smooth_maps((257, 263), seed=s) for s in range(4)]
    image = random_image(23, (257, 263))
    expected = [ap.postprocess(m, image, 0.5) for m in maps]
    results: list[Any] = [None] * 8

    def work(i: int) -> None:
        for _ in range(5):
            results[i] = ap.postprocess(maps[i % 4], image, 0.5)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for i, frame in enumerate(results):
        for field in ("heatmap", "overlay", "mask", "boxes", "scores"):
            assert_same_results(getattr(frame, field), getattr(expected[i % 4], field))


@pytest.mark.skipif(
    hasattr(sys, "_is_gil_enabled") and not sys._is_gil_enabled(), reason="free-threaded"
)
def test_releases_the_gil(restore_threads: None) -> None:
    ap.set_num_threads(2)
    m = smooth_maps((512, 512), seed=24)
    image = random_image(25, (512, 512))
    outs = {
        "out_heatmap": np.empty((512, 512, 3), np.uint8),
        "out_overlay": np.empty((512, 512, 3), np.uint8),
        "out_mask": np.empty((512, 512), np.uint8),
    }
    assert another_thread_ran_during(lambda: ap.postprocess(m, image, 0.5, **outs))


# ===================================================================== out_* arrays


def test_outputs_receive_their_products() -> None:
    maps = smooth_maps((2, ODD_H, ODD_W), seed=26)
    image = random_image(27, (ODD_H, ODD_W))
    outs = {
        "out_heatmap": np.full((2, ODD_H, ODD_W, 3), 9, np.uint8),
        "out_overlay": np.full((2, ODD_H, ODD_W, 3), 9, np.uint8),
        "out_mask": np.full((2, ODD_H, ODD_W), 9, np.uint8),
    }
    frame = ap.postprocess(maps, image, 0.5, **outs)
    assert frame.heatmap is outs["out_heatmap"]
    assert frame.overlay is outs["out_overlay"]
    assert frame.mask is outs["out_mask"]
    expected = separate(maps, image, 0.5)
    for field in ("heatmap", "overlay", "mask", "boxes", "scores"):
        assert_same_results(getattr(frame, field), expected[field])
    # One output given, the others new; size="image" into out_overlay.
    big = random_image(28, (ODD_H * 2, ODD_W * 2))
    out = np.empty((2, ODD_H * 2, ODD_W * 2, 3), np.uint8)
    frame = ap.postprocess(maps, big, 0.5, size="image", out_overlay=out)
    assert frame.overlay is out
    assert_same_results(out, ap.superimpose_anomaly_map(maps, big, size="image"))
    # Outputs right next to each other in one buffer are fine.
    buffer = np.zeros(ODD_H * ODD_W * 7, np.uint8)
    heat = buffer[: ODD_H * ODD_W * 3].reshape(ODD_H, ODD_W, 3)
    mask = buffer[ODD_H * ODD_W * 3 : ODD_H * ODD_W * 4].reshape(ODD_H, ODD_W)
    frame = ap.postprocess(maps[0], image, 0.5, out_heatmap=heat, out_mask=mask)
    assert_same_results(heat, ap.anomaly_map_to_color_map(maps[0]))
    assert_same_results(mask, ap.compute_mask(maps[0], 0.5))


def test_new_results_own_their_memory() -> None:
    m = smooth_maps((512, 600), seed=29)
    image = random_image(30, (512, 600))
    frame = ap.postprocess(m, image, 0.5)
    arrays = [frame.heatmap, frame.overlay, frame.mask]
    for a in arrays:
        assert isinstance(a, np.ndarray) and a.flags.owndata and a.flags.c_contiguous
        assert not np.shares_memory(a, m) and not np.shares_memory(a, image)
    for a in arrays:
        for b in arrays:
            assert a is b or not np.shares_memory(a, b)


# ===================================================================== the Frame class


def test_frame_is_a_small_frozen_typed_class() -> None:
    m = smooth_maps((ODD_H, ODD_W), seed=31)
    frame = ap.postprocess(m, random_image(32, (ODD_H, ODD_W)), 0.5, kernel_size=1)
    assert [f.name for f in dataclasses.fields(frame)] == [
        "heatmap",
        "overlay",
        "mask",
        "boxes",
        "scores",
    ]
    assert ap.Frame.__slots__ == ("heatmap", "overlay", "mask", "boxes", "scores")
    assert not hasattr(frame, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.mask = None  # type: ignore[misc]
    assert "Frame" in ap.__all__ and "postprocess" in ap.__all__
    text = repr(frame)
    assert text.startswith("Frame(heatmap=uint8(37, 53, 3), overlay=uint8(37, 53, 3), ")
    assert "mask=uint8(37, 53), boxes=int64(" in text and "scores=float32(" in text
    assert len(text) < 200
    batch = ap.postprocess(smooth_maps((6, 9, 11), seed=33), threshold=0.5, heatmap=False)
    assert repr(batch).startswith("Frame(heatmap=None, overlay=None, mask=uint8(6, 9, 11), ")
    assert "… 2 more]" in repr(batch)
    # Pickled and copied with its arrays.
    for clone in (pickle.loads(pickle.dumps(frame)), copy.deepcopy(frame)):
        for field in ("heatmap", "overlay", "mask", "boxes", "scores"):
            assert_same_results(getattr(clone, field), getattr(frame, field))
