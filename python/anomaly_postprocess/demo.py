"""A built-in demo input: a synthetic inspection image and a model-like anomaly map.

Everything is computed with numpy from fixed formulas and a coordinate hash (no
downloads, no random generator), so every call returns the same arrays.
"""

from __future__ import annotations

from typing import cast

import numpy as np
from numpy.typing import NDArray

DEMO_SIZE = 256

# Part geometry, in pixels of the DEMO_SIZE x DEMO_SIZE image.
_BORDER = 14  # width of the bevelled plate edge
_SCREW_RADIUS = 9
_SCREW_CENTRES = ((34, 34), (34, 221), (221, 34), (221, 221))
_SCRATCH_CONTROL_POINTS = ((70.0, 62.0), (96.0, 178.0), (176.0, 196.0))  # (y, x) Bézier
_STAIN_CENTRE, _STAIN_RADII = (178.0, 84.0), (9.0, 13.0)  # (y, x)
_DUST_CENTRE = (120.0, 206.0)  # a speck the mask's morphological opening removes


def make_demo() -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """Build the demo pair: a brushed-steel plate with a scratch and a rust stain.

    Returns:
        ``(image, anomaly_map)``: the ``(256, 256, 3)`` uint8 RGB image, and a
        ``(256, 256)`` float32 map in ``[0, 1]`` that peaks near 0.95 on the scratch
        and the stain, stays below 0.45 on the defect-free surface (mild noise
        and a faint response around the screw holes, like a real model), and has a
        small spot just above 0.5 on a dust speck that an opening with the default
        ``kernel_size=4`` removes from the mask.
    """
    y, x = np.mgrid[0:DEMO_SIZE, 0:DEMO_SIZE].astype(np.float64)
    scratch = _scratch_profile(width=1.4)
    stain = _ellipse(y, x, _STAIN_CENTRE, _STAIN_RADII)
    dust = _ellipse(y, x, _DUST_CENTRE, (2.5, 2.5))
    screws = [np.hypot(y - cy, x - cx) for cy, cx in _SCREW_CENTRES]
    image = _render_image(y, x, scratch, stain, dust, screws)
    anomaly_map = _render_map(scratch, stain, dust, screws)
    return image, anomaly_map


def _render_image(
    y: NDArray[np.float64],
    x: NDArray[np.float64],
    scratch: NDArray[np.float64],
    stain: NDArray[np.float64],
    dust: NDArray[np.float64],
    screws: list[NDArray[np.float64]],
) -> NDArray[np.uint8]:
    """Paints the plate: lighting, brushing, bevel, screw holes, then the defects."""
    size = DEMO_SIZE - 1
    shade = 128 + 40 * (1 - (y + x) / (2 * size))  # light from the top left
    shade += 14 * np.exp(-(((x - y) / 50.0) ** 2))  # a soft specular band
    brushing = _blur(_hash_noise(1), sigma_y=0.6, sigma_x=24.0)
    shade += 6 * (brushing - brushing.mean()) / brushing.std()  # horizontal brush streaks
    shade += 5 * (_hash_noise(2) - 0.5)  # fine grain

    # Bevelled edge, lit by the same light: top, left, bottom, right facets.
    distances_to_sides = np.stack([y, x, size - y, size - x])
    facet_shade = np.array([30.0, 18.0, -34.0, -22.0])[distances_to_sides.argmin(axis=0)]
    shade = np.where(distances_to_sides.min(axis=0) < _BORDER, shade + facet_shade, shade)

    for distance in screws:
        shade = np.where(distance < _SCREW_RADIUS + 2.5, shade + 30, shade)  # countersink rim
        shade = np.where(distance < _SCREW_RADIUS, 38 + 3 * distance, shade)  # the hole

    shade -= 85 * scratch  # the groove ...
    shade += 50 * np.roll(scratch, (-2, -2), axis=(0, 1))  # ... and its lit edge
    shade += 90 * dust

    rgb = shade[..., None] * np.array([0.97, 0.99, 1.04])  # steel is slightly blue
    rust = np.array([118.0, 62.0, 30.0]) + 25 * (_hash_noise(3)[..., None] - 0.5)
    rgb = rgb * (1 - stain[..., None]) + rust * stain[..., None]
    return cast("NDArray[np.uint8]", np.clip(np.rint(rgb), 0, 255).astype(np.uint8))


