//! Binding of `postprocess` (docs/behaviour.md#api): every product of a batch of maps
//! from one call of [`frames_into`]. The Python layer has checked and converted every
//! argument and made every output (a new result or the caller's `out_*`); an output
//! passed here is a product asked for, and the others are not computed.

use ndarray::{Array1, ArrayView3, Dimension, Ix2, Ix3};
use numpy::{
    Element, IntoPyArray, PyArray1, PyArray2, PyArray3, PyArray4, PyArrayDyn, PyArrayMethods,
    PyReadonlyArrayDyn, PyReadwriteArrayDyn,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::arrays::{
    items, palette_of, palette_span, palette_table, read, read_palette, result_array, span,
    write_as, MapStack, MapsRead,
};
use super::boxes::box_rows;
use super::{run_detached, run_detached_batch};
use crate::batch::{frames_into, FramesOut};
use crate::blend::AddWeighted;
use crate::colormap::Palette;
use crate::frame::{frame_into, FrameOptions, FrameOut};
use crate::levels::{MapFloat, Scaling};

/// The products of maps `(*B, H, W)` asked for by the outputs given: heatmaps into
/// `out_heatmap` `(prod(B), H, W, 3)`; overlays over `images` (`(H, W, 3)` for all
/// maps, or `(*B, H, W, 3)`) into `out_overlay`; masks into `out_mask`
/// `(prod(B), H, W)` and, with `boxes`, each mask's `(boxes, scores)` (the list that
/// is returned; None without). `threshold_maps`: what the threshold compares where it
/// is not the maps themselves (integer maps against integer thresholds), of the maps'
/// dtype. The options are those of the separate bindings (`color_maps`,
/// `superimpose_maps`, `masks`, `box_score_lists`).
// One argument per option of the Python function it serves.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
pub(crate) fn frames<'py>(
    py: Python<'py>,
    maps: MapStack<'py>,
    threshold_maps: Option<MapStack<'py>>,
    images: Option<Bound<'py, PyArrayDyn<u8>>>,
    palette: Option<Bound<'py, PyArray2<u8>>>,
    normalize_heatmap: bool,
    normalize_overlay: bool,
    value_range: Option<(f64, f64)>,
    alpha: f64,
    gamma: f64,
    threshold: f64,
    kernel_size: u64,
    min_area: usize,
    boxes: bool,
    out_heatmap: Option<Bound<'py, PyArray4<u8>>>,
    out_overlay: Option<Bound<'py, PyArray4<u8>>>,
    out_mask: Option<Bound<'py, PyArray3<u8>>>,
) -> PyResult<Option<Bound<'py, PyList>>> {
    // Inputs first, then each output after the inputs and the outputs before it: a
    // borrow conflict is a ValueError naming what it overlaps (arrays.rs).
    let maps_read = maps.read()?;
    let compared_read = threshold_maps.as_ref().map(MapStack::read).transpose()?;
    let images_read = images.as_ref().map(|i| read(i, "image")).transpose()?;
    let palette_read = read_palette(&palette)?;
    let mut taken = vec![
        ("anomaly_map", maps.span()),
        ("image", images.as_ref().map_or(0..0, span)),
        ("colormap", palette_span(&palette)),
    ];
    let mut heatmap = (out_heatmap.as_ref())
        .map(|o| write_as(o, "out_heatmap", &taken))
        .transpose()?;
    taken.push(("out_heatmap", out_heatmap.as_ref().map_or(0..0, span)));
    let mut overlay = (out_overlay.as_ref())
        .map(|o| write_as(o, "out_overlay", &taken))
        .transpose()?;
    taken.push(("out_overlay", out_overlay.as_ref().map_or(0..0, span)));
    let mut mask = (out_mask.as_ref())
        .map(|o| write_as(o, "out_mask", &taken))
        .transpose()?;
    let images = (images_read.as_ref())
        .map(|i| items::<u8, Ix3>(i, "image"))
        .transpose()?
        .unwrap_or_default();
    let table = palette_table(&palette_read)?;
    let options = FrameOptions {
        palette: palette_of(&table),
        heatmap: Scaling::new(normalize_heatmap, value_range),
        overlay: Scaling::new(normalize_overlay, value_range),
        blend: AddWeighted::new(alpha, gamma),
        threshold,
        kernel_size,
        min_area,
        boxes,
    };
    let out = FramesOut {
        heatmap: heatmap.as_mut().map(|o| o.as_array_mut()),
        overlay: overlay.as_mut().map(|o| o.as_array_mut()),
        mask: mask.as_mut().map(|o| o.as_array_mut()),
    };
    let batch_shape = maps.batch_shape();
    let run = Run {
        images: &images,
        options: &options,
        batch_shape: &batch_shape,
    };
    match (&maps_read, &compared_read) {
        (MapsRead::F32(maps), None) => run.frames(py, maps, None, out),
        (MapsRead::F32(maps), Some(MapsRead::F32(compared))) => {
            run.frames(py, maps, Some(compared), out)
        }
        (MapsRead::F64(maps), None) => run.frames(py, maps, None, out),
        (MapsRead::F64(maps), Some(MapsRead::F64(compared))) => {
            run.frames(py, maps, Some(compared), out)
        }
        _ => Err(PyTypeError::new_err(
            "threshold_maps must have the dtype of anomaly_map (float32 or float64)",
        )),
    }
}

/// What [`frames`] passes on, whatever the maps' float type.
struct Run<'a, 'i, 'p> {
    images: &'a [ArrayView3<'i, u8>],
    options: &'a FrameOptions<'p>,
    batch_shape: &'a [usize],
}

