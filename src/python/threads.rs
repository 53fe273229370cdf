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

/// Turns the hand-written AVX-512 loops off or on (tests compare both; same bytes).
/// Elsewhere than x86-64 there are none and this does nothing.
#[pyfunction]
pub(crate) fn _set_hand_written_simd(enabled: bool) {
    #[cfg(target_arch = "x86_64")]
    crate::vbmi::set_hand_written_simd(enabled);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = enabled;
}
