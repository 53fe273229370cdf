"""``value_range=(low, high)`` (docs/behaviour.md#levels): the min-max formula with a
range the caller fixes, ``level = trunc((v - f(low)) / (f(high) - f(low)) * 255)`` in the
map's type T (``f`` rounds to T), saturated to 0..255.

The key property: it is computed exactly as ``normalize=True`` is, so
``value_range=(m.min(), m.max())`` gives the bytes of ``normalize=True`` for every
non-constant map, of every dtype; and ``value_range=(0, 1)`` those of ``normalize=False``.
Rejected values are in tests/bad_inputs/test_value_range_and_dlpack_inputs.py.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import anomaly_postprocess as ap
from anomaly_postprocess import _native
from conftest import (
    EXTREME_MAPS,
    ODD_H,
    ODD_W,
    SMALL_H,
    SMALL_W,
    assert_same_bytes,
    base_image,
    blobby_map,
    map_values,
    random_image,
    smooth_maps,
)
from reference import jet_rgb_opencv, spec_add_weighted, spec_compute_dtype


def spec_levels_in_range(anomaly_map: np.ndarray, low: float, high: float) -> np.ndarray:
    """The levels of one 2-D map with ``value_range=(low, high)``, in numpy: every
    operation in T, one rounding each (docs/behaviour.md#levels)."""
    t = spec_compute_dtype(anomaly_map.dtype)
    m = anomaly_map.astype(t)
    lo, hi = t(low), t(high)
    ptp = hi - lo  # in T, as np.ptp is
    x = (m - lo) / ptp * t(255)
    x = np.where(np.isnan(x), t(0), x)  # NaN is level 0 (only from a non-finite map)
    return np.clip(x, 0, 255).astype(np.uint8)


def spec_color(anomaly_map: np.ndarray, low: float, high: float) -> np.ndarray:
    return jet_rgb_opencv()[spec_levels_in_range(anomaly_map, low, high)]


def as_float_range(m: np.ndarray) -> tuple[float, float]:
    return float(m.min()), float(m.max())


# ===================================================== value_range=(min, max) == normalize


def _maps(dtype: str, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    maps = [
        blobby_map(rng, (ODD_H, ODD_W), dtype) if np.dtype(dtype).kind == "f" else None,
        map_values(dtype, (SMALL_H, SMALL_W)),
    ]
    if np.dtype(dtype).kind == "f":
        scales = [1e-30, 1e-6, 1.0, 37.5, 1e6, 1e30] if dtype != "float16" else [1e-3, 1, 1e3]
        scale = rng.choice(scales)
        maps.append((rng.standard_normal((SMALL_H, SMALL_W)) * scale).astype(dtype))
        # Values one ulp either side of the level boundaries k/255 of [0, 1].
        k = np.arange(256, dtype=dtype) / np.array(255, dtype=dtype)
        around = np.stack([np.nextafter(k, -np.inf), k, np.nextafter(k, np.inf)])
        maps.append(np.clip(around, 0, 1).astype(dtype))
        maps.append((around * np.array(3.7, dtype) - np.array(1.1, dtype)).astype(dtype))
    return [m for m in maps if m is not None]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "uint8", "int64"])
def test_min_max_range_equals_normalize(dtype: str, seed: int) -> None:
    """Proof by construction: both paths give the kernel the scale ``(mn, mx - mn)`` in
    T, since ``f(m.min())`` is exactly T's ``min(m)`` (float32/float64 values are exact
    in float64, float16 in float32, and rounding an integer to T is monotone)."""
    for m in _maps(dtype, seed):
        if m.min() == m.max():
            continue
        expected = ap.anomaly_map_to_color_map(m, True)
        # numpy scalars of the map's dtype (the general path) ...
        assert_same_bytes(ap.anomaly_map_to_color_map(m, value_range=(m.min(), m.max())), expected)
        # ... and Python numbers (the one-call path for 2-D float32 maps)
        if np.dtype(dtype).kind == "f":
            result = ap.anomaly_map_to_color_map(m, value_range=as_float_range(m))
            assert_same_bytes(result, expected)
        image = random_image(seed, m.shape)
        normalized_overlay = ap.superimpose_anomaly_map(m, image, 0.4, 0, True)
        assert_same_bytes(
            ap.superimpose_anomaly_map(m, image, 0.4, 0, value_range=(m.min(), m.max())),
            normalized_overlay,
        )
        # postprocess: both colour products, the range taking precedence over the
        # normalize_* flags either way.
        for flags in ({}, {"normalize_heatmap": False, "normalize_overlay": True}):
            frame = ap.postprocess(m, image, value_range=(m.min(), m.max()), **flags)
            assert frame.heatmap is not None and frame.overlay is not None
            assert_same_bytes(frame.heatmap, expected)
            assert_same_bytes(frame.overlay, normalized_overlay)


