//! Bindings of the box functions: `mask_to_boxes` for batches and with box scores, and
//! `draw_boxes`. Arrays come as `Bound` arrays and are borrowed with `try_readonly` /
//! `try_readwrite`: a conflicting borrow (say, `out` also being read elsewhere) is a
//! `ValueError` naming the argument, never a panic.

use ndarray::{Array1, Array2, ArrayView2, Axis};
use numpy::{
    BorrowError, IntoPyArray, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray, PyReadwriteArray,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::run_detached;
use crate::draw::draw_boxes_into;
use crate::levels::MapFloat;
use crate::outline::nonzero_bits;
use crate::parallel::map_items;
use crate::regions::{components, components_with_max, Component};

/// A borrow conflict: `name` shares memory with an array another borrow is writing
/// (or, for an array to write, reading).
fn borrow_error(name: &str, error: BorrowError) -> PyErr {
    PyValueError::new_err(format!(
        "{name} must not share memory with an array that is being written ({error})"
    ))
}

fn read<'py, T: numpy::Element, D: ndarray::Dimension>(
    array: &Bound<'py, numpy::PyArray<T, D>>,
    name: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    array.try_readonly().map_err(|e| borrow_error(name, e))
}

fn write<'py, T: numpy::Element, D: ndarray::Dimension>(
    array: &Bound<'py, numpy::PyArray<T, D>>,
    name: &str,
) -> PyResult<PyReadwriteArray<'py, T, D>> {
    array.try_readwrite().map_err(|e| borrow_error(name, e))
}

/// The `(K, 4)` rows `(x1, y1, x2, y2)` of the components with at least `min_area` pixels.
fn box_rows<'a>(found: impl Iterator<Item = &'a Component>) -> Array2<i64> {
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
    let tables = py.detach(|| {
        map_items(views, |mask| {
            let found = components(&nonzero_bits(mask));
            box_rows(found.iter().filter(|c| c.area >= min_area))
        })
    });
    PyList::new(py, tables.into_iter().map(|t| t.into_pyarray(py)))
}

/// Each mask's boxes (as [`box_lists`]) and scores: the maximum of the mask's map over
/// each component's pixels, NaN ignored (a component of only NaN scores NaN).
fn scored<'py, T: MapFloat + numpy::Element>(
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
    let results = py.detach(|| {
        map_items(pairs, |(mask, map)| {
            components_with_max(&nonzero_bits(mask), map).map(|found| {
                let kept: Vec<&(Component, T)> =
                    found.iter().filter(|(c, _)| c.area >= min_area).collect();
                let scores: Array1<T> = kept.iter().map(|&&(_, score)| score).collect();
                (box_rows(kept.iter().map(|(c, _)| c)), scores)
            })
        })
    });
    let list = PyList::empty(py);
    for result in results {
        let (boxes, scores) = result.map_err(|e| PyValueError::new_err(e.to_string()))?;
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
    let boxes = read(&boxes, "boxes")?;
    let boxes = boxes.as_array();
    if boxes.len_of(Axis(1)) != 4 {
        return Err(PyValueError::new_err(format!(
            "boxes must have shape (K, 4), got {:?}",
            boxes.shape()
        )));
    }
    let rows: Vec<[i64; 4]> = boxes
        .outer_iter()
        .map(|b| [b[0], b[1], b[2], b[3]])
        .collect();
    let image = read(&image, "image")?;
    let mut out = write(&out, "out")?;
    let (image, out) = (image.as_array(), out.as_array_mut());
    run_detached(py, move || {
        draw_boxes_into(image, &rows, color, thickness, out)
    })
}
