//! Bindings of the box functions (`docs/behaviour.md#regions`): `mask_to_boxes` for
//! batches and with box scores, and `draw_boxes`. Arrays are borrowed through
//! [`super::arrays`], so a conflicting borrow is a `ValueError` naming the argument.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use numpy::{Element, IntoPyArray, PyArray2, PyArray3, PyReadonlyArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::arrays::{read, span, write};
use super::run_detached;
use crate::draw::draw_boxes_into;
use crate::error::KernelError;
use crate::levels::MapFloat;
use crate::outline::nonzero_bits;
use crate::parallel::map_items;
use crate::regions::{components, components_with_max, Component};

/// The `(K, 4)` rows `(x1, y1, x2, y2)` of the components with at least `min_area` pixels.
pub(crate) fn box_rows<'a>(found: impl Iterator<Item = &'a Component>) -> Array2<i64> {
    let rows: Vec<[i64; 4]> = found
        .map(|c| [c.x1 as i64, c.y1 as i64, c.x2 as i64, c.y2 as i64])
        .collect();
    Array2::from_shape_vec((rows.len(), 4), rows.into_flattened()).expect("K rows of 4 values")
}

/// For each mask of `masks` `(B, H, W)`, the `(K, 4)` int64 boxes of its 8-connected
/// components of `mask > 0` with at least `min_area` pixels, in OpenCV's label order.
/// The masks run in parallel.
#[pyfunction]
pub(crate) fn box_lists<'py>(
    py: Python<'py>,
    masks: Bound<'py, PyArray3<u8>>,
    min_area: usize,
) -> PyResult<Bound<'py, PyList>> {
    let masks = read(&masks, "mask")?;
    let masks = masks.as_array();
    let views: Vec<ArrayView2<'_, u8>> = masks.outer_iter().collect();
    let tables = run_detached(py, || {
        Ok(map_items(views, |mask| {
            let found = components(&nonzero_bits(mask));
            box_rows(found.iter().filter(|c| c.area >= min_area))
        }))
    })?;
    PyList::new(py, tables.into_iter().map(|t| t.into_pyarray(py)))
}

/// Each mask's boxes (as [`box_lists`]) and scores: the maximum of the mask's map over
/// each component's pixels, NaN ignored (a component of only NaN scores NaN).
fn scored<'py, T: MapFloat + Element>(
    py: Python<'py>,
    masks: &PyReadonlyArray<'py, u8, ndarray::Ix3>,
    maps: &Bound<'py, PyArray3<T>>,
    min_area: usize,
) -> PyResult<Bound<'py, PyList>> {
    let maps = read(maps, "anomaly_map")?;
    let (masks, maps) = (masks.as_array(), maps.as_array());
    if masks.shape() != maps.shape() {
        return Err(PyValueError::new_err(format!(
            "anomaly_map must have the mask's shape {:?}, got {:?}",
            masks.shape(),
            maps.shape()
        )));
    }
    let pairs: Vec<_> = masks.outer_iter().zip(maps.outer_iter()).collect();
    let results = run_detached(py, || {
        map_items(pairs, |(mask, map)| {
            components_with_max(&nonzero_bits(mask), map).map(|found| {
                let kept: Vec<&(Component, T)> =
                    found.iter().filter(|(c, _)| c.area >= min_area).collect();
                let scores: Array1<T> = kept.iter().map(|&&(_, score)| score).collect();
                (box_rows(kept.iter().map(|(c, _)| c)), scores)
            })
        })
        .into_iter()
        .collect::<Result<Vec<_>, KernelError>>()
    })?;
    let list = PyList::empty(py);
    for (boxes, scores) in results {
        list.append((boxes.into_pyarray(py), scores.into_pyarray(py)))?;
    }
    Ok(list)
}

/// For each mask of `masks` `(B, H, W)` and its map of `maps` (float32 or float64, the
/// same shape), a tuple `(boxes, scores)`: the boxes as [`box_lists`] gives them and,
/// for each, the maximum of the map over the component's pixels (NaN ignored), in the
/// map's dtype.
#[pyfunction]
pub(crate) fn box_score_lists<'py>(
    py: Python<'py>,
    masks: Bound<'py, PyArray3<u8>>,
    maps: Bound<'py, PyAny>,
    min_area: usize,
) -> PyResult<Bound<'py, PyList>> {
    let masks = read(&masks, "mask")?;
    if let Ok(maps) = maps.cast::<PyArray3<f32>>() {
        scored(py, &masks, maps, min_area)
    } else if let Ok(maps) = maps.cast::<PyArray3<f64>>() {
        scored(py, &masks, maps, min_area)
    } else {
        Err(PyTypeError::new_err(format!(
            "anomaly_map must be a 3-D float32 or float64 array here, got {}",
            maps.repr()?
        )))
    }
}

/// Writes into `out` `(H, W, 3)` the image `(H, W, 3)` with the outlines of `boxes`
/// `(K, 4)` drawn as `cv2.rectangle` draws them, in `color`, `thickness` pixels thick.
#[pyfunction]
pub(crate) fn draw_boxes(
    py: Python<'_>,
    image: Bound<'_, PyArray3<u8>>,
    boxes: Bound<'_, PyArray2<i64>>,
    color: [u8; 3],
    thickness: u16,
    out: Bound<'_, PyArray3<u8>>,
) -> PyResult<()> {
    let (image_read, boxes_read) = (read(&image, "image")?, read(&boxes, "boxes")?);
    let table = boxes_read.as_array();
    if table.len_of(Axis(1)) != 4 {
        return Err(PyValueError::new_err(format!(
            "boxes must have shape (K, 4), got {:?}",
            table.shape()
        )));
    }
    let rows: Vec<[i64; 4]> = table
        .outer_iter()
        .map(|b| [b[0], b[1], b[2], b[3]])
        .collect();
    let mut out = write(&out, &[("image", span(&image)), ("boxes", span(&boxes))])?;
    let (image, out) = (image_read.as_array(), out.as_array_mut());
    run_detached(py, move || {
        draw_boxes_into(image, &rows, color, thickness, out)
    })
}
