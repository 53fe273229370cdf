//! The overlay: `cv2.addWeighted` for uint8 and `superimpose_anomaly_map`
//! (docs/behaviour.md#blend).
//!
//! Owns the exact blend arithmetic ([`AddWeighted`], and its faster integer twin
//! [`FixedPointBlend`] for the weights where one gives the same bytes), the portable
//! row loop (colour a row with [`crate::colormap::color_row`], blend it over the
//! image), and the one choice between that loop and the hand-written AVX-512 VBMI loop
//! of `avx512.rs` ([`superimpose_into`]).

#[cfg(target_arch = "x86_64")]
mod avx512;

use ndarray::{ArrayView2, ArrayView3, ArrayViewMut3, Axis};

use crate::colormap::{color_row, Palette, VbmiLoop};
use crate::error::{check_shape, KernelError};
use crate::levels::{
    level_scale, locate_non_finite, saturate_u8, LevelScale, MapFloat, NotFinite, Scaling,
};
use crate::parallel::for_each_band;
use crate::rows::{as_contiguous, for_each_row};
use crate::simd::multiversioned;

/// OpenCV's uint8 `addWeighted(a, alpha, b, 1 - alpha, gamma)`.
///
/// Per channel OpenCV computes, in float32, `fma(a, α, fma(b, β, γ))` with
/// `α = f32(alpha)`, `β = f32(1 - alpha)` (subtracted in f64), `γ = f32(gamma)`, then
/// rounds half to even and saturates. `f32::mul_add` is a correctly rounded fused
/// multiply-add on every CPU (an FMA instruction where the CPU has one, libm's `fmaf`
/// otherwise), so the bytes are the same with or without FMA hardware. Beyond ±2³¹
/// OpenCV yields 0; we saturate (docs/behaviour.md#blend).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AddWeighted {
    heat_weight: f32,
    image_weight: f32,
    offset: f32,
}

impl AddWeighted {
    /// The blend for `alpha` and `gamma` (both finite; the caller checks).
    ///
    /// ```
    /// use anomaly_postprocess::blend::AddWeighted;
    /// let blend = AddWeighted::new(0.4, 0.0);
    /// assert_eq!(blend.apply(255, 0), 102);
    /// assert_eq!(blend.apply(0, 255), 153);
    /// ```
    pub fn new(alpha: f64, gamma: f64) -> Self {
        AddWeighted {
            heat_weight: alpha as f32,
            image_weight: (1.0 - alpha) as f32,
            offset: gamma as f32,
        }
    }

    /// `(α, β, γ)` as float32: the colour's weight, the image's weight, the offset.
    pub(crate) fn weights(&self) -> (f32, f32, f32) {
        (self.heat_weight, self.image_weight, self.offset)
    }

    /// The blended value of colour channel `a` over image channel `b`.
    ///
    /// ```
    /// use anomaly_postprocess::blend::AddWeighted;
    /// // 0.4 · 100 + 0.6 · 200 = 160; gamma 10 adds 10; results saturate at 255.
    /// assert_eq!(AddWeighted::new(0.4, 0.0).apply(100, 200), 160);
    /// assert_eq!(AddWeighted::new(0.4, 10.0).apply(100, 200), 170);
    /// assert_eq!(AddWeighted::new(2.0, 0.0).apply(200, 0), 255);
    /// ```
    #[inline(always)]
    pub fn apply(&self, a: u8, b: u8) -> u8 {
        let v = f32::from(a).mul_add(
            self.heat_weight,
            f32::from(b).mul_add(self.image_weight, self.offset),
        );
        saturate_u8(v.round_ties_even())
    }

    /// Blends two rows of channel values elementwise into `out`.
    ///
    /// ```
    /// use anomaly_postprocess::blend::AddWeighted;
    /// let mut out = [0u8; 2];
    /// AddWeighted::new(0.4, 0.0).apply_row(&[255, 0], &[0, 255], &mut out);
    /// assert_eq!(out, [102, 153]);
    /// ```
    #[inline(always)]
    pub fn apply_row(&self, heat: &[u8], image: &[u8], out: &mut [u8]) {
        for ((o, &a), &b) in out.iter_mut().zip(heat).zip(image) {
            *o = self.apply(a, b);
        }
    }
}

