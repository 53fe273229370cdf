//! Array arguments in, results out: borrowing the caller's arrays, splitting maps into
//! per-map views, colour tables, new results.
//!
//! Every array argument arrives as a plain `Bound<PyArray…>` (extracting one takes no
//! borrow) and is then borrowed here with rust-numpy's `try_readonly`/`try_readwrite`:
//! the inputs first, `out` last. A borrow that conflicts (`out` overlaps an input of
//! the same call, e.g. `colormap=o[0], out=o`; or another thread's call is writing an
//! input of this one or using its `out`) is a `ValueError` naming the arguments
//! (`docs/behaviour.md#memory`), never rust-numpy's panic. Borrows are released only
//! after the kernel has finished, with the GIL held.

use std::ops::Range;

use ndarray::{ArrayView, Dimension};
use numpy::{
    BorrowError, Element, PyArray, PyArray2, PyArrayDyn, PyArrayMethods, PyReadonlyArray,
    PyReadonlyArrayDyn, PyReadwriteArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use super::numpy_allocator::{new_output, plain_array, POOLED_BYTES};
use crate::batch::split_batch;
use crate::colormap::Palette;
use crate::error::KernelError;

/// The bytes that `array`'s elements occupy, `start..end` (empty for an empty array);
/// what two arrays must share to overlap.
pub(crate) fn span<T: Element, D: Dimension>(array: &Bound<'_, PyArray<T, D>>) -> Range<usize> {
    let start = array.data() as usize as i128;
    let (mut low, mut high) = (start, start + std::mem::size_of::<T>() as i128);
    for (&len, &stride) in array.shape().iter().zip(array.strides()) {
        if len == 0 {
            return 0..0;
        }
        let reach = (len as i128 - 1) * stride as i128;
        if reach < 0 {
            low += reach;
        } else {
            high += reach;
        }
    }
    let clamp = |v: i128| v.clamp(0, usize::MAX as i128) as usize;
    clamp(low)..clamp(high)
}

/// The most axes rust-numpy can view (numpy 2 allows 64); it panics beyond.
const MAX_NDIM: usize = 32;

/// Refuses arrays with more axes than rust-numpy can view (a batch of maps with many
/// batch axes), with a `ValueError` instead of its panic (`docs/behaviour.md#shapes`).
fn check_ndim<T: Element, D: Dimension>(
    array: &Bound<'_, PyArray<T, D>>,
    name: &str,
) -> PyResult<()> {
    // A view of a misaligned element would be undefined behaviour in Rust (numpy allows
    // such arrays; the Python layer copies misaligned maps before they get here).
    let align = std::mem::align_of::<T>();
    if !(array.data() as usize).is_multiple_of(align)
        || array.strides().iter().any(|s| s % align as isize != 0)
    {
        return Err(PyValueError::new_err(format!(
            "{name} must be aligned to {align} bytes, got an array whose data or strides are not"
        )));
    }
    let ndim = array.ndim();
    if ndim > MAX_NDIM {
        return Err(PyValueError::new_err(format!(
            "{name} must have at most {MAX_NDIM} dimensions, got {ndim} (shape {:?})",
            array.shape()
        )));
    }
    Ok(())
}

/// Borrows input `array` (the caller's argument `name`) for reading.
pub(crate) fn read<'py, T: Element, D: Dimension>(
    array: &Bound<'py, PyArray<T, D>>,
    name: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    check_ndim(array, name)?;
    // Only a writer conflicts with a reader: another call's `out` (ours comes last).
    array.try_readonly().map_err(|_| {
        PyValueError::new_err(format!(
            "{name}= is being written by another call (as its out=) at the same time; \
             pass a separate array or wait for that call to finish"
        ))
    })
}

/// Borrows `out` for writing, after the inputs `(name, span)` of the same call are
/// borrowed for reading.
pub(crate) fn write<'py, T: Element, D: Dimension>(
    out: &Bound<'py, PyArray<T, D>>,
    inputs: &[(&str, Range<usize>)],
) -> PyResult<PyReadwriteArray<'py, T, D>> {
    write_as(out, "out", inputs)
}

/// [`write`] for an output argument called `name` (`out_heatmap`, … of `postprocess`,
/// whose `inputs` include the outputs borrowed before it).
pub(crate) fn write_as<'py, T: Element, D: Dimension>(
    out: &Bound<'py, PyArray<T, D>>,
    name: &str,
    inputs: &[(&str, Range<usize>)],
) -> PyResult<PyReadwriteArray<'py, T, D>> {
    check_ndim(out, name)?;
    out.try_readwrite().map_err(|error| {
        if let BorrowError::NotWriteable = error {
            // The Python layer checked; another thread cleared the flag since.
            return PyValueError::new_err(format!(
                "{name}= must be writable, got a read-only array"
            ));
        }
        let place = span(out);
        let overlapped: Vec<String> = (inputs.iter())
            .filter(|(_, input)| input.start < place.end && place.start < input.end)
            .map(|(name, _)| format!("{name}="))
            .collect();
        PyValueError::new_err(if overlapped.is_empty() {
            format!(
                "{name}= is being used by another call at the same time (as its out= or as \
                 an input); pass a separate array"
            )
        } else {
            format!(
                "{name}= is being used by another call or overlaps {}; pass a separate array",
                overlapped.join(" and ")
            )
        })
    })
}

