"""Property tests: random shapes, dtypes, values, views, options against the oracles.

Byte-exact comparisons only. Example counts are modest to keep the suite fast.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import anomaly_postprocess as ap
from reference import (
    anomalib_compute_mask,
    anomalib_mask_applies,
    spec_anomaly_map_to_color_map,
    spec_compute_mask,
    spec_superimpose_anomaly_map,
)

# database=None: nothing is written into the repository (.hypothesis/).
SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

FLOAT_DTYPES = ["<f2", "<f4", "<f8", ">f4", ">f8"]
INT_DTYPES = ["|i1", "|u1", "<i2", "<u2", "<i4", ">i4", "<u4"]


def elements_for(dtype: np.dtype, allow_non_finite: bool) -> st.SearchStrategy[Any]:
    if dtype.kind == "f":
        width = dtype.itemsize * 8

        def fit(value: float) -> float:  # the nearest value of the dtype
            return float(np.asarray(value, np.float64).astype(dtype))

        interesting = st.sampled_from([0.0, 1.0, 0.5, 0.1, -0.1, 1.004, 255 / 256, 1 / 255]).map(
            fit
        )
        general = st.floats(
            width=width,
            allow_nan=allow_non_finite,
            allow_infinity=allow_non_finite,
            allow_subnormal=True,
        )
        unit = st.floats(-0.05, 1.05).map(fit)
        return st.one_of(unit, unit, general, interesting)
    if dtype.kind == "b":
        return st.booleans()
    info = np.iinfo(dtype)
    return st.integers(int(info.min), int(info.max))


@st.composite
def maps(
    draw: st.DrawFn, allow_non_finite: bool = False, max_side: int = 24, batch: bool = True
) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(FLOAT_DTYPES * 3 + INT_DTYPES + ["?"])))
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    shape: tuple[int, ...] = (h, w)
    if batch:
        lead = draw(st.lists(st.integers(1, 3), max_size=2))
        shape = tuple(lead) + shape
        if draw(st.booleans()):
            shape = shape + (1,)
    array = draw(hnp.arrays(dtype, shape, elements=elements_for(dtype, allow_non_finite)))
    return draw(views(array))


@st.composite
def views(draw: st.DrawFn, array: np.ndarray) -> np.ndarray:
    """The same values, presented as some strided view (or the array itself)."""
    kind = draw(st.sampled_from(["plain", "reversed", "fortran", "padded step", "swapped"]))
    if kind == "reversed":
        flipped = array[..., ::-1, ::-1] if array.ndim >= 2 else array
        return np.ascontiguousarray(flipped)[..., ::-1, ::-1] if array.ndim >= 2 else array
    if kind == "fortran":
        return np.asfortranarray(array)
    if kind == "padded step":
        padded = np.zeros(array.shape[:-1] + (array.shape[-1] * 2,), array.dtype)
        padded[..., ::2] = array
        return padded[..., ::2]
    if kind == "swapped" and array.ndim >= 2:
        # same values, but stored transposed: a non-C layout of an identical logical array
        return np.ascontiguousarray(np.swapaxes(array, -1, -2)).swapaxes(-1, -2)
    return array


def as_contiguous(m: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(m)


# ----------------------------------------------------------------------------- colour


@SETTINGS
@given(m=maps(), normalize=st.booleans())
def test_color_map_matches_oracle(m: np.ndarray, normalize: bool) -> None:
    with np.errstate(all="ignore"):
        expected = spec_anomaly_map_to_color_map(as_contiguous(m), normalize)
    before = m.copy()
    out = ap.anomaly_map_to_color_map(m, normalize=normalize)
    assert np.array_equal(m, before)
    assert out.dtype == np.uint8 and out.flags.c_contiguous and out.flags.owndata
    assert not np.shares_memory(out, m)
    assert np.array_equal(out, expected)


@SETTINGS
@given(m=maps(batch=False, max_side=12), data=st.data())
def test_batch_is_stack_of_singles(m: np.ndarray, data: st.DataObject) -> None:
    # (B, H, 1) is one (B, H) map by the trailing-channel rule of docs/behaviour.md#shapes,
    # not a batch
    assume(m.shape[-1] > 1)
    n = data.draw(st.integers(2, 4))
    scale = data.draw(st.lists(st.floats(0.1, 10), min_size=n, max_size=n))
    finite = np.clip(m.astype(np.float64), -1e300, 1e300)
    batch = np.stack([finite * s for s in scale])
    for normalize in (True, False):
        out = ap.anomaly_map_to_color_map(batch, normalize=normalize)
        singles = np.stack([ap.anomaly_map_to_color_map(b, normalize=normalize) for b in batch])
        assert np.array_equal(out, singles)
    out = ap.compute_mask(batch, 0.5, 2)
    assert np.array_equal(out, np.stack([ap.compute_mask(b, 0.5, 2) for b in batch]))


# ------------------------------------------------------------------------- superimpose


@SETTINGS
@given(
    m=maps(),
    data=st.data(),
    alpha=st.one_of(st.floats(-3, 3), st.sampled_from([0.0, 0.4, 0.5, 1.0])),
    gamma=st.one_of(st.floats(-300, 300), st.integers(-300, 300), st.just(0)),
    normalize=st.booleans(),
    per_map=st.booleans(),
)
def test_superimpose_matches_oracle(
    m: np.ndarray, data: st.DataObject, alpha: float, gamma: float, normalize: bool, per_map: bool
) -> None:
    shape = m.shape[:-1] if m.ndim >= 3 and m.shape[-1] == 1 else m.shape
    image_shape = (shape if per_map else shape[-2:]) + (3,)
    image = data.draw(views(data.draw(hnp.arrays(np.uint8, image_shape))))
    with np.errstate(all="ignore"):
        expected = spec_superimpose_anomaly_map(
            as_contiguous(m), as_contiguous(image), alpha, gamma, normalize
        )
    out = ap.superimpose_anomaly_map(m, image, alpha, gamma, normalize)
    assert not np.shares_memory(out, image)
    assert np.array_equal(out, expected)


# -------------------------------------------------------------------------------- mask


@st.composite
def thresholds(draw: st.DrawFn, m: np.ndarray) -> Any:
    """Thresholds on, between and around the map's own values, as Python or numpy numbers."""
    finite = m[np.isfinite(m.astype(np.float64))] if m.dtype.kind == "f" else m
    if finite.size and draw(st.booleans()):
        base = float(draw(st.sampled_from(finite.ravel().tolist())))
    else:
        base = draw(st.floats(-2, 2))
    nudge = draw(st.sampled_from([0.0, 0.0, 1e-9, -1e-9, 1e-4, -1e-4, 0.5]))
    value = base + nudge
    kind = draw(st.sampled_from(["python", "f16", "f32", "f64", "int"]))
    with np.errstate(over="ignore"):  # beyond float16/float32: ±inf, a valid threshold
        if kind == "f16":
            return np.float16(value)
        if kind == "f32":
            return np.float32(value)
    if kind == "f64":
        return np.float64(value)
    if kind == "int":
        return int(np.clip(round(value), -(2**31), 2**31))
    return value


