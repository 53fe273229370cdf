//! The PyO3 binding layer: argument conversion only. Shape rules, dtype coercion and
//! argument checks live in the Python package (`python/anomaly_postprocess/_api.py`);
//! this layer receives arrays already in canonical form, converts them to ndarray
//! views, runs the kernel with the GIL released and maps kernel errors to `ValueError`.

mod arrays;
mod blend;
mod boxes;
mod colormap;
mod mask;
mod memory;
mod regions;
mod resize;
mod simd;
mod threads;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::error::KernelError;

/// Runs a kernel without the GIL and turns its error into a `ValueError`.
///
/// Every long computation goes through here, so other Python threads run meanwhile.
fn run_detached<F>(py: Python<'_>, kernel: F) -> PyResult<()>
where
    F: FnOnce() -> Result<(), KernelError> + Send,
{
    run_detached_batch(py, &[], kernel)
}

/// [`run_detached`] for maps with batch axes `batch_shape`, which name the map an
/// error is about.
fn run_detached_batch<F>(py: Python<'_>, batch_shape: &[usize], kernel: F) -> PyResult<()>
where
    F: FnOnce() -> Result<(), KernelError> + Send,
{
    py.detach(kernel)
        .map_err(|e| PyValueError::new_err(e.with_batch_shape(batch_shape).to_string()))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(colormap::color_maps, m)?)?;
    m.add_function(wrap_pyfunction!(colormap::color_map_f32, m)?)?;
    m.add_function(wrap_pyfunction!(blend::superimpose_maps, m)?)?;
    m.add_function(wrap_pyfunction!(blend::superimpose_f32, m)?)?;
    m.add_function(wrap_pyfunction!(mask::masks, m)?)?;
    m.add_function(wrap_pyfunction!(mask::mask_f32, m)?)?;
    m.add_function(wrap_pyfunction!(memory::new_output, m)?)?;
    m.add_function(wrap_pyfunction!(memory::_pool_stats, m)?)?;
    m.add("POOLED_BYTES", memory::POOLED_BYTES)?;
    // The pool's bounds: (free buffers, free bytes, bytes of one buffer). For tests.
    m.add(
        "_POOL_LIMITS",
        (
            memory::MAX_POOLED_BUFFERS,
            memory::MAX_POOLED_BYTES,
            memory::MAX_POOLED_BUFFER_BYTES,
        ),
    )?;
    m.add_function(wrap_pyfunction!(regions::boxes, m)?)?;
    m.add_function(wrap_pyfunction!(regions::boundaries, m)?)?;
    m.add_function(wrap_pyfunction!(boxes::box_lists, m)?)?;
    m.add_function(wrap_pyfunction!(boxes::box_score_lists, m)?)?;
    m.add_function(wrap_pyfunction!(boxes::draw_boxes, m)?)?;
    m.add_function(wrap_pyfunction!(resize::resize_image, m)?)?;
    m.add_function(wrap_pyfunction!(resize::resize_map, m)?)?;
    m.add_function(wrap_pyfunction!(threads::set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(threads::get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(simd::_set_hand_written_simd, m)?)?;
    // OpenCV's colormaps: name -> (cv2.COLORMAP_* value, 768 bytes of RGB triples).
    let palettes = pyo3::types::PyDict::new(m.py());
    for (name, value, table) in &crate::palettes::PALETTES {
        let bytes = pyo3::types::PyBytes::new(m.py(), table.as_flattened());
        palettes.set_item(*name, (*value, bytes))?;
    }
    m.add("PALETTES", palettes)?;
    // The 256 RGB triples of the JET table, as 768 bytes.
    m.add(
        "JET_RGB",
        pyo3::types::PyBytes::new(m.py(), crate::colormap::JET_RGB.as_flattened()),
    )?;
    Ok(())
}
