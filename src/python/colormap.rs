//! Binding of `anomaly_map_to_color_map` (docs/behaviour.md#levels,
//! docs/behaviour.md#colour-tables): a batch of maps into `out`, and the fast path of one
//! float32 map.

use ndarray::ArrayViewMut3;
use numpy::{PyArray2, PyArray4, PyArrayDyn};
use pyo3::prelude::*;

use super::arrays::{
    new_result_from, palette_of, palette_span, palette_table, read, read_palette, with_maps, write,
    MapStack,
};
use super::run_detached_batch;
use crate::batch::color_maps_into;
use crate::colormap::{color_map_into, Palette};
use crate::levels::Scaling;

/// Heatmaps of maps `(*B, H, W)` (float32/float64, any strides), written into
/// `out` `(prod(B), H, W, 3)`; `value_range` (low, high), when given, takes precedence
/// over `normalize`; `palette` is a (256, 3) RGB table, or None for JET.
#[pyfunction]
pub(crate) fn color_maps(
    py: Python<'_>,
    maps: MapStack<'_>,
    normalize: bool,
    value_range: Option<(f64, f64)>,
    palette: Option<Bound<'_, PyArray2<u8>>>,
    out: Bound<'_, PyArray4<u8>>,
) -> PyResult<()> {
    let maps_read = maps.read()?;
    let palette_read = read_palette(&palette)?;
    let inputs = [
        ("anomaly_map", maps.span()),
        ("colormap", palette_span(&palette)),
    ];
    let mut out = write(&out, &inputs)?;
    let out = out.as_array_mut();
    let table = palette_table(&palette_read)?;
    let batch_shape = maps.batch_shape();
    let scaling = Scaling::new(normalize, value_range);
    with_maps!(&maps_read, |views| run_detached_batch(
        py,
        &batch_shape,
        || { color_maps_into(&views, scaling, palette_of(&table), out) }
    ))
}

/// The JET heatmap of one float32 map `(H, W)` into a new result, in one call: the
/// common case, which the Python layer recognises without touching numpy (see
/// `mask_f32`).
#[pyfunction]
pub(crate) fn color_map_f32<'py>(
    py: Python<'py>,
    map: Bound<'py, PyArray2<f32>>,
    normalize: bool,
    value_range: Option<(f64, f64)>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let map = read(&map, "anomaly_map")?;
    let map = map.as_array();
    let scaling = Scaling::new(normalize, value_range);
    new_result_from(
        py,
        &[map.nrows(), map.ncols(), 3],
        move |out: ArrayViewMut3<'_, u8>| color_map_into(map, scaling, Palette::Jet, out),
    )
}
