use ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyArray3};
use pyo3::prelude::*;

use super::arrays::{read, span, write};
use super::run_detached;
use crate::outline::{mark_boundaries_into, nonzero_bits};
use crate::regions::components;

/// `(K, 4)` int64 boxes `(x1, y1, x2, y2)` (inclusive) of the 8-connected components of
/// `mask > 0` with at least `min_area` pixels, in OpenCV's label order
/// (`docs/behaviour.md#regions`).
#[pyfunction]
pub(crate) fn boxes<'py>(
    py: Python<'py>,
    mask: Bound<'py, PyArray2<u8>>,
    min_area: usize,
) -> PyResult<Bound<'py, PyArray2<i64>>> {
    let mask = read(&mask, "mask")?;
    let view = mask.as_array();
    let found = run_detached(py, || Ok(components(&nonzero_bits(view))))?;
    let kept: Vec<[i64; 4]> = found
        .iter()
        .filter(|c| c.area >= min_area)
        .map(|c| [c.x1 as i64, c.y1 as i64, c.x2 as i64, c.y2 as i64])
        .collect();
    let rows = kept.len();
    // K rows of 4 values always make a (K, 4) table.
    let table = Array2::from_shape_vec((rows, 4), kept.into_flattened())
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("internal error: {e}")))?;
    Ok(table.into_pyarray(py))
}

/// `image` `(H, W, 3)` with the thick boundary of `mask > 0` painted in `color`,
/// written into `out`.
#[pyfunction]
pub(crate) fn boundaries(
    py: Python<'_>,
    image: Bound<'_, PyArray3<u8>>,
    mask: Bound<'_, PyArray2<u8>>,
    color: [u8; 3],
    out: Bound<'_, PyArray3<u8>>,
) -> PyResult<()> {
    let (image_read, mask_read) = (read(&image, "image")?, read(&mask, "mask")?);
    let mut out = write(&out, &[("image", span(&image)), ("mask", span(&mask))])?;
    let (image, mask, out) = (
        image_read.as_array(),
        mask_read.as_array(),
        out.as_array_mut(),
    );
    run_detached(py, move || {
        mark_boundaries_into(image, &nonzero_bits(mask), color, out)
    })
}