/// A blend in 16-bit integers that gives exactly the bytes of an [`AddWeighted`], for
/// the weights where one exists (the default `alpha = 0.4, gamma = 0` among them).
///
/// `apply(a, b) = (⌊a·P / 256⌋ ⊕ ⌊b·Q / 256⌋ ⊕ raise ⊖ lower) / 256`, rounded down,
/// where ⊕ and ⊖ saturate to `0..=65535` (`vpmulhuw` on `a · 256`, `vpaddusw`,
/// `vpsubusw`): a few 16-bit operations a byte where the float blend widens every byte
/// to a float32 lane for two fused multiply-adds. It cannot reproduce the float blend
/// where that blend rounds an exact tie (`alpha = 0.5`, 0.3, 0.1, …: the tie goes
/// whichever way float32 error tips it), so it is only ever used after it was checked
/// against [`AddWeighted::apply`] on all 65 536 byte pairs ([`FixedPointBlend::find`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedPointBlend {
    heat: u16,
    image: u16,
    raise: u16,
    lower: u16,
}

impl FixedPointBlend {
    /// The integer form of `blend`, or `None` where no form of this shape gives its
    /// bytes. The answer is worked out once per weights (under a millisecond: every byte
    /// pair, for up to seven candidates) and then kept for the process (the last 32).
    ///
    /// ```
    /// use anomaly_postprocess::blend::{AddWeighted, FixedPointBlend};
    /// let blend = AddWeighted::new(0.4, 0.0);
    /// let fixed = FixedPointBlend::find(&blend).unwrap();
    /// assert_eq!(fixed.apply(255, 0), blend.apply(255, 0));
    /// // alpha 0.5 rounds exact ties half to even: no integer form of this shape.
    /// assert_eq!(FixedPointBlend::find(&AddWeighted::new(0.5, 0.0)), None);
    /// ```
    pub fn find(blend: &AddWeighted) -> Option<Self> {
        /// Weights seen so far (bit patterns) and their answers; a handful in practice.
        type Known = Vec<([u32; 3], Option<FixedPointBlend>)>;
        static KNOWN: std::sync::Mutex<Known> = std::sync::Mutex::new(Vec::new());
        const KEEP: usize = 32;
        let (heat, image, offset) = blend.weights();
        let key = [heat.to_bits(), image.to_bits(), offset.to_bits()];
        let known = |list: &Known| list.iter().find(|(k, _)| *k == key).map(|&(_, f)| f);
        // A poisoned lock only means another thread panicked mid-push: the list is valid.
        let lock = || {
            KNOWN
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        if let Some(answer) = known(&lock()) {
            return answer;
        }
        let answer = Self::search(blend);
        let mut list = lock();
        if known(&list).is_none() {
            if list.len() == KEEP {
                list.remove(0);
            }
            list.push((key, answer));
        }
        answer
    }

    /// Tries the weights rounded to 16 bits and their neighbours; for each, takes an
    /// offset inside the interval that every byte pair allows, then checks all pairs.
    fn search(blend: &AddWeighted) -> Option<Self> {
        let (heat, image, _) = blend.weights();
        // Every pair's float result, made when the first candidate needs it: weights
        // outside 0..=1 have none, and skip the 65 536 float blends.
        let mut expected: Option<Vec<u8>> = None;
        let to_u16 = |w: f64| (0.0..=65535.0).contains(&w).then_some(w as u16);
        let heat_0 = (f64::from(heat) * 65536.0).round();
        let image_0 = (f64::from(image) * 65536.0).round();
        for (dp, dq) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1)] {
            let (Some(p), Some(q)) = (to_u16(heat_0 + dp as f64), to_u16(image_0 + dq as f64))
            else {
                continue;
            };
            let expected = expected.get_or_insert_with(|| {
                (0..=u16::MAX)
                    .map(|pair| blend.apply((pair >> 8) as u8, pair as u8))
                    .collect()
            });
            let candidate = |offset: i64| FixedPointBlend {
                heat: p,
                image: q,
                raise: offset.clamp(0, 65535) as u16,
                lower: (-offset).clamp(0, 65535) as u16,
            };
            // Unsaturated, pair (a, b) with result r needs 256·r ≤ s + offset < 256·(r + 1)
            // for its weighted sum s; results 0 and 255 are also reached by saturating.
            let (mut low, mut high) = (-65535i64, 65535i64);
            let scaled = candidate(0);
            for (pair, &r) in (0..=u16::MAX).zip(expected.iter()) {
                let s = i64::from(scaled.weighted_sum((pair >> 8) as u8, pair as u8));
                let r = i64::from(r);
                if r > 0 {
                    low = low.max(256 * r - s);
                }
                if r < 255 {
                    high = high.min(256 * r + 255 - s);
                }
                if low > high {
                    break;
                }
            }
            if low > high {
                continue;
            }
            let found = candidate((low + high) / 2);
            let exact = (0..=u16::MAX)
                .zip(expected.iter())
                .all(|(pair, &r)| found.apply((pair >> 8) as u8, pair as u8) == r);
            if exact {
                return Some(found);
            }
        }
        None
    }

    /// `⌊a·P / 256⌋ ⊕ ⌊b·Q / 256⌋`: the weighted sum before the offset.
    #[inline(always)]
    fn weighted_sum(&self, a: u8, b: u8) -> u16 {
        // ⌊v·w / 256⌋ (what `vpmulhuw` gives for `v · 256` and `w`) in 16-bit lanes only,
        // which every target vectorises well: with w = 256·high + low,
        // ⌊v·w / 256⌋ = v·high + ⌊v·low / 256⌋, both products below 2¹⁶.
        let high_half = |v: u8, weight: u16| {
            let (v, [low, high]) = (u16::from(v), weight.to_le_bytes());
            v * u16::from(high) + ((v * u16::from(low)) >> 8)
        };
        high_half(a, self.heat).saturating_add(high_half(b, self.image))
    }

    /// The blended value of colour channel `a` over image channel `b`.
    ///
    /// ```
    /// use anomaly_postprocess::blend::{AddWeighted, FixedPointBlend};
    /// let blend = AddWeighted::new(0.4, 0.0);
    /// let fixed = FixedPointBlend::find(&blend).unwrap();
    /// assert_eq!(fixed.apply(100, 200), blend.apply(100, 200));
    /// ```
    #[inline(always)]
    pub fn apply(&self, a: u8, b: u8) -> u8 {
        let sum = self.weighted_sum(a, b);
        (sum.saturating_add(self.raise).saturating_sub(self.lower) >> 8) as u8
    }

    /// Blends two rows of channel values elementwise into `out`.
    ///
    /// ```
    /// use anomaly_postprocess::blend::{AddWeighted, FixedPointBlend};
    /// let fixed = FixedPointBlend::find(&AddWeighted::new(0.4, 0.0)).unwrap();
    /// let mut out = [0u8; 2];
    /// fixed.apply_row(&[255, 0], &[0, 255], &mut out);
    /// assert_eq!(out, [102, 153]);
    /// ```
    #[inline(always)]
    pub fn apply_row(&self, heat: &[u8], image: &[u8], out: &mut [u8]) {
        for ((o, &a), &b) in out.iter_mut().zip(heat).zip(image) {
            *o = self.apply(a, b);
        }
    }
}

