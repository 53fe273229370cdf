use numpy::{PyReadonlyArrayDyn, PyReadwriteArray4};
use pyo3::prelude::*;

use super::arrays::{items, with_maps, MapStack};
use super::run_detached;
use crate::batch::superimpose_maps_into;
use crate::blend::AddWeighted;

/// JET heatmaps of maps `(*B, H, W)` blended over `images` (`(H, W, 3)` for all maps,
/// or `(*B, H, W, 3)`) with `cv2.addWeighted(heatmap, alpha, image, 1 - alpha, gamma)`,
/// written into `out` `(prod(B), H, W, 3)`.
#[pyfunction]
pub(crate) fn superimpose_maps(
    py: Python<'_>,
    maps: MapStack<'_>,
    images: PyReadonlyArrayDyn<'_, u8>,
    alpha: f64,
    gamma: f64,
    normalize: bool,
    mut out: PyReadwriteArray4<'_, u8>,
) -> PyResult<()> {
    let out = out.as_array_mut();
    let images = items::<u8, ndarray::Ix3>(&images, "image")?;
    with_maps!(&maps, |views| run_detached(py, move || {
        let blend = AddWeighted::new(alpha, gamma);
        superimpose_maps_into(&views, &images, normalize, &blend, out)
    }))
}
