//! AVX-512 VBMI inner loops for colouring and blending, chosen at run time.
//!
//! These compute exactly the bytes of the portable loops in [`crate::colormap`] and
//! [`crate::blend`] (the unit tests below compare them over whole ranges of inputs);
//! CPUs without AVX-512 F/BW/VBMI run the portable loops.
//!
//! Why VBMI: its two-table byte permute (`vpermi2b`) looks up 64 bytes in a 128-entry
//! table in one instruction. One palette channel (256 entries) is then two permutes
//! and a blend on the level's top bit — for every palette, not only JET — and the
//! same instruction interleaves three colour planes into RGB bytes. The blend widens
//! bytes to float32 lanes and applies OpenCV's two fused multiply-adds
//! ([`AddWeighted`]), which the AVX-512 FMA computes with the same single rounding as
//! `f32::mul_add`; or, for the weights where it gives the same bytes (the default
//! among them), it runs [`FixedPointBlend`] on 16-bit lanes, which takes a quarter of
//! the instructions.

use core::arch::x86_64::*;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::blend::{AddWeighted, FixedPointBlend};
use crate::levels::{levels_of_row, row_is_finite, LevelScale, MapFloat};

/// Pixels per step: one register of levels.
pub(crate) const CHUNK: usize = 64;

/// Whether the hand-written AVX-512 loops may run (see [`set_hand_written_simd`]).
static HAND_WRITTEN_SIMD: AtomicBool = AtomicBool::new(true);

/// Turns the hand-written AVX-512 loops (this module's, and the mask unpacking) off or
/// back on, for the whole process; off, every kernel runs its compiler-vectorised
/// portable loop. For tests, which compare the two, and for debugging: both give the
/// same bytes.
///
/// ```
/// use anomaly_postprocess::colormap::{color_map_into, Palette};
/// use anomaly_postprocess::vbmi::set_hand_written_simd;
/// let map = ndarray::Array2::from_shape_fn((3, 130), |(y, x)| (y * 130 + x) as f32);
/// let colour = |out: &mut ndarray::Array3<u8>| {
///     color_map_into(map.view(), true, Palette::Jet, out.view_mut()).unwrap()
/// };
/// let (mut fast, mut portable) = (ndarray::Array3::zeros((3, 130, 3)), ndarray::Array3::zeros((3, 130, 3)));
/// colour(&mut fast);
/// set_hand_written_simd(false);
/// colour(&mut portable);
/// set_hand_written_simd(true);
/// assert_eq!(fast, portable);
/// ```
pub fn set_hand_written_simd(enabled: bool) {
    HAND_WRITTEN_SIMD.store(enabled, Ordering::Relaxed);
}

/// Whether AVX-512 F and BW loops may run: the CPU has them and they are not turned off.
pub(crate) fn avx512bw_enabled() -> bool {
    HAND_WRITTEN_SIMD.load(Ordering::Relaxed)
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
}

/// Whether the kernels of this module may run: the CPU has AVX-512 F, BW and VBMI
/// (checked once by std, then cached) and they are not turned off.
pub(crate) fn detected() -> bool {
    avx512bw_enabled() && is_x86_feature_detected!("avx512vbmi")
}

/// A 256-entry RGB palette as three planes of four 64-byte registers each.
#[derive(Clone, Copy)]
pub(crate) struct PaletteRegisters {
    planes: [[__m512i; 4]; 3],
}

