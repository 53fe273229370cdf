//! The colour loop in hand-written AVX-512 VBMI, for CPUs that have it (x86-64 only;
//! [`super::color_map_into`] chooses). It computes exactly the bytes of the portable
//! [`super::color_row`]: the tests below compare them over every level and palette.
//!
//! Why VBMI: its two-table byte permute (`vpermi2b`) looks up 64 bytes in a 128-entry
//! table in one instruction. One palette channel (256 entries) is then two permutes
//! and a blend on the level's top bit — for every palette, not only JET — and the
//! same instruction interleaves three colour planes into RGB bytes. The overlay's
//! VBMI loop (`crate::blend::avx512`) colours its chunks with the pieces here.

use core::arch::x86_64::*;

use ndarray::{ArrayView2, ArrayViewMut3, Axis};

use super::{color_row, Palette};
use crate::levels::{levels_of_row, row_is_finite, LevelScale, MapFloat, NotFinite};
use crate::rows::{as_contiguous, for_each_row};
use crate::simd::{prefetch, CHUNK};

/// A 256-entry RGB palette as three planes of four 64-byte registers each.
#[derive(Clone, Copy)]
pub(crate) struct PaletteRegisters {
    planes: [[__m512i; 4]; 3],
}

impl PaletteRegisters {
    /// Loads `table` (RGB by level) into registers.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(crate) fn new(table: &[[u8; 3]; 256]) -> Self {
        let mut planes = [[0u8; 256]; 3];
        for (level, rgb) in table.iter().enumerate() {
            for (plane, &value) in planes.iter_mut().zip(rgb) {
                plane[level] = value;
            }
        }
        let load = |plane: &[u8; 256], quarter: usize| {
            // SAFETY: reads the 64 bytes at offset 64 · quarter ≤ 192, which lie inside
            // the 256-byte plane; an unaligned load needs no alignment.
            unsafe { _mm512_loadu_si512(plane.as_ptr().add(64 * quarter).cast()) }
        };
        PaletteRegisters {
            planes: planes.map(|plane| [0, 1, 2, 3].map(|q| load(&plane, q))),
        }
    }
}

/// The colour of 64 levels in one palette plane: levels 0–127 from the first two
/// registers, 128–255 from the last two, picked by each level's top bit.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn look_up(plane: &[__m512i; 4], levels: __m512i) -> __m512i {
    let low = _mm512_permutex2var_epi8(plane[0], levels, plane[1]);
    let high = _mm512_permutex2var_epi8(plane[2], levels, plane[3]);
    _mm512_mask_blend_epi8(_mm512_movepi8_mask(levels), low, high)
}

/// Byte indices that interleave three 64-byte planes (R, G, B) into the third
/// `part` of 192 RGB bytes: red and green through one two-table permute, blue merged
/// into the lanes of `blue_lanes` by a one-table permute.
struct Interleave {
    red_green: [u8; 64],
    blue: [u8; 64],
    blue_lanes: u64,
}

const fn interleave(part: usize) -> Interleave {
    let mut ix = Interleave {
        red_green: [0; 64],
        blue: [0; 64],
        blue_lanes: 0,
    };
    let mut j = 0;
    while j < 64 {
        let byte = 64 * part + j;
        let (pixel, channel) = ((byte / 3) as u8, byte % 3);
        match channel {
            0 => ix.red_green[j] = pixel,
            1 => ix.red_green[j] = 64 + pixel,
            _ => {
                ix.blue[j] = pixel;
                ix.blue_lanes |= 1 << j;
            }
        }
        j += 1;
    }
    ix
}

const INTERLEAVE: [Interleave; 3] = [interleave(0), interleave(1), interleave(2)];

/// The RGB bytes of 64 pixels, in three registers (192 bytes), from their levels.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) fn colours(palette: &PaletteRegisters, levels: __m512i) -> [__m512i; 3] {
    let [red, green, blue] = palette
        .planes
        .each_ref()
        .map(|plane| look_up(plane, levels));
    INTERLEAVE.each_ref().map(|ix| {
        // SAFETY: both index arrays are 64 bytes, what an unaligned 512-bit load reads.
        let (red_green_ix, blue_ix) = unsafe {
            (
                _mm512_loadu_si512(ix.red_green.as_ptr().cast()),
                _mm512_loadu_si512(ix.blue.as_ptr().cast()),
            )
        };
        let rg = _mm512_permutex2var_epi8(red, red_green_ix, green);
        _mm512_mask_permutexvar_epi8(rg, ix.blue_lanes, blue_ix, blue)
    })
}

