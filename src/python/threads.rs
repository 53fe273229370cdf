//! Bindings of `set_num_threads` / `get_num_threads` (docs/behaviour.md#threads).

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::parallel;

/// Sets the number of threads that batches run on. The public wrapper checks
/// `1 <= n <= 1024`; the core clamps to that range in any case.
#[pyfunction]
pub(crate) fn set_num_threads(n: usize) -> PyResult<()> {
    parallel::set_num_threads(n)
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start {n} threads: {e}")))
}

/// The number of threads that batches run on.
#[pyfunction]
pub(crate) fn get_num_threads() -> usize {
    parallel::num_threads()
}