/// A way to blend rows of colour bytes over image bytes: [`AddWeighted`] itself, or its
/// [`FixedPointBlend`] (the same bytes, faster).
trait RowBlend: Copy {
    fn apply_row(&self, heat: &[u8], image: &[u8], out: &mut [u8]);
}

impl RowBlend for AddWeighted {
    #[inline(always)]
    fn apply_row(&self, heat: &[u8], image: &[u8], out: &mut [u8]) {
        AddWeighted::apply_row(self, heat, image, out);
    }
}

impl RowBlend for FixedPointBlend {
    #[inline(always)]
    fn apply_row(&self, heat: &[u8], image: &[u8], out: &mut [u8]) {
        FixedPointBlend::apply_row(self, heat, image, out);
    }
}

/// Writes the heatmap of `map` (in `palette`) blended over `image` (both `(H, W, 3)`)
/// into `out`; `scaling` is a [`Scaling`] or the `normalize` flag. Runs the
/// hand-written AVX-512 VBMI loop where the CPU has it, else the portable loop, and the
/// integer blend where it gives the float blend's bytes: the same bytes on every path.
///
/// ```
/// use anomaly_postprocess::blend::{superimpose_into, AddWeighted};
/// use anomaly_postprocess::colormap::Palette;
/// let map = ndarray::array![[0.0f32, 1.0]];
/// let image = ndarray::Array3::<u8>::from_elem((1, 2, 3), 200);
/// let mut out = ndarray::Array3::<u8>::zeros((1, 2, 3));
/// superimpose_into(map.view(), image.view(), false, Palette::Jet, &AddWeighted::new(0.4, 0.0), out.view_mut())
///     .unwrap();
/// assert_eq!(out.as_slice().unwrap(), &[120, 120, 171, 171, 120, 120]);
/// ```
pub fn superimpose_into<T: MapFloat>(
    map: ArrayView2<'_, T>,
    image: ArrayView3<'_, u8>,
    scaling: impl Into<Scaling>,
    palette: Palette<'_>,
    blend: &AddWeighted,
    out: ArrayViewMut3<'_, u8>,
) -> Result<(), KernelError> {
    let (h, w) = map.dim();
    check_shape("image", &[h, w, 3], image.shape())?;
    check_shape("out", &[h, w, 3], out.shape())?;
    let pass = BlendPass::new(level_scale(map, scaling)?, palette, blend).for_result_of(out.len());
    // Bands of rows in parallel (docs/behaviour.md#threads); an error names the map's
    // first non-finite value, whichever band met one.
    let bands = for_each_band(h, w, (map, image, out), |_, (map, image, out)| {
        pass.rows(map, image, out, &mut Vec::new())
    });
    match bands.into_iter().collect::<Result<(), NotFinite>>() {
        Ok(()) => Ok(()),
        Err(NotFinite) => Err(locate_non_finite(map).into()),
    }
}

