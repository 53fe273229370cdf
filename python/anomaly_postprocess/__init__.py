"""Bit-exact, fast post-processing of anomaly maps.

Drop-in replacements for anomalib's ``anomalib.post_processing.post_process``
functions, computed by a Rust core:

- :func:`anomaly_map_to_color_map` — JET heatmap (RGB, uint8)
- :func:`superimpose_anomaly_map` — that heatmap blended over an image
- :func:`compute_mask` — thresholded, morphologically opened 0/255 mask
"""

from importlib.metadata import PackageNotFoundError, version

from ._api import anomaly_map_to_color_map, compute_mask, superimpose_anomaly_map

try:
    __version__ = version("anomaly-postprocess")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "__version__",
    "anomaly_map_to_color_map",
    "compute_mask",
    "superimpose_anomaly_map",
]
