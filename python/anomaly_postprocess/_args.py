"""Argument rules shared by the public functions: dtypes and shapes of maps and images
(``docs/behaviour.md#shapes``, ``docs/behaviour.md#dtypes``), the threshold's comparison
precision (``docs/behaviour.md#threshold``), ``out=`` arrays (``docs/behaviour.md#memory``)
and the scalar options.

Everything here only inspects, views or (where a dtype must change) converts the
caller's objects; nothing writes into them.
"""

from __future__ import annotations

import functools
import math
import numbers
import operator
import struct
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

# Maps of these kinds are computed in float32 (float16) or float64 (the rest).
_ACCEPTED_MAP_DTYPES = "float16, float32, float64, integer or bool"

# The largest kernel_size passed to the kernel; any larger disk covers the whole image
# of any array numpy can allocate, so the result cannot change past it.
_MAX_KERNEL_SIZE = 2**62


@dataclass(frozen=True)
class Maps:
    """A map argument in canonical form."""

    #: float32 or float64 maps ``(*B, H, W)``: a view of the caller's array (any
    #: strides) or, where the dtype had to change, a converted copy.
    stack: NDArray[np.float32] | NDArray[np.float64]
    #: The dtype the caller passed, before any conversion (for the threshold rule).
    source_dtype: np.dtype[Any]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.stack.shape[:-2])

    @property
    def map_shape(self) -> tuple[int, int]:
        return (self.stack.shape[-2], self.stack.shape[-1])


def _describe(value: object) -> str:
    """What the caller passed, for an error message: its type, and its dtype and shape
    if it is an array, else its (shortened) repr."""
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    return f"{type(value).__name__} {value!r}"[:200]


# DLPack device types (``__dlpack_device__()[0]``) and their names in messages.
_DLPACK_CPU = 1
_DLPACK_DEVICES = {
    2: "cuda",
    3: "cuda_host",
    4: "opencl",
    7: "vulkan",
    8: "metal",
    9: "vpi",
    10: "rocm",
    11: "rocm_host",
    12: "ext_dev",
    13: "cuda_managed",
    14: "oneapi",
    15: "webgpu",
    16: "hexagon",
    17: "maia",
}

# numpy >= 2.1 takes ``np.from_dlpack(x, copy=False)``: a producer that would have to copy
# raises instead. Older numpy (our floor is 1.24) has only ``np.from_dlpack(x)``.
_FROM_DLPACK_HAS_COPY = np.lib.NumpyVersion(np.__version__) >= "2.1.0"


def _dlpack_device(value: object, name: str) -> tuple[int, int]:
    """``value.__dlpack_device__()`` as two ints; a failure is a TypeError naming ``name``."""
    try:
        device_type, device_id = value.__dlpack_device__()  # type: ignore[attr-defined]
        return operator.index(device_type), operator.index(device_id)
    except Exception as error:  # whatever the producer raises, or a malformed answer
        raise TypeError(
            f"{name} has __dlpack_device__, but it did not give a DLPack device "
            f"(device_type, device_id): {type(error).__name__}: {error}"
        ) from None


def _from_dlpack(value: object, name: str) -> NDArray[Any]:
    """The numpy view of a DLPack object already known to be in CPU memory."""
    producer: Any = value  # any object with __dlpack__; numpy's stubs want a protocol
    try:
        if _FROM_DLPACK_HAS_COPY:
            try:
                return np.from_dlpack(producer, copy=False)
            except TypeError:
                # A producer from before DLPack 1.0's keywords (max_version, dl_device,
                # copy) refuses them with a TypeError, and numpy retries without them
                # only when copy= is not given: ask again the old way.
                pass
        return np.from_dlpack(producer)
    except MemoryError:
        raise
    except Exception as error:  # the producer's reason, whatever its type
        raise TypeError(
            f"{name} is a DLPack tensor whose data could not be exported to numpy: "
            f"{type(error).__name__}: {error}"
        ) from None


def _is_dlpack(value: object) -> bool:
    """Whether ``as_ndarray`` reads ``value`` through DLPack (not an ndarray or numpy
    scalar, and its type has ``__dlpack_device__``)."""
    return not isinstance(value, (np.ndarray, np.generic)) and hasattr(
        type(value), "__dlpack_device__"
    )


