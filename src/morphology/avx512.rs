//! The run method's widening in hand-written AVX-512 F + VBMI2, for CPUs that have it
//! (x86-64 only; `super` chooses, `super::runs` calls): VBMI2's funnel shifts (`vpshrdvq`, `vpshldvq`)
//! shift a word in the bits of its neighbour in one instruction, and one pass reads its
//! input once for several run widths. The same bits as the portable steps (the unit
//! tests of `super` compare them).

use std::arch::x86_64::{
    __m512i, __mmask8, _mm512_and_si512, _mm512_mask_storeu_epi64, _mm512_maskz_loadu_epi64,
    _mm512_or_si512, _mm512_set1_epi64, _mm512_setzero_si512, _mm512_shldv_epi64,
    _mm512_shrdv_epi64, _mm512_ternarylogic_epi64,
};
use std::ops::Range;

use super::Op;

/// `outs[j][k] = inp[k + a_j] ∘ inp[k − a_j]` (bit positions; with `centre_j`, also
/// `∘ inp[k]`) for every word `k` of `words` and every `(a_j, centre_j)` of `shifts`:
/// the portable `shift_step` for several widths from one read of `inp`. The targets
/// with the centre term come last (`FanOut::new` lists them narrowest first).
///
/// # Safety
/// The CPU must support AVX-512 F and VBMI2. (Bounds are checked here: every `a_j` is
/// below 64, `inp` holds a word either side of `words`, every output holds `words`.)
#[target_feature(enable = "avx512f,avx512vbmi2")]
pub(super) unsafe fn fan_out<O: Op>(
    outs: &mut [&mut [u64]],
    shifts: &[(usize, bool)],
    inp: &[u64],
    words: Range<usize>,
) {
    const MAX: usize = 8;
    let Range { start, end } = words;
    let count = outs.len();
    assert!(start >= 1 && end < inp.len() && count == shifts.len() && count <= MAX);
    assert!(outs.iter().all(|o| o.len() >= end) && shifts.iter().all(|&(a, _)| a < 64));
    let plain = shifts.iter().take_while(|&&(_, centre)| !centre).count();
    assert!(shifts[plain..].iter().all(|&(_, centre)| centre));
    let mut amounts = [_mm512_setzero_si512(); MAX];
    let mut ptrs = [std::ptr::null_mut::<u64>(); MAX];
    for j in 0..count {
        amounts[j] = _mm512_set1_epi64(shifts[j].0 as i64);
        ptrs[j] = outs[j].as_mut_ptr();
    }
    let dilate = O::OUTSIDE == 0;
    let p = inp.as_ptr();
    let mut k = start;
    while k < end {
        // The lanes k .. end of this block of eight words.
        let m: __mmask8 = if k + 8 <= end {
            0xFF
        } else {
            ((1u32 << (end - k)) - 1) as __mmask8
        };
        // SAFETY: the masked lanes read words k − 1 .. min(k + 8, end) + 1, inside `inp`,
        // and write words k .. min(k + 8, end) of each output, inside it (asserted
        // above); masked-off lanes are not touched.
        unsafe {
            let here = _mm512_maskz_loadu_epi64(m, p.add(k).cast());
            let prev = _mm512_maskz_loadu_epi64(m, p.add(k - 1).cast());
            let next = _mm512_maskz_loadu_epi64(m, p.add(k + 1).cast());
            // Bits of k + a: this word shifted down, the next one's low bits on top; of
            // k − a: shifted up, the previous one's high bits below.
            for j in 0..plain {
                let right = _mm512_shrdv_epi64(here, next, amounts[j]);
                let left = _mm512_shldv_epi64(here, prev, amounts[j]);
                let v: __m512i = if dilate {
                    _mm512_or_si512(right, left)
                } else {
                    _mm512_and_si512(right, left)
                };
                _mm512_mask_storeu_epi64(ptrs[j].add(k).cast(), m, v);
            }
            for j in plain..count {
                let right = _mm512_shrdv_epi64(here, next, amounts[j]);
                let left = _mm512_shldv_epi64(here, prev, amounts[j]);
                let v: __m512i = if dilate {
                    _mm512_ternarylogic_epi64::<0xFE>(right, left, here)
                } else {
                    _mm512_ternarylogic_epi64::<0x80>(right, left, here)
                };
                _mm512_mask_storeu_epi64(ptrs[j].add(k).cast(), m, v);
            }
        }
        k += 8;
    }
}
