use numpy::PyReadwriteArray3;
use pyo3::prelude::*;

use super::arrays::{with_maps, MapStack};
use super::run_detached;
use crate::batch::masks_into;

/// 0/255 masks of maps `(*B, H, W)`: `map > threshold` opened with `disk(kernel_size)`,
/// components under `min_area` pixels removed, written into `out` `(prod(B), H, W)`. `threshold` is already in numpy's comparison
/// precision (see the Python layer).
#[pyfunction]
pub(crate) fn masks(
    py: Python<'_>,
    maps: MapStack<'_>,
    threshold: f64,
    kernel_size: u64,
    min_area: usize,
    mut out: PyReadwriteArray3<'_, u8>,
) -> PyResult<()> {
    let out = out.as_array_mut();
    with_maps!(&maps, |views| run_detached(py, move || masks_into(
        &views,
        threshold,
        kernel_size,
        min_area,
        out
    )))
}