impl PaletteRegisters {
    /// Loads `table` (RGB by level) into registers.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F, BW and VBMI ([`detected`]).
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(crate) unsafe fn new(table: &[[u8; 3]; 256]) -> Self {
        let mut planes = [[0u8; 256]; 3];
        for (level, rgb) in table.iter().enumerate() {
            for (plane, &value) in planes.iter_mut().zip(rgb) {
                plane[level] = value;
            }
        }
        let load = |plane: &[u8; 256], quarter: usize| {
            // SAFETY: 64 bytes at offset 64 · quarter ≤ 192 lie inside the 256-byte plane.
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
fn colours(palette: &PaletteRegisters, levels: __m512i) -> [__m512i; 3] {
    let [red, green, blue] = palette
        .planes
        .each_ref()
        .map(|plane| look_up(plane, levels));
    INTERLEAVE.each_ref().map(|ix| {
        // SAFETY: both index arrays are 64 bytes.
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
struct FiniteCheck(__m512);

impl FiniteCheck {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn new() -> Self {
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
    fn all_finite(self) -> bool {
        // Not-equal-or-unordered: any lane that is not exactly 0.
        _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(self.0, _mm512_setzero_ps()) == 0
    }
}

/// The levels of 64 values, one byte each, in pixel order. With the raw scale it also
/// checks that they are finite (a normalising scale comes from a range pass that did).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn levels_of_chunk<T: MapFloat>(
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
    // SAFETY: `levels` is 64 bytes.
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
        // SAFETY: 16 floats at 16 · q ≤ 48 lie inside the 64 values.
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
    // SAFETY: UNPACK_ORDER is 64 bytes.
    _mm512_permutexvar_epi8(
        unsafe { _mm512_loadu_si512(UNPACK_ORDER.as_ptr().cast()) },
        bytes,
    )
}

/// [`crate::colormap::heat_row`] for CPUs with VBMI: colours `row` into `out`
/// (3 bytes a pixel); returns how many pixels it did (a multiple of 64; the caller
/// colours the rest) and, with the raw scale, whether their values were all finite
/// (always true when normalising).
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VBMI ([`detected`]).
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn heat_row<T: MapFloat>(
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
        crate::prefetch::ahead_of(values);
        let parts = colours(palette, levels_of_chunk(values, scale, &mut check));
        for (k, part) in parts.into_iter().enumerate() {
            // SAFETY: `rgb` is 192 bytes; part k fills bytes 64k..64k + 64.
            unsafe { _mm512_storeu_si512(rgb.as_mut_ptr().add(64 * k).cast(), part) };
        }
    }
    (pixels, check.all_finite())
}

/// OpenCV's blend of 16 bytes at `a` (colour) and `b` (image): widened to float32,
/// `fma(a, α, fma(b, β, γ))` rounded half to even (the [`AddWeighted::apply`] formula),
/// as 16 int32 lanes.
///
/// # Safety
/// `a` and `b` must point to 16 readable bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn blend_16(weights: &BlendRegisters, a: *const u8, b: *const u8) -> __m512i {
    // SAFETY: the caller guarantees 16 bytes at each pointer.
    let (a, b) = unsafe { (_mm_loadu_si128(a.cast()), _mm_loadu_si128(b.cast())) };
    let a = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(a));
    let b = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b));
    let mut v = _mm512_fmadd_ps(
        a,
        weights.heat,
        _mm512_fmadd_ps(b, weights.image, weights.offset),
    );
    if weights.clamp {
        // Keeps the rounded value inside int32; 0..=255 follows in the packs.
        v = _mm512_min_ps(
            _mm512_max_ps(v, _mm512_set1_ps(-1.0)),
            _mm512_set1_ps(256.0),
        );
    }
    _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v)
}

/// The blend weights broadcast to 16 lanes.
pub(crate) struct BlendRegisters {
    heat: __m512,
    image: __m512,
    offset: __m512,
    /// Whether some blended value may fall outside int32 or be NaN (huge or infinite
    /// weights); otherwise the clamp before rounding is skipped.
    clamp: bool,
}

impl BlendRegisters {
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn new(blend: &AddWeighted) -> Self {
        let (heat, image, offset) = blend.weights();
        // The blend is monotonic in each byte (one rounding at a time), so its extremes
        // are at the corners a, b ∈ {0, 255}; NaN fails the test.
        let corners = [(0.0f32, 0.0f32), (0.0, 255.0), (255.0, 0.0), (255.0, 255.0)];
        let in_int32 = corners.iter().all(|&(a, b)| {
            let v = a.mul_add(heat, b.mul_add(image, offset));
            v.abs() < 1e9
        });
        BlendRegisters {
            heat: _mm512_set1_ps(heat),
            image: _mm512_set1_ps(image),
            offset: _mm512_set1_ps(offset),
            clamp: !in_int32,
        }
    }
}

/// Restores pixel order after `packs`/`packus`, which interleave their inputs per
/// 128-bit lane: byte `16L + 4s + i` holds value `16s + 4L + i`.
const UNPACK_ORDER: [u8; 64] = {
    let mut ix = [0u8; 64];
    let mut value = 0;
    while value < 64 {
        let (s, lane, i) = (value / 16, (value / 4) % 4, value % 4);
        ix[value] = (16 * lane + 4 * s + i) as u8;
        value += 1;
    }
    ix
};

