"""``out=`` (docs/behaviour.md#memory): the result is written into the given array,
which is returned; its shape is the squeezed result's; any writable C-contiguous uint8
array of that shape will do (a memmap, a subclass, one starting at an odd address).
Refused ``out=`` values, and ``out`` overlapping an input, are rows and checks of
bad_inputs/test_bad_inputs.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from conftest import (
    FUNCTIONS,
    ODD_H,
    ODD_W,
    SMALL_H,
    SMALL_W,
    assert_result,
    assert_same_bytes,
    base_image,
    base_values,
    random_image,
    result_shape,
    smooth_maps,
)
from reference import (
    spec_anomaly_map_to_color_map,
    spec_compute_mask,
    spec_superimpose_anomaly_map,
)

H, W = ODD_H, ODD_W  # odd sizes: no row is a multiple of a vector width


@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [(), (3,), (2, 3)], ids=["single", "batch", "2-d batch"])
def test_out_receives_the_result_and_is_returned(
    name: str, dtype: Any, batch: tuple[int, ...]
) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps(batch + (H, W), seed=1, dtype=dtype)
    image = random_image(2, (H, W))
    expected = fn(maps, image)
    out = np.full(result_shape(name, maps.shape), 7, np.uint8)
    result = fn(maps, image, out=out)
    assert result is out
    assert_same_bytes(out, expected)
    # Calling again into the same (now dirty) array gives the same bytes.
    out[...] = 201
    assert fn(maps, image, out=out) is out
    assert_same_bytes(out, expected)


@pytest.mark.parametrize("name", ["superimpose", "superimpose opts"])
def test_out_with_one_image_per_map(name: str) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps((2, 3, H, W), seed=3)
    per_map = random_image(4, (2, 3, H, W))
    expected = fn(maps, per_map)
    out = np.empty((2, 3, H, W, 3), np.uint8)
    assert fn(maps, per_map, out=out) is out
    assert_same_bytes(out, expected)
    for index in np.ndindex(2, 3):
        assert_same_bytes(out[index], fn(maps[index], per_map[index]))


@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
@pytest.mark.parametrize("shape", [(1, H, W), (1, 1, H, W), (H, W, 1)], ids=str)
def test_out_shape_follows_the_squeezed_result(name: str, shape: tuple[int, ...]) -> None:
    """Singleton axes are dropped (docs/behaviour.md#shapes), so ``out`` has the single map's
    shape."""
    fn = FUNCTIONS[name]
    m = smooth_maps(shape, seed=5)
    image = random_image(6, (H, W))
    out = np.empty(result_shape(name, (H, W)), np.uint8)
    assert fn(m, image, out=out) is out
    assert_same_bytes(out, fn(m.reshape(H, W), image))
    with pytest.raises(ValueError, match="out") as info:
        fn(m, image, out=np.empty(result_shape(name, shape), np.uint8))
    assert str(result_shape(name, (H, W))) in str(info.value)


@pytest.mark.parametrize("name", ["color", "superimpose", "mask"])
def test_out_may_be_a_memmap(name: str, tmp_path: Any) -> None:
    fn = FUNCTIONS[name]
    maps = smooth_maps((3, H, W), seed=7)
    image = random_image(8, (H, W))
    shape = result_shape(name, maps.shape)
    out = np.memmap(tmp_path / "out.bin", dtype=np.uint8, mode="w+", shape=shape)
    assert fn(maps, image, out=out) is out
    out.flush()
    on_disk = np.fromfile(tmp_path / "out.bin", dtype=np.uint8).reshape(shape)
    assert_same_bytes(on_disk, fn(maps, image))
    del out


class OutSubclass(np.ndarray):
    pass


def _out_at_odd_offset(shape: tuple[int, ...]) -> np.ndarray:
    buffer = np.zeros(math.prod(shape) + 1, np.uint8)
    return buffer[1:].reshape(shape)  # starts one byte in: uint8 is always aligned


# out= values that are accepted, for a (2, 9, 11) batch.
OUTS_ACCEPTED: dict[str, Callable[[tuple[int, ...]], Any]] = {
    "None": lambda shape: None,
    "fresh": lambda shape: np.zeros(shape, np.uint8),
    "odd offset": _out_at_odd_offset,
    "subclass": lambda shape: np.zeros(shape, np.uint8).view(OutSubclass),
    "explicit byte order": lambda shape: np.zeros(shape, "<u1"),
}


@pytest.mark.parametrize("case", list(OUTS_ACCEPTED))
@pytest.mark.parametrize("fn", ["color", "superimpose", "mask"])
def test_out_accepted_views(fn: str, case: str) -> None:
    m = base_values((2, SMALL_H, SMALL_W))
    image = base_image()
    calls: dict[str, tuple[tuple[int, ...], Callable[..., np.ndarray], Callable[[], Any]]] = {
        "color": (
            (2, SMALL_H, SMALL_W, 3),
            lambda out: ap.anomaly_map_to_color_map(m, out=out),
            lambda: spec_anomaly_map_to_color_map(m),
        ),
        "superimpose": (
            (2, SMALL_H, SMALL_W, 3),
            lambda out: ap.superimpose_anomaly_map(m, image, out=out),
            lambda: spec_superimpose_anomaly_map(m, image),
        ),
        "mask": (
            (2, SMALL_H, SMALL_W),
            lambda out: ap.compute_mask(m, 0.5, 1, out=out),
            lambda: spec_compute_mask(m, 0.5, 1),
        ),
    }
    shape, call, expected = calls[fn]
    out = OUTS_ACCEPTED[case](shape)
    result = call(out)
    if out is not None:
        assert result is out
    assert_result(np.asarray(result), expected())