def _render_map(
    scratch: NDArray[np.float64],
    stain: NDArray[np.float64],
    dust: NDArray[np.float64],
    screws: list[NDArray[np.float64]],
) -> NDArray[np.float32]:
    """Builds the anomaly map a good model would output for the painted plate."""
    noise = _blur(_hash_noise(4), 6.0, 6.0)
    background = 0.14 + 0.05 * (noise - noise.mean()) / noise.std()  # mild, smooth noise
    background += sum(0.22 * np.exp(-(((d - _SCREW_RADIUS) / 6.0) ** 2)) for d in screws)
    defects = np.maximum(_peak(_blur(scratch, 5.0, 5.0)), _peak(_blur(stain, 5.0, 5.0)))
    speck = _peak(_blur(dust, 2.0, 2.0))
    response = np.maximum.reduce([background, 0.95 * defects, 0.56 * speck])
    return cast("NDArray[np.float32]", np.clip(response, 0, 1).astype(np.float32))


def _scratch_profile(width: float) -> NDArray[np.float64]:
    """A thin curved line (a quadratic Bézier) with a soft cross-section, peak 1."""
    (y0, x0), (y1, x1), (y2, x2) = _SCRATCH_CONTROL_POINTS
    t = np.linspace(0.0, 1.0, 2000)
    ys = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * y1 + t**2 * y2
    xs = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * x1 + t**2 * x2
    line = np.zeros((DEMO_SIZE, DEMO_SIZE))
    line[np.rint(ys).astype(int), np.rint(xs).astype(int)] = 1.0
    return _peak(_blur(line, width, width))


def _ellipse(
    y: NDArray[np.float64],
    x: NDArray[np.float64],
    centre: tuple[float, float],
    radii: tuple[float, float],
) -> NDArray[np.float64]:
    """An ellipse with a one-pixel soft edge: 1 inside, 0 outside."""
    r = np.hypot((y - centre[0]) / radii[0], (x - centre[1]) / radii[1])
    return np.clip((1 - r) * min(radii) + 0.5, 0, 1)


def _peak(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Scales ``values`` so their maximum is 1."""
    return cast("NDArray[np.float64]", values / values.max())


def _hash_noise(seed: int) -> NDArray[np.float64]:
    """Uniform [0, 1) white noise from an integer hash of the pixel coordinates."""
    y, x = np.mgrid[0:DEMO_SIZE, 0:DEMO_SIZE].astype(np.uint32)
    h = x * np.uint32(0x9E3779B1) ^ y * np.uint32(0x85EBCA77) ^ np.uint32(seed)
    # The "lowbias32" integer finaliser: every input bit flips about half the output bits.
    h = (h ^ (h >> np.uint32(16))) * np.uint32(0x7FEB352D)
    h = (h ^ (h >> np.uint32(15))) * np.uint32(0x846CA68B)
    h = h ^ (h >> np.uint32(16))
    return cast("NDArray[np.float64]", h.astype(np.float64) / 2.0**32)


def _blur(values: NDArray[np.float64], sigma_y: float, sigma_x: float) -> NDArray[np.float64]:
    """Separable Gaussian blur, wrapping around the borders (keeps noise statistics even)."""
    for axis, sigma in ((0, sigma_y), (1, sigma_x)):
        radius = int(3 * sigma + 0.5)
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
        taps /= taps.sum()
        padding = [(0, 0), (0, 0)]
        padding[axis] = (radius, radius)
        padded = np.pad(values, padding, mode="wrap")
        values = np.apply_along_axis(np.convolve, axis, padded, taps, mode="valid")
    return values
