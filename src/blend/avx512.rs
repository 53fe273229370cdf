//! The overlay loop in hand-written AVX-512 VBMI, for CPUs that have it (x86-64 only;
//! [`super::superimpose_into`] chooses). It colours 64 pixels at a time with the
//! pieces of `crate::colormap::avx512` and blends them over the image in registers,
//! with exactly the bytes of the portable loop (the tests below compare them on every
//! pair of bytes).
//!
//! The float blend widens bytes to float32 lanes and applies OpenCV's two fused
//! multiply-adds ([`AddWeighted`]), which the AVX-512 FMA computes with the same single
//! rounding as `f32::mul_add`; for the weights where it gives the same bytes (the
//! default among them), [`FixedPointBlend`] runs on 16-bit lanes instead, a quarter of
//! the instructions.

use core::arch::x86_64::*;

use ndarray::{ArrayView2, ArrayView3, ArrayViewMut3, Axis};

use super::{AddWeighted, FixedPointBlend, RowBlend};
use crate::colormap::avx512::{
    colours, end_streaming, levels_of_chunk, store_64, FiniteCheck, PaletteRegisters, UNPACK_ORDER,
};
use crate::colormap::{color_row, Palette};
use crate::levels::{LevelScale, MapFloat, NotFinite};
use crate::rows::{as_contiguous, for_each_row};
use crate::simd::{pixels_before_alignment, prefetch, CHUNK};

/// OpenCV's blend of 16 bytes at `a` (colour) and `b` (image): widened to float32,
/// `fma(a, α, fma(b, β, γ))` rounded half to even (the [`AddWeighted::apply`] formula),
/// as 16 int32 lanes.
///
/// # Safety
/// `a` and `b` must point to 16 readable bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn blend_16(weights: &BlendRegisters, a: *const u8, b: *const u8) -> __m512i {
    // SAFETY: the caller guarantees 16 readable bytes at each pointer, what an
    // unaligned 128-bit load reads.
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
pub(super) struct BlendRegisters {
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
    // SAFETY: the caller guarantees 64 readable bytes at each pointer; quarter q reads
    // bytes 16q..16q + 16 of them.
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
/// as the portable [`RowBlend::apply_row`].
pub(super) trait LaneBlend: RowBlend {
    /// The weights, broadcast to lanes once per call.
    type Lanes;

