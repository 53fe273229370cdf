"""Bit-exact, fast post-processing of anomaly maps.

Drop-in replacements for anomalib's ``anomalib.post_processing.post_process``
functions, and helpers around them, computed by a Rust core:

- :func:`anomaly_map_to_color_map` — JET (or another colormap's) heatmap (RGB, uint8)
- :func:`superimpose_anomaly_map` — that heatmap blended over an image
- :func:`compute_mask` — thresholded, morphologically opened 0/255 mask
- :func:`mask_to_boxes` — the bounding box of each region of a mask (and its score)
- :func:`draw_boxes` — an image with boxes drawn on it, as ``cv2.rectangle`` draws them
- :func:`mark_boundaries` — an image with the outline of a mask's regions painted on it
- :func:`postprocess` — every product of a frame (heatmap, overlay, mask, boxes and
  scores) in one call that reads the map once, as a :class:`Frame`
- :func:`set_num_threads` — the number of threads batches of maps are processed on
- :func:`get_num_threads` — that number (initially ``ANOMALY_POSTPROCESS_NUM_THREADS``
  or the number of available cores)

Array arguments are numpy arrays, anything ``np.asarray`` takes, or tensors that
implement DLPack (torch, JAX, CuPy, ...), read in place when in CPU memory. The rules
they follow are in ``docs/behaviour.md``.
"""

import operator
import os
import warnings
from importlib.metadata import PackageNotFoundError, version

from ._api import (
    Frame,
    anomaly_map_to_color_map,
    compute_mask,
    draw_boxes,
    mark_boundaries,
    mask_to_boxes,
    postprocess,
    superimpose_anomaly_map,
)
from ._native import get_num_threads as _get_num_threads
from ._native import set_num_threads as _set_num_threads

# Beyond this a pool would only exhaust the system's threads.
_MAX_THREADS = 1024


def set_num_threads(n: int) -> None:
    """Set the number of threads that maps are processed on (1 to 1024,
    ``docs/behaviour.md#threads``).

    The calling thread counts as one of them: a batch runs on it and ``n - 1`` pool
    threads, and a large map (from 1024 x 1024 pixels) is split into bands of rows run
    the same way. Every call releases the GIL, so separate Python threads also run in
    parallel.
    """
    try:
        if isinstance(n, bool):
            raise TypeError
        count = operator.index(n)
    except TypeError:
        raise TypeError(
            f"n must be an integer from 1 to {_MAX_THREADS}, got {type(n).__name__} {n!r}"
        ) from None
    if not 1 <= count <= _MAX_THREADS:
        raise ValueError(f"n must be an integer from 1 to {_MAX_THREADS}, got {count}")
    _set_num_threads(count)


def get_num_threads() -> int:
    """The number of threads that batches of maps are processed on.

    Initially ``ANOMALY_POSTPROCESS_NUM_THREADS`` if set, else the number of available cores.
    """
    return int(_get_num_threads())


def _threads_from_environment() -> None:
    value = os.environ.get("ANOMALY_POSTPROCESS_NUM_THREADS")
    if value is None or not value.strip():
        return
    try:
        set_num_threads(int(value))
    except (TypeError, ValueError):
        warnings.warn(
            f"ignoring ANOMALY_POSTPROCESS_NUM_THREADS={value!r}: expected an integer from 1 "
            f"to {_MAX_THREADS}; using {get_num_threads()} threads",
            RuntimeWarning,
            stacklevel=2,
        )


_threads_from_environment()

try:
    __version__ = version("anomaly-postprocess")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "Frame",
    "__version__",
    "anomaly_map_to_color_map",
    "compute_mask",
    "draw_boxes",
    "get_num_threads",
    "mark_boundaries",
    "mask_to_boxes",
    "postprocess",
    "set_num_threads",
    "superimpose_anomaly_map",
]
