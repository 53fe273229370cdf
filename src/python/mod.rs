//! The PyO3 binding layer: argument conversion only, and numpy's allocator for results.
//!
//! Shape rules, dtype coercion and argument checks live in the Python package
//! (`python/anomaly_postprocess/_args.py`); this layer receives arrays already in
//! canonical form, borrows them (a conflict with another call or between arguments is
//! a `ValueError`, see [`arrays`]), runs the kernel with the GIL released through
//! [`run_detached`], and maps kernel errors to `ValueError`. It also hosts the numpy
//! allocator that lends the output pool's buffers to results ([`numpy_allocator`]).
//!
//! No Rust panic reaches Python: a panic in a kernel is caught where the kernel runs and
//! becomes a `RuntimeError` saying it is an internal error (`docs/behaviour.md#errors`).

mod arrays;
mod blend;
mod boxes;
mod colormap;
mod frame;
mod mask;
mod numpy_allocator;
mod png;
mod regions;
mod resize;
mod simd;
mod threads;

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::KernelError;

/// Runs `work` (a kernel) without the GIL, so other Python threads run meanwhile: every
/// long computation goes through here. A kernel error becomes a `ValueError`, a panic a
/// `RuntimeError` (never a `PanicException`, which is no `Exception`).
fn run_detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, KernelError> + Send,
{
    run_detached_batch(py, &[], work)
}

/// [`run_detached`] for maps with batch axes `batch_shape`, which name the map an
/// error is about.
fn run_detached_batch<T, F>(py: Python<'_>, batch_shape: &[usize], work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T, KernelError> + Send,
{
    match py.detach(|| catch_panic(work)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(PyValueError::new_err(
            error.with_batch_shape(batch_shape).to_string(),
        )),
        Err(panic) => Err(PyRuntimeError::new_err(internal_error(&panic))),
    }
}

/// `work()`, or the message of its panic.
fn catch_panic<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    // The closure's captures are views and plain values; after a panic none of them is
    // looked at again (the error is returned at once), so unwind safety is moot.
    catch_unwind(AssertUnwindSafe(work)).map_err(|payload| {
        let payload: &(dyn Any + Send) = &*payload;
        (payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string())
    })
}

/// The message of the `RuntimeError` that a caught panic becomes.
fn internal_error(panic: &str) -> String {
    format!(
        "internal error in anomaly_postprocess (a Rust panic: {panic}); the inputs were \
         not modified but any out= array may be partly written. Please report this."
    )
}

/// The extension module `anomaly_postprocess._native`. Call the public functions of
/// `anomaly_postprocess` instead: these expect arrays already in canonical form.
#[pymodule]
mod _native {
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyDict};

    #[pymodule_export]
    use super::blend::{superimpose_f32, superimpose_maps};
    #[pymodule_export]
    use super::boxes::{box_lists, box_score_lists, draw_boxes};
    #[pymodule_export]
    use super::colormap::{color_map_f32, color_maps};
    #[pymodule_export]
    use super::frame::{frame_f32, frames};
    #[pymodule_export]
    use super::mask::{mask_f32, masks};
    #[pymodule_export]
    use super::numpy_allocator::new_output;
    #[pymodule_export]
    use super::png::encode_png;
    #[pymodule_export]
    use super::regions::boundaries;
    #[pymodule_export]
    use super::resize::{resize_image, resize_map};
    #[pymodule_export]
    use super::simd::{_set_hand_written_simd, dispatch_target};
    #[pymodule_export]
    use super::threads::{get_num_threads, set_num_threads};

    /// Fresh results at least this large come from the output pool.
    #[pymodule_export]
    const POOLED_BYTES: usize = super::numpy_allocator::POOLED_BYTES;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        let py = m.py();
        // Before any call can take their locks, so that no fork can find one held.
        crate::parallel::install_fork_handlers();
        crate::pool::install_fork_handlers();
        super::numpy_allocator::init(py);
        // OpenCV's colormaps: name -> (cv2.COLORMAP_* value, 768 bytes of RGB triples).
        let palettes = PyDict::new(py);
        for (name, value, table) in &crate::palettes::PALETTES {
            palettes.set_item(*name, (*value, PyBytes::new(py, table.as_flattened())))?;
        }
        m.add("PALETTES", palettes)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `run_detached` itself needs a Python interpreter, which this test binary does not
    // link; it is `py.detach(|| catch_panic(work))` and this message.
    #[test]
    fn a_panic_is_caught_with_its_message() {
        assert_eq!(catch_panic(|| 7), Ok(7));
        assert_eq!(
            catch_panic(|| -> u8 { panic!("boom") }),
            Err("boom".to_string())
        );
        let index = 9;
        let caught = catch_panic(|| [1u8, 2][index]).unwrap_err();
        assert!(caught.contains("index out of bounds"), "{caught}");
        let message = internal_error(&caught);
        assert!(message.starts_with("internal error in anomaly_postprocess (a Rust panic: "));
        assert!(message.contains("index out of bounds"));
    }
}