    /// # Safety
    /// The CPU must support AVX-512 F, BW and VBMI (`crate::simd::vbmi_enabled`).
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
        // SAFETY: UNPACK_ORDER is 64 bytes, what an unaligned 512-bit load reads.
        let order = unsafe { _mm512_loadu_si512(UNPACK_ORDER.as_ptr().cast()) };
        (BlendRegisters::new(self), order)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn blend((weights, order): &Self::Lanes, heat: __m512i, image: *const u8) -> __m512i {
        // Stored once so that the float lanes can widen it 16 bytes at a time.
        let mut colour = Heat([0; 64]);
        // SAFETY: `colour` is 64 bytes aligned to 64, what an aligned 512-bit store
        // writes; the caller guarantees 64 readable bytes at `image`.
        unsafe {
            _mm512_store_si512(colour.0.as_mut_ptr().cast(), heat);
            blend_64(weights, *order, colour.0.as_ptr(), image)
        }
    }
}

/// [`FixedPointBlend`]'s weights in 16-bit lanes, and where the result bytes lie.
pub(super) struct FixedPointRegisters {
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
        let lane = |w: u16| _mm512_set1_epi16(w as i16);
        FixedPointRegisters {
            heat: lane(self.heat),
            image: lane(self.image),
            raise: lane(self.raise),
            lower: lane(self.lower),
            // SAFETY: HIGH_BYTES is 64 bytes, what an unaligned 512-bit load reads.
            high_bytes: unsafe { _mm512_loadu_si512(HIGH_BYTES.as_ptr().cast()) },
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    unsafe fn blend(lanes: &Self::Lanes, heat: __m512i, image: *const u8) -> __m512i {
        // SAFETY: the caller guarantees 64 readable bytes at `image`, what an unaligned
        // 512-bit load reads.
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

/// Colours the whole 64-pixel chunks of `row` and blends them over `image` (3 bytes a
/// pixel) into `out`; returns how many pixels it did (a multiple of 64; the caller does
/// the rest) and whether their values were finite, as
/// [`crate::colormap::avx512::color_chunks`] does.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VBMI (`crate::simd::vbmi_enabled`).
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn superimpose_chunks<T: MapFloat, B: LaneBlend, const STREAM: bool>(
    row: &[T],
    scale: LevelScale<T>,
    palette: &PaletteRegisters,
    lanes: &B::Lanes,
    image: &[u8],
    out: &mut [u8],
) -> (usize, bool) {
    let pixels = row.len().min(image.len() / 3).min(out.len() / 3) / CHUNK * CHUNK;
    let mut check = FiniteCheck::new();
    for ((values, base), rgb) in row[..pixels]
        .chunks_exact(CHUNK)
        .zip(image.chunks_exact(3 * CHUNK))
        .zip(out.chunks_exact_mut(3 * CHUNK))
    {
        prefetch::ahead_of(values);
        prefetch::ahead_of(base);
        let parts = colours(palette, levels_of_chunk(values, scale, &mut check));
        for (k, heat) in parts.into_iter().enumerate() {
            // SAFETY: the caller guarantees the CPU features; `base` and `rgb` are 192
            // bytes, and this reads and writes their bytes 64k..64k + 64, which with
            // `STREAM` are 64-byte aligned (the caller aligns `out`; chunks are 192 bytes).
            unsafe {
                let blended = B::blend(lanes, heat, base.as_ptr().add(64 * k));
                store_64::<STREAM>(rgb.as_mut_ptr().add(64 * k), blended);
            }
        }
    }
    if STREAM {
        end_streaming();
    }
    (pixels, check.all_finite())
}

/// [`super::blend_rows`] with the VBMI row loop: [`superimpose_chunks`], then the last
/// `W mod 64` pixels of each row through the portable [`color_row`] and
/// [`RowBlend::apply_row`]. `registers` hold `palette`. Contiguous rows are one row of
/// every pixel; there, with `stream`, the result goes past the caches
/// (`crate::simd::streams_output`).
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VBMI (`crate::simd::vbmi_enabled`).
#[allow(clippy::too_many_arguments)] // the pass's parts, as BlendPass holds them
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
pub(super) unsafe fn blend_rows<T: MapFloat, B: LaneBlend>(
    map: ArrayView2<'_, T>,
    image: ArrayView3<'_, u8>,
    scale: LevelScale<T>,
    palette: Palette<'_>,
    registers: &PaletteRegisters,
    blend: B,
    out: ArrayViewMut3<'_, u8>,
    stream: bool,
) -> Result<(), NotFinite> {
    // SAFETY: this function's caller guarantees the CPU features.
    let lanes = unsafe { blend.lanes() };
    let mut heat = [0u8; 3 * CHUNK];
    // Fewer than 64 pixels (a row's last `W mod 64`, or those before a 64-byte
    // boundary) through the portable loops.
    let mut portable = |values: &[T], base: &[u8], px: &mut [u8]| {
        let finite = color_row(values, scale, palette, &mut heat[..3 * values.len()]);
        blend.apply_row(&heat[..3 * values.len()], base, px);
        finite
    };
    let mut out = out;
    if let (Some(values), Some(base), Some(px)) =
        (map.as_slice(), image.as_slice(), out.as_slice_mut())
    {
        // A pixel's blend depends on its own value and image bytes alone, so contiguous
        // rows are one row, whose chunks can start on 64-byte boundaries.
        let head = if stream {
            pixels_before_alignment(px)
        } else {
            0
        };
        let head_finite = portable(&values[..head], &base[..3 * head], &mut px[..3 * head]);
        let (values, base, px) = (&values[head..], &base[3 * head..], &mut px[3 * head..]);
        let (done, finite) = if stream {
            // SAFETY: the caller guarantees the CPU features; `px` now starts on a
            // 64-byte boundary.
            unsafe { superimpose_chunks::<T, B, true>(values, scale, registers, &lanes, base, px) }
        } else {
            // SAFETY: this function's caller guarantees the CPU features.
            unsafe { superimpose_chunks::<T, B, false>(values, scale, registers, &lanes, base, px) }
        };
        let rest_finite = portable(&values[done..], &base[3 * done..], &mut px[3 * done..]);
        return (head_finite && finite && rest_finite)
            .then_some(())
            .ok_or(NotFinite);
    }
    let (mut map_scratch, mut image_scratch) = (Vec::new(), Vec::new());
    for_each_row(out, |y, px| {
        let values = as_contiguous(map.index_axis(Axis(0), y), &mut map_scratch);
        let base = as_contiguous(image.index_axis(Axis(0), y), &mut image_scratch);
        // SAFETY: this function's caller guarantees the CPU features.
        let (done, finite) = unsafe {
            superimpose_chunks::<T, B, false>(values, scale, registers, &lanes, base, px)
        };
        let rest_finite = portable(&values[done..], &base[3 * done..], &mut px[3 * done..]);
        finite && rest_finite
    })
    .then_some(())
    .ok_or(NotFinite)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colormap::avx512::color_chunks;
    use crate::colormap::avx512::tests::{at_alignment, OFFSETS};
    use crate::colormap::JET_RGB;
    use crate::simd::has_vbmi_or_skip;

    #[test]
    fn contiguous_rows_and_streamed_results_equal_the_portable_loop() {
        if !has_vbmi_or_skip(
            "blend::avx512::tests::contiguous_rows_and_streamed_results_equal_the_portable_loop",
        ) {
            return;
        }
        // As the colour loop's test: rows of 201 pixels, every start residue.
        let (h, w) = (97, 201);
        let mut map = ndarray::Array2::from_shape_fn((h, w), |(y, x)| {
            ((y * 7919 + x * 104_729) % 1013) as f32 / 1000.0 - 0.005
        });
        let image =
            ndarray::Array3::from_shape_fn((h, w, 3), |(y, x, c)| (y * 31 + x * 7 + c) as u8);
        // SAFETY: has_vbmi_or_skip() above: the CPU has the features `new` is compiled for.
        let registers = unsafe { PaletteRegisters::new(&JET_RGB) };
        let mut buffer = Vec::new();
        fn each_start<B: LaneBlend>(
            blend: B,
            (map, image, registers, buffer): (
                ArrayView2<'_, f32>,
                ArrayView3<'_, u8>,
                &PaletteRegisters,
                &mut Vec<u8>,
            ),
        ) {
            let (h, w) = map.dim();
            let mut expected = ndarray::Array3::zeros((h, w, 3));
            let (raw, jet) = (LevelScale::Raw, Palette::Jet);
            super::super::blend_rows(
                map,
                image,
                raw,
                jet,
                blend,
                expected.view_mut(),
                &mut Vec::new(),
            )
            .unwrap();
            for (offset, stream) in OFFSETS.into_iter().flat_map(|o| [(o, false), (o, true)]) {
                let out = at_alignment(buffer, 3 * h * w, offset);
                out.fill(0);
                let view = ArrayViewMut3::from_shape((h, w, 3), out).unwrap();
                // SAFETY: the caller checked the CPU features.
                unsafe { blend_rows(map, image, raw, jet, registers, blend, view, stream) }
                    .unwrap();
                let what = format!("offset {offset} stream {stream}");
                assert!(*out == *expected.as_slice().unwrap(), "{what}");
            }
        }
        let context = (map.view(), image.view(), &registers, &mut buffer);
        each_start(
            FixedPointBlend::find(&AddWeighted::new(0.4, 0.0)).unwrap(),
            context,
        );
        let context = (map.view(), image.view(), &registers, &mut buffer);
        each_start(AddWeighted::new(0.5, 3.0), context);
        for (y, x) in [(0, 0), (0, 20), (50, 100), (h - 1, w - 1)] {
            map[[y, x]] = f32::INFINITY;
            let out = at_alignment(&mut buffer, 3 * h * w, 16);
            let view = ArrayViewMut3::from_shape((h, w, 3), out).unwrap();
            let blend = AddWeighted::new(0.4, 0.0);
            let (raw, jet) = (LevelScale::Raw, Palette::Jet);
            // SAFETY: has_vbmi_or_skip() above.
            let result = unsafe {
                blend_rows(
                    map.view(),
                    image.view(),
                    raw,
                    jet,
                    &registers,
                    blend,
                    view,
                    true,
                )
            };
            assert_eq!(result, Err(NotFinite), "inf at {y}, {x}");
            map[[y, x]] = 0.5;
        }
    }

    #[test]
    fn rows_with_a_non_finite_value_are_reported() {
        if !has_vbmi_or_skip("blend::avx512::tests::rows_with_a_non_finite_value_are_reported") {
            return;
        }
        fn check<T: MapFloat + From<f32>>() {
            // SAFETY: the caller checked that the CPU has AVX-512 F, BW and VBMI.
            let regs = unsafe { PaletteRegisters::new(&JET_RGB) };
            let blend = AddWeighted::new(0.4, 0.0);
            // SAFETY: as above.
            let lanes = unsafe { blend.lanes() };
            let fine = [0.0f32, -0.0, 1e-45, -1e38, 3e38, 0.5, 1.0];
            let mut row: Vec<T> = (0..192).map(|i| T::from(fine[i % fine.len()])).collect();
            let image = vec![7u8; 3 * row.len()];
            let mut out = vec![0u8; 3 * row.len()];
            let run = |row: &[T], scale, out: &mut [u8]| {
                // SAFETY: the caller checked the CPU features.
                let heat = unsafe { color_chunks::<T, false>(row, scale, &regs, out) };
                // SAFETY: as above.
                let blended = unsafe {
                    superimpose_chunks::<T, AddWeighted, false>(
                        row, scale, &regs, &lanes, &image, out,
                    )
                };
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
        if !has_vbmi_or_skip(
            "blend::avx512::tests::blends_equal_the_portable_formula_for_every_byte_pair",
        ) {
            return;
        }
        // A palette whose channels take every byte value, so that pixel p (level
        // p % 256) over image bytes p / 256 meets every (colour, image) byte pair.
        let mut table = [[0u8; 3]; 256];
        for (k, rgb) in table.iter_mut().enumerate() {
            *rgb = [k as u8, 255 - k as u8, (k as u8) ^ 0x5a];
        }
        // SAFETY: has_vbmi_or_skip() above: the CPU has the features `new` is compiled for.
        let regs = unsafe { PaletteRegisters::new(&table) };
        let row: Vec<f32> = (0..256 * 256).map(|i| (i % 256) as f32 / 255.0).collect();
        let image: Vec<u8> = (0..3 * row.len()).map(|i| (i / 3 / 256) as u8).collect();
        fn check<B: LaneBlend>(
            lane_blend: &B,
            exact: &AddWeighted,
            (row, image, table, regs): (&[f32], &[u8], &[[u8; 3]; 256], &PaletteRegisters),
        ) {
            let mut simd = vec![0u8; image.len()];
            // SAFETY: the caller checked that the CPU has AVX-512 F, BW and VBMI.
            let lanes = unsafe { lane_blend.lanes() };
            // SAFETY: as above.
            let done = unsafe {
                superimpose_chunks::<f32, B, false>(
                    row,
                    LevelScale::Raw,
                    regs,
                    &lanes,
                    image,
                    &mut simd,
                )
            };
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
