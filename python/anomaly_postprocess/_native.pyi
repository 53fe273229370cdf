"""Type stubs for the Rust extension. Call the public functions in
``anomaly_postprocess`` instead: these expect arrays already in canonical form."""

from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "PALETTES",
    "POOLED_BYTES",
    "_set_hand_written_simd",
    "boundaries",
    "box_lists",
    "box_score_lists",
    "color_map_f32",
    "color_maps",
    "dispatch_target",
    "draw_boxes",
    "encode_png",
    "frame_f32",
    "frames",
    "get_num_threads",
    "mask_f32",
    "masks",
    "new_output",
    "resize_image",
    "resize_map",
    "set_num_threads",
    "superimpose_f32",
    "superimpose_maps",
]

_Maps: TypeAlias = NDArray[np.float32] | NDArray[np.float64]

PALETTES: dict[str, tuple[int, bytes]]  # name -> (cv2.COLORMAP_* value, 768 RGB bytes)
POOLED_BYTES: int  # fresh results at least this large come from the output pool

def color_maps(
    maps: _Maps,
    normalize: bool,
    value_range: tuple[float, float] | None,
    palette: NDArray[np.uint8] | None,
    out: NDArray[np.uint8],
) -> None: ...
def superimpose_maps(
    maps: _Maps,
    images: NDArray[np.uint8],
    alpha: float,
    gamma: float,
    normalize: bool,
    value_range: tuple[float, float] | None,
    palette: NDArray[np.uint8] | None,
    out: NDArray[np.uint8],
) -> None: ...
def masks(
    maps: _Maps, threshold: float, kernel_size: int, min_area: int, out: NDArray[np.uint8]
) -> None: ...

# Every product of postprocess asked for by the outputs given, in one call.
def frames(
    maps: _Maps,
    threshold_maps: _Maps | None,
    images: NDArray[np.uint8] | None,
    palette: NDArray[np.uint8] | None,
    normalize_heatmap: bool,
    normalize_overlay: bool,
    value_range: tuple[float, float] | None,
    alpha: float,
    gamma: float,
    threshold: float,
    kernel_size: int,
    min_area: int,
    boxes: bool,
    out_heatmap: NDArray[np.uint8] | None,
    out_overlay: NDArray[np.uint8] | None,
    out_mask: NDArray[np.uint8] | None,
) -> list[tuple[NDArray[np.int64], _Maps]] | None: ...

# One (H, W) float32 map into a new result, in one call (the Python layer's fast path).
def color_map_f32(
    map: NDArray[np.float32], normalize: bool, value_range: tuple[float, float] | None
) -> NDArray[np.uint8]: ...
def superimpose_f32(
    map: NDArray[np.float32],
    image: NDArray[np.uint8],
    alpha: float,
    gamma: float,
    normalize: bool,
    value_range: tuple[float, float] | None,
) -> NDArray[np.uint8]: ...
def mask_f32(map: NDArray[np.float32], threshold: float, kernel_size: int) -> NDArray[np.uint8]: ...
def frame_f32(
    map: NDArray[np.float32],
    image: NDArray[np.uint8] | None,
    threshold: float | None,
    heatmap: bool,
    boxes: bool,
    normalize_heatmap: bool,
    normalize_overlay: bool,
    value_range: tuple[float, float] | None,
    alpha: float,
    gamma: float,
    kernel_size: int,
    min_area: int,
) -> tuple[
    NDArray[np.uint8] | None,
    NDArray[np.uint8] | None,
    NDArray[np.uint8] | None,
    NDArray[np.int64] | None,
    NDArray[np.float32] | None,
]: ...
def boundaries(
    image: NDArray[np.uint8],
    mask: NDArray[np.uint8],
    color: tuple[int, int, int],
    out: NDArray[np.uint8],
) -> None: ...
def box_lists(masks: NDArray[np.uint8], min_area: int) -> list[NDArray[np.int64]]: ...
def box_score_lists(
    masks: NDArray[np.uint8], maps: _Maps, min_area: int
) -> list[tuple[NDArray[np.int64], _Maps]]: ...
def draw_boxes(
    image: NDArray[np.uint8],
    boxes: NDArray[np.int64],
    color: tuple[int, int, int],
    thickness: int,
    out: NDArray[np.uint8],
) -> None: ...
def new_output(shape: tuple[int, ...]) -> NDArray[np.uint8]: ...  # from the output pool
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def _set_hand_written_simd(enabled: bool) -> None: ...  # tests: off = portable loops
def dispatch_target() -> str: ...  # the SIMD clone and hand-written loops this CPU runs
def resize_image(image: NDArray[np.uint8], out: NDArray[np.uint8]) -> None: ...
def resize_map(map: _Maps, out: _Maps) -> None: ...
def encode_png(
    image: NDArray[np.uint8], compression: int
) -> bytes: ...  # the CLI's PNG files: gray (H, W) or RGB (H, W, 3), level 0-9