def as_ndarray(value: object, name: str, expected: str) -> NDArray[Any]:
    """Any array argument as a numpy array, never copying what is already in memory
    numpy can read (``docs/behaviour.md#api``):

    1. an ndarray (or numpy scalar): ``np.asarray``, as always;
    2. an object with ``__dlpack_device__`` (a DLPack producer: torch, JAX, CuPy,
       array-api-strict, ...): its device is checked first, without exporting
       anything; only CPU memory (DLPack device type 1) is accepted, and it is read
       in place through ``np.from_dlpack`` (possibly as a read-only view, which is
       fine: inputs are never written). Another device is a TypeError naming
       ``name`` and the device; a producer that refuses to export (e.g. torch's
       "Can't export tensors that require gradient") is a TypeError passing on its
       reason;
    3. anything else: ``np.asarray``; what numpy cannot convert is a TypeError
       naming ``name``.

    Pinned (cuda_host, rocm_host) and managed (cuda_managed) memory is host-readable,
    but GPU work queued on it may still be running, and a CPU reader has no stream to
    wait on: those are refused like device memory.
    """
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    if _is_dlpack(value):
        device_type, device_id = _dlpack_device(value, name)
        if device_type != _DLPACK_CPU:
            where = _DLPACK_DEVICES.get(device_type, f"DLPack device type {device_type}")
            raise TypeError(
                f"{name} is on {where}:{device_id} (DLPack device ({device_type}, "
                f"{device_id})); move it to the CPU first, e.g. with .cpu()"
            )
        return _from_dlpack(value, name)
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be {expected}, got {type(value).__name__} that numpy cannot "
            f"convert: {error}"
        ) from None


def as_map_array(anomaly_map: object, name: str = "anomaly_map") -> NDArray[Any]:
    """The map argument as an array of an accepted dtype (not yet converted)."""
    array = as_ndarray(anomaly_map, name, "a numeric array (H, W) or a batch of them")
    if array.dtype.kind not in "biuf" or (array.dtype.kind == "f" and array.dtype.itemsize > 8):
        raise TypeError(f"{name} must have dtype {_ACCEPTED_MAP_DTYPES}, got dtype {array.dtype}")
    return array


def _squeeze(array: NDArray[Any], map_axes: int) -> NDArray[Any]:
    """Drops leading singleton axes while more than ``map_axes`` remain (a view)."""
    while array.ndim > map_axes and array.shape[0] == 1:
        array = array[0]
    return array


def map_stack(array: NDArray[Any], name: str = "anomaly_map") -> NDArray[Any]:
    """``array`` as ``(*B, H, W)`` by the shape rules (``docs/behaviour.md#shapes``): a
    view, in the caller's dtype."""
    source_shape = array.shape
    if array.ndim < 2:
        raise ValueError(f"{name} must have at least 2 dimensions (H, W), got shape {source_shape}")
    if 0 in source_shape:
        raise ValueError(f"{name} must not be empty, got shape {source_shape}")
    if array.ndim >= 3 and array.shape[-1] == 1:  # trailing channel axis
        array = array[..., 0]
    return _squeeze(array, 2)


def as_maps(array: NDArray[Any], name: str = "anomaly_map") -> Maps:
    """Applies the shape rules (``docs/behaviour.md#shapes``) and converts to the dtype
    the kernels compute in (``docs/behaviour.md#dtypes``)."""
    array = map_stack(array, name)
    dtype = array.dtype
    compute_dtype = np.float32 if dtype.kind == "f" and dtype.itemsize <= 4 else np.float64
    # astype also converts non-native byte order, and copies a misaligned array (numpy
    # allows them; a Rust view of one would be undefined behaviour).
    if array.dtype != compute_dtype or not array.flags.aligned:
        array = array.astype(compute_dtype)
    return Maps(stack=array, source_dtype=dtype)


