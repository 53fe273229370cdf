use numpy::{PyReadonlyArray2, PyReadonlyArray3, PyReadwriteArray2, PyReadwriteArray3};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use super::run_detached;
use crate::resize::{resize_linear_map, resize_linear_u8};

/// Resizes a uint8 image `(H, W, C)` (any strides) to the shape of `out` `(H2, W2, C)`
/// like `cv2.resize(image, (W2, H2), interpolation=cv2.INTER_LINEAR)`.
#[pyfunction]
pub(crate) fn resize_image(
    py: Python<'_>,
    image: PyReadonlyArray3<'_, u8>,
    mut out: PyReadwriteArray3<'_, u8>,
) -> PyResult<()> {
    let image = image.as_array();
    let out = out.as_array_mut();
    run_detached(py, || resize_linear_u8(image, out))
}

/// A map `(H, W)` in one of the two dtypes the resize computes in.
#[derive(FromPyObject)]
pub(crate) enum Map<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
}

/// The output `(H2, W2)` of a map resize, of the map's dtype.
#[derive(FromPyObject)]
pub(crate) enum MapOut<'py> {
    F32(PyReadwriteArray2<'py, f32>),
    F64(PyReadwriteArray2<'py, f64>),
}

/// Resizes a float32/float64 map `(H, W)` (any strides) to the shape of `out`
/// `(H2, W2)`, of the same dtype, like
/// `cv2.resize(map, (W2, H2), interpolation=cv2.INTER_LINEAR)`.
#[pyfunction]
pub(crate) fn resize_map(py: Python<'_>, map: Map<'_>, out: MapOut<'_>) -> PyResult<()> {
    match (map, out) {
        (Map::F32(map), MapOut::F32(mut out)) => {
            let (map, out) = (map.as_array(), out.as_array_mut());
            run_detached(py, || resize_linear_map(map, out))
        }
        (Map::F64(map), MapOut::F64(mut out)) => {
            let (map, out) = (map.as_array(), out.as_array_mut());
            run_detached(py, || resize_linear_map(map, out))
        }
        _ => Err(PyTypeError::new_err(
            "out must have the dtype of map (float32 or float64)",
        )),
    }
}
