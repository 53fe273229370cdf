//! Per-dtype extraction of maps and their split into per-map views.

use ndarray::{ArrayView, Dimension};
use numpy::{PyReadonlyArray2, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::batch::split_batch;
use crate::colormap::Palette;

/// Maps `(*B, H, W)` in one of the two dtypes the kernels compute in. The Python layer
/// has already converted every other accepted dtype to one of these.
#[derive(FromPyObject)]
pub(crate) enum MapStack<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

impl MapStack<'_> {
    /// The lengths of the batch axes (all but the last two).
    pub(crate) fn batch_shape(&self) -> Vec<usize> {
        let shape = match self {
            MapStack::F32(a) => a.shape(),
            MapStack::F64(a) => a.shape(),
        };
        shape[..shape.len().saturating_sub(2)].to_vec()
    }
}

/// The per-map views of an array whose last `D::NDIM` axes are one item (no copy,
/// any strides).
pub(crate) fn items<'a, T, D: Dimension>(
    array: &'a PyReadonlyArrayDyn<'_, T>,
    name: &str,
) -> PyResult<Vec<ArrayView<'a, T, D>>>
where
    T: numpy::Element,
{
    split_batch::<T, D>(array.as_array()).ok_or_else(|| {
        PyValueError::new_err(format!(
            "{name} must have at least {} dimensions, got shape {:?}",
            D::NDIM.unwrap_or(0),
            array.shape()
        ))
    })
}

/// A `(256, 3)` uint8 RGB table (checked by the Python layer) as an owned table.
pub(crate) fn palette_table(
    palette: Option<PyReadonlyArray2<'_, u8>>,
) -> PyResult<Option<[[u8; 3]; 256]>> {
    let Some(palette) = palette else {
        return Ok(None);
    };
    let view = palette.as_array();
    if view.shape() != [256, 3] {
        return Err(PyValueError::new_err(format!(
            "colormap table must have shape (256, 3), got {:?}",
            view.shape()
        )));
    }
    let mut table = [[0u8; 3]; 256];
    for (entry, row) in table.iter_mut().zip(view.outer_iter()) {
        for (c, &v) in entry.iter_mut().zip(row) {
            *c = v;
        }
    }
    Ok(Some(table))
}

/// The palette for a kernel: JET's fast path when no table is given.
pub(crate) fn palette_of(table: &Option<[[u8; 3]; 256]>) -> Palette<'_> {
    table.as_ref().map_or(Palette::Jet, Palette::Table)
}

/// Evaluates `$body` with `$maps` bound to the per-map `ArrayView2`s of a [`MapStack`],
/// monomorphised for each float type.
macro_rules! with_maps {
    ($stack:expr, |$maps:ident| $body:expr) => {
        match $stack {
            $crate::python::arrays::MapStack::F32(array) => {
                let $maps =
                    $crate::python::arrays::items::<f32, ndarray::Ix2>(array, "anomaly_map")?;
                $body
            }
            $crate::python::arrays::MapStack::F64(array) => {
                let $maps =
                    $crate::python::arrays::items::<f64, ndarray::Ix2>(array, "anomaly_map")?;
                $body
            }
        }
    };
}
pub(crate) use with_maps;
