"""Run by `make test` with the interpreter of a fresh venv that holds only the built
wheel and numpy: the wheel must import and work without a Rust toolchain, OpenCV or
anything else."""

import importlib.metadata
import sys
from pathlib import Path

import numpy as np

import anomaly_postprocess as ap

installed = {
    dist.metadata["Name"].lower().replace("_", "-") for dist in importlib.metadata.distributions()
}
extra = installed - {"anomaly-postprocess", "numpy", "pip", "setuptools"}
assert not extra, f"the bare venv should hold only numpy and the wheel, found {sorted(extra)}"
assert "site-packages" in Path(ap.__file__).parts, ap.__file__

rng = np.random.default_rng(0)
anomaly_map = rng.random((33, 47), dtype=np.float32)
image = rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)
heatmap = ap.anomaly_map_to_color_map(anomaly_map)
overlay = ap.superimpose_anomaly_map(anomaly_map, image)
mask = ap.compute_mask(anomaly_map, 0.5, 2)
assert heatmap.shape == overlay.shape == (33, 47, 3) and mask.shape == (33, 47)
assert heatmap.dtype == overlay.dtype == mask.dtype == np.uint8
assert set(np.unique(mask)) <= {0, 255}
print(
    f"wheel OK: anomaly-postprocess {ap.__version__} from {Path(ap.__file__).parent} "
    f"on Python {sys.version.split()[0]}"
)
