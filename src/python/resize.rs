//! Bindings of the bilinear resizing of images and maps (docs/behaviour.md#resizing).

use numpy::{PyArray2, PyArray3};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::arrays::{read, span, write};
use super::run_detached;
use crate::resize::{resize_linear_map, resize_linear_u8};

/// Resizes a uint8 image `(H, W, C)` (any strides) to the shape of `out` `(H2, W2, C)`
/// like `cv2.resize(image, (W2, H2), interpolation=cv2.INTER_LINEAR)`
/// (`docs/behaviour.md#resizing`).
#[pyfunction]
pub(crate) fn resize_image(
    py: Python<'_>,
    image: Bound<'_, PyArray3<u8>>,
    out: Bound<'_, PyArray3<u8>>,
) -> PyResult<()> {
    let image_read = read(&image, "image")?;
    let mut out = write(&out, &[("image", span(&image))])?;
    let (image, out) = (image_read.as_array(), out.as_array_mut());
    run_detached(py, || resize_linear_u8(image, out))
}

/// A map `(H, W)` in one of the two dtypes the resize computes in.
#[derive(FromPyObject)]
pub(crate) enum Map<'py> {
    F32(Bound<'py, PyArray2<f32>>),
    F64(Bound<'py, PyArray2<f64>>),
}

/// The output `(H2, W2)` of a map resize, of the map's dtype.
#[derive(FromPyObject)]
pub(crate) enum MapOut<'py> {
    F32(Bound<'py, PyArray2<f32>>),
    F64(Bound<'py, PyArray2<f64>>),
}

/// Resizes a float32/float64 map `(H, W)` (any strides) to the shape of `out`
/// `(H2, W2)`, of the same dtype, like
/// `cv2.resize(map, (W2, H2), interpolation=cv2.INTER_LINEAR)`.
#[pyfunction]
pub(crate) fn resize_map(py: Python<'_>, map: Map<'_>, out: MapOut<'_>) -> PyResult<()> {
    match (map, out) {
        (Map::F32(map), MapOut::F32(out)) => {
            let map_read = read(&map, "anomaly_map")?;
            let mut out = write(&out, &[("anomaly_map", span(&map))])?;
            let (map, out) = (map_read.as_array(), out.as_array_mut());
            run_detached(py, || resize_linear_map(map, out))
        }
        (Map::F64(map), MapOut::F64(out)) => {
            let map_read = read(&map, "anomaly_map")?;
            let mut out = write(&out, &[("anomaly_map", span(&map))])?;
            let (map, out) = (map_read.as_array(), out.as_array_mut());
            run_detached(py, || resize_linear_map(map, out))
        }
        _ => Err(PyTypeError::new_err(
            "out must have the dtype of map (float32 or float64)",
        )),
    }
}
