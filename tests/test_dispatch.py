"""The hand-written AVX-512 loops (VBMI colouring and blending, mask unpacking) and the
compiler-vectorised portable loops give the same bytes.

On a CPU with AVX-512 VBMI every other test exercises the hand-written loops; here the
same calls run once with them turned off (``_set_hand_written_simd(False)``) and the
results must be equal — shapes whose widths are and are not multiples of 64, both
float dtypes, strided maps, batches, palettes, blend weights that need clamping.
Elsewhere both runs take the portable loops and the test still checks determinism.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from anomaly_postprocess import _native

SHAPES = [(1, 1), (3, 64), (5, 127), (2, 200), (17, 1029), (64, 64), (2, 4, 65)]


@pytest.fixture
def portable() -> Iterator[Callable[[Callable[[], Any]], Any]]:
    """Runs a call with the hand-written loops off."""

    def run(call: Callable[[], Any]) -> Any:
        _native._set_hand_written_simd(False)
        try:
            return call()
        finally:
            _native._set_hand_written_simd(True)

    yield run
    _native._set_hand_written_simd(True)


def maps(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> Iterator[np.ndarray]:
    base = (rng.random(shape) * 1.2 - 0.1).astype(dtype)
    yield base
    wide = (rng.random(shape[:-1] + (2 * shape[-1],)) * 1.2 - 0.1).astype(dtype)
    yield wide[..., ::2]  # strided rows
    yield np.asfortranarray(base)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_color_maps(rng: np.random.Generator, shape, dtype, portable) -> None:
    for m in maps(rng, shape, dtype):
        for normalize in (True, False):
            for colormap in ("jet", "viridis", "turbo"):
                fast = ap.anomaly_map_to_color_map(m, normalize, colormap=colormap)
                slow = portable(
                    lambda m=m, n=normalize, c=colormap: ap.anomaly_map_to_color_map(
                        m, n, colormap=c
                    )
                )
                assert np.array_equal(fast, slow), (shape, dtype, normalize, colormap)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_superimpose(rng: np.random.Generator, shape, dtype, portable) -> None:
    image = rng.integers(0, 256, shape[-2:] + (3,), dtype=np.uint8)
    for m in maps(rng, shape, dtype):
        for alpha, gamma in [(0.4, 0), (0.3, 0), (0.5, 0.5), (-0.7, 3.25), (1.9, -40), (1e12, 0)]:
            for normalize in (True, False):
                fast = ap.superimpose_anomaly_map(m, image, alpha, gamma, normalize)
                slow = portable(
                    lambda m=m, a=alpha, g=gamma, n=normalize: ap.superimpose_anomaly_map(
                        m, image, a, g, n
                    )
                )
                assert np.array_equal(fast, slow), (shape, dtype, alpha, gamma, normalize)


@pytest.mark.parametrize("shape", SHAPES)
def test_masks(rng: np.random.Generator, shape, portable) -> None:
    for m in maps(rng, shape, np.float32):
        for kernel_size in (0, 1, 4):
            fast = ap.compute_mask(m, 0.5, kernel_size)
            slow = portable(lambda m=m, k=kernel_size: ap.compute_mask(m, 0.5, k))
            assert np.array_equal(fast, slow), (shape, kernel_size)


def test_the_switch_is_restored(portable) -> None:
    m = np.linspace(0, 1, 256, dtype=np.float32).reshape(4, 64)
    before = ap.anomaly_map_to_color_map(m)
    portable(lambda: ap.anomaly_map_to_color_map(m))
    assert np.array_equal(ap.anomaly_map_to_color_map(m), before)
