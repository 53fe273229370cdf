use numpy::PyReadwriteArray3;
use pyo3::prelude::*;

use super::arrays::{with_map_view, MapBatch};
use super::run_detached;
use crate::batch::masks_into;

/// 0/255 masks of a (B, H, W) batch: `map > threshold` opened with `disk(kernel_size)`,
/// written into `out` (B, H, W). `threshold` is already rounded to numpy's comparison
/// precision by the Python layer.
#[pyfunction]
pub(crate) fn masks(
    py: Python<'_>,
    maps: MapBatch<'_>,
    threshold: f64,
    kernel_size: u64,
    mut out: PyReadwriteArray3<'_, u8>,
) -> PyResult<()> {
    let out = out.as_array_mut();
    with_map_view!(&maps, |view| run_detached(py, move || masks_into(
        view,
        threshold,
        kernel_size,
        out
    )))
}