@SETTINGS
@given(
    m=maps(allow_non_finite=True, max_side=40),
    data=st.data(),
    kernel_size=st.one_of(st.integers(0, 6), st.integers(0, 50), st.sampled_from([10**9, 2**64])),
)
def test_mask_matches_opencv_oracle(m: np.ndarray, data: st.DataObject, kernel_size: int) -> None:
    threshold = data.draw(thresholds(m))
    if m.dtype.kind == "b":
        assume(not isinstance(threshold, int) or abs(threshold) < 2**31)
    with np.errstate(all="ignore"):
        expected = spec_compute_mask(as_contiguous(m), threshold, kernel_size)
    before = m.copy()
    out = ap.compute_mask(m, threshold, kernel_size)
    assert np.array_equal(m, before, equal_nan=True)
    assert out.dtype == np.uint8 and out.flags.c_contiguous and out.flags.owndata
    assert np.array_equal(out, expected)


@settings(max_examples=60, deadline=None, database=None)
@given(
    h=st.integers(2, 48),
    w=st.integers(2, 48),
    kernel_size=st.integers(0, 12),
    seed=st.integers(0, 2**32 - 1),
    density=st.floats(0.05, 0.98),
)
def test_mask_matches_anomalib_where_skimage_is_right(
    h: int, w: int, kernel_size: int, seed: int, density: float
) -> None:
    assume(anomalib_mask_applies(h, w, kernel_size))
    rng = np.random.default_rng(seed)
    m = (rng.random((h, w)) < density).astype(np.float32)
    m = np.maximum(m, rng.random((h, w)).astype(np.float32) * 0.4)
    out = ap.compute_mask(m, 0.5, kernel_size)
    assert np.array_equal(out, anomalib_compute_mask(m, 0.5, kernel_size))
