"""Type stubs for the Rust extension. Call the public functions in
``anomaly_postprocess`` instead: these expect arrays already in canonical form."""

import numpy as np
from numpy.typing import NDArray

_Maps = NDArray[np.float32] | NDArray[np.float64]

JET_RGB: bytes  # 256 RGB triples of the JET table, level-major

def color_maps(maps: _Maps, normalize: bool, out: NDArray[np.uint8]) -> None: ...
def superimpose_maps(
    maps: _Maps,
    images: NDArray[np.uint8],
    alpha: float,
    gamma: float,
    normalize: bool,
    out: NDArray[np.uint8],
) -> None: ...
def masks(maps: _Maps, threshold: float, kernel_size: int, out: NDArray[np.uint8]) -> None: ...
def prefault(out: NDArray[np.uint8]) -> None: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
