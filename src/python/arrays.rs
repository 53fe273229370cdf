//! Per-dtype extraction of map batches.

use numpy::PyReadonlyArray3;
use pyo3::prelude::*;

/// A `(B, H, W)` batch of maps in one of the two dtypes the kernels compute in.
/// The Python layer has already converted every other accepted dtype to one of these.
#[derive(FromPyObject)]
pub(crate) enum MapBatch<'py> {
    F32(PyReadonlyArray3<'py, f32>),
    F64(PyReadonlyArray3<'py, f64>),
}

/// Evaluates `$body` with `$view` bound to the batch's ndarray view (any strides, no
/// copy), monomorphised for each float type.
macro_rules! with_map_view {
    ($maps:expr, |$view:ident| $body:expr) => {
        match $maps {
            $crate::python::arrays::MapBatch::F32(array) => {
                let $view = array.as_array();
                $body
            }
            $crate::python::arrays::MapBatch::F64(array) => {
                let $view = array.as_array();
                $body
            }
        }
    };
}
pub(crate) use with_map_view;
