"""OpenCV's FMA-CPU ``addWeighted`` bytes, for parity runs on CPUs without FMA.

The contract (docs/behaviour.md#blend, #simd) is the bytes ``cv2.addWeighted`` gives on
an x86-64 CPU with FMA: ``v = fma(a, f32(alpha), fma(b, f32(beta), f32(gamma)))`` in
float32, rounded half to even, converted to int32 (anything outside int32 or NaN
becomes INT_MIN, as the x86 conversion does) and saturated to uint8. Elsewhere OpenCV
gives other bytes while the package must not: on x86-64 without FMA its loops multiply
and add separately, and its aarch64 build (NEON) fuses in the other order,
``fma(b, beta, fma(a, alpha, gamma))``. There the parity tests have to compare against
this emulation.

As a pytest plugin (``-p fma_reference`` with this folder on ``PYTHONPATH``) it replaces
``cv2.addWeighted`` for the whole run when ``ANOMALY_POSTPROCESS_FMA_REFERENCE=1``; it
refuses to on an x86-64 CPU with FMA, where OpenCV's own answer is the reference. Only
uint8 inputs are emulated; anything else raises, so no test silently compares against
an unemulated answer.

``python fma_reference.py --self-check`` (on a CPU with FMA) compares the emulation with
the real ``cv2.addWeighted`` on every pair of byte values for a grid of weights,
including ones whose results overflow int32.
"""

from __future__ import annotations

import os
import platform
import sys
from functools import lru_cache
from typing import Any

import numpy as np

ENV = "ANOMALY_POSTPROCESS_FMA_REFERENCE"


def cpu_has_fma() -> bool:
    """x86 FMA as numpy's run-time detection sees it (qemu-user: the emulated model's)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__
    return bool(__cpu_features__.get("FMA3", False))


def fma_f32(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Correctly rounded float32 ``fma(x, y, z)`` for float32 arrays, without FMA.

    ``x * y`` is exact in float64 (two 24-bit significands). ``s = p + z`` may round;
    TwoSum recovers its error ``e`` exactly. Rounding ``s`` to float32 is the correct
    rounding of ``p + z`` unless ``s`` is exactly halfway between two float32 values and
    ``e != 0`` (any other ``s`` is at least one float64 ulp from every float32 midpoint,
    more than ``|e|``); there the sign of ``e`` picks the side.
    """
    p = x.astype(np.float64) * y.astype(np.float64)
    z = z.astype(np.float64)
    s = p + z
    v = s - p
    e = (p - (s - v)) + (z - v)
    with np.errstate(over="ignore", invalid="ignore"):
        r = s.astype(np.float32)
        up = np.nextafter(r, np.float32(np.inf))
        down = np.nextafter(r, np.float32(-np.inf))
        neighbour = np.where(s > r.astype(np.float64), up, down)
        halfway = (r.astype(np.float64) + neighbour.astype(np.float64)) * 0.5
    tie = (s != r.astype(np.float64)) & (s == halfway) & (e != 0)
    toward_e = np.where(e > 0, np.maximum(r, neighbour), np.minimum(r, neighbour))
    return np.where(tie, toward_e, r).astype(np.float32)


@lru_cache(maxsize=256)
def blend_table(alpha: float, beta: float, gamma: float) -> np.ndarray:
    """``table[a, b]``: OpenCV's FMA-CPU addWeighted of byte values a and b."""
    values = np.arange(256, dtype=np.float32)
    a = np.broadcast_to(values[:, None], (256, 256))
    b = np.broadcast_to(values[None, :], (256, 256))
    full = np.full((256, 256), np.float32(0))
    inner = fma_f32(b, full + np.float32(beta), full + np.float32(gamma))
    v = fma_f32(a, full + np.float32(alpha), inner)
    with np.errstate(invalid="ignore"):
        rounded = np.rint(v.astype(np.float64))  # half to even, exact for float32 values
        fits = (rounded >= -(2.0**31)) & (rounded < 2.0**31)
    rounded = np.where(fits, rounded, -(2.0**31))  # cvRound's INT_MIN, NaN included
    return np.clip(rounded, 0, 255).astype(np.uint8)


def add_weighted(
    src1: Any, alpha: float, src2: Any, beta: float, gamma: float, *rest: Any, **kw: Any
) -> np.ndarray:
    """``cv2.addWeighted(src1, alpha, src2, beta, gamma)`` as OpenCV computes it with FMA."""
    a, b = np.asarray(src1), np.asarray(src2)
    if rest or kw or a.dtype != np.uint8 or b.dtype != np.uint8 or a.shape != b.shape:
        raise TypeError(
            "fma_reference emulates cv2.addWeighted only for two uint8 arrays of one shape "
            f"and no dst/dtype; got {a.dtype}{a.shape}, {b.dtype}{b.shape}, {rest}, {kw}"
        )
    table = blend_table(float(alpha), float(beta), float(gamma))
    return table[a.astype(np.intp), b.astype(np.intp)]


def pytest_configure(config: Any) -> None:
    if os.environ.get(ENV) != "1":
        return
    if platform.machine() in ("x86_64", "AMD64") and cpu_has_fma():
        raise RuntimeError(f"{ENV}=1 on x86-64 with FMA: OpenCV's own answer is the reference")
    import cv2

    cv2.addWeighted = add_weighted
    # Printed rather than a report header: `pytest -q` shows no headers.
    print(f"fma_reference: cv2.addWeighted gives its x86-64 FMA bytes on this {platform.machine()}")


def self_check() -> int:
    import cv2

    if not cpu_has_fma():
        print("fma_reference --self-check needs a CPU with FMA (OpenCV's fused loops)")
        return 1
    alphas = [0.4, 0.0, 1.0, 0.5, 0.3, 0.7, 1 / 3, 0.123456789, 0.999, 1e-7, -0.5, 1.5, 3.7]
    gammas = [0, 1, -1, 0.5, -0.5, 2.5, 10.3, -7.7, 100, -100, 1e-3, 0.49999997, 254.5]
    extreme = [(1e10, 0), (-1e10, 0), (0.4, 1e12), (0.4, -1e12), (3e9, -1e9), (0.5, 3e38)]
    a = np.repeat(np.arange(256, dtype=np.uint8), 256).reshape(256, 256)
    b = np.ascontiguousarray(a.T)
    cases = [(x, g) for x in alphas for g in gammas] + extreme
    bad = [
        (x, g)
        for x, g in cases
        if not np.array_equal(add_weighted(a, x, b, 1 - x, g), cv2.addWeighted(a, x, b, 1 - x, g))
    ]
    print(f"fma_reference self-check: {len(cases) - len(bad)} of {len(cases)} weight pairs equal")
    if bad:
        print("differ:", bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(self_check() if sys.argv[1:] == ["--self-check"] else 2)