/// Blends the 64 colour bytes at `a` over the 64 image bytes at `b`.
///
/// # Safety
/// `a` and `b` must point to 64 readable bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn blend_64(
    weights: &BlendRegisters,
    order: __m512i,
    a: *const u8,
    b: *const u8,
) -> __m512i {
    // SAFETY: the caller guarantees 64 bytes at each pointer.
    let v = [0, 1, 2, 3].map(|q| unsafe { blend_16(weights, a.add(16 * q), b.add(16 * q)) });
    // Signed saturation to int16, then unsigned saturation to 0..=255.
    let bytes = _mm512_packus_epi16(
        _mm512_packs_epi32(v[0], v[1]),
        _mm512_packs_epi32(v[2], v[3]),
    );
    _mm512_permutexvar_epi8(order, bytes)
}

/// 64 bytes of colour, aligned for one store and four 16-byte loads.
#[repr(C, align(64))]
struct Heat([u8; 64]);

/// A blend of 64 colour bytes over 64 image bytes on AVX-512 lanes, with the same bytes
/// as the portable [`crate::blend::ByteBlend`].
pub(crate) trait LaneBlend {
    /// The weights, broadcast to lanes once per row.
    type Lanes;

    /// # Safety
    /// The CPU must support AVX-512 F, BW and VBMI ([`detected`]).
    unsafe fn lanes(&self) -> Self::Lanes;

    /// Blends `heat` (64 colour bytes) over the 64 image bytes at `image`.
    ///
    /// # Safety
    /// As for [`LaneBlend::lanes`]; `image` must point to 64 readable bytes.
    unsafe fn blend(lanes: &Self::Lanes, heat: __m512i, image: *const u8) -> __m512i;
}

