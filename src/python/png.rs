//! Binding of the command-line tool's PNG encoder (`crate::png`, docs/behaviour.md#cli).

use ndarray::Axis;
use numpy::{PyArray2, PyArray3, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::arrays::read;
use super::run_detached;
use crate::png::encode_png as encode;

/// The PNG file of `image`, uint8 gray `(H, W)` or RGB `(H, W, 3)` (any strides), at
/// `compression` 0–9: the command-line tool's files and `--png-compression`
/// (`docs/behaviour.md#cli`). Encoded without the GIL.
#[pyfunction]
pub(crate) fn encode_png<'py>(
    py: Python<'py>,
    image: Bound<'py, PyAny>,
    compression: u32,
) -> PyResult<Bound<'py, PyBytes>> {
    let encoded = if let Ok(array) = image.cast::<PyArray2<u8>>() {
        let image = read(array, "image")?;
        let view = image.as_array().insert_axis(Axis(2));
        run_detached(py, move || Ok(encode(view, compression)))?
    } else if let Ok(array) = image.cast::<PyArray3<u8>>() {
        let image = read(array, "image")?;
        let view = image.as_array();
        run_detached(py, move || Ok(encode(view, compression)))?
    } else {
        let got = match image.cast::<PyUntypedArray>() {
            Ok(array) => format!("{} array of shape {}", array.dtype(), tuple(array.shape())),
            Err(_) => image.get_type().name()?.to_string(),
        };
        return Err(PyTypeError::new_err(format!(
            "image must be a uint8 array of shape (H, W) or (H, W, 3), got {got}"
        )));
    };
    let file = encoded.map_err(|error| PyValueError::new_err(error.to_string()))?;
    Ok(PyBytes::new(py, &file))
}

/// A shape as Python writes it: `(4, 5)`, `(4,)`, `()`.
fn tuple(shape: &[usize]) -> String {
    let lengths: Vec<String> = shape.iter().map(usize::to_string).collect();
    match lengths.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", lengths.join(", ")),
    }
}
