use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::parallel;

/// Sets the number of threads that batches run on (n >= 1).
#[pyfunction]
pub(crate) fn set_num_threads(n: usize) -> PyResult<()> {
    if n == 0 || n > parallel::MAX_THREADS {
        return Err(PyValueError::new_err(format!(
            "n must be an integer from 1 to {}, got {n}",
            parallel::MAX_THREADS
        )));
    }
    parallel::set_num_threads(n)
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start {n} threads: {e}")))
}

/// The number of threads that batches run on.
#[pyfunction]
pub(crate) fn get_num_threads() -> usize {
    parallel::num_threads()
}