/// Whether the values a row loop has seen are all finite: `v · 0` is 0 for finite `v`
/// and NaN for NaN and ±inf, so the sum of those products stays 0 exactly when every
/// value was finite. Checked inside the colouring loop, the row is read once; a
/// separate pass before it cost 18% of `superimpose_anomaly_map`.
#[derive(Clone, Copy)]
pub(crate) struct FiniteCheck(__m512);

impl FiniteCheck {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(crate) fn new() -> Self {
        FiniteCheck(_mm512_setzero_ps())
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn add(&mut self, values: __m512) {
        self.0 = _mm512_fmadd_ps(values, _mm512_setzero_ps(), self.0);
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn fail(&mut self) {
        self.0 = _mm512_set1_ps(f32::NAN);
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(crate) fn all_finite(self) -> bool {
        // Not-equal-or-unordered: any lane that is not exactly 0.
        _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(self.0, _mm512_setzero_ps()) == 0
    }
}

/// The levels of 64 values, one byte each, in pixel order. With the raw scale it also
/// checks that they are finite (a normalising scale comes from a range pass that did).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) fn levels_of_chunk<T: MapFloat>(
    values: &[T],
    scale: LevelScale<T>,
    check: &mut FiniteCheck,
) -> __m512i {
    if let Some((values, scale)) = T::as_f32(values, scale) {
        return levels_of_f32_chunk(values, scale, check);
    }
    if scale.is_raw() && !row_is_finite(values) {
        check.fail();
    }
    let mut levels = [0u8; CHUNK];
    levels_of_row(values, scale, &mut levels);
    // SAFETY: `levels` is 64 bytes, what an unaligned 512-bit load reads.
    unsafe { _mm512_loadu_si512(levels.as_ptr().cast()) }
}

/// [`LevelScale::level`] of 64 float32 values, one byte each, in pixel order: the same
/// operations in the same order (subtract, divide, multiply by 255, each rounded to
/// float32), then the saturating truncation.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn levels_of_f32_chunk(values: &[f32], scale: LevelScale<f32>, check: &mut FiniteCheck) -> __m512i {
    assert_eq!(values.len(), CHUNK);
    let full_scale = _mm512_set1_ps(255.0);
    let zero = _mm512_setzero_ps();
    let mut quarter = |q: usize| {
        // SAFETY: reads 16 floats at 16 · q ≤ 48, inside the 64 values (asserted above).
        let v = unsafe { _mm512_loadu_ps(values.as_ptr().add(16 * q)) };
        let scaled = match scale {
            LevelScale::Normalized { min, ptp } => _mm512_mul_ps(
                _mm512_div_ps(_mm512_sub_ps(v, _mm512_set1_ps(min)), _mm512_set1_ps(ptp)),
                full_scale,
            ),
            LevelScale::Raw => {
                check.add(v);
                _mm512_mul_ps(v, full_scale)
            }
        };
        // max returns its second operand for NaN, so NaN becomes level 0, as in
        // `saturating_level`; then at most 255, truncated.
        let clamped = _mm512_min_ps(_mm512_max_ps(scaled, zero), full_scale);
        _mm512_cvttps_epi32(clamped)
    };
    let [a, b, c, d] = [quarter(0), quarter(1), quarter(2), quarter(3)];
    let bytes = _mm512_packus_epi16(_mm512_packs_epi32(a, b), _mm512_packs_epi32(c, d));
    // SAFETY: UNPACK_ORDER is 64 bytes, what an unaligned 512-bit load reads.
    _mm512_permutexvar_epi8(
        unsafe { _mm512_loadu_si512(UNPACK_ORDER.as_ptr().cast()) },
        bytes,
    )
}

/// Restores pixel order after `packs`/`packus`, which interleave their inputs per
/// 128-bit lane: byte `16L + 4s + i` holds value `16s + 4L + i`.
pub(crate) const UNPACK_ORDER: [u8; 64] = {
    let mut ix = [0u8; 64];
    let mut value = 0;
    while value < 64 {
        let (s, lane, i) = (value / 16, (value / 4) % 4, value % 4);
        ix[value] = (16 * lane + 4 * s + i) as u8;
        value += 1;
    }
    ix
};

/// Colours the whole 64-pixel chunks of `row` into `out` (3 bytes a pixel); returns
/// how many pixels it did (a multiple of 64; the caller colours the rest with
/// [`color_row`]) and, with the raw scale, whether their values were all finite
/// (always true when normalising).
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VBMI (`crate::simd::vbmi_enabled`).
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn color_chunks<T: MapFloat>(
    row: &[T],
    scale: LevelScale<T>,
    palette: &PaletteRegisters,
    out: &mut [u8],
) -> (usize, bool) {
    let pixels = row.len().min(out.len() / 3) / CHUNK * CHUNK;
    let mut check = FiniteCheck::new();
    for (values, rgb) in row[..pixels]
        .chunks_exact(CHUNK)
        .zip(out.chunks_exact_mut(3 * CHUNK))
    {
        prefetch::ahead_of(values);
        let parts = colours(palette, levels_of_chunk(values, scale, &mut check));
        for (k, part) in parts.into_iter().enumerate() {
            // SAFETY: `rgb` is 192 bytes; part k stores bytes 64k..64k + 64 of it.
            unsafe { _mm512_storeu_si512(rgb.as_mut_ptr().add(64 * k).cast(), part) };
        }
    }
    (pixels, check.all_finite())
}

/// [`super::color_rows`] with the VBMI row loop: [`color_chunks`], then the last
/// `W mod 64` pixels of each row through [`color_row`]. `registers` hold `palette`.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VBMI (`crate::simd::vbmi_enabled`).
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(super) unsafe fn color_rows<T: MapFloat>(
    map: ArrayView2<'_, T>,
    scale: LevelScale<T>,
    palette: Palette<'_>,
    registers: &PaletteRegisters,
    out: ArrayViewMut3<'_, u8>,
) -> Result<(), NotFinite> {
    let mut scratch = Vec::new();
    for_each_row(out, |y, rgb| {
        let values = as_contiguous(map.index_axis(Axis(0), y), &mut scratch);
        // SAFETY: this function's caller guarantees the CPU features.
        let (done, finite) = unsafe { color_chunks(values, scale, registers, rgb) };
        let rest_finite = color_row(&values[done..], scale, palette, &mut rgb[3 * done..]);
        finite && rest_finite
    })
    .then_some(())
    .ok_or(NotFinite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colormap::{palettes::PALETTES, JET_RGB};
    use crate::simd::has_vbmi_or_skip;

    #[test]
    fn interleave_indices_cover_every_byte_once() {
        let mut seen = [0u8; 192];
        for (part, ix) in INTERLEAVE.iter().enumerate() {
            for j in 0..64 {
                let byte = 64 * part + j;
                let (pixel, channel) = (byte / 3, byte % 3);
                if ix.blue_lanes >> j & 1 == 1 {
                    assert_eq!((channel, ix.blue[j] as usize), (2, pixel));
                } else {
                    let expected = if channel == 0 { pixel } else { 64 + pixel };
                    assert_eq!(ix.red_green[j] as usize, expected);
                }
                seen[byte] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n == 1));
    }

    #[test]
    fn color_chunks_equal_the_portable_loop() {
        if !has_vbmi_or_skip("colormap::avx512::tests::color_chunks_equal_the_portable_loop") {
            return; // the portable loop is tested anyway
        }
        let palettes: Vec<&[[u8; 3]; 256]> = std::iter::once(&JET_RGB)
            .chain(PALETTES.iter().map(|(_, _, t)| t))
            .collect();
        // Every level in every position, plus out-of-range values.
        let row: Vec<f32> = (0..512 + 64)
            .map(|i| (i as f32 - 32.0) / 511.0 * 1.01)
            .collect();
        for table in palettes {
            // SAFETY: has_vbmi_or_skip() above: the CPU has the features `new` is compiled for.
            let regs = unsafe { PaletteRegisters::new(table) };
            for scale in [
                LevelScale::Raw,
                LevelScale::Normalized {
                    min: -0.1,
                    ptp: 1.2,
                },
            ] {
                let mut simd = vec![0u8; 3 * row.len()];
                // SAFETY: has_vbmi_or_skip() above.
                let done = unsafe { color_chunks(&row, scale, &regs, &mut simd) };
                assert_eq!(done, (row.len(), true));
                let expected: Vec<u8> = row
                    .iter()
                    .flat_map(|&v| table[scale.level(v) as usize])
                    .collect();
                assert_eq!(simd, expected);
            }
        }
    }
}
