//! The CPU dispatch, seen from Python: the switch for the hand-written SIMD loops
//! (tests compare them with the portable ones) and the name of the path that runs
//! (docs/behaviour.md#simd).

use pyo3::prelude::*;

/// Turns the hand-written AVX-512 loops off or on (tests compare both; same bytes).
/// Elsewhere than x86-64 there are none and this changes nothing.
#[pyfunction]
pub(crate) fn _set_hand_written_simd(enabled: bool) {
    crate::simd::set_hand_written_simd(enabled);
}

/// The code path the kernels take on this CPU, e.g.
/// `"AVX-512 (F, BW, VL) + AVX2 + FMA; hand-written AVX-512 VBMI loops"`: the SIMD
/// clone the compiled loops run, then which hand-written loops run (see
/// `crate::simd::dispatch_target`). For tests and CI logs.
#[pyfunction]
pub(crate) fn dispatch_target() -> String {
    crate::simd::dispatch_target().to_owned()
}
