use numpy::{PyReadonlyArray2, PyReadwriteArray4};
use pyo3::prelude::*;

use super::arrays::{palette_of, palette_table, with_maps, MapStack};
use super::run_detached_batch;
use crate::batch::color_maps_into;

/// Heatmaps of maps `(*B, H, W)` (float32/float64, any strides), written into
/// `out` `(prod(B), H, W, 3)`; `palette` is a (256, 3) RGB table, or None for JET.
#[pyfunction]
pub(crate) fn color_maps(
    py: Python<'_>,
    maps: MapStack<'_>,
    normalize: bool,
    palette: Option<PyReadonlyArray2<'_, u8>>,
    mut out: PyReadwriteArray4<'_, u8>,
) -> PyResult<()> {
    let out = out.as_array_mut();
    let table = palette_table(palette)?;
    let batch_shape = maps.batch_shape();
    with_maps!(&maps, |views| run_detached_batch(py, &batch_shape, || {
        color_maps_into(&views, normalize, palette_of(&table), out)
    }))
}
