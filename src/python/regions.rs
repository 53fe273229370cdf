use ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2, PyReadonlyArray3, PyReadwriteArray3};
use pyo3::prelude::*;

use super::run_detached;
use crate::outline::{mark_boundaries_into, nonzero_bits};
use crate::regions::components;

/// `(K, 4)` int64 boxes `(x1, y1, x2, y2)` (inclusive) of the 8-connected components of
/// `mask > 0` with at least `min_area` pixels, in OpenCV's label order.
#[pyfunction]
pub(crate) fn boxes<'py>(
    py: Python<'py>,
    mask: PyReadonlyArray2<'py, u8>,
    min_area: usize,
) -> PyResult<Bound<'py, PyArray2<i64>>> {
    let view = mask.as_array();
    let found = py.detach(|| components(&nonzero_bits(view)));
    let kept: Vec<[i64; 4]> = found
        .iter()
        .filter(|c| c.area >= min_area)
        .map(|c| [c.x1 as i64, c.y1 as i64, c.x2 as i64, c.y2 as i64])
        .collect();
    let table =
        Array2::from_shape_vec((kept.len(), 4), kept.into_flattened()).expect("K rows of 4 values");
    Ok(table.into_pyarray(py))
}

/// `image` `(H, W, 3)` with the thick boundary of `mask > 0` painted in `color`,
/// written into `out`.
#[pyfunction]
pub(crate) fn boundaries(
    py: Python<'_>,
    image: PyReadonlyArray3<'_, u8>,
    mask: PyReadonlyArray2<'_, u8>,
    color: [u8; 3],
    mut out: PyReadwriteArray3<'_, u8>,
) -> PyResult<()> {
    let (image, mask, out) = (image.as_array(), mask.as_array(), out.as_array_mut());
    run_detached(py, move || {
        mark_boundaries_into(image, &nonzero_bits(mask), color, out)
    })
}
