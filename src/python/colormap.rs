use numpy::PyReadwriteArray4;
use pyo3::prelude::*;

use super::arrays::{with_map_view, MapBatch};
use super::run_detached;
use crate::batch::color_maps_into;

/// JET heatmaps of a (B, H, W) float32/float64 batch, written into `out` (B, H, W, 3).
#[pyfunction]
pub(crate) fn color_maps(
    py: Python<'_>,
    maps: MapBatch<'_>,
    normalize: bool,
    mut out: PyReadwriteArray4<'_, u8>,
) -> PyResult<()> {
    let out = out.as_array_mut();
    with_map_view!(&maps, |view| run_detached(py, move || color_maps_into(
        view, normalize, out
    )))
}