/// The overlay pass of one map with one scale, palette and blend: the one choice of the
/// blend's form (the integer [`FixedPointBlend`] where one gives the float blend's
/// bytes) and of the loop (the hand-written AVX-512 VBMI loop where the CPU has it,
/// its palette registers loaded once here; else the portable [`blend_rows`]), made
/// once, then run on any rows of the map — the bands of [`superimpose_into`], or the
/// strips of `crate::frame`. The same bytes on every path.
pub(crate) struct BlendPass<'p, T> {
    scale: LevelScale<T>,
    palette: Palette<'p>,
    blend: AddWeighted,
    fixed: Option<FixedPointBlend>,
    vbmi: VbmiLoop,
}

impl<'p, T: MapFloat> BlendPass<'p, T> {
    pub(crate) fn new(scale: LevelScale<T>, palette: Palette<'p>, blend: &AddWeighted) -> Self {
        BlendPass {
            scale,
            palette,
            blend: *blend,
            fixed: FixedPointBlend::find(blend),
            vbmi: VbmiLoop::new(palette),
        }
    }

    /// This pass for a whole result of `bytes` (`VbmiLoop::for_result_of`).
    pub(crate) fn for_result_of(self, bytes: usize) -> Self {
        let vbmi = self.vbmi.for_result_of(bytes);
        BlendPass { vbmi, ..self }
    }

    /// Colours the rows of `map` and blends them over the same rows of `image` into
    /// `out` (both `(rows, W, 3)`). `heat` is scratch for the portable loop, kept by
    /// the caller across calls. Fails as [`crate::colormap::ColorPass::rows`] does.
    pub(crate) fn rows(
        &self,
        map: ArrayView2<'_, T>,
        image: ArrayView3<'_, u8>,
        out: ArrayViewMut3<'_, u8>,
        heat: &mut Vec<u8>,
    ) -> Result<(), NotFinite> {
        let (scale, palette) = (self.scale, self.palette);
        #[cfg(target_arch = "x86_64")]
        if let Some(registers) = &self.vbmi.registers {
            let (blend, stream) = (self.blend, self.vbmi.stream);
            return match self.fixed {
                // SAFETY: `registers` exist only where vbmi_enabled() said the CPU has
                // AVX-512 F, BW and VBMI (`VbmiLoop::new`), the features
                // avx512::blend_rows is compiled for and all it requires.
                Some(f) => unsafe {
                    avx512::blend_rows(map, image, scale, palette, registers, f, out, stream)
                },
                // SAFETY: as for the arm above.
                None => unsafe {
                    avx512::blend_rows(map, image, scale, palette, registers, blend, out, stream)
                },
            };
        }
        match self.fixed {
            Some(fixed) => blend_rows(map, image, scale, palette, fixed, out, heat),
            None => blend_rows(map, image, scale, palette, self.blend, out, heat),
        }
    }
}

