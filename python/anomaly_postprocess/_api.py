"""The public functions: argument rules from ``_args``, arithmetic in the Rust core."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias, TypeGuard, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _native
from ._args import (
    _MAX_KERNEL_SIZE,
    Maps,
    as_color,
    as_finite_real,
    as_flag,
    as_image,
    as_images,
    as_kernel_size,
    as_map_array,
    as_maps,
    as_mask,
    as_mask_array,
    as_min_area,
    as_ndarray,
    as_out,
    as_palette,
    as_size,
    as_value_range,
    check_finite,
    check_no_overlap,
    mask_comparison,
    round_to_float32,
)

# Fresh results at least this large come from a pool of recycled buffers whose pages
# are already mapped, instead of one page fault per 4 KiB page (see src/pool/ and
# src/python/numpy_allocator.rs).
_POOLED_BYTES: int = _native.POOLED_BYTES


class SupportsDLPack(Protocol):
    """An object numpy reads through DLPack (a torch, JAX, CuPy or array-API tensor):
    every array argument takes one besides what numpy's ``ArrayLike`` covers
    (``docs/behaviour.md#api``)."""

    def __dlpack__(self) -> object: ...
    def __dlpack_device__(self) -> tuple[int, int]: ...


ArrayOrDLPack: TypeAlias = ArrayLike | SupportsDLPack

_FLOAT32 = np.dtype(np.float32)
_UINT8 = np.dtype(np.uint8)


def _plain_real(value: object) -> bool:
    """Whether ``value`` is a finite Python float, or an int that converts exactly."""
    if type(value) is float:
        return math.isfinite(value)
    return type(value) is int and -(2**53) <= value <= 2**53


def _plain_range(value_range: object) -> TypeGuard[tuple[float, float] | None]:
    """Whether ``value_range`` is None or a tuple of two plain reals (``_plain_real``)
    with ``low < high``: what ``as_value_range`` passes on unchanged."""
    return value_range is None or (
        type(value_range) is tuple
        and len(value_range) == 2
        and _plain_real(value_range[0])
        and _plain_real(value_range[1])
        and value_range[0] < value_range[1]
    )


def _plain_float32_map(anomaly_map: object) -> TypeGuard[NDArray[np.float32]]:
    """Whether the map is the common case that needs no conversion and no shape rule: a
    non-empty ``(H, W)`` ndarray of native float32. Such calls go to the kernel in one
    native call: with cold caches (a map fresh from the model), every numpy call of the
    general path costs 15-50 µs, more than the kernel on small maps."""
    return (
        type(anomaly_map) is np.ndarray
        and anomaly_map.ndim == 2
        and anomaly_map.dtype is _FLOAT32
        and anomaly_map.size > 0
        and anomaly_map.flags.aligned
    )


def _result(
    shape: tuple[int, ...], out: object, inputs: dict[str, NDArray[Any] | None]
) -> NDArray[np.uint8]:
    """The caller's checked ``out=`` array, or a new C-contiguous uint8 array whose
    pages are ready to be written (from the output pool when large).

    ``inputs``: each array argument's name and the caller's own array, before any
    conversion, copy or resize (``docs/behaviour.md#memory``)."""
    given = as_out(out, shape)
    if given is not None:
        check_no_overlap(given, inputs)
        return given
    return _new_result(shape)


def _new_result(shape: tuple[int, ...]) -> NDArray[np.uint8]:
    """A new C-contiguous uint8 array whose pages are ready to be written (from the
    output pool when large)."""
    if math.prod(shape) >= _POOLED_BYTES:
        return _native.new_output(shape)
    return np.empty(shape, dtype=np.uint8)


def _per_map(result: NDArray[np.uint8], item_dims: int) -> NDArray[np.uint8]:
    """The C-contiguous result as ``(maps, *item)``: always a view."""
    return result.reshape((-1,) + result.shape[result.ndim - item_dims :])


def _resize_images(images: NDArray[np.uint8], shape: tuple[int, int]) -> NDArray[np.uint8]:
    """Each image resized to ``shape`` like ``cv2.resize(..., INTER_LINEAR)``, bit-exact."""
    resized = np.empty(images.shape[:-3] + shape + (3,), dtype=np.uint8)
    for index in np.ndindex(images.shape[:-3]):
        _native.resize_image(images[index], resized[index])
    return resized


def _resize_maps(maps: Maps, shape: tuple[int, int]) -> Maps:
    """Each map resized to ``shape`` (bilinear, in its float dtype), before levels."""
    resized = np.empty(maps.batch_shape + shape, dtype=maps.stack.dtype)
    for index in np.ndindex(maps.batch_shape):
        _native.resize_map(maps.stack[index], resized[index])
    return Maps(stack=resized, source_dtype=maps.source_dtype)


def anomaly_map_to_color_map(
    anomaly_map: ArrayOrDLPack,
    normalize: bool = True,
    *,
    value_range: tuple[float, float] | ArrayOrDLPack | None = None,
    colormap: str | int | ArrayOrDLPack = "jet",
    out: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
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
        value_range: Keyword-only fixed range ``(low, high)`` of scores, the same for
            every map and every call: ``low`` is dark blue, ``high`` dark red, values
            outside saturate. Takes precedence over ``normalize``. Use it so that
            colours mean the same score in every image (with ``normalize=True`` a good
            part's largest score, however small, is painted dark red): e.g. ``(0,
            2 * image_threshold)`` or the range the model's scores are normalised with.
            Two finite real numbers, ``low < high``, whose difference is finite and
            positive in the map's float type. Defaults to None (off).
        colormap: Keyword-only colour map: any OpenCV colormap by lower-case name
            (``"jet"``, ``"turbo"``, ``"viridis"``, ``"inferno"``, …) or by its
            ``cv2.COLORMAP_*`` integer, bit-exact with ``cv2.applyColorMap`` (RGB
            order), or a (256, 3) uint8 RGB table of your own. Defaults to ``"jet"``.
        out: Optional keyword-only destination: a C-contiguous, writable ``uint8`` array
            of exactly the result's shape, not sharing memory with the inputs. It
            receives the result and is returned, and no image-sized memory is allocated.

    Returns:
        A new C-contiguous ``uint8`` array of shape ``(*B, H, W, 3)``: the RGB heatmap.
        The level of a value ``v`` is ``trunc(v * 255)`` (after normalisation), computed
        in the map's own precision; levels outside ``0..255`` saturate. A constant map
        normalises to level 0 (dark blue). With ``value_range=(low, high)`` it is
        ``trunc((v - low) / (high - low) * 255)``, computed exactly as the min-max
        normalisation (``docs/behaviour.md#levels``): ``value_range=(m.min(),
        m.max())`` gives the bytes of ``normalize=True`` for any non-constant map.

    Raises:
        TypeError: ``anomaly_map`` is not a real-valued array, ``normalize`` is not a
            bool, or ``value_range`` is not two real numbers.
        ValueError: ``anomaly_map`` has fewer than 2 dimensions, is empty, or holds NaN/±inf;
            ``value_range`` is not finite, not ``low < high``, or too wide or too narrow
            for the map's float type; or ``out`` has the wrong shape or layout.
    """
    if (
        type(normalize) is bool
        and _plain_range(value_range)
        and type(colormap) is str
        and colormap == "jet"
        and out is None
        and _plain_float32_map(anomaly_map)
    ):
        return _native.color_map_f32(anomaly_map, normalize, value_range)
    source = as_map_array(anomaly_map)
    maps = as_maps(source)
    flag = as_flag(normalize, "normalize")
    fixed = as_value_range(value_range)
    palette, table = as_palette(colormap)
    shape = maps.batch_shape + maps.map_shape + (3,)
    result = _result(shape, out, {"anomaly_map": source, "colormap": table})
    _native.color_maps(maps.stack, flag, fixed, palette, _per_map(result, 3))
    return result


def superimpose_anomaly_map(
    anomaly_map: ArrayOrDLPack,
    image: ArrayOrDLPack,
    alpha: float = 0.4,
    gamma: float = 0,
    normalize: bool = False,
    *,
    value_range: tuple[float, float] | ArrayOrDLPack | None = None,
    colormap: str | int | ArrayOrDLPack = "jet",
    size: str = "map",
    out: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """Superimpose the anomaly heatmap on top of the input image.

    Bit-exact with anomalib's ``superimpose_anomaly_map``: the JET heatmap of
    :func:`anomaly_map_to_color_map` blended by ``cv2.addWeighted``, i.e. per channel
    ``I' = saturate(round(alpha * heatmap + (1 - alpha) * image + gamma))`` computed in
    float32 with fused multiply-adds, rounding half to even.

    Args:
        anomaly_map: Anomaly map ``(H, W)`` or a batch ``(*B, H, W)`` (same shape rules
            as :func:`anomaly_map_to_color_map`).
        image: Input image, ``uint8`` RGB of shape ``(h, w, 3)``, either one image for
            every map or one per map ``(*B, h, w, 3)``. When ``(h, w)`` differs from
            the map's ``(H, W)``, see ``size``.
        alpha: Weight of the heatmap over the image. Defaults to 0.4. Any finite value;
            values outside ``[0, 1]`` extrapolate and the result saturates.
        gamma: Value added to every blended channel before rounding, as
            ``cv2.addWeighted``'s ``gamma``. Defaults to 0. anomalib annotates it
            ``int``; any finite real number is accepted (a Python or numpy int or
            float, not bool), and like ``cv2.addWeighted`` it is rounded to float32
            before it is added (``docs/behaviour.md#blend``).
        normalize: Min-max normalise each map before colouring it. Defaults to False,
            which expects map values in ``[0, 1]``.
        value_range: Keyword-only fixed range ``(low, high)`` of scores for the heatmap,
            as for :func:`anomaly_map_to_color_map` (``low`` dark blue, ``high`` dark
            red, values outside saturate). Takes precedence over ``normalize``.
            Defaults to None (off).
        colormap: Keyword-only colour map: any OpenCV colormap by lower-case name
            (``"jet"``, ``"turbo"``, ``"viridis"``, ``"inferno"``, …) or by its
            ``cv2.COLORMAP_*`` integer, bit-exact with ``cv2.applyColorMap`` (RGB
            order), or a (256, 3) uint8 RGB table of your own. Defaults to ``"jet"``.
        size: Keyword-only ``str``, for an image whose size differs from the map's. ``"map"``
            (default, as anomalib >= 1.0): the image is resized to the map's size,
            bit-exact with ``cv2.resize(image, (W, H), interpolation=cv2.INTER_LINEAR)``.
            ``"image"``: the map is resized instead (bilinear on the float values,
            like ``cv2.resize`` with ``INTER_LINEAR``, before levels are taken), so the
            overlay keeps the camera's full resolution.
        out: Optional keyword-only destination: a C-contiguous, writable ``uint8`` array
            of exactly the result's shape, not sharing memory with the inputs. It
            receives the result and is returned, and no image-sized memory is allocated
            (unless a resize is needed).

    Returns:
        A new C-contiguous ``uint8`` array of shape ``(*B, H, W, 3)`` (the image's
        ``(h, w)`` with ``size="image"``): the image with the
        heatmap superimposed on it.

    Raises:
        TypeError: a map or image of the wrong dtype, a non-numeric option, or a
            ``size`` that is not a str.
        ValueError: mismatched shapes, empty maps, NaN/±inf in the map (counted and
            placed in the caller's map, also when it is resized), a non-finite
            ``alpha``/``gamma``, a bad ``value_range``, an unknown ``size`` or
            colormap, or an ``out`` of the wrong shape or layout or sharing memory with
            an input.
    """
    if (
        type(alpha) is float
        and math.isfinite(alpha)
        and _plain_real(gamma)
        and type(normalize) is bool
        and _plain_range(value_range)
        and type(colormap) is str
        and colormap == "jet"
        and type(size) is str
        and size == "map"
        and out is None
        and _plain_float32_map(anomaly_map)
        and type(image) is np.ndarray
        and image.dtype is _UINT8
        and image.shape == anomaly_map.shape + (3,)
    ):
        # The general path below gives these arguments for this case (no resize).
        return _native.superimpose_f32(
            anomaly_map, image, alpha, float(gamma), normalize, value_range
        )
    source = as_map_array(anomaly_map)
    maps = as_maps(source)
    pictures = as_images(image, maps)
    target = as_size(size)
    weight = as_finite_real(alpha, "alpha")
    offset = as_finite_real(gamma, "gamma")
    flag = as_flag(normalize, "normalize")
    fixed = as_value_range(value_range)
    palette, table = as_palette(colormap)
    image_shape = (pictures.shape[-3], pictures.shape[-2])
    resize = image_shape != maps.map_shape
    shape = maps.batch_shape + (image_shape if target == "image" else maps.map_shape) + (3,)
    # Every argument is checked before any resize (which allocates and takes time).
    result = _result(shape, out, {"anomaly_map": source, "image": pictures, "colormap": table})
    images = pictures
    if resize and target == "map":
        images = _resize_images(pictures, maps.map_shape)
    elif resize:
        # Checked before the resize, so an error counts and places the NaN/±inf values
        # of the caller's map, not those of the resized one.
        check_finite(maps)
        return _superimpose_resized_maps(
            _resize_maps(maps, image_shape), images, weight, offset, flag, fixed, palette, result
        )
    _native.superimpose_maps(
        maps.stack, images, weight, offset, flag, fixed, palette, _per_map(result, 3)
    )
    return result


def _superimpose_resized_maps(
    maps: Maps,
    images: NDArray[np.uint8],
    alpha: float,
    gamma: float,
    normalize: bool,
    value_range: tuple[float, float] | None,
    palette: NDArray[np.uint8] | None,
    result: NDArray[np.uint8],
) -> NDArray[np.uint8]:
    """``superimpose_maps`` on maps resized from the caller's finite maps: a non-finite
    value can only come from the interpolation, and the error says so."""
    try:
        _native.superimpose_maps(
            maps.stack, images, alpha, gamma, normalize, value_range, palette, _per_map(result, 3)
        )
    except ValueError as error:
        if not str(error).startswith("anomaly_map must be finite"):
            raise
        # Values near the dtype's limits: a weighted sum of two of them overflows.
        raise ValueError(
            'anomaly_map is finite, but resizing it to the image\'s size (size="image") '
            f"overflowed to NaN/±inf: its values are too close to {maps.stack.dtype}'s "
            'limits to be interpolated; scale the map down or pass size="map"'
        ) from None
    return result


def compute_mask(
    anomaly_map: ArrayOrDLPack,
    threshold: float,
    kernel_size: int = 4,
    *,
    min_area: int = 0,
    out: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """Compute the anomaly mask by thresholding the predicted anomaly map.

    Bit-exact with anomalib's ``compute_mask`` (``anomaly_map > threshold``, then a
    morphological opening with ``skimage.morphology.disk(kernel_size)``, times 255),
    with OpenCV's border rule where the disk is larger than the map.

    Args:
        anomaly_map: Anomaly map predicted by the model, ``(H, W)`` or a batch
            ``(*B, H, W)``. NaN pixels are never above the threshold.
        threshold: Anomaly score above which (strictly) a pixel is a defect. A Python
            number is compared in the map's precision (as numpy does), a numpy scalar in
            the common precision of both (a 0-d array or CPU tensor is a numpy scalar).
        kernel_size: Radius of the disk used to open the mask, which removes specks
            smaller than the disk. 0 disables the opening. Defaults to 4.
        min_area: Keyword-only: after the opening, remove the 8-connected components
            of fewer than ``min_area`` pixels (as filtering
            ``cv2.connectedComponentsWithStats(mask, connectivity=8)`` by area).
            Defaults to 0 (keep everything).
        out: Optional keyword-only destination: a C-contiguous, writable ``uint8`` array
            of exactly the result's shape, not sharing memory with the inputs. It
            receives the result and is returned, and no image-sized memory is allocated.

    Returns:
        A new C-contiguous ``uint8`` array of shape ``(*B, H, W)`` holding 0 or 255.

    Raises:
        TypeError: a map of the wrong dtype, a non-numeric threshold or a
            non-integer kernel size.
        ValueError: empty maps, a NaN threshold or a negative kernel size.
    """
    if (
        type(threshold) is float
        and threshold == threshold
        and type(kernel_size) is int
        and 0 <= kernel_size <= _MAX_KERNEL_SIZE
        and type(min_area) is int
        and min_area == 0
        and out is None
        and _plain_float32_map(anomaly_map)
    ):
        # What the general path below computes for this case: the threshold rounded to
        # float32 (weak, NEP 50), no conversion, no shape rule, a new result.
        limit = round_to_float32(threshold)
        return _native.mask_f32(anomaly_map, limit, kernel_size)
    source = as_map_array(anomaly_map)
    compared, limit = mask_comparison(source, threshold)
    maps = as_maps(compared)
    radius = as_kernel_size(kernel_size)
    smallest = as_min_area(min_area)
    result = _result(maps.batch_shape + maps.map_shape, out, {"anomaly_map": source})
    _native.masks(maps.stack, limit, radius, smallest, _per_map(result, 2))
    return result


Boxes = NDArray[np.int64]
Scores = NDArray[np.float32] | NDArray[np.float64]


@overload
def mask_to_boxes(
    mask: ArrayOrDLPack, min_area: int = 0, *, anomaly_map: None = None
) -> Boxes | list[Boxes]: ...
@overload
def mask_to_boxes(
    mask: ArrayOrDLPack, min_area: int = 0, *, anomaly_map: ArrayOrDLPack
) -> tuple[Boxes, Scores] | list[tuple[Boxes, Scores]]: ...
def mask_to_boxes(
    mask: ArrayOrDLPack, min_area: int = 0, *, anomaly_map: ArrayOrDLPack | None = None
) -> Boxes | list[Boxes] | tuple[Boxes, Scores] | list[tuple[Boxes, Scores]]:
    """Bounding boxes of the defects in a mask, and optionally their anomaly scores
    (``docs/behaviour.md#regions``).

    Args:
        mask: One mask ``(H, W)`` (e.g. from :func:`compute_mask`) or a batch of masks
            ``(B, H, W)``; pixels ``> 0`` are set. Leading axes of length 1 are
            dropped (``(1, H, W)`` is one mask), and a trailing axis of length 1
            (``(H, W, 1)``, ``(B, H, W, 1)``) is a channel axis.
        min_area: Leave out components of fewer pixels. Defaults to 0 (all).
        anomaly_map: Optional keyword-only map of the mask's shape (or one whose
            length-1 axes drop to it): each box then gets a score, the maximum of the
            map over the pixels of its component, as anomalib's
            ``masks_to_boxes(masks, anomaly_maps)``. NaN values are ignored (anomalib's
            ``torch.max`` would give NaN); a component whose values are all NaN scores
            NaN. Scores are exact, in the map's dtype: float32 for float16 and float32
            maps, float64 for float64, integer and bool maps (integers beyond 2**53
            round to float64, as everywhere in this library).

    Returns:
        For one mask, a new ``int64`` array of shape ``(K, 4)``: one row
        ``(x1, y1, x2, y2)`` per 8-connected component, inclusive corners (as anomalib's
        ``masks_to_boxes``), in the label order of ``cv2.connectedComponentsWithStats``;
        ``(0, 4)`` when there is none. With ``anomaly_map``, a tuple
        ``(boxes, scores)`` where ``scores`` has shape ``(K,)``. For a batch, a list
        with that result for each mask.

    Raises:
        TypeError: a non-numeric mask or map (complex, object, string…), or a
            non-integer ``min_area``.
        ValueError: a mask that is neither ``(H, W)`` nor ``(B, H, W)``, an empty one,
            a negative ``min_area``, or a map whose shape differs from the mask's.
    """
    stack, batch = _mask_stack(mask)
    smallest = as_min_area(min_area)
    if anomaly_map is None:
        tables = _native.box_lists(stack, smallest)
        return tables if batch else tables[0]
    maps = _box_score_maps(anomaly_map, stack.shape[0] if batch else None, stack.shape[1:])
    results = _native.box_score_lists(stack, maps, smallest)
    return results if batch else results[0]


def mark_boundaries(
    image: ArrayOrDLPack,
    mask: ArrayOrDLPack,
    color: tuple[int, int, int] = (255, 0, 0),
    *,
    out: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """The image with the outline of the mask's regions painted on it.

    The outline is ``skimage.segmentation.find_boundaries(mask > 0, mode="thick")``:
    the pixels on both sides of every edge between set and clear pixels.

    Args:
        image: RGB image ``(H, W, 3)``, uint8.
        mask: Mask ``(H, W)``; pixels ``> 0`` are set.
        color: RGB colour of the outline: three integers 0..255 in a sequence (tuple,
            list, array or CPU tensor). A mapping or a set is refused. Defaults to red.
        out: Keyword-only destination, as for the other functions; it must not share
            memory with ``image`` or the caller's ``mask`` (whatever its dtype).

    Returns:
        A new ``(H, W, 3)`` uint8 image (or ``out``); ``image`` itself is not modified.

    Raises:
        TypeError: wrong dtypes or a malformed ``color``.
        ValueError: shapes that do not match, colour values outside 0..255, or an
            ``out`` of the wrong shape or layout or sharing memory with an input.
    """
    source = as_mask_array(mask)
    bits = as_mask(source)
    picture = as_image(image, bits.shape)
    rgb = as_color(color)
    # The caller's mask, not ``bits``: for a mask that is not uint8/bool, ``bits`` is a
    # new array that ``out`` cannot overlap, while the caller's may.
    result = _result(picture.shape, out, {"image": picture, "mask": source})
    _native.boundaries(picture, bits, rgb, result)
    return result


# --- Boxes: mask_to_boxes for batches and with scores, draw_boxes ---------------------

_MASKS_EXPECTED = "one 2-D mask (H, W) or a batch of them (B, H, W)"


def _mask_axes(array: NDArray[Any]) -> NDArray[Any]:
    """``mask_to_boxes``' shape rule as a view: leading length-1 axes dropped while more
    than two remain, then a trailing length-1 channel axis (as for one mask before)."""
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim >= 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return array


def _mask_stack(mask: object) -> tuple[NDArray[np.uint8], bool]:
    """The masks as a uint8 ``(B, H, W)`` stack where ``mask > 0`` is set (a view for
    uint8 and bool), and whether the caller passed a batch."""
    array = as_ndarray(mask, "mask", f"{_MASKS_EXPECTED} of numbers or bools")
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"mask must be {_MASKS_EXPECTED} of numbers or bools, got dtype {array.dtype}"
        )
    squeezed = _mask_axes(array)
    if squeezed.ndim not in (2, 3):
        raise ValueError(f"mask must be {_MASKS_EXPECTED}, got shape {array.shape}")
    if 0 in squeezed.shape:
        raise ValueError(f"mask must not be empty, got shape {array.shape}")
    if squeezed.dtype == np.uint8:
        bits = squeezed
    elif squeezed.dtype == np.bool_:
        bits = squeezed.view(np.uint8)
    else:
        bits = np.greater(squeezed, 0).view(np.uint8)
    return (bits if bits.ndim == 3 else bits[np.newaxis]), bits.ndim == 3


def _box_score_maps(
    anomaly_map: object, batch: int | None, shape: tuple[int, ...]
) -> NDArray[np.float32] | NDArray[np.float64]:
    """The map(s) for box scores as a float32 or float64 ``(B, H, W)`` array: float16
    and float32 maps as float32, the others as float64 (exact for every value of the
    smaller dtypes; the maximum commutes with this monotonic conversion)."""
    source = as_map_array(anomaly_map)
    squeezed = _mask_axes(source)
    expected = (batch, *shape) if batch is not None else shape
    if squeezed.shape != expected:
        raise ValueError(
            f"anomaly_map must have the mask's shape {expected} (one map per mask), "
            f"got shape {source.shape}"
        )
    stack = squeezed if batch is not None else squeezed[np.newaxis]
    dtype = source.dtype
    compute = np.float32 if dtype.kind == "f" and dtype.itemsize <= 4 else np.float64
    # astype also converts a non-native byte order, and copies a misaligned array (a
    # Rust view of one would be undefined behaviour; the binding layer refuses it).
    if stack.dtype != compute or not stack.flags.aligned:
        stack = stack.astype(compute)
    return stack


# cv2.rectangle's largest thickness (it refuses more).
_MAX_THICKNESS = 32767


def _as_thickness(value: object) -> int:
    """A line thickness: an integer from 1 to 32767 (an integral float such as 2.0 is
    accepted, as for kernel_size)."""
    if type(value) is int and 1 <= value <= _MAX_THICKNESS:  # the common case, fast
        return value
    expected = f"thickness must be an integer from 1 to {_MAX_THICKNESS}"
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{expected}, got {type(value).__name__} {value!r}")
    if isinstance(value, numbers.Integral):
        count = int(value)
    elif (
        isinstance(value, numbers.Real)
        and math.isfinite(float(value))
        and float(value).is_integer()
    ):
        count = int(float(value))
    elif isinstance(value, numbers.Real):
        raise ValueError(f"{expected}, got {value!r}")
    else:
        raise TypeError(f"{expected}, got {type(value).__name__} {value!r}"[:200])
    if not 1 <= count <= _MAX_THICKNESS:
        raise ValueError(f"{expected} (OpenCV's limit), got {count}")
    return count


# Box coordinates are clipped to this magnitude: the kernel only needs them to within
# a thickness of the image, and int64 holds them.
_COORDINATE_LIMIT = 2**62


def _as_boxes(boxes: object) -> tuple[NDArray[np.int64], NDArray[Any]]:
    """Boxes as an int64 ``(K, 4)`` array: integers, or floats holding integers (as
    anomalib's float boxes do). ``[]`` is no boxes. Also the caller's array, for the
    overlap check of ``out=``."""
    expected = "boxes must be an integer array (K, 4) of rows (x1, y1, x2, y2)"
    array = as_ndarray(boxes, "boxes", expected.removeprefix("boxes must be "))
    if array.shape == (0,):
        return np.empty((0, 4), dtype=np.int64), array
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{expected}, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{expected}, got shape {array.shape}")
    if array.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            integral = np.isfinite(array) & (np.trunc(array) == array)
        if not integral.all():
            bad = array[~integral][0]
            raise ValueError(
                f"{expected}: coordinates must be whole numbers, got {float(bad)}; to truncate "
                "as anomalib's draw_boxes does, pass boxes.astype(int)"
            )
    if array.dtype == np.int64 and not array.flags.aligned:
        return array.copy(), array  # the binding layer refuses a misaligned view
    if array.dtype.kind == "i" or (array.dtype.kind == "u" and array.dtype.itemsize < 8):
        return array.astype(np.int64, copy=False), array  # exact
    clipped: NDArray[Any]
    if array.dtype.kind == "u":
        clipped = np.minimum(array, np.uint64(_COORDINATE_LIMIT))
    else:
        wide = array if array.dtype.itemsize > 8 else array.astype(np.float64)  # exact
        limit = float(_COORDINATE_LIMIT)
        clipped = np.clip(wide, -limit, limit)
    return clipped.astype(np.int64), array  # whole numbers within int64: exact


def _as_box_image(image: object) -> NDArray[np.uint8]:
    """One uint8 RGB image ``(H, W, 3)`` (leading length-1 axes dropped)."""
    expected = "image must be one RGB image (H, W, 3) uint8"
    array = as_ndarray(image, "image", expected.removeprefix("image must be "))
    if array.dtype != np.uint8:
        raise TypeError(f"{expected}, got dtype {array.dtype}")
    squeezed = array
    while squeezed.ndim > 3 and squeezed.shape[0] == 1:
        squeezed = squeezed[0]
    if squeezed.ndim != 3 or squeezed.shape[-1] != 3 or 0 in squeezed.shape:
        raise ValueError(f"{expected}, got shape {array.shape}")
    return squeezed


def draw_boxes(
    image: ArrayOrDLPack,
    boxes: ArrayOrDLPack,
    color: tuple[int, int, int] = (255, 0, 0),
    thickness: int = 2,
    *,
    out: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """The image with the outlines of boxes drawn on it (``docs/behaviour.md#regions``).

    Bit-exact with anomalib's ``draw_boxes`` (``cv2.rectangle(image, (x1, y1), (x2, y2),
    color=color, thickness=2)`` for each box), for every thickness: a box's corners are
    the inclusive ``(x1, y1)`` and ``(x2, y2)`` in either order, lines are centred on
    them, and a line reaches ``(thickness + 1) // 2`` pixels to each side (thickness 1:
    the 1-pixel outline) with rounded outer corners, as OpenCV draws them. Parts
    outside the image are clipped. Unlike anomalib's, the input image is not modified.

    Args:
        image: One RGB image ``(H, W, 3)``, uint8 (not a batch: call once per image).
        boxes: ``(K, 4)`` rows ``(x1, y1, x2, y2)``, as :func:`mask_to_boxes` returns
            them: integers (floats holding whole numbers are accepted), anywhere.
        color: Colour of the outlines: three integers 0..255 (a sequence, an array or
            a CPU tensor), in the image's channel order (as ``cv2.rectangle``). Defaults
            to red.
        thickness: Line thickness, an integer from 1 to 32767 (OpenCV's limit). As in
            OpenCV, 3 and 4 draw equally thick lines (5 pixels), as do 5 and 6 and so
            on. Defaults to 2 (anomalib's, 3 pixels).
        out: Keyword-only destination, as for the other functions.

    Returns:
        A new ``(H, W, 3)`` uint8 image (or ``out``); ``image`` itself is not modified.

    Raises:
        TypeError: wrong dtypes, a malformed ``color`` or a non-integer ``thickness``.
        ValueError: wrong shapes, colour values outside 0..255, a thickness outside
            1..32767, or box coordinates that are not whole numbers.
    """
    picture = _as_box_image(image)
    table, source = _as_boxes(boxes)
    rgb = as_color(color)
    width = _as_thickness(thickness)
    result = _result(picture.shape, out, {"image": picture, "boxes": source})
    _native.draw_boxes(picture, table, rgb, width, result)
    return result


# --- postprocess: every product of a frame in one call --------------------------------


@dataclass(frozen=True, slots=True, eq=False, repr=False)
class Frame:
    """The products of :func:`postprocess` for one map or a batch of maps
    (``docs/behaviour.md#api``); a product that was not asked for is None.

    Attributes:
        heatmap: ``uint8 (*B, H, W, 3)``, as :func:`anomaly_map_to_color_map` returns it.
        overlay: ``uint8 (*B, H, W, 3)`` (the image's ``(h, w)`` with
            ``size="image"``), as :func:`superimpose_anomaly_map` returns it.
        mask: ``uint8 (*B, H, W)``, 0 and 255, as :func:`compute_mask` returns it.
        boxes: the mask's boxes, ``int64 (K, 4)``, as :func:`mask_to_boxes` returns
            them; for a batch, a list with one entry per map (nested lists for several
            batch axes).
        scores: each box's score, ``(K,)`` float32 or float64, the maximum of the map
            over the box's region; for a batch, lists as for ``boxes``.
    """

    heatmap: NDArray[np.uint8] | None
    overlay: NDArray[np.uint8] | None
    mask: NDArray[np.uint8] | None
    boxes: Boxes | list[Any] | None
    scores: Scores | list[Any] | None

    def __repr__(self) -> str:
        fields = ("heatmap", "overlay", "mask", "boxes", "scores")
        return "Frame(" + ", ".join(f"{f}={_summary(getattr(self, f))}" for f in fields) + ")"


def _summary(value: object, items: int = 4) -> str:
    """An array as its dtype and shape (its bytes would fill the screen), a list as the
    summaries of its first ``items`` entries."""
    if isinstance(value, np.ndarray):
        return f"{value.dtype}{value.shape}"
    if isinstance(value, list):
        shown = [_summary(v, items) for v in value[:items]]
        if len(value) > items:
            shown.append(f"… {len(value) - items} more")
        return "[" + ", ".join(shown) + "]"
    return repr(value)


def _nested(flat: list[Any], batch_shape: tuple[int, ...]) -> Any:
    """The per-map results of a flat (row-major) batch as nested lists along the batch
    axes; for one map, its result itself."""
    if not batch_shape:
        return flat[0]
    if len(batch_shape) == 1:
        return flat
    step = math.prod(batch_shape[1:])
    return [
        _nested(flat[i * step : (i + 1) * step], batch_shape[1:]) for i in range(batch_shape[0])
    ]


def postprocess(
    anomaly_map: ArrayOrDLPack,
    image: ArrayOrDLPack | None = None,
    threshold: float | None = None,
    *,
    heatmap: bool = True,
    boxes: bool = True,
    normalize_heatmap: bool = True,
    normalize_overlay: bool = False,
    value_range: tuple[float, float] | ArrayOrDLPack | None = None,
    alpha: float = 0.4,
    gamma: float = 0,
    colormap: str | int | ArrayOrDLPack = "jet",
    size: str = "map",
    kernel_size: int = 4,
    min_area: int = 0,
    out_heatmap: NDArray[np.uint8] | None = None,
    out_overlay: NDArray[np.uint8] | None = None,
    out_mask: NDArray[np.uint8] | None = None,
) -> Frame:
    """Every product of a frame in one call: the heatmap, the overlay, the mask and the
    boxes with their scores (``docs/behaviour.md#api``).

    Each product is exactly, byte for byte, what the separate call returns for the same
    arguments (and raises what it raises), but the map is read once for all per-pixel
    products: one sweep runs, on each strip of rows while it is in cache, the range scan
    (when a product is normalised or has a fixed range), the colour products whose
    levels need no range of the map's own, and the threshold; a product normalised by
    the map's own range (the heatmap's default) is coloured in a second sweep, the pass
    any normalised product needs. The opening, ``min_area``, the mask's bytes and the
    boxes then work on the packed mask, never re-reading the mask's bytes. Products not
    asked for are not computed.

    - ``heatmap`` is ``anomaly_map_to_color_map(anomaly_map, normalize_heatmap,
      value_range=value_range, colormap=colormap)``, computed when ``heatmap=True``;
    - ``overlay`` is ``superimpose_anomaly_map(anomaly_map, image, alpha, gamma,
      normalize_overlay, value_range=value_range, colormap=colormap, size=size)``,
      computed when ``image`` is given;
    - ``mask`` is ``compute_mask(anomaly_map, threshold, kernel_size,
      min_area=min_area)``, computed when ``threshold`` is given;
    - ``boxes, scores`` are ``mask_to_boxes(mask, anomaly_map=anomaly_map)`` (also
      ``mask_to_boxes(mask, min_area, anomaly_map=anomaly_map)``: the mask holds no
      region under ``min_area`` pixels), computed when ``threshold`` is given and
      ``boxes=True``.

    Args:
        anomaly_map: Anomaly map ``(H, W)`` or a batch ``(*B, H, W)``, with the shape
            and dtype rules of the separate functions.
        image: Optional uint8 RGB image ``(h, w, 3)``, one for every map or one per map
            ``(*B, h, w, 3)``: when given, the overlay is computed. Another ``(h, w)``
            than the map's is resized per ``size``.
        threshold: Optional anomaly score above which (strictly) a pixel is a defect, as
            for :func:`compute_mask`: when given, the mask (and the boxes) are computed.
        heatmap: Keyword-only ``bool``: whether to compute the heatmap. Defaults to True.
        boxes: Keyword-only ``bool``: whether to compute the boxes and scores of the
            mask (only with ``threshold``). Defaults to True.
        normalize_heatmap: Keyword-only: the heatmap's ``normalize`` (min-max normalise
            each map). Defaults to True, as :func:`anomaly_map_to_color_map`.
        normalize_overlay: Keyword-only: the overlay's ``normalize``. Defaults to False,
            as :func:`superimpose_anomaly_map`.
        value_range: Keyword-only fixed range ``(low, high)`` of scores for both the
            heatmap and the overlay; as in the separate functions it takes precedence
            over ``normalize_heatmap`` and ``normalize_overlay``. Defaults to None.
        alpha: Keyword-only weight of the heatmap in the overlay. Defaults to 0.4.
        gamma: Keyword-only value added to the overlay's channels, any finite real
            number. Defaults to 0.
        colormap: Keyword-only colour map of the heatmap and of the overlay (a name, a
            ``cv2.COLORMAP_*`` integer or a (256, 3) uint8 RGB table). Defaults to
            ``"jet"``.
        size: Keyword-only ``"map"`` or ``"image"``: which size the overlay takes when
            the image's differs from the map's (see :func:`superimpose_anomaly_map`).
            With ``"image"`` the overlay is of the resized map, computed in a pass of
            its own; the other products keep the map's size. Defaults to ``"map"``.
        kernel_size: Keyword-only radius of the mask's opening disk. Defaults to 4.
        min_area: Keyword-only: remove the mask's regions of fewer pixels. Defaults to 0.
        out_heatmap: Optional keyword-only destination of the heatmap (as ``out=`` of
            :func:`anomaly_map_to_color_map`); only with ``heatmap=True``.
        out_overlay: Optional keyword-only destination of the overlay; only with
            ``image``.
        out_mask: Optional keyword-only destination of the mask; only with
            ``threshold``.

    Every argument is checked, also those of products not asked for. Each ``out_*``
    follows the ``out=`` rules (``docs/behaviour.md#memory``): exactly the result's
    shape, C-contiguous, writable uint8, sharing no memory with any input nor with
    another ``out_*``; it receives its product and is the frame's field.

    Returns:
        A :class:`Frame` with the fields ``heatmap``, ``overlay``, ``mask``, ``boxes``
        and ``scores``; None for a product not asked for. For a batch of maps the arrays
        carry the batch axes and ``boxes``/``scores`` are lists with one entry per map,
        as :func:`mask_to_boxes` returns them for a batch (nested lists for several
        batch axes, in the arrays' order).

    Raises:
        TypeError: an argument of the wrong type or dtype (as the separate functions;
            ``heatmap`` and ``boxes`` must be bools).
        ValueError: a value or shape the separate functions refuse (NaN/±inf in the map
            when the heatmap or the overlay is computed), or an ``out_*`` of the wrong
            shape or layout, sharing memory with an input or another ``out_*``, or given
            for a product that is not computed.
    """
    if (
        type(heatmap) is bool
        and type(boxes) is bool
        and type(normalize_heatmap) is bool
        and type(normalize_overlay) is bool
        and _plain_range(value_range)
        and type(alpha) is float
        and math.isfinite(alpha)
        and _plain_real(gamma)
        and type(colormap) is str
        and colormap == "jet"
        and type(size) is str
        and size == "map"
        and type(kernel_size) is int
        and 0 <= kernel_size <= _MAX_KERNEL_SIZE
        and type(min_area) is int
        and 0 <= min_area <= 2**62
        and out_heatmap is None
        and out_overlay is None
        and out_mask is None
        and (threshold is None or (type(threshold) is float and threshold == threshold))
        and _plain_float32_map(anomaly_map)
        and (
            image is None
            or (
                type(image) is np.ndarray
                and image.dtype is _UINT8
                and image.shape == anomaly_map.shape + (3,)
            )
        )
    ):
        # What the general path below computes for this case (one map, no resize, the
        # threshold rounded to float32 as compute_mask's fast path rounds it, new
        # results), in one native call. The general path's argument handling costs
        # about 20 µs (an 8 x 8 frame: 31 µs, here 9 µs), a fifth of a 256 x 256 frame.
        heat, overlay, mask, box_array, score_array = _native.frame_f32(
            anomaly_map,
            image,
            None if threshold is None else round_to_float32(threshold),
            heatmap,
            boxes,
            normalize_heatmap,
            normalize_overlay,
            value_range,
            alpha,
            float(gamma),
            kernel_size,
            min_area,
        )
        return Frame(heatmap=heat, overlay=overlay, mask=mask, boxes=box_array, scores=score_array)
    source = as_map_array(anomaly_map)
    maps = as_maps(source)
    want_heatmap = as_flag(heatmap, "heatmap")
    want_boxes = as_flag(boxes, "boxes")
    heat_flag = as_flag(normalize_heatmap, "normalize_heatmap")
    overlay_flag = as_flag(normalize_overlay, "normalize_overlay")
    fixed = as_value_range(value_range)
    palette, table = as_palette(colormap)
    target = as_size(size)
    weight = as_finite_real(alpha, "alpha")
    offset = as_finite_real(gamma, "gamma")
    radius = as_kernel_size(kernel_size)
    smallest = as_min_area(min_area)
    pictures = None if image is None else as_images(image, maps)
    compared, limit = (None, None) if threshold is None else mask_comparison(source, threshold)

    map_shape = maps.batch_shape + maps.map_shape
    image_shape = maps.map_shape if pictures is None else (pictures.shape[-3], pictures.shape[-2])
    products: dict[str, tuple[object, bool, str, tuple[int, ...]]] = {
        "out_heatmap": (out_heatmap, want_heatmap, "heatmap=False", map_shape + (3,)),
        "out_overlay": (
            out_overlay,
            pictures is not None,
            "no image",
            maps.batch_shape + (image_shape if target == "image" else maps.map_shape) + (3,),
        ),
        "out_mask": (out_mask, limit is not None, "no threshold", map_shape),
    }
    given: dict[str, NDArray[np.uint8]] = {}
    for name, (out, asked, why, shape) in products.items():
        if out is not None and not asked:
            product = name.removeprefix("out_")
            raise ValueError(
                f"{name} was given, but with {why} no {product} is computed: ask for the "
                f"{product} or leave {name} out"
            )
        checked = as_out(out, shape, name)
        if checked is not None:
            given[name] = checked
    inputs = {"anomaly_map": source, "image": pictures, "colormap": table}
    for name, out in given.items():
        others = {other: array for other, array in given.items() if other != name}
        check_no_overlap(out, inputs, name, others)
    # Every argument is checked: now the results.
    results = {
        name: (given[name] if name in given else _new_result(shape)) if asked else None
        for name, (_, asked, _, shape) in products.items()
    }
    heat_result, overlay_result, mask_result = results.values()
    images = pictures
    resized_overlay = False
    if pictures is not None and image_shape != maps.map_shape:
        if target == "map":
            images = _resize_images(pictures, maps.map_shape)
        else:
            # As superimpose_anomaly_map: the caller's map is checked before the resize.
            check_finite(maps)
            resized_overlay = True
    threshold_maps = None
    if compared is not None and compared is not source:
        # An integer map against an integer threshold, compared exactly by numpy
        # (docs/behaviour.md#threshold): its 0/1 result is what the kernel thresholds,
        # in the map's compute dtype (float64 for integer maps, docs/behaviour.md#dtypes).
        threshold_maps = as_maps(compared).stack.astype(np.float64)
    fused_overlay = None if resized_overlay else overlay_result
    found = None
    if heat_result is not None or fused_overlay is not None or mask_result is not None:
        found = _native.frames(
            maps.stack,
            threshold_maps,
            None if fused_overlay is None else images,
            palette,
            heat_flag,
            overlay_flag,
            fixed,
            weight,
            offset,
            0.0 if limit is None else limit,
            radius,
            smallest,
            want_boxes,
            None if heat_result is None else _per_map(heat_result, 3),
            None if fused_overlay is None else _per_map(fused_overlay, 3),
            None if mask_result is None else _per_map(mask_result, 2),
        )
    if resized_overlay and overlay_result is not None and pictures is not None:
        _superimpose_resized_maps(
            _resize_maps(maps, image_shape),
            pictures,
            weight,
            offset,
            overlay_flag,
            fixed,
            palette,
            overlay_result,
        )
    box_lists = score_lists = None
    if found is not None:
        box_lists = _nested([b for b, _ in found], maps.batch_shape)
        score_lists = _nested([s for _, s in found], maps.batch_shape)
    return Frame(
        heatmap=heat_result,
        overlay=overlay_result,
        mask=mask_result,
        boxes=box_lists,
        scores=score_lists,
    )
