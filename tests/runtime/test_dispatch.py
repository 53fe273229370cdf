"""The hand-written AVX-512 loops (VBMI colouring and blending, mask unpacking) and the
compiler-vectorised portable loops give the same bytes.

On a CPU with AVX-512 VBMI every other test exercises the hand-written loops; here the
same calls run once with them turned off (``_set_hand_written_simd(False)``) and the
results must be equal — shapes whose widths are and are not multiples of 64, both
float dtypes, strided maps, batches, palettes, blend weights that need clamping
(docs/behaviour.md#simd). On a CPU without them (AVX-512 F/BW/VBMI for colouring and
blending, F/BW for the masks) both runs would take the portable loops, so those
comparisons are skipped, with the reason, instead of passing without comparing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from anomaly_postprocess import _native
from conftest import random_image, skip_unless_cpu_has

SHAPES = [(1, 1), (3, 64), (5, 127), (2, 200), (17, 1029), (64, 64), (2, 4, 65)]

# The CPU features each set of hand-written loops needs (src/simd/mod.rs checks the same).
BW = ("avx512f", "avx512bw")
VBMI = (*BW, "avx512vbmi")


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
    skip_unless_cpu_has(*VBMI, loops="colouring loops")
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
    skip_unless_cpu_has(*VBMI, loops="blending loops")
    image = random_image(rng, shape[-2:])
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
    skip_unless_cpu_has(*BW, loops="mask unpacking loops")
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