multiversioned! {
    /// The portable loop: each row coloured with [`color_row`] into `heat` (scratch,
    /// resized to a row), then blended over its image row; compiled for each SIMD
    /// target. Fails when a row's values were not all finite (only the raw scale
    /// checks: a normalising scale comes from a range pass that did).
    fn blend_rows<T: MapFloat, B: RowBlend>(
        map: ArrayView2<'_, T>,
        image: ArrayView3<'_, u8>,
        scale: LevelScale<T>,
        palette: Palette<'_>,
        blend: B,
        out: ArrayViewMut3<'_, u8>,
        heat: &mut Vec<u8>,
    ) -> Result<(), NotFinite> {
        heat.resize(3 * map.ncols(), 0);
        let (mut map_scratch, mut image_scratch) = (Vec::new(), Vec::new());
        for_each_row(out, |y, px| {
            let values = as_contiguous(map.index_axis(Axis(0), y), &mut map_scratch);
            let base = as_contiguous(image.index_axis(Axis(0), y), &mut image_scratch);
            let finite = color_row(values, scale, palette, heat);
            blend.apply_row(heat, base, px);
            finite
        })
        .then_some(())
        .ok_or(NotFinite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unfused formula differs from OpenCV in some pixels; make sure we use the fused one.
    #[test]
    fn dispatched_rows_equal_the_portable_formula() {
        // blend_rows runs the CPU's best SIMD path (FMA instructions where present);
        // apply() in this test binary is compiled for the baseline target, where
        // mul_add is libm's fmaf. Same bytes either way.
        // Under Miri a map of one full 64-pixel chunk and a tail a row, weights outside
        // 0..=1 (no integer form to search for) and the default weights (integer form):
        // each other weight makes FixedPointBlend::find try all 65 536 byte pairs, a
        // minute or more under Miri.
        let (h, w) = if cfg!(miri) { (3, 70) } else { (37, 53) };
        let map =
            ndarray::Array2::from_shape_fn((h, w), |(y, x)| ((y * w + x) as f32 * 0.37).sin());
        let image = ndarray::Array3::from_shape_fn((h, w, 3), |(y, x, c)| {
            ((y * 7 + x * 13 + c * 101) % 256) as u8
        });
        let weights = [
            (-0.7, 3.25),
            (1.9, -40.0),
            (0.4, 0.0),
            (0.3, 0.0),
            (0.123456, 0.5),
        ];
        let weights = if cfg!(miri) {
            &weights[..3]
        } else {
            &weights[..]
        };
        for &(alpha, gamma) in weights {
            let blend = AddWeighted::new(alpha, gamma);
            let mut out = ndarray::Array3::<u8>::zeros((h, w, 3));
            superimpose_into(
                map.view(),
                image.view(),
                true,
                Palette::Jet,
                &blend,
                out.view_mut(),
            )
            .unwrap();
            let scale = level_scale(map.view(), true).unwrap();
            for ((y, x, c), &got) in out.indexed_iter() {
                let heat = crate::colormap::JET_RGB[scale.level(map[[y, x]]) as usize][c];
                assert_eq!(
                    got,
                    blend.apply(heat, image[[y, x, c]]),
                    "alpha {alpha} at {y},{x},{c}"
                );
            }
        }
    }

    /// On CPUs with VBMI, `superimpose_into` runs the VBMI loop: it must give the
    /// bytes of the portable loop, tails included, for float32 and float64 maps.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "Miri runs no AVX-512: both sides would be the portable loop, which \
                  dispatched_rows_equal_the_portable_formula runs under Miri"
    )]
    fn dispatched_rows_equal_the_portable_loop() {
        // Without VBMI both sides run the portable loop: say that the test could not
        // compare the two.
        crate::simd::has_vbmi_or_skip(
            "blend::tests::dispatched_rows_equal_the_portable_loop (the VBMI side)",
        );
        fn check<T: MapFloat>(map: ndarray::Array2<T>) {
            let (h, w) = map.dim();
            let image = ndarray::Array3::from_shape_fn((h, w, 3), |(y, x, c)| {
                ((y * 31 + x * 7 + c * 89) % 256) as u8
            });
            for blend in [AddWeighted::new(0.4, 0.0), AddWeighted::new(2.5, -300.0)] {
                let fixed = Scaling::Fixed {
                    low: -0.4,
                    high: 0.9,
                };
                for scaling in [Scaling::MinMax, Scaling::Raw, fixed] {
                    let mut dispatched = ndarray::Array3::<u8>::zeros((h, w, 3));
                    let palette = Palette::Jet;
                    superimpose_into(
                        map.view(),
                        image.view(),
                        scaling,
                        palette,
                        &blend,
                        dispatched.view_mut(),
                    )
                    .unwrap();
                    let mut portable = ndarray::Array3::<u8>::zeros((h, w, 3));
                    let scale = level_scale(map.view(), scaling).unwrap();
                    blend_rows(
                        map.view(),
                        image.view(),
                        scale,
                        palette,
                        blend,
                        portable.view_mut(),
                        &mut Vec::new(),
                    )
                    .unwrap();
                    assert_eq!(dispatched, portable, "{h}x{w} {scaling:?}");
                }
            }
        }
        for (h, w) in [(3, 64), (4, 127), (2, 200), (1, 5), (5, 1029)] {
            let wave = |y: usize, x: usize| ((y * w + x) as f64 * 0.731).sin() * 1.3;
            check(ndarray::Array2::from_shape_fn((h, w), |(y, x)| {
                wave(y, x) as f32
            }));
            check(ndarray::Array2::from_shape_fn((h, w), |(y, x)| wave(y, x)));
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "all 65 536 byte pairs through soft-float FMAs: minutes under Miri (arithmetic only)"
    )]
    fn fused_differs_from_unfused_somewhere() {
        let (alpha, gamma) = (0.3f64, 0.0f64);
        let blend = AddWeighted::new(alpha, gamma);
        let (aw, bw) = (alpha as f32, (1.0 - alpha) as f32);
        let mut differs = 0;
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let unfused = (a as f32 * aw + b as f32 * bw).round_ties_even() as u8;
                let fused = (a as f32)
                    .mul_add(aw, (b as f32).mul_add(bw, 0.0))
                    .round_ties_even() as u8;
                assert_eq!(blend.apply(a, b), fused);
                differs += usize::from(unfused != fused);
            }
        }
        assert!(differs > 0);
    }

    fn every_pair() -> impl Iterator<Item = (u8, u8)> {
        (0..=255u8).flat_map(|a| (0..=255u8).map(move |b| (a, b)))
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "FixedPointBlend::find checks all 65 536 byte pairs per candidate: minutes under Miri (arithmetic only)"
    )]
    fn fixed_point_blends_give_the_float_bytes() {
        // The default, and others without exact ties, with offsets that saturate both ways.
        for (alpha, gamma) in [(0.4, 0.0), (0.2, 10.0), (0.6, -20.0), (0.8, 0.0)] {
            let blend = AddWeighted::new(alpha, gamma);
            let fixed = FixedPointBlend::find(&blend).expect("an integer form");
            assert_eq!(FixedPointBlend::find(&blend), Some(fixed), "kept");
            for (a, b) in every_pair() {
                assert_eq!(
                    fixed.apply(a, b),
                    blend.apply(a, b),
                    "{alpha} {gamma} {a} {b}"
                );
            }
            let (heat, image): (Vec<u8>, Vec<u8>) = every_pair().unzip();
            let (mut rows, mut expected) = (vec![0; heat.len()], vec![0; heat.len()]);
            fixed.apply_row(&heat, &image, &mut rows);
            blend.apply_row(&heat, &image, &mut expected);
            assert_eq!(rows, expected);
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "FixedPointBlend::find checks all 65 536 byte pairs per candidate: minutes under Miri (arithmetic only)"
    )]
    fn no_fixed_point_blend_where_none_is_exact() {
        // Exact ties that float32 error decides (0.5, 0.3, 0.1); weights outside 0..1.
        for (alpha, gamma) in [(0.5, 0.0), (0.3, 0.0), (0.1, 0.0), (-0.7, 3.25), (1.9, 0.0)] {
            let blend = AddWeighted::new(alpha, gamma);
            assert_eq!(FixedPointBlend::find(&blend), None, "{alpha} {gamma}");
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "four FixedPointBlend::find searches of 65 536 byte pairs each: an hour under Miri"
    )]
    fn fixed_point_search_from_many_threads() {
        let blend = AddWeighted::new(0.4, 3.0);
        let found: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| FixedPointBlend::find(&blend)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(found[0].is_some());
        assert!(found.iter().all(|&f| f == found[0]));
    }

    #[test]
    fn saturates_both_ways() {
        let bright = AddWeighted::new(2.0, 10.0);
        assert_eq!(bright.apply(255, 0), 255);
        let dark = AddWeighted::new(-1.0, -5.0);
        assert_eq!(dark.apply(255, 0), 0);
        let huge = AddWeighted::new(1e12, 0.0);
        assert_eq!(huge.apply(255, 0), 255);
    }

    #[test]
    fn rounds_half_to_even() {
        // alpha 0.5: (1 + 2) / 2 = 1.5 -> 2 and (1 + 0) / 2 = 0.5 -> 0.
        let half = AddWeighted::new(0.5, 0.0);
        assert_eq!(half.apply(1, 2), 2);
        assert_eq!(half.apply(1, 0), 0);
        assert_eq!(half.apply(3, 0), 2);
    }
}
