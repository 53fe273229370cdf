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
use crate::simd::{pixels_before_alignment, prefetch, CHUNK};

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

/// Stores 64 bytes at `dst`: a non-temporal store with `STREAM` (see
/// `crate::simd::streams_output`; the loop that streams ends with [`end_streaming`]),
/// else an ordinary one.
///
/// # Safety
/// `dst` must be valid for 64 bytes of writes, and 64-byte aligned with `STREAM`; the
/// CPU must support AVX-512 F.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn store_64<const STREAM: bool>(dst: *mut u8, bytes: __m512i) {
    if STREAM {
        // SAFETY: the caller guarantees 64 writable, 64-byte aligned bytes.
        unsafe { _mm512_stream_si512(dst.cast(), bytes) }
    } else {
        // SAFETY: the caller guarantees 64 writable bytes; no alignment needed.
        unsafe { _mm512_storeu_si512(dst.cast(), bytes) }
    }
}

/// Orders a loop's non-temporal stores before every later store, so that another
/// thread that learns the loop is done (a band's end) sees its bytes: streaming
/// stores are weakly ordered, and only a fence orders them.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) fn end_streaming() {
    _mm_sfence();
}

/// Colours the whole 64-pixel chunks of `row` into `out` (3 bytes a pixel); returns
/// how many pixels it did (a multiple of 64; the caller colours the rest with
/// [`color_row`]) and, with the raw scale, whether their values were all finite
/// (always true when normalising). With `STREAM`, non-temporal stores ([`store_64`]),
/// followed by [`end_streaming`].
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VBMI (`crate::simd::vbmi_enabled`); with
/// `STREAM`, `out` must be 64-byte aligned.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn color_chunks<T: MapFloat, const STREAM: bool>(
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
            // SAFETY: `rgb` is 192 bytes; part k stores bytes 64k..64k + 64 of it, which
            // with `STREAM` are 64-byte aligned (the caller aligns `out`; chunks are 192
            // bytes, three lines).
            unsafe { store_64::<STREAM>(rgb.as_mut_ptr().add(64 * k), part) };
        }
    }
    if STREAM {
        end_streaming();
    }
    (pixels, check.all_finite())
}

/// [`super::color_rows`] with the VBMI row loop: [`color_chunks`], then the last
/// `W mod 64` pixels of each row through [`color_row`]. `registers` hold `palette`.
/// Contiguous rows are one row of every pixel; there, with `stream`, the result goes
/// past the caches (`crate::simd::streams_output`).
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
    stream: bool,
) -> Result<(), NotFinite> {
    let mut out = out;
    if let (Some(values), Some(rgb)) = (map.as_slice(), out.as_slice_mut()) {
        // A pixel's colour depends on its value alone, so contiguous rows are one row,
        // whose chunks can start on 64-byte boundaries.
        let head = if stream {
            pixels_before_alignment(rgb)
        } else {
            0
        };
        let head_finite = color_row(&values[..head], scale, palette, &mut rgb[..3 * head]);
        let (values, rgb) = (&values[head..], &mut rgb[3 * head..]);
        let (done, finite) = if stream {
            // SAFETY: the caller guarantees the CPU features; `rgb` now starts on a
            // 64-byte boundary.
            unsafe { color_chunks::<T, true>(values, scale, registers, rgb) }
        } else {
            // SAFETY: this function's caller guarantees the CPU features.
            unsafe { color_chunks::<T, false>(values, scale, registers, rgb) }
        };
        let rest_finite = color_row(&values[done..], scale, palette, &mut rgb[3 * done..]);
        return (head_finite && finite && rest_finite)
            .then_some(())
            .ok_or(NotFinite);
    }
    let mut scratch = Vec::new();
    for_each_row(out, |y, rgb| {
        let values = as_contiguous(map.index_axis(Axis(0), y), &mut scratch);
        // SAFETY: this function's caller guarantees the CPU features.
        let (done, finite) = unsafe { color_chunks::<T, false>(values, scale, registers, rgb) };
        let rest_finite = color_row(&values[done..], scale, palette, &mut rgb[3 * done..]);
        finite && rest_finite
    })
    .then_some(())
    .ok_or(NotFinite)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::colormap::{palettes::PALETTES, JET_RGB};
    use crate::simd::has_vbmi_or_skip;

    /// `len` bytes of `buffer` starting `offset` bytes past a 64-byte boundary.
    pub(crate) fn at_alignment(buffer: &mut Vec<u8>, len: usize, offset: usize) -> &mut [u8] {
        buffer.resize(len + 128, 0);
        let start = buffer.as_ptr().align_offset(64) + offset;
        &mut buffer[start..start + len]
    }

    /// The offsets from a 64-byte boundary that the streaming tests write at: every
    /// residue of a pixel start modulo 64 comes up among 0..64, a few suffice.
    pub(crate) const OFFSETS: [usize; 5] = [0, 1, 16, 47, 63];

    #[test]
    fn contiguous_rows_and_streamed_results_equal_the_portable_loop() {
        if !has_vbmi_or_skip(
            "colormap::avx512::tests::contiguous_rows_and_streamed_results_equal_the_portable_loop",
        ) {
            return;
        }
        // Rows of 201 pixels: 64-pixel chunks run across rows.
        let (h, w) = (97, 201);
        let mut map = ndarray::Array2::from_shape_fn((h, w), |(y, x)| {
            ((y * 7919 + x * 104_729) % 1013) as f32 / 1000.0 - 0.005
        });
        // SAFETY: has_vbmi_or_skip() above: the CPU has the features `new` is compiled for.
        let registers = unsafe { PaletteRegisters::new(&JET_RGB) };
        let normalized = LevelScale::Normalized {
            min: -0.005,
            ptp: 1.017,
        };
        let mut buffer = Vec::new();
        for scale in [LevelScale::Raw, normalized] {
            let mut expected = ndarray::Array3::zeros((h, w, 3));
            super::super::color_rows(map.view(), scale, Palette::Jet, expected.view_mut()).unwrap();
            for (offset, stream) in OFFSETS.into_iter().flat_map(|o| [(o, false), (o, true)]) {
                let out = at_alignment(&mut buffer, 3 * h * w, offset);
                out.fill(0);
                let view = ndarray::ArrayViewMut3::from_shape((h, w, 3), out).unwrap();
                // SAFETY: has_vbmi_or_skip() above.
                unsafe { color_rows(map.view(), scale, Palette::Jet, &registers, view, stream) }
                    .unwrap();
                let what = format!("{scale:?} offset {offset} stream {stream}");
                assert!(*out == *expected.as_slice().unwrap(), "{what}");
            }
        }
        // A non-finite value anywhere (the aligned head, the chunks, the tail) fails
        // the raw scale.
        for (y, x) in [(0, 0), (0, 20), (50, 100), (h - 1, w - 1)] {
            map[[y, x]] = f32::NAN;
            for (offset, stream) in [(16, true), (0, false)] {
                let out = at_alignment(&mut buffer, 3 * h * w, offset);
                let view = ndarray::ArrayViewMut3::from_shape((h, w, 3), out).unwrap();
                let raw = LevelScale::Raw;
                // SAFETY: has_vbmi_or_skip() above.
                let result =
                    unsafe { color_rows(map.view(), raw, Palette::Jet, &registers, view, stream) };
                assert_eq!(result, Err(NotFinite), "NaN at {y}, {x}");
            }
            map[[y, x]] = 0.5;
        }
    }

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
                let done = unsafe { color_chunks::<f32, false>(&row, scale, &regs, &mut simd) };
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
