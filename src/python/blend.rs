//! Binding of `superimpose_anomaly_map` (docs/behaviour.md#blend): a batch of maps and
//! images into `out`, and the fast path of one float32 map.

use ndarray::ArrayViewMut3;
use numpy::{PyArray2, PyArray3, PyArray4, PyArrayDyn};
use pyo3::prelude::*;

use super::arrays::{
    items, new_result_from, palette_of, palette_span, palette_table, read, read_palette, span,
    with_maps, write, MapStack,
};
use super::run_detached_batch;
use crate::batch::superimpose_maps_into;
use crate::blend::{superimpose_into, AddWeighted};
use crate::colormap::Palette;
use crate::levels::Scaling;

/// Heatmaps of maps `(*B, H, W)` blended over `images` (`(H, W, 3)` for all maps,
/// or `(*B, H, W, 3)`) with `cv2.addWeighted(heatmap, alpha, image, 1 - alpha, gamma)`,
/// written into `out` `(prod(B), H, W, 3)`; `value_range` as in `color_maps`.
// One argument per option of the Python function it serves.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
pub(crate) fn superimpose_maps(
    py: Python<'_>,
    maps: MapStack<'_>,
    images: Bound<'_, PyArrayDyn<u8>>,
    alpha: f64,
    gamma: f64,
    normalize: bool,
    value_range: Option<(f64, f64)>,
    palette: Option<Bound<'_, PyArray2<u8>>>,
    out: Bound<'_, PyArray4<u8>>,
) -> PyResult<()> {
    let maps_read = maps.read()?;
    let images_read = read(&images, "image")?;
    let palette_read = read_palette(&palette)?;
    let inputs = [
        ("anomaly_map", maps.span()),
        ("image", span(&images)),
        ("colormap", palette_span(&palette)),
    ];
    let mut out = write(&out, &inputs)?;
    let out = out.as_array_mut();
    let images = items::<u8, ndarray::Ix3>(&images_read, "image")?;
    let table = palette_table(&palette_read)?;
    let batch_shape = maps.batch_shape();
    let scaling = Scaling::new(normalize, value_range);
    with_maps!(&maps_read, |views| run_detached_batch(
        py,
        &batch_shape,
        || {
            let blend = AddWeighted::new(alpha, gamma);
            superimpose_maps_into(&views, &images, scaling, palette_of(&table), &blend, out)
        }
    ))
}

/// The JET heatmap of one float32 map `(H, W)` blended over one image `(H, W, 3)` into a
/// new result, in one call: the common case, which the Python layer recognises without
/// touching numpy (see `mask_f32`).
#[pyfunction]
pub(crate) fn superimpose_f32<'py>(
    py: Python<'py>,
    map: Bound<'py, PyArray2<f32>>,
    image: Bound<'py, PyArray3<u8>>,
    alpha: f64,
    gamma: f64,
    normalize: bool,
    value_range: Option<(f64, f64)>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let (map, image) = (read(&map, "anomaly_map")?, read(&image, "image")?);
    let (map, image) = (map.as_array(), image.as_array());
    let blend = AddWeighted::new(alpha, gamma);
    let scaling = Scaling::new(normalize, value_range);
    new_result_from(
        py,
        &[map.nrows(), map.ncols(), 3],
        move |out: ArrayViewMut3<'_, u8>| {
            superimpose_into(map, image, scaling, Palette::Jet, &blend, out)
        },
    )
}
