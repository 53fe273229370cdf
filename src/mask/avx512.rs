//! The mask's unpacking in hand-written AVX-512 BW, for CPUs that have it (x86-64
//! only; `super::unpack_rows` chooses): `vpmovm2b` turns a 64-bit word into 64 bytes
//! of 0/255 in one instruction. The same bytes as the portable loop (its tests compare
//! them).

use std::arch::x86_64::{_mm512_movm_epi8, _mm512_storeu_si512};

use ndarray::ArrayViewMut2;

use super::unpack_row;
use crate::bitmap::BitMatrix;
use crate::rows::for_each_row;

/// `super::unpack_rows_portable` (rows `first..` of `bits` into `out`) with AVX-512
/// BW: whole words with `vpmovm2b`, the last `W mod 64` pixels of each row through
/// the portable [`unpack_row`].
///
/// # Safety
/// The CPU must support AVX-512 F and BW (`crate::simd::avx512bw_enabled`).
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn unpack_rows(bits: &BitMatrix, first: usize, out: ArrayViewMut2<'_, u8>) {
    for_each_row(out, |y, px| {
        let words = bits.row(first + y);
        let full = px.len() / 64;
        for (bytes, &word) in px.chunks_exact_mut(64).zip(words) {
            // SAFETY: `bytes` is 64 bytes long, what an unaligned 512-bit store writes;
            // this function's caller guarantees the CPU features.
            unsafe { _mm512_storeu_si512(bytes.as_mut_ptr().cast(), _mm512_movm_epi8(word)) };
        }
        unpack_row(&words[full..], &mut px[64 * full..]);
        true
    });
}