def check_finite(maps: Maps, name: str = "anomaly_map") -> None:
    """Refuses NaN/±inf in ``maps`` with the message the kernels give
    (``docs/behaviour.md#levels``). For a map that is resized before its levels are
    taken: the kernel would count and place the non-finite values of the resized map,
    not of the caller's."""
    finite = np.isfinite(maps.stack)
    if finite.all():
        return
    bad = ~finite
    count = int(np.count_nonzero(bad))
    # argmax of a bool array: the first True in row-major (logical) order, any strides.
    *batch, row, column = (int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))
    if not batch:
        where = ""
    elif len(batch) == 1:
        where = f"map {batch[0]}, "
    else:
        where = f"map ({', '.join(map(str, batch))}), "
    noun = "value" if count == 1 else "values"
    raise ValueError(
        f"{name} must be finite, but it contains {count} NaN/±inf {noun}; the first is at "
        f"{where}row {row}, column {column}"
    )


def as_images(image: object, maps: Maps, name: str = "image") -> NDArray[np.uint8]:
    """The image argument: one uint8 RGB image ``(h, w, 3)`` for all maps, or one per
    map ``(*B, h, w, 3)``. Its size may differ from the maps' (see ``as_size``)."""
    expected = f"an RGB image (h, w, 3) uint8 for anomaly_map's (H, W) = {maps.map_shape}"
    array = as_ndarray(image, name, expected)
    if array.dtype != np.uint8:
        raise TypeError(f"{name} must be {expected}, got dtype {array.dtype}")
    squeezed = _squeeze(array, 3)
    if squeezed.ndim < 3 or squeezed.shape[-1] != 3 or 0 in squeezed.shape:
        raise ValueError(f"{name} must be {expected}, got shape {array.shape}")
    if squeezed.shape[:-3] not in ((), maps.batch_shape):
        raise ValueError(
            f"{name} must be one image (h, w, 3) or one per map with shape "
            f"{maps.batch_shape} + (h, w, 3), for anomaly_map's {maps.batch_shape} + "
            f"(H, W) = {maps.batch_shape + maps.map_shape}; got shape {array.shape}"
        )
    return squeezed


def as_size(size: object) -> str:
    """Which size an overlay takes when image and map differ: the str "map" or "image".

    Only a ``str`` is a size: ``size in ("map", "image")`` would also accept
    ``np.array(["map"])`` (and fail on longer arrays with numpy's "truth value is
    ambiguous", which names no argument).
    """
    if not isinstance(size, str):
        raise TypeError(f'size must be "map" or "image" (a str), got {_describe(size)}')
    if size not in ("map", "image"):
        raise ValueError(f'size must be "map" or "image", got {size!r}')
    return str(size)


