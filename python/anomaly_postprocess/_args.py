"""Argument rules shared by the public functions: dtypes and shapes of maps and images
(SPEC §4), the threshold's comparison precision (SPEC §3) and the scalar options.

Everything here only inspects, views or (where a dtype must change) converts the
caller's objects; nothing writes into them.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

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

    #: (B, H, W) float32 or float64 view (or converted copy) of the caller's maps.
    stack: NDArray[np.float32] | NDArray[np.float64]
    #: Shape of the batch axes; () for a single map.
    batch_shape: tuple[int, ...]
    #: The dtype the caller passed, before any conversion (for the threshold rule).
    source_dtype: np.dtype[Any]

    @property
    def map_shape(self) -> tuple[int, int]:
        return (self.stack.shape[1], self.stack.shape[2])


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    return f"{type(value).__name__} {value!r}"[:200]


def as_maps(anomaly_map: object, name: str = "anomaly_map") -> Maps:
    """Coerces an anomaly map (or a batch of them) to a (B, H, W) float array."""
    try:
        array = np.asarray(anomaly_map)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a numeric array (H, W) or a batch of them, "
            f"got {type(anomaly_map).__name__} that numpy cannot convert: {error}"
        ) from None
    dtype = array.dtype
    if dtype.kind == "f" and dtype.itemsize in (2, 4):
        compute_dtype: type[np.floating[Any]] = np.float32
    elif (dtype.kind == "f" and dtype.itemsize == 8) or dtype.kind in "biu":
        compute_dtype = np.float64
    else:
        raise TypeError(f"{name} must have dtype {_ACCEPTED_MAP_DTYPES}, got dtype {dtype}")
    if array.dtype != compute_dtype:  # also converts non-native byte order
        array = array.astype(compute_dtype)

    if array.ndim < 2:
        raise ValueError(
            f"{name} must have at least 2 dimensions (H, W), got shape {array.shape}"
        )
    if array.ndim >= 3 and array.shape[-1] == 1:  # trailing channel axis
        array = array[..., 0]
    while array.ndim > 2 and array.shape[0] == 1:  # leading singleton axes
        array = array[0]
    if 0 in array.shape:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    height, width = array.shape[-2:]
    return Maps(
        stack=array.reshape((-1, height, width)),
        batch_shape=array.shape[:-2],
        source_dtype=dtype,
    )


def as_images(image: object, maps: Maps, name: str = "image") -> NDArray[np.uint8]:
    """Coerces the image argument to (B or 1, H, W, 3) uint8 matching ``maps``."""
    try:
        array = np.asarray(image)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a uint8 RGB image array, got {type(image).__name__}: {error}"
        ) from None
    height, width = maps.map_shape
    expected = f"(H, W, 3) = {(height, width, 3)} uint8"
    if array.dtype != np.uint8:
        raise TypeError(f"{name} must be {expected} to match anomaly_map, got dtype {array.dtype}")
    while array.ndim > 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim < 3 or array.shape[-3:] != (height, width, 3):
        raise ValueError(
            f"{name} must have shape {expected} to match anomaly_map's (H, W) = "
            f"{(height, width)}, got shape {array.shape}"
        )
    leading = array.shape[:-3]
    if leading not in ((), maps.batch_shape):
        raise ValueError(
            f"{name} must be one image {(height, width, 3)} or one per map with shape "
            f"{maps.batch_shape + (height, width, 3)}, got shape {array.shape}"
        )
    return array.reshape((-1, height, width, 3))


def as_flag(value: object, name: str) -> bool:
    """A bool option; anything else is a TypeError (a string like "False" is truthy)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {_describe(value)}")


def as_finite_real(value: object, name: str) -> float:
    """A finite real number (int, float or numpy scalar, not bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a finite real number, got {_describe(value)}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be a finite real number, got {result}")
    return result


def as_kernel_size(value: object, name: str = "kernel_size") -> int:
    """A disk radius: an integer >= 0 (an integral float such as 4.0 is accepted)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer >= 0, got {_describe(value)}")
    if isinstance(value, numbers.Integral):
        radius = int(value)
    elif isinstance(value, numbers.Real) and float(value).is_integer():
        radius = int(float(value))
    elif isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    else:
        raise TypeError(f"{name} must be an integer >= 0, got {_describe(value)}")
    if radius < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {radius}")
    return min(radius, _MAX_KERNEL_SIZE)


def threshold_in_comparison_precision(threshold: object, map_dtype: np.dtype[Any]) -> float:
    """The threshold rounded to the precision numpy 2 compares ``map > threshold`` in.

    A Python number is "weak" (NEP 50): it is first rounded to the map's float dtype
    (float64 for integer and bool maps), overflowing to ±inf. A numpy scalar or 0-d
    array is "strong": the comparison happens in ``np.result_type(map, threshold)``,
    in which both sides are exact, so its exact value is kept. Either way the result
    is exact as a float64, and the kernel compares with it exactly.
    """
    if isinstance(threshold, np.ndarray) and threshold.ndim == 0:
        threshold = threshold[()]
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"threshold must be a real number, got {_describe(threshold)}")
    if isinstance(threshold, np.generic):
        if threshold.dtype.kind not in "fiu":
            raise TypeError(f"threshold must be a real number, got {_describe(threshold)}")
        value = float(threshold)
        weak = False
    else:
        try:
            value = float(threshold)
        except OverflowError:  # a Python int beyond float64
            value = math.inf if threshold > 0 else -math.inf
        weak = True
    if math.isnan(value):
        raise ValueError("threshold must be a real number, not NaN")
    if weak and map_dtype.kind == "f":
        with np.errstate(over="ignore"):
            value = float(np.asarray(value).astype(map_dtype.newbyteorder("=")))
    return value