impl LaneBlend for AddWeighted {
    type Lanes = (BlendRegisters, __m512i);

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn lanes(&self) -> Self::Lanes {
        // SAFETY: UNPACK_ORDER is 64 bytes.
        let order = unsafe { _mm512_loadu_si512(UNPACK_ORDER.as_ptr().cast()) };
        (BlendRegisters::new(self), order)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn blend((weights, order): &Self::Lanes, heat: __m512i, image: *const u8) -> __m512i {
        // Stored once so that the float lanes can widen it 16 bytes at a time.
        let mut colour = Heat([0; 64]);
        // SAFETY: `colour` is 64 aligned bytes; the caller guarantees 64 at `image`.
        unsafe {
            _mm512_store_si512(colour.0.as_mut_ptr().cast(), heat);
            blend_64(weights, *order, colour.0.as_ptr(), image)
        }
    }
}

/// [`FixedPointBlend`]'s weights in 16-bit lanes, and where the result bytes lie.
pub(crate) struct FixedPointRegisters {
    heat: __m512i,
    image: __m512i,
    raise: __m512i,
    lower: __m512i,
    high_bytes: __m512i,
}

/// `vpmulhuw`: the high halves of 32 unsigned 16 × 16-bit products. In assembly because
/// std writes `_mm512_mulhi_epu16` as a widening multiply, which LLVM (20) only maps
/// back to `vpmulhuw` for constant operands: with weights known at run time it widens
/// every product to 32-bit lanes, which made the whole blend 1.8× slower.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn mulhi_epu16(a: __m512i, b: __m512i) -> __m512i {
    let high: __m512i;
    // SAFETY: one register-to-register AVX-512BW instruction, which this function's
    // target features guarantee; it touches no memory, stack or flags.
    unsafe {
        std::arch::asm!(
            "vpmulhuw {high}, {a}, {b}",
            high = lateout(zmm_reg) high,
            a = in(zmm_reg) a,
            b = in(zmm_reg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    high
}

/// Picks the high byte of every 16-bit lane of two registers that `unpacklo_epi8` and
/// `unpackhi_epi8` filled: output byte `16L + j` of lane `L` is word `j` of the low
/// register's lane for `j < 8`, word `j − 8` of the high register's otherwise.
const HIGH_BYTES: [u8; 64] = {
    let mut ix = [0u8; 64];
    let mut n = 0;
    while n < 64 {
        let (lane, j) = (n / 16, n % 16);
        ix[n] = if j < 8 {
            16 * lane + 2 * j + 1
        } else {
            64 + 16 * lane + 2 * (j - 8) + 1
        } as u8;
        n += 1;
    }
    ix
};

impl LaneBlend for FixedPointBlend {
    type Lanes = FixedPointRegisters;

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn lanes(&self) -> Self::Lanes {
        let (heat, image, raise, lower) = self.lanes();
        let lane = |w: u16| _mm512_set1_epi16(w as i16);
        FixedPointRegisters {
            heat: lane(heat),
            image: lane(image),
            raise: lane(raise),
            lower: lane(lower),
            // SAFETY: HIGH_BYTES is 64 bytes.
            high_bytes: unsafe { _mm512_loadu_si512(HIGH_BYTES.as_ptr().cast()) },
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn blend(lanes: &Self::Lanes, heat: __m512i, image: *const u8) -> __m512i {
        // SAFETY: the caller guarantees 64 bytes at `image`.
        let image = unsafe { _mm512_loadu_si512(image.cast()) };
        // Bytes become the high bytes of words (v · 256), so that the high half of the
        // product with a weight is ⌊v · weight / 256⌋.
        let zero = _mm512_setzero_si512();
        let sum = |heat: __m512i, image: __m512i| {
            let weighted = _mm512_adds_epu16(
                mulhi_epu16(heat, lanes.heat),
                mulhi_epu16(image, lanes.image),
            );
            _mm512_subs_epu16(_mm512_adds_epu16(weighted, lanes.raise), lanes.lower)
        };
        let low = sum(
            _mm512_unpacklo_epi8(zero, heat),
            _mm512_unpacklo_epi8(zero, image),
        );
        let high = sum(
            _mm512_unpackhi_epi8(zero, heat),
            _mm512_unpackhi_epi8(zero, image),
        );
        _mm512_permutex2var_epi8(low, lanes.high_bytes, high)
    }
}

/// [`crate::blend::blend_rows`]'s row step for CPUs with VBMI: colours `row` and blends
/// it over `image` (3 bytes a pixel) into `out`; returns how many pixels it did (a
/// multiple of 64; the caller does the rest) and whether their values were finite, as
/// [`heat_row`] does.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VBMI ([`detected`]).
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(crate) unsafe fn superimpose_row<T: MapFloat, B: LaneBlend>(
    row: &[T],
    scale: LevelScale<T>,
    palette: &PaletteRegisters,
    blend: &B,
    image: &[u8],
    out: &mut [u8],
) -> (usize, bool) {
    let pixels = row.len().min(image.len() / 3).min(out.len() / 3) / CHUNK * CHUNK;
    // SAFETY: the caller guarantees the CPU features.
    let lanes = unsafe { blend.lanes() };
    let mut check = FiniteCheck::new();
    for ((values, base), rgb) in row[..pixels]
        .chunks_exact(CHUNK)
        .zip(image.chunks_exact(3 * CHUNK))
        .zip(out.chunks_exact_mut(3 * CHUNK))
    {
        crate::prefetch::ahead_of(values);
        crate::prefetch::ahead_of(base);
        let parts = colours(palette, levels_of_chunk(values, scale, &mut check));
        for (k, heat) in parts.into_iter().enumerate() {
            // SAFETY: `base` and `rgb` are 192 bytes; this is bytes 64k..64k + 64.
            unsafe {
                let blended = B::blend(&lanes, heat, base.as_ptr().add(64 * k));
                _mm512_storeu_si512(rgb.as_mut_ptr().add(64 * k).cast(), blended);
            }
        }
    }
    (pixels, check.all_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colormap::JET_RGB;

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
    fn heat_rows_equal_the_portable_loop() {
        if !detected() {
            return; // nothing to compare on this CPU; the portable loop is tested anyway
        }
        let palettes: Vec<&[[u8; 3]; 256]> = std::iter::once(&JET_RGB)
            .chain(crate::palettes::PALETTES.iter().map(|(_, _, t)| t))
            .collect();
        // Every level in every position, plus out-of-range values.
        let row: Vec<f32> = (0..512 + 64)
            .map(|i| (i as f32 - 32.0) / 511.0 * 1.01)
            .collect();
        for table in palettes {
            // SAFETY: detected() above.
            let regs = unsafe { PaletteRegisters::new(table) };
            for scale in [
                LevelScale::Raw,
                LevelScale::Normalized {
                    min: -0.1,
                    ptp: 1.2,
                },
            ] {
                let mut simd = vec![0u8; 3 * row.len()];
                // SAFETY: detected() above.
                let done = unsafe { heat_row(&row, scale, &regs, &mut simd) };
                assert_eq!(done, (row.len(), true));
                let expected: Vec<u8> = row
                    .iter()
                    .flat_map(|&v| table[scale.level(v) as usize])
                    .collect();
                assert_eq!(simd, expected);
            }
        }
    }

    #[test]
    fn rows_with_a_non_finite_value_are_reported() {
        if !detected() {
            return;
        }
        fn check<T: MapFloat + From<f32>>() {
            // SAFETY: the caller checked detected().
            let regs = unsafe { PaletteRegisters::new(&JET_RGB) };
            let blend = AddWeighted::new(0.4, 0.0);
            let fine = [0.0f32, -0.0, 1e-45, -1e38, 3e38, 0.5, 1.0];
            let mut row: Vec<T> = (0..192).map(|i| T::from(fine[i % fine.len()])).collect();
            let image = vec![7u8; 3 * row.len()];
            let mut out = vec![0u8; 3 * row.len()];
            let run = |row: &[T], scale, out: &mut [u8]| {
                // SAFETY: the caller checked detected().
                let heat = unsafe { heat_row(row, scale, &regs, out) };
                // SAFETY: as above.
                let blended = unsafe { superimpose_row(row, scale, &regs, &blend, &image, out) };
                assert_eq!(heat, blended);
                heat
            };
            assert_eq!(run(&row, LevelScale::Raw, &mut out), (192, true));
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [0, 63, 64, 130, 191] {
                    let kept = row[at];
                    row[at] = T::from(bad);
                    assert_eq!(run(&row, LevelScale::Raw, &mut out), (192, false), "{at}");
                    // Normalising scales come from a range pass that already checked.
                    let scale = LevelScale::Normalized {
                        min: T::from(0.0),
                        ptp: T::from(1.0),
                    };
                    assert_eq!(run(&row, scale, &mut out), (192, true));
                    row[at] = kept;
                }
            }
        }
        check::<f32>();
        check::<f64>();
    }

    #[test]
    fn blends_equal_the_portable_formula_for_every_byte_pair() {
        if !detected() {
            return;
        }
        // A palette whose channels take every byte value, so that pixel p (level
        // p % 256) over image bytes p / 256 meets every (colour, image) byte pair.
        let mut table = [[0u8; 3]; 256];
        for (k, rgb) in table.iter_mut().enumerate() {
            *rgb = [k as u8, 255 - k as u8, (k as u8) ^ 0x5a];
        }
        // SAFETY: detected() above.
        let regs = unsafe { PaletteRegisters::new(&table) };
        let row: Vec<f32> = (0..256 * 256).map(|i| (i % 256) as f32 / 255.0).collect();
        let image: Vec<u8> = (0..3 * row.len()).map(|i| (i / 3 / 256) as u8).collect();
        fn check<B: LaneBlend>(
            lanes: &B,
            exact: &AddWeighted,
            (row, image, table, regs): (&[f32], &[u8], &[[u8; 3]; 256], &PaletteRegisters),
        ) {
            let mut simd = vec![0u8; image.len()];
            // SAFETY: the caller checked detected().
            let done =
                unsafe { superimpose_row(row, LevelScale::Raw, regs, lanes, image, &mut simd) };
            assert_eq!(done, (row.len(), true));
            for (i, (&got, &b)) in simd.iter().zip(image).enumerate() {
                let a = table[LevelScale::Raw.level(row[i / 3]) as usize][i % 3];
                assert_eq!(got, exact.apply(a, b), "{exact:?} byte {i}");
            }
        }
        let mut fixed_point = 0;
        for (alpha, gamma) in [
            (0.4, 0.0),
            (0.2, 10.0),
            (0.6, -20.0),
            (0.8, 0.0),
            (0.3, 0.0),
            (0.5, 0.0),
            (-0.7, 3.25),
            (1.9, -40.0),
            (1e12, 0.0),
            (-3e9, 7.0),
            (1e39, 0.0),
            (0.123456, 0.5),
        ] {
            let blend = AddWeighted::new(alpha, gamma);
            let data = (row.as_slice(), image.as_slice(), &table, &regs);
            check(&blend, &blend, data);
            if let Some(fixed) = FixedPointBlend::find(&blend) {
                check(&fixed, &blend, data);
                fixed_point += 1;
            }
        }
        // The integer lanes ran, with an offset raised and one lowered among them.
        assert!(fixed_point >= 4, "{fixed_point}");
    }
}
