use numpy::{PyReadonlyArray4, PyReadwriteArray4};
use pyo3::prelude::*;

use super::arrays::{with_map_view, MapBatch};
use super::run_detached;
use crate::batch::superimpose_maps_into;
use crate::blend::AddWeighted;

/// JET heatmaps of a (B, H, W) batch blended over `images` ((B or 1), H, W, 3) with
/// `cv2.addWeighted(heatmap, alpha, image, 1 - alpha, gamma)`, written into `out`.
#[pyfunction]
pub(crate) fn superimpose_maps(
    py: Python<'_>,
    maps: MapBatch<'_>,
    images: PyReadonlyArray4<'_, u8>,
    alpha: f64,
    gamma: f64,
    normalize: bool,
    mut out: PyReadwriteArray4<'_, u8>,
) -> PyResult<()> {
    let out = out.as_array_mut();
    let images = images.as_array();
    with_map_view!(&maps, |view| run_detached(py, move || {
        let blend = AddWeighted::new(alpha, gamma);
        superimpose_maps_into(view, images, normalize, &blend, out)
    }))
}
