//! Binding of `mark_boundaries` (docs/behaviour.md#regions).

use numpy::{PyArray2, PyArray3};
use pyo3::prelude::*;

use super::arrays::{read, span, write};
use super::run_detached;
use crate::outline::{mark_boundaries_into, nonzero_bits};

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
