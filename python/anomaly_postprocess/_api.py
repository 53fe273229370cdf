"""The public functions: argument rules from ``_args``, arithmetic in the Rust core."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _native
from ._args import (
    as_finite_real,
    as_flag,
    as_images,
    as_kernel_size,
    as_maps,
    threshold_in_comparison_precision,
)

# Fresh results at least this large get their pages mapped in one system call instead
# of one page fault per 4 KiB page (see src/python/memory.rs).
_PREFAULT_BYTES = 1 << 18


def _new_result(shape: tuple[int, ...]) -> NDArray[np.uint8]:
    """A new C-contiguous uint8 array for a result, its pages ready to be written."""
    out = np.empty(shape, dtype=np.uint8)
    if out.nbytes >= _PREFAULT_BYTES:
        _native.prefault(out)
    return out


def anomaly_map_to_color_map(anomaly_map: ArrayLike, normalize: bool = True) -> NDArray[np.uint8]:
    """Compute the anomaly colour heatmap (OpenCV's JET colormap, RGB order).

    Bit-exact with anomalib's ``anomaly_map_to_color_map`` (numpy + ``cv2.applyColorMap``
    + ``cv2.cvtColor(BGR2RGB)``) for float32 and float64 maps.

    Args:
        anomaly_map: Final anomaly map computed by the model, shape ``(H, W)``; also
            ``(H, W, 1)``, ``(1, H, W)``, ``(1, 1, H, W)``, or a batch ``(*B, H, W)``.
            float16 is computed as float32, integer and bool maps as float64.
        normalize: Min-max normalise each map before applying the colour map, so its
            smallest value is dark blue and its largest dark red. Without it, values are
            expected in ``[0, 1]``. Defaults to True.

    Returns:
        A new C-contiguous ``uint8`` array of shape ``(*B, H, W, 3)``: the RGB heatmap.
        The level of a value ``v`` is ``trunc(v * 255)`` (after normalisation), computed
        in the map's own precision; levels outside ``0..255`` saturate. A constant map
        normalises to level 0 (dark blue).

    Raises:
        TypeError: ``anomaly_map`` is not a real-valued array, or ``normalize`` is not a bool.
        ValueError: ``anomaly_map`` has fewer than 2 dimensions, is empty, or holds NaN/±inf.
    """
    maps = as_maps(anomaly_map)
    flag = as_flag(normalize, "normalize")
    out = _new_result(maps.batch_shape + maps.map_shape + (3,))
    _native.color_maps(maps.stack, flag, out.reshape((-1,) + out.shape[-3:]))
    return out


def superimpose_anomaly_map(
    anomaly_map: ArrayLike,
    image: ArrayLike,
    alpha: float = 0.4,
    gamma: int = 0,
    normalize: bool = False,
) -> NDArray[np.uint8]:
    """Superimpose the anomaly heatmap on top of the input image.

    Bit-exact with anomalib's ``superimpose_anomaly_map``: the JET heatmap of
    :func:`anomaly_map_to_color_map` blended by ``cv2.addWeighted``, i.e. per channel
    ``I' = saturate(round(alpha * heatmap + (1 - alpha) * image + gamma))`` computed in
    float32 with fused multiply-adds, rounding half to even.

    Args:
        anomaly_map: Anomaly map ``(H, W)`` or a batch ``(*B, H, W)`` (same shape rules
            as :func:`anomaly_map_to_color_map`).
        image: Input image, ``uint8`` RGB of shape ``(H, W, 3)``, either one image for
            every map or one per map ``(*B, H, W, 3)``.
        alpha: Weight of the heatmap over the image. Defaults to 0.4. Any finite value;
            values outside ``[0, 1]`` extrapolate and the result saturates.
        gamma: Value added to the blended image. Defaults to 0. Any finite value.
        normalize: Min-max normalise each map before colouring it. Defaults to False,
            which expects map values in ``[0, 1]``.

    Returns:
        A new C-contiguous ``uint8`` array of shape ``(*B, H, W, 3)``: the image with the
        heatmap superimposed on it.

    Raises:
        TypeError: a map or image of the wrong dtype, or a non-numeric option.
        ValueError: mismatched shapes, empty maps, NaN/±inf in the map, or a non-finite
            ``alpha``/``gamma``.
    """
    maps = as_maps(anomaly_map)
    images = as_images(image, maps)
    weight = as_finite_real(alpha, "alpha")
    offset = as_finite_real(gamma, "gamma")
    flag = as_flag(normalize, "normalize")
    out = _new_result(maps.batch_shape + maps.map_shape + (3,))
    _native.superimpose_maps(
        maps.stack, images, weight, offset, flag, out.reshape((-1,) + out.shape[-3:])
    )
    return out


def compute_mask(anomaly_map: ArrayLike, threshold: float, kernel_size: int = 4) -> NDArray[np.uint8]:
    """Compute the anomaly mask by thresholding the predicted anomaly map.

    Bit-exact with anomalib's ``compute_mask`` (``anomaly_map > threshold``, then a
    morphological opening with ``skimage.morphology.disk(kernel_size)``, times 255),
    with OpenCV's border rule where the disk is larger than the map.

    Args:
        anomaly_map: Anomaly map predicted by the model, ``(H, W)`` or a batch
            ``(*B, H, W)``. NaN pixels are never above the threshold.
        threshold: Anomaly score above which (strictly) a pixel is a defect. A Python
            number is compared in the map's precision (as numpy does), a numpy scalar in
            the common precision of both.
        kernel_size: Radius of the disk used to open the mask, which removes specks
            smaller than the disk. 0 disables the opening. Defaults to 4.

    Returns:
        A new C-contiguous ``uint8`` array of shape ``(*B, H, W)`` holding 0 or 255.

    Raises:
        TypeError: a map of the wrong dtype, a non-numeric threshold or a
            non-integer kernel size.
        ValueError: empty maps, a NaN threshold or a negative kernel size.
    """
    maps = as_maps(anomaly_map)
    limit = threshold_in_comparison_precision(threshold, maps.source_dtype)
    radius = as_kernel_size(kernel_size)
    out = _new_result(maps.batch_shape + maps.map_shape)
    _native.masks(maps.stack, limit, radius, out.reshape((-1,) + out.shape[-2:]))
    return out
