"""colormap=: every OpenCV colormap, by name and by value, and user tables
(docs/behaviour.md#colour-tables). Refused colormaps are rows of
bad_inputs/test_bad_inputs.py."""

import cv2
import numpy as np
import pytest

import anomaly_postprocess as ap
from anomaly_postprocess import _native
from conftest import random_image

OPENCV_COLORMAPS = {
    name[len("COLORMAP_") :].lower(): getattr(cv2, name)
    for name in dir(cv2)
    if name.startswith("COLORMAP_")
}


def opencv_rgb(levels: np.ndarray, value: int) -> np.ndarray:
    return cv2.cvtColor(cv2.applyColorMap(levels, value), cv2.COLOR_BGR2RGB)


def test_every_opencv_colormap_is_offered() -> None:
    assert {name: value for name, (value, _) in _native.PALETTES.items()} == OPENCV_COLORMAPS
    assert len(OPENCV_COLORMAPS) >= 22


@pytest.mark.parametrize("name", sorted(OPENCV_COLORMAPS))
def test_embedded_table_equals_installed_opencv(name: str) -> None:
    value, table = _native.PALETTES[name]
    levels = np.arange(256, dtype=np.uint8)[None]
    assert np.array_equal(
        np.frombuffer(table, np.uint8).reshape(1, 256, 3), opencv_rgb(levels, value)
    )


@pytest.mark.parametrize("name", sorted(OPENCV_COLORMAPS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_color_map_by_name_and_value(name: str, dtype: type, rng: np.random.Generator) -> None:
    value = OPENCV_COLORMAPS[name]
    m = rng.random((37, 71)).astype(dtype)
    levels = ((m - m.min()) / np.ptp(m) * 255).astype(np.uint8)
    expected = opencv_rgb(levels, value)
    assert np.array_equal(ap.anomaly_map_to_color_map(m, colormap=name), expected)
    assert np.array_equal(ap.anomaly_map_to_color_map(m, colormap=value), expected)
    assert np.array_equal(ap.anomaly_map_to_color_map(m, colormap=name.upper()), expected)


@pytest.mark.parametrize("name", ["turbo", "viridis", "twilight_shifted", "hsv"])
def test_superimpose_with_colormap(name: str, rng: np.random.Generator) -> None:
    m = rng.random((2, 29, 43), dtype=np.float32)
    image = random_image(rng, (29, 43))
    got = ap.superimpose_anomaly_map(m, image, alpha=0.3, colormap=name)
    for b in range(2):
        heat = opencv_rgb((m[b] * 255).astype(np.uint8), OPENCV_COLORMAPS[name])
        assert np.array_equal(got[b], cv2.addWeighted(heat, 0.3, image, 0.7, 0))


def test_user_table(rng: np.random.Generator) -> None:
    table = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    m = rng.random((40, 50), dtype=np.float32)
    levels = ((m - m.min()) / np.ptp(m) * 255).astype(np.uint8)
    assert np.array_equal(ap.anomaly_map_to_color_map(m, colormap=table), table[levels])
    # A strided table works too and is not modified.
    wide = np.repeat(table, 2, axis=1)[:, ::2]
    before = wide.copy()
    assert np.array_equal(ap.anomaly_map_to_color_map(m, colormap=wide), table[levels])
    assert np.array_equal(wide, before)
