use ndarray::ArrayViewMut3;
use numpy::{
    PyArrayDyn, PyReadonlyArray2, PyReadonlyArray3, PyReadonlyArrayDyn, PyReadwriteArray4,
};
use pyo3::prelude::*;

use super::arrays::{items, palette_of, palette_table, with_maps, MapStack};
use super::memory::new_result_from;
use super::run_detached_batch;
use crate::batch::superimpose_maps_into;
use crate::blend::{superimpose_into, AddWeighted};
use crate::colormap::Palette;

/// JET heatmaps of maps `(*B, H, W)` blended over `images` (`(H, W, 3)` for all maps,
/// or `(*B, H, W, 3)`) with `cv2.addWeighted(heatmap, alpha, image, 1 - alpha, gamma)`,
/// written into `out` `(prod(B), H, W, 3)`.
// One argument per option of the Python function it serves.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
pub(crate) fn superimpose_maps(
    py: Python<'_>,
    maps: MapStack<'_>,
    images: PyReadonlyArrayDyn<'_, u8>,
    alpha: f64,
    gamma: f64,
    normalize: bool,
    palette: Option<PyReadonlyArray2<'_, u8>>,
    mut out: PyReadwriteArray4<'_, u8>,
) -> PyResult<()> {
    let out = out.as_array_mut();
    let images = items::<u8, ndarray::Ix3>(&images, "image")?;
    let table = palette_table(palette)?;
    let batch_shape = maps.batch_shape();
    with_maps!(&maps, |views| run_detached_batch(py, &batch_shape, || {
        let blend = AddWeighted::new(alpha, gamma);
        superimpose_maps_into(&views, &images, normalize, palette_of(&table), &blend, out)
    }))
}

/// The JET heatmap of one float32 map `(H, W)` blended over one image `(H, W, 3)` into a
/// new result, in one call: the common case, which the Python layer recognises without
/// touching numpy (see `mask_f32`).
#[pyfunction]
pub(crate) fn superimpose_f32<'py>(
    py: Python<'py>,
    map: PyReadonlyArray2<'py, f32>,
    image: PyReadonlyArray3<'py, u8>,
    alpha: f64,
    gamma: f64,
    normalize: bool,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let (map, image) = (map.as_array(), image.as_array());
    let blend = AddWeighted::new(alpha, gamma);
    new_result_from(
        py,
        &[map.nrows(), map.ncols(), 3],
        move |out: ArrayViewMut3<'_, u8>| {
            superimpose_into(map, image, normalize, Palette::Jet, &blend, out)
        },
    )
}