def as_out(out: object, shape: tuple[int, ...], name: str = "out") -> NDArray[np.uint8] | None:
    """A caller's ``out=`` array (the argument ``name``: ``out``, or ``out_heatmap``, …
    of ``postprocess``), checked: C-contiguous, writable uint8 of ``shape``."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        # DLPack objects are inputs only: out is written and returned as the result.
        note = " (DLPack objects are read as inputs only)" if hasattr(out, "__dlpack__") else ""
        raise TypeError(
            f"{name} must be a numpy uint8 array of shape {shape}, got {_describe(out)}{note}"
        )
    if out.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8, got dtype {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (the result's), got shape {out.shape}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (e.g. from np.empty), got a strided array")
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writable, got a read-only array")
    return out


def check_no_overlap(
    out: NDArray[np.uint8],
    inputs: dict[str, NDArray[Any] | None],
    name: str = "out",
    outputs: dict[str, NDArray[np.uint8]] | None = None,
) -> None:
    """Inputs are never modified, so ``out`` (the argument ``name``) must not share
    memory with them; nor with the call's other ``outputs`` (``postprocess``'s
    ``out_*``), each of which gets a result of its own.

    ``inputs`` maps each argument's name to the caller's own array (as ``as_ndarray``
    gives it, before any conversion, copy or resize: a converted copy never overlaps
    ``out``, the caller's array may), or None where there is no array to check.
    """
    for input_name, array in inputs.items():
        if array is not None and np.may_share_memory(out, array):
            raise ValueError(
                f"{name} must not share memory with {input_name}: inputs are never modified "
                f"(docs/behaviour.md#memory); pass a separate array as {name}"
            )
    for other, array in (outputs or {}).items():
        if np.may_share_memory(out, array):
            raise ValueError(
                f"{name} must not share memory with {other}: each result is written into "
                f"memory of its own (docs/behaviour.md#memory); pass separate arrays as "
                f"{name} and {other}"
            )


@functools.cache
def _palette_names() -> dict[str, tuple[int, bytes]]:
    from . import _native

    return dict(_native.PALETTES)


@functools.cache
def _palette_values() -> dict[int, bytes]:
    return dict(_palette_names().values())


def _accepted_palettes() -> str:
    palettes = _palette_names()
    return (
        f"one of {sorted(palettes)}, a cv2.COLORMAP_* integer 0..{len(palettes) - 1}, "
        "or a (256, 3) uint8 RGB table"
    )


def as_palette(colormap: object) -> tuple[NDArray[np.uint8] | None, NDArray[Any] | None]:
    """The ``colormap=`` option as ``(table, source)``: ``table`` is the (256, 3) uint8
    RGB table the kernel reads, or None for JET (which the kernel computes instead of
    looking up); ``source`` is the caller's own table array (for the ``out=`` overlap
    check), or None for a colormap given by name or number.

    Accepted: an OpenCV colormap's lower-case name (``"jet"``, ``"turbo"``, …) or its
    ``cv2.COLORMAP_*`` integer, or a user table of shape (256, 3), uint8, RGB
    (``docs/behaviour.md#colour-tables``).
    """
    palettes = _palette_names()
    if isinstance(colormap, str):
        entry = palettes.get(colormap.lower())
        if entry is None:
            raise ValueError(
                f"colormap must be {_accepted_palettes()}; got unknown name {colormap!r}"
            )
        value, table = entry
    elif isinstance(colormap, (int, np.integer)) and not isinstance(colormap, (bool, np.bool_)):
        by_value = _palette_values()
        if int(colormap) not in by_value:
            raise ValueError(f"colormap must be {_accepted_palettes()}; got {int(colormap)}")
        value, table = int(colormap), by_value[int(colormap)]
    else:
        try:
            array = as_ndarray(colormap, "colormap", "a (256, 3) uint8 RGB table")
        except TypeError as error:
            # Always a ValueError for colormap (docs/behaviour.md#errors); a DLPack
            # table's own problem (its device, a refused export) is passed on.
            reason = str(error) if hasattr(type(colormap), "__dlpack_device__") else None
            raise ValueError(
                f"colormap must be {_accepted_palettes()}; "
                + (reason or f"got {_describe(colormap)}")
            ) from None
        if array.shape != (256, 3) or array.dtype != np.uint8:
            # Describe what was passed: None or 2.0 is not "an array of shape ()".
            if isinstance(colormap, np.ndarray) or array.ndim == 0:
                received = _describe(colormap)
            else:
                received = f"{type(colormap).__name__} that numpy converts to {_describe(array)}"
            raise ValueError(f"colormap must be {_accepted_palettes()}; got {received}")
        return np.ascontiguousarray(array), array
    if value == palettes["jet"][0]:
        return None, None
    return np.frombuffer(table, dtype=np.uint8).reshape(256, 3), None


def as_image(image: object, shape: tuple[int, int], name: str = "image") -> NDArray[np.uint8]:
    """One uint8 RGB image of exactly ``shape`` (leading singleton axes dropped)."""
    expected = f"an RGB image (H, W, 3) = {(*shape, 3)} uint8"
    array = as_ndarray(image, name, expected)
    if array.dtype != np.uint8:
        raise TypeError(f"{name} must be {expected}, got dtype {array.dtype}")
    squeezed = _squeeze(array, 3)
    if squeezed.shape != (*shape, 3):
        raise ValueError(
            f"{name} must be {expected} to match mask's (H, W), got shape {array.shape}"
        )
    return squeezed


def as_mask_array(mask: object, name: str = "mask") -> NDArray[Any]:
    """The mask argument as the caller's array (``as_ndarray``, not yet converted), of
    a numeric or bool dtype."""
    array = as_ndarray(mask, name, "a 2-D numeric or bool array")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a 2-D numeric or bool array, got dtype {array.dtype}")
    return array


def as_mask(mask: object, name: str = "mask") -> NDArray[np.uint8]:
    """A single 2-D mask as uint8 where ``mask > 0`` is set (a view for uint8/bool, a
    new array for the other dtypes)."""
    array = as_mask_array(mask, name)
    squeezed = _squeeze(array, 2)
    if squeezed.ndim == 3 and squeezed.shape[-1] == 1:
        squeezed = squeezed[..., 0]
    if squeezed.ndim != 2:
        raise ValueError(f"{name} must be one 2-D mask (H, W), got shape {array.shape}")
    if 0 in squeezed.shape:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if squeezed.dtype == np.uint8:
        return squeezed
    if squeezed.dtype == np.bool_:
        return squeezed.view(np.uint8)
    return cast("NDArray[np.uint8]", np.greater(squeezed, 0).view(np.uint8))


def as_min_area(value: object, name: str = "min_area") -> int:
    """A pixel count >= 0."""
    if type(value) is int and 0 <= value <= 2**62:  # the common case, fast
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= 0, got {_describe(value)}")
    count = int(value)
    if count < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {count}")
    return min(count, 2**62)


def as_color(value: object, name: str = "color") -> tuple[int, int, int]:
    """An RGB colour: three integers in 0..255, in a sequence or an array. A mapping
    (whose iteration gives its keys) or a set (which has no order) is no colour."""
    if isinstance(value, (Mapping, AbstractSet)):
        raise TypeError(
            f"{name} must be three integers 0..255 (R, G, B) in a sequence, got {_describe(value)}"
        )
    if _is_dlpack(value):
        # An array of three values, as an ndarray would be (docs/behaviour.md#api).
        value = as_ndarray(value, name, "three integers 0..255 (R, G, B)")
    try:
        items = list(value)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(
            f"{name} must be three integers 0..255 (R, G, B), got {_describe(value)}"
        ) from None
    if len(items) != 3 or not all(
        isinstance(c, numbers.Integral) and not isinstance(c, (bool, np.bool_)) for c in items
    ):
        raise TypeError(f"{name} must be three integers 0..255 (R, G, B), got {value!r}")
    if not all(0 <= int(c) <= 255 for c in items):
        raise ValueError(f"{name} must be three integers 0..255 (R, G, B), got {value!r}")
    return (int(items[0]), int(items[1]), int(items[2]))


def as_flag(value: object, name: str) -> bool:
    """A bool option; anything else is a TypeError (a string like "False" is truthy)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {_describe(value)}")


def as_finite_real(value: object, name: str) -> float:
    """A finite real number (int, float or numpy scalar, not bool)."""
    if type(value) is float and math.isfinite(value):  # the common case, fast
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a finite real number, got {_describe(value)}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return result


def as_value_range(value: object) -> tuple[float, float] | None:
    """``value_range=(low, high)`` (``docs/behaviour.md#levels``) as two finite floats
    with ``low < high``, or None. Each bound is a real number (not bool): a Python or
    numpy int or float, a ``Fraction``...; the pair a tuple, a list, or an array of two
    values. Whether ``high - low`` is finite and positive in the map's own float type
    is checked by the kernel, which rounds the bounds to that type."""
    if value is None:
        return None
    expected = "two finite real numbers (low, high) with low < high"
    if isinstance(value, (str, bytes, Mapping, AbstractSet, numbers.Number)):
        raise TypeError(f"value_range must be {expected}, got {_describe(value)}")
    items: list[object]
    if isinstance(value, (tuple, list)):
        items = list(value)
    else:
        try:
            array = as_ndarray(value, "value_range", expected)
        except TypeError:
            if _is_dlpack(value):
                raise  # its own reason: its device, a refused export (docs/behaviour.md#api)
            raise TypeError(f"value_range must be {expected}, got {_describe(value)}") from None
        if array.ndim == 0:  # a single number
            raise TypeError(f"value_range must be {expected}, got {_describe(value)}")
        if array.ndim != 1:
            raise ValueError(f"value_range must be {expected}, got shape {array.shape}")
        items = list(array)
    if len(items) != 2:
        raise ValueError(
            f"value_range must be {expected}, got {len(items)} values: {_describe(value)}"
        )
    for item in items:
        if (
            isinstance(item, (bool, np.bool_))
            or not isinstance(item, numbers.Real)
            or (isinstance(item, np.generic) and item.dtype.kind not in "iuf")
        ):
            raise TypeError(
                f"value_range must be {expected}, got {_describe(item)} in {_describe(value)}"
            )
    bounds = []
    for item in items:
        try:
            bound = float(item)  # type: ignore[arg-type]
        except OverflowError:  # an integer beyond float64
            bound = math.inf
        if not math.isfinite(bound):
            raise ValueError(
                f"value_range must be {expected} (within float64's range), got {item!r} "
                f"in {value!r}"
            )
        bounds.append(bound)
    low, high = items
    if not low < high:  # type: ignore[operator]
        raise ValueError(f"value_range must be {expected}, got low {low!r} >= high {high!r}")
    return bounds[0], bounds[1]


def as_kernel_size(value: object, name: str = "kernel_size") -> int:
    """A disk radius: an integer >= 0 (an integral float such as 4.0 is accepted)."""
    if type(value) is int and 0 <= value <= _MAX_KERNEL_SIZE:  # the common case, fast
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer >= 0, got {_describe(value)}")
    if isinstance(value, numbers.Integral):
        radius = int(value)
    elif (
        isinstance(value, numbers.Real)
        and math.isfinite(float(value))
        and float(value).is_integer()
    ):
        radius = int(float(value))
    elif isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    else:
        raise TypeError(f"{name} must be an integer >= 0, got {_describe(value)}")
    if radius < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {radius}")
    return min(radius, _MAX_KERNEL_SIZE)


def _as_real_threshold(threshold: object) -> object:
    if type(threshold) is float and threshold == threshold:  # the common case, fast
        return threshold
    if _is_dlpack(threshold):
        # A 0-d tensor (a model's threshold often is one), as a 0-d ndarray would be
        # (docs/behaviour.md#api); on another device it is refused like any array.
        threshold = as_ndarray(threshold, "threshold", "a real number")
    if isinstance(threshold, np.ndarray) and threshold.ndim == 0:
        threshold = threshold[()]
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a real number, got {_describe(threshold)}")
    if isinstance(threshold, np.generic) and threshold.dtype.kind not in "fiu":
        raise TypeError(f"threshold must be a real number, got {_describe(threshold)}")
    if isinstance(threshold, numbers.Integral):
        return threshold
    if math.isnan(float(threshold)):
        raise ValueError("threshold must be a real number, not NaN")
    return threshold


def mask_comparison(array: NDArray[Any], threshold: object) -> tuple[NDArray[Any], float]:
    """What the kernel compares: ``(map, t)`` such that ``map > t`` in float32/float64
    equals numpy 2's ``array > threshold`` (``docs/behaviour.md#threshold``).

    - A Python number is "weak" (NEP 50): rounded to the map's float dtype (float64
      for integer and bool maps), overflowing to ±inf.
    - Anything else (a numpy scalar or 0-d array, a ``float`` subclass, a
      ``Fraction``…) is compared exactly ("strong"): we keep the largest float64 not
      above it, which compares identically with every float32/float64 value.
    - An integer map against an integer threshold compares as integers, exactly, also
      beyond 2**53; that comparison is done here and the kernel gets its 0/1 result.
    """
    threshold = _as_real_threshold(threshold)
    strong = type(threshold) not in (int, float)  # NEP 50: only these two are weak
    if (
        array.dtype.kind in "iu"
        and isinstance(threshold, numbers.Integral)
        and (
            not isinstance(threshold, np.generic)
            or np.result_type(array.dtype, threshold).kind in "iu"
        )
    ):
        return np.greater(array, threshold).astype(np.float32), 0.0  # type: ignore[call-overload]
    try:
        value = float(threshold)  # type: ignore[arg-type]
    except OverflowError:  # an integer beyond float64
        value = math.inf if threshold > 0 else -math.inf  # type: ignore[operator]
    if strong and value > threshold:  # type: ignore[operator]
        value = math.nextafter(value, -math.inf)
    if not strong and array.dtype.kind == "f":
        value = _round_to_float_dtype(value, array.dtype)
    return array, value


def round_to_float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (±inf beyond its range), as numpy casts."""
    try:
        return float(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:  # rounds beyond float32's largest value
        return math.copysign(math.inf, value)


def _round_to_float_dtype(value: float, dtype: np.dtype[Any]) -> float:
    """``value`` rounded to the nearest value of float ``dtype`` (±inf beyond its
    range), as numpy casts."""
    if dtype.itemsize == 8:
        return value
    if dtype.itemsize == 4:
        return round_to_float32(value)
    with np.errstate(over="ignore"):
        return float(np.asarray(value).astype(dtype.newbyteorder("=")))
