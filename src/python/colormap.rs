use numpy::PyReadwriteArray4;
use pyo3::prelude::*;

use super::arrays::{with_maps, MapStack};
use super::run_detached;
use crate::batch::color_maps_into;

/// JET heatmaps of maps `(*B, H, W)` (float32/float64, any strides), written into
/// `out` `(prod(B), H, W, 3)`.
#[pyfunction]
pub(crate) fn color_maps(
    py: Python<'_>,
    maps: MapStack<'_>,
    normalize: bool,
    mut out: PyReadwriteArray4<'_, u8>,
) -> PyResult<()> {
    let out = out.as_array_mut();
    with_maps!(&maps, |views| run_detached(py, move || color_maps_into(
        &views, normalize, out
    )))
}
