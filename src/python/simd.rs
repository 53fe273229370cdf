//! The switch for the hand-written SIMD loops (tests compare them with the portable ones).

use pyo3::prelude::*;

/// Turns the hand-written AVX-512 loops off or on (tests compare both; same bytes).
/// Elsewhere than x86-64 there are none and this does nothing.
#[pyfunction]
pub(crate) fn _set_hand_written_simd(enabled: bool) {
    #[cfg(target_arch = "x86_64")]
    crate::vbmi::set_hand_written_simd(enabled);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = enabled;
}