@pytest.mark.parametrize("name", [n for n, m in EXTREME_MAPS.items() if m.min() != m.max()])
def test_min_max_range_equals_normalize_on_extreme_maps(name: str) -> None:
    m = EXTREME_MAPS[name]
    t = spec_compute_dtype(m.dtype)
    with np.errstate(over="ignore"):
        ptp = t(m.max()) - t(m.min())
    if not np.isfinite(ptp):
        # normalize=True divides by ptp = inf (every level 0); a value_range this wide
        # is refused instead (see the bad-inputs tests).
        with pytest.raises(ValueError, match=r"value_range .* too wide"):
            ap.anomaly_map_to_color_map(m, value_range=(m.min(), m.max()))
        return
    assert_same_bytes(
        ap.anomaly_map_to_color_map(m, value_range=(m.min(), m.max())),
        ap.anomaly_map_to_color_map(m, True),
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unit_range_equals_no_normalization(dtype: str) -> None:
    """``(v - 0) / 1 * 255`` is ``v * 255`` exactly, so (0, 1) is normalize=False."""
    rng = np.random.default_rng(11)
    for m in _maps(dtype, 11) + [(rng.random((ODD_H, ODD_W)) * 3 - 1).astype(dtype)]:
        assert_same_bytes(
            ap.anomaly_map_to_color_map(m, value_range=(0, 1)),
            ap.anomaly_map_to_color_map(m, False),
        )


# ============================================================== against the formula


RANGES = [(0.0, 1.0), (0.2, 0.7), (-0.5, 0.5), (0.0, 1e-3), (0.1, 0.1 + 1e-6), (-1e6, 3e7)]


@pytest.mark.parametrize("value_range", RANGES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int16", "bool"])
def test_levels_follow_the_formula(dtype: str, value_range: tuple[float, float]) -> None:
    rng = np.random.default_rng(12)
    if dtype == "bool":
        m = rng.random((ODD_H, ODD_W)) > 0.5
    elif dtype == "int16":
        m = rng.integers(-3, 4, (ODD_H, ODD_W)).astype(dtype)
    else:
        low, high = value_range
        # Values inside and around the range, so that some saturate either way.
        m = low + (rng.random((ODD_H, ODD_W)) * 1.4 - 0.2) * (high - low)
        m = np.clip(m, -65504, 65504).astype(dtype)  # float16's range
    expected = spec_color(m, *value_range)
    assert_same_bytes(ap.anomaly_map_to_color_map(m, value_range=value_range), expected)
    # normalize is ignored when a range is given
    assert_same_bytes(ap.anomaly_map_to_color_map(m, False, value_range=value_range), expected)
    image = random_image(13, (ODD_H, ODD_W))
    assert_same_bytes(
        ap.superimpose_anomaly_map(m, image, 0.3, 1, True, value_range=value_range),
        spec_add_weighted(expected, 0.3, image, 1),
    )


def test_values_outside_the_range_saturate() -> None:
    """Below ``low`` is level 0 (dark blue), at or above ``high`` level 255 (dark red),
    as values outside [0, 1] do with normalize=False."""
    jet = jet_rgb_opencv()
    m = np.array([[-1e30, -5.0, 1.999, 2.0, 2.5, 6.0, 6.5, 1e30]], np.float32)
    result = ap.anomaly_map_to_color_map(m, value_range=(2, 6))
    levels = [0, 0, 0, 0, int(0.5 / 4 * 255), 255, 255, 255]
    assert_same_bytes(result, jet[np.array([levels])])


def test_a_good_part_stays_blue() -> None:
    """The README's example: per-map normalisation paints a good part's largest score
    dark red; a fixed range keeps it blue."""
    good = smooth_maps((64, 64), seed=14) * 0.1  # scores in [0, 0.1), threshold 0.5
    red = jet_rgb_opencv()[255]
    normalized = ap.anomaly_map_to_color_map(good)
    assert (normalized == red).all(axis=-1).any()
    fixed = ap.anomaly_map_to_color_map(good, value_range=(0, 2 * 0.5))
    levels = spec_levels_in_range(good, 0, 1)
    assert levels.max() < 26  # 0.1 of the range: blue
    assert_same_bytes(fixed, jet_rgb_opencv()[levels])


# ================================================================== every way to call it


def test_batches_use_one_range_for_every_map() -> None:
    maps = smooth_maps((2, 3, SMALL_H, SMALL_W), seed=15) * np.array([1, 3, 9]).reshape(1, 3, 1, 1)
    result = ap.anomaly_map_to_color_map(maps, value_range=(0.1, 2.0))
    images = base_image((2, 3, SMALL_H, SMALL_W))
    overlay = ap.superimpose_anomaly_map(maps, images, 0.6, value_range=(0.1, 2.0))
    for index in np.ndindex(2, 3):
        assert_same_bytes(result[index], spec_color(maps[index], 0.1, 2.0))
        single = ap.superimpose_anomaly_map(maps[index], images[index], 0.6, value_range=(0.1, 2.0))
        assert_same_bytes(overlay[index], single)


def test_every_form_of_the_range_gives_the_same_bytes() -> None:
    m = smooth_maps((SMALL_H, SMALL_W), seed=16)
    expected = ap.anomaly_map_to_color_map(m, value_range=(0.25, 0.75))
    for value_range in [
        [0.25, 0.75],
        (np.float64(0.25), np.float32(0.75)),
        np.array([0.25, 0.75]),
        np.array([0.25, 0.75], np.float32),
        (Fraction(1, 4), Fraction(3, 4)),
    ]:
        assert_same_bytes(ap.anomaly_map_to_color_map(m, value_range=value_range), expected)
    ints = ap.anomaly_map_to_color_map(m, value_range=(0, 2))
    assert_same_bytes(ap.anomaly_map_to_color_map(m, value_range=range(0, 3, 2)), ints)
    assert_same_bytes(ap.anomaly_map_to_color_map(m, value_range=(0.0, 2.0)), ints)


ONE_CALL: dict[str, Callable[..., np.ndarray]] = {
    "color": lambda m, image, **kw: ap.anomaly_map_to_color_map(m, **kw),
    "superimpose": lambda m, image, **kw: ap.superimpose_anomaly_map(m, image, 0.4, 0, **kw),
}


@pytest.mark.parametrize("name", list(ONE_CALL))
def test_one_call_path_equals_the_general_path(name: str) -> None:
    """A 2-D float32 map with a tuple of Python numbers goes to the kernel in one call;
    ``out=`` takes the general path. Same bytes."""
    call = ONE_CALL[name]
    for seed in range(4):
        m = smooth_maps((ODD_H, ODD_W), seed=seed, dtype=np.float32) * 4 - 1
        image = random_image(seed, (ODD_H, ODD_W))
        for value_range in [(0.0, 1.0), (-1, 3), (0.5, 0.5000001), (-2.5, 1e-3)]:
            out = np.empty((ODD_H, ODD_W, 3), np.uint8)
            general = call(m, image, value_range=value_range, out=out)
            assert_same_bytes(call(m, image, value_range=value_range), general)
            assert_same_bytes(general, np.asarray(call(m[None], image, value_range=value_range)))


def test_size_image_resizes_first() -> None:
    """With size="image", the resized map's values are coloured with the range."""
    m = smooth_maps((SMALL_H, SMALL_W), seed=17)
    image = random_image(18, (2 * SMALL_H, 3 * SMALL_W))
    resized = np.empty((2 * SMALL_H, 3 * SMALL_W), np.float32)
    _native.resize_map(m, resized)
    heat = spec_color(resized, 0.2, 0.9)
    assert_same_bytes(
        ap.superimpose_anomaly_map(m, image, 0.5, value_range=(0.2, 0.9), size="image"),
        spec_add_weighted(heat, 0.5, image, 0),
    )


def test_colormap_table_and_out() -> None:
    m = smooth_maps((2, SMALL_H, SMALL_W), seed=19)
    table = np.random.default_rng(20).integers(0, 256, (256, 3), dtype=np.uint8)
    out = np.empty((2, SMALL_H, SMALL_W, 3), np.uint8)
    result = ap.anomaly_map_to_color_map(m, value_range=(0.3, 0.6), colormap=table, out=out)
    assert result is out
    for i in range(2):
        assert_same_bytes(out[i], table[spec_levels_in_range(m[i], 0.3, 0.6)])


def test_threads_do_not_change_the_bytes(restore_threads: None) -> None:
    maps = smooth_maps((6, ODD_H, ODD_W), seed=21)
    ap.set_num_threads(1)
    one = ap.anomaly_map_to_color_map(maps, value_range=(0.1, 0.8))
    ap.set_num_threads(3)
    assert_same_bytes(ap.anomaly_map_to_color_map(maps, value_range=(0.1, 0.8)), one)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_map_split_into_bands(restore_threads: None, dtype: str) -> None:
    """A map above the split size (docs/behaviour.md#threads) is coloured in row bands:
    the same bytes as the formula on every thread count, and the same error."""
    m = (smooth_maps((1031, 1031), seed=26) * 3 - 1).astype(dtype)
    image = random_image(27, (1031, 1031))
    expected = spec_color(m, -0.5, 1.5)
    bad = m.copy()
    bad[1000, 7] = np.nan
    for threads in (1, 2, 3):
        ap.set_num_threads(threads)
        assert_same_bytes(ap.anomaly_map_to_color_map(m, value_range=(-0.5, 1.5)), expected)
        assert_same_bytes(
            ap.superimpose_anomaly_map(m, image, value_range=(-0.5, 1.5)),
            spec_add_weighted(expected, 0.4, image, 0),
        )
        with pytest.raises(ValueError, match=r"1 NaN/±inf value; the first is at row 1000, col"):
            ap.anomaly_map_to_color_map(bad, value_range=(-0.5, 1.5))


def test_non_finite_maps_are_still_refused() -> None:
    m = smooth_maps((2, SMALL_H, SMALL_W), seed=22)
    m[1, 3, 4] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN/±inf value; the first is at map 1, row 3, col"):
        ap.anomaly_map_to_color_map(m, value_range=(0, 1))
    with pytest.raises(ValueError, match=r"the first is at row 3, column 4"):
        ap.superimpose_anomaly_map(m[1], base_image(), value_range=(0, 1))


# ===================================================================== the command line


def test_cli_value_range(tmp_path: Path) -> None:
    from PIL import Image

    from anomaly_postprocess.cli import main

    m = smooth_maps((SMALL_H, SMALL_W), seed=23) * 0.3
    image = random_image(24, (SMALL_H, SMALL_W))
    np.save(tmp_path / "part.npy", m)
    Image.fromarray(image).save(tmp_path / "part.png")
    out = tmp_path / "out"
    argv = [str(tmp_path / "part.npy"), "-i", str(tmp_path / "part.png"), "-o", str(out)]
    assert main([*argv, "--value-range", "0", "1", "-q"]) == 0
    heatmap = np.asarray(Image.open(out / "part_heatmap.png"))
    overlay = np.asarray(Image.open(out / "part_overlay.png"))
    assert_same_bytes(heatmap, ap.anomaly_map_to_color_map(m, value_range=(0, 1)))
    assert_same_bytes(overlay, ap.superimpose_anomaly_map(m, image, value_range=(0, 1)))
    # The mask keeps using the stored values.
    mask = np.asarray(Image.open(out / "part_mask.png"))
    assert_same_bytes(mask, ap.compute_mask(m, 0.5))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--value-range", "1", "0"], "LOW < HIGH"),
        (["--value-range", "1", "1"], "LOW < HIGH"),
        (["--value-range", "nan", "1"], "finite"),
        (["--value-range", "0", "inf"], "finite"),
        (["--value-range", "-1e-3", "nan"], "finite"),
        (["--value-range", "0"], "expected 2 arguments"),
        (["--value-range", "0", "1", "--normalize"], "not both"),
    ],
)
def test_cli_bad_value_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from anomaly_postprocess.cli import main

    np.save(tmp_path / "part.npy", np.zeros((4, 4), np.float32))
    with pytest.raises(SystemExit) as info:
        main([str(tmp_path / "part.npy"), "-o", str(tmp_path / "out"), *args])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_range_too_wide_for_the_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from anomaly_postprocess.cli import main

    np.save(tmp_path / "part.npy", np.zeros((4, 4), np.float32))
    argv = [str(tmp_path / "part.npy"), "-o", str(tmp_path / "out"), "-q"]
    assert main([*argv, "--value-range", "-3e38", "3e38"]) == 1
    err = capsys.readouterr().err
    assert "part.npy: value_range" in err and "too wide" in err, err
    # A float64 map takes it.
    np.save(tmp_path / "part.npy", np.zeros((4, 4), np.float64))
    assert main([*argv, "--value-range", "-3e38", "3e38"]) == 0


def test_cli_negative_numbers_in_any_notation(tmp_path: Path) -> None:
    from PIL import Image

    from anomaly_postprocess.cli import main

    m = smooth_maps((SMALL_H, SMALL_W), seed=25) * 2 - 1
    np.save(tmp_path / "part.npy", m)
    for low in ("-1", "-.5", "-0.75", "-1e-1", "-2.5E+0"):
        out = tmp_path / low
        assert (
            main([str(tmp_path / "part.npy"), "-o", str(out), "-q", "--value-range", low, "1"]) == 0
        )
        heatmap = np.asarray(Image.open(out / "part_heatmap.png"))
        assert_same_bytes(heatmap, ap.anomaly_map_to_color_map(m, value_range=(float(low), 1)))