impl Run<'_, '_, '_> {
    /// The kernel without the GIL, then each map's `(boxes, scores)` when asked for.
    fn frames<'py, T: MapFloat + Element>(
        &self,
        py: Python<'py>,
        maps: &PyReadonlyArrayDyn<'_, T>,
        compared: Option<&PyReadonlyArrayDyn<'_, T>>,
        out: FramesOut<'_>,
    ) -> PyResult<Option<Bound<'py, PyList>>> {
        let views = items::<T, Ix2>(maps, "anomaly_map")?;
        let compared = compared
            .map(|c| items::<T, Ix2>(c, "anomaly_map"))
            .transpose()?;
        let boxes = self.options.boxes && out.mask.is_some();
        let found = run_detached_batch(py, self.batch_shape, || {
            frames_into(&views, compared.as_deref(), self.images, self.options, out)
        })?;
        if !boxes {
            return Ok(None);
        }
        let list = PyList::empty(py);
        for found in found.into_iter().flatten() {
            let scores: Array1<T> = found.iter().map(|&(_, score)| score).collect();
            let rows = box_rows(found.iter().map(|(c, _)| c));
            list.append((rows.into_pyarray(py), scores.into_pyarray(py)))?;
        }
        Ok(Some(list))
    }
}

/// What [`frame_f32`] returns: the heatmap, the overlay, the mask, and the mask's boxes
/// and scores, each None when not asked for.
type FrameProducts<'py> = (
    Option<Bound<'py, PyArrayDyn<u8>>>,
    Option<Bound<'py, PyArrayDyn<u8>>>,
    Option<Bound<'py, PyArrayDyn<u8>>>,
    Option<Bound<'py, PyArray2<i64>>>,
    Option<Bound<'py, PyArray1<f32>>>,
);

/// [`frames`] of one float32 map `(H, W)` with the JET palette into new results, in one
/// call: the common case, which the Python layer recognises (and has rounded `threshold`
/// for) without touching numpy (see `mask_f32`). `image` `(H, W, 3)`: the overlay's
/// image, or None for no overlay; `threshold`: the mask's, or None for no mask.
// One argument per option of the Python function it serves.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
pub(crate) fn frame_f32<'py>(
    py: Python<'py>,
    map: Bound<'py, PyArray2<f32>>,
    image: Option<Bound<'py, PyArray3<u8>>>,
    threshold: Option<f64>,
    heatmap: bool,
    boxes: bool,
    normalize_heatmap: bool,
    normalize_overlay: bool,
    value_range: Option<(f64, f64)>,
    alpha: f64,
    gamma: f64,
    kernel_size: u64,
    min_area: usize,
) -> PyResult<FrameProducts<'py>> {
    let map_read = read(&map, "anomaly_map")?;
    let image_read = image.as_ref().map(|i| read(i, "image")).transpose()?;
    let map = map_read.as_array();
    let (h, w) = map.dim();
    let new = |asked: bool, shape: &[usize]| asked.then(|| result_array(py, shape)).transpose();
    let heat_result = new(heatmap, &[h, w, 3])?;
    let overlay_result = new(image.is_some(), &[h, w, 3])?;
    let mask_result = new(threshold.is_some(), &[h, w])?;
    let mut heat_out = heat_result.as_ref().map(borrow_new).transpose()?;
    let mut overlay_out = overlay_result.as_ref().map(borrow_new).transpose()?;
    let mut mask_out = mask_result.as_ref().map(borrow_new).transpose()?;
    let options = FrameOptions {
        palette: Palette::Jet,
        heatmap: Scaling::new(normalize_heatmap, value_range),
        overlay: Scaling::new(normalize_overlay, value_range),
        blend: AddWeighted::new(alpha, gamma),
        threshold: threshold.unwrap_or(0.0),
        kernel_size,
        min_area,
        boxes,
    };
    let out = FrameOut {
        heatmap: heat_out.as_mut().map(dims::<Ix3>).transpose()?,
        overlay: (image_read.as_ref().map(|i| i.as_array()))
            .zip(overlay_out.as_mut().map(dims::<Ix3>).transpose()?),
        mask: mask_out.as_mut().map(dims::<Ix2>).transpose()?,
    };
    let found = run_detached(py, || frame_into(map, None, &options, out))?;
    let (box_array, score_array) = match found {
        Some(found) => {
            let scores: Array1<f32> = found.iter().map(|&(_, score)| score).collect();
            let rows = box_rows(found.iter().map(|(c, _)| c));
            (Some(rows.into_pyarray(py)), Some(scores.into_pyarray(py)))
        }
        None => (None, None),
    };
    drop((heat_out, overlay_out, mask_out));
    Ok((
        heat_result,
        overlay_result,
        mask_result,
        box_array,
        score_array,
    ))
}

/// The write borrow of a result this call just made (nobody else can see it yet: a
/// failure is a bug of ours).
fn borrow_new<'py>(array: &Bound<'py, PyArrayDyn<u8>>) -> PyResult<PyReadwriteArrayDyn<'py, u8>> {
    (array.try_readwrite()).map_err(|e| PyRuntimeError::new_err(format!("internal error: {e}")))
}

/// A new result's view in its dimensionality.
fn dims<'a, D: Dimension>(
    out: &'a mut PyReadwriteArrayDyn<'_, u8>,
) -> PyResult<ndarray::ArrayViewMut<'a, u8, D>> {
    (out.as_array_mut().into_dimensionality::<D>())
        .map_err(|e| PyRuntimeError::new_err(format!("internal error: a new result: {e}")))
}