/// Maps `(*B, H, W)` in one of the two dtypes the kernels compute in. The Python layer
/// has already converted every other accepted dtype to one of these.
#[derive(FromPyObject)]
pub(crate) enum MapStack<'py> {
    F32(Bound<'py, PyArrayDyn<f32>>),
    F64(Bound<'py, PyArrayDyn<f64>>),
}

/// A [`MapStack`] borrowed for reading.
pub(crate) enum MapsRead<'py> {
    F32(PyReadonlyArrayDyn<'py, f32>),
    F64(PyReadonlyArrayDyn<'py, f64>),
}

impl<'py> MapStack<'py> {
    /// The lengths of the batch axes (all but the last two).
    pub(crate) fn batch_shape(&self) -> Vec<usize> {
        let shape = match self {
            MapStack::F32(a) => a.shape(),
            MapStack::F64(a) => a.shape(),
        };
        shape[..shape.len().saturating_sub(2)].to_vec()
    }

    /// The bytes the maps occupy (see [`span`]).
    pub(crate) fn span(&self) -> Range<usize> {
        match self {
            MapStack::F32(a) => span(a),
            MapStack::F64(a) => span(a),
        }
    }

    /// The maps borrowed for reading (the caller's `anomaly_map=`).
    pub(crate) fn read(&self) -> PyResult<MapsRead<'py>> {
        Ok(match self {
            MapStack::F32(a) => MapsRead::F32(read(a, "anomaly_map")?),
            MapStack::F64(a) => MapsRead::F64(read(a, "anomaly_map")?),
        })
    }
}

/// The per-map views of an array whose last `D::NDIM` axes are one item (no copy,
/// any strides).
pub(crate) fn items<'a, T, D: Dimension>(
    array: &'a PyReadonlyArrayDyn<'_, T>,
    name: &str,
) -> PyResult<Vec<ArrayView<'a, T, D>>>
where
    T: Element,
{
    split_batch::<T, D>(array.as_array()).ok_or_else(|| {
        PyValueError::new_err(format!(
            "{name} must have at least {} dimensions, got shape {:?}",
            D::NDIM.unwrap_or(0),
            array.shape()
        ))
    })
}

/// Borrows an optional `(256, 3)` colour table (`colormap=`) for reading.
pub(crate) fn read_palette<'py>(
    palette: &Option<Bound<'py, PyArray2<u8>>>,
) -> PyResult<Option<PyReadonlyArray<'py, u8, ndarray::Ix2>>> {
    palette.as_ref().map(|p| read(p, "colormap")).transpose()
}

/// The span of an optional colour table (empty without one).
pub(crate) fn palette_span(palette: &Option<Bound<'_, PyArray2<u8>>>) -> Range<usize> {
    palette.as_ref().map_or(0..0, span)
}

/// A `(256, 3)` uint8 RGB table (checked by the Python layer) as an owned table.
pub(crate) fn palette_table(
    palette: &Option<PyReadonlyArray<'_, u8, ndarray::Ix2>>,
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

/// Evaluates `$body` with `$maps` bound to the per-map `ArrayView2`s of a [`MapsRead`],
/// monomorphised for each float type.
macro_rules! with_maps {
    ($read:expr, |$maps:ident| $body:expr) => {
        match $read {
            $crate::python::arrays::MapsRead::F32(array) => {
                let $maps =
                    $crate::python::arrays::items::<f32, ndarray::Ix2>(array, "anomaly_map")?;
                $body
            }
            $crate::python::arrays::MapsRead::F64(array) => {
                let $maps =
                    $crate::python::arrays::items::<f64, ndarray::Ix2>(array, "anomaly_map")?;
                $body
            }
        }
    };
}
pub(crate) use with_maps;

/// A new result of `shape`: from the output pool ([`new_output`]) from `POOLED_BYTES`
/// up, an ordinary new array below.
pub(crate) fn result_array<'py>(
    py: Python<'py>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    if shape.iter().product::<usize>() >= POOLED_BYTES {
        return new_output(py, shape.to_vec());
    }
    plain_array(py, shape)
}

/// A new result of `shape` (see [`result_array`]) that `kernel` fills, run without the
/// GIL: the one-call bindings of the common case.
pub(crate) fn new_result_from<'py, D: Dimension>(
    py: Python<'py>,
    shape: &[usize],
    kernel: impl FnOnce(ndarray::ArrayViewMut<'_, u8, D>) -> Result<(), KernelError> + Send,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let result = result_array(py, shape)?;
    {
        // A new array nobody else can see yet: a failure here is a bug of ours.
        let internal = |what: String| PyRuntimeError::new_err(format!("internal error: {what}"));
        let mut out = (result.try_readwrite()).map_err(|e| internal(e.to_string()))?;
        let out = (out.as_array_mut().into_dimensionality::<D>())
            .map_err(|e| internal(format!("a new result of shape {shape:?}: {e}")))?;
        super::run_detached(py, move || kernel(out))?;
    }
    Ok(result)
}
