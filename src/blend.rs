//! `cv2.addWeighted` for uint8 and `superimpose_anomaly_map` (SPEC §2).

use ndarray::{ArrayView2, ArrayView3, ArrayViewMut3, Axis, Zip};

use crate::colormap::JET_RGB;
use crate::error::{check_shape, KernelError};
use crate::levels::{map_range, LevelScale, MapFloat};

/// OpenCV's uint8 `addWeighted(a, alpha, b, 1 - alpha, gamma)` as a 256×256 table.
///
/// Per channel OpenCV computes, in float32, `fma(a, α, fma(b, β, γ))` with
/// `α = f32(alpha)`, `β = f32(1 - alpha)` (subtracted in f64), `γ = f32(gamma)`, then
/// rounds half to even and saturates. `f32::mul_add` is a correctly rounded fused
/// multiply-add on every CPU (hardware or libm), so the table, and every pixel looked
/// up in it, is the same with or without FMA hardware. Beyond ±2³¹ OpenCV yields 0; we
/// saturate (SPEC §2, Decisions).
pub struct AddWeighted {
    /// `table[a * 256 + b]` is the blended value of colour `a` over image `b`.
    table: Box<[u8]>,
}

impl AddWeighted {
    /// The table for `alpha` and `gamma` (both finite; the caller checks).
    ///
    /// ```
    /// use anomaly_postprocess::blend::AddWeighted;
    /// let blend = AddWeighted::new(0.4, 0.0);
    /// assert_eq!(blend.apply(255, 0), 102);
    /// assert_eq!(blend.apply(0, 255), 153);
    /// ```
    pub fn new(alpha: f64, gamma: f64) -> Self {
        let a_weight = alpha as f32;
        let b_weight = (1.0 - alpha) as f32;
        let offset = gamma as f32;
        let mut table = vec![0u8; 256 * 256].into_boxed_slice();
        for (a, row) in table.chunks_exact_mut(256).enumerate() {
            for (b, slot) in row.iter_mut().enumerate() {
                let v = (a as f32).mul_add(a_weight, (b as f32).mul_add(b_weight, offset));
                *slot = v.round_ties_even() as u8; // saturating cast
            }
        }
        AddWeighted { table }
    }

    /// The blended value of colour channel `a` over image channel `b`.
    #[inline(always)]
    pub fn apply(&self, a: u8, b: u8) -> u8 {
        self.table[(a as usize) << 8 | b as usize]
    }
}

/// Writes the JET heatmap of `map` blended over `image` (both `(H, W, 3)`) into `out`.
///
/// ```
/// use anomaly_postprocess::blend::{superimpose_into, AddWeighted};
/// let map = ndarray::array![[0.0f32, 1.0]];
/// let image = ndarray::Array3::<u8>::from_elem((1, 2, 3), 200);
/// let mut out = ndarray::Array3::<u8>::zeros((1, 2, 3));
/// superimpose_into(map.view(), image.view(), false, &AddWeighted::new(0.4, 0.0), out.view_mut())
///     .unwrap();
/// assert_eq!(out.as_slice().unwrap(), &[120, 120, 171, 171, 120, 120]);
/// ```
pub fn superimpose_into<T: MapFloat>(
    map: ArrayView2<'_, T>,
    image: ArrayView3<'_, u8>,
    normalize: bool,
    blend: &AddWeighted,
    mut out: ArrayViewMut3<'_, u8>,
) -> Result<(), KernelError> {
    let (h, w) = map.dim();
    check_shape("image", &[h, w, 3], image.shape())?;
    check_shape("out", &[h, w, 3], out.shape())?;
    let range = map_range(map).map_err(|e| KernelError::NonFinite {
        count: e.count,
        first: (0, e.first.0, e.first.1),
        batched: false,
    })?;
    let scale = LevelScale::new(range, normalize);
    Zip::from(map)
        .and(image.lanes(Axis(2)))
        .and(out.lanes_mut(Axis(2)))
        .for_each(|&v, img, mut px| {
            let rgb = JET_RGB[scale.level(v) as usize];
            for ((out, &heat), &base) in px.iter_mut().zip(&rgb).zip(img) {
                *out = blend.apply(heat, base);
            }
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unfused formula differs from OpenCV in some pixels; make sure we use the fused one.
    #[test]
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
