//! Bilinear resizing, bit-exact with `cv2.resize(src, (W, H), interpolation=cv2.INTER_LINEAR)`
//! (docs/behaviour.md#resizing).
//!
//! The reference behaviour is OpenCV's `modules/imgproc/src/resize.cpp` (`cv::resize`,
//! `cv::hal::resize`, `HResizeLinear`, `VResizeLinear`, `resizeAreaFast_`) and, for
//! float data, the Intel IPP backend OpenCV hands those resizes to
//! (`hal/ipp/src/resize_ipp.cpp`). Nothing here is copied from OpenCV; the arithmetic
//! below was read from those sources and then checked against the installed `cv2` over
//! thousands of random sizes (`tests/parity/test_resize.py`).
//!
//! # Dispatch
//!
//! With `inv = dst / src` and `scale = 1 / inv` per axis, both in `f64`, OpenCV
//!
//! 1. copies the source when the sizes are equal;
//! 2. for 8-bit data with `scale` equal to 2 on both axes (to within `f64::EPSILON`,
//!    i.e. an exact 2× downscale) switches to `INTER_AREA`'s fast path: every output is
//!    the 2×2 block mean `(a + b + c + d + 2) >> 2` for 1, 3 or 4 channels, and
//!    `round_half_even((a + b + c + d) as f32 * 0.25)` for other channel counts;
//! 3. otherwise runs the separable fixed-point kernel below (8-bit) or, for float
//!    data, IPP's `ippiResizeLinear`; IPP declines sources one pixel wide or tall, and
//!    OpenCV then runs its own float kernel.
//!
//! # 8-bit fixed point (`INTER_RESIZE_COEF_BITS = 11`)
//!
//! Per destination index `d` of an axis, `f = f32((d + 0.5) * scale - 0.5)` (computed
//! in `f64`, rounded once to `f32`), `s = floor(f)`, `f -= s`. Horizontally a tap left of
//! the image (`s < 0`) becomes `s = 0, f = 0` and one at or past the last pixel
//! (`s >= W - 1`) becomes `s = W - 1, f = 0`. The weights are
//! `round_half_even((1 - f) * 2048)` and `round_half_even(f * 2048)` (`(1 - f)` in
//! `f32`), so a horizontal sample is the `i32` `S[s] * a0 + S[s + 1] * a1`, up to
//! `255 * 2048`. Vertically the rows `s` and `s + 1` are clipped to the image but the
//! weights keep `f` unclamped, and the output is
//!
//! ```text
//! ((b0 * (H0 >> 4)) >> 16) + ((b1 * (H1 >> 4)) >> 16) + 2) >> 2
//! ```
//!
//! which never exceeds 255, so OpenCV's SIMD loop (which saturates) and its scalar
//! loop (which truncates to `uchar`) agree, and so does this kernel.
//!
//! # Float maps
//!
//! IPP (what `cv2` runs for `float32`/`float64` whenever the source is at least 2×2)
//! takes the source coordinate `x = (d + 0.5) * (src / dst) - 0.5` in `f64` — two
//! roundings for `float32` data, one fused multiply-add for `float64` data — with
//! `s = floor(x)` and the fraction `t = x - s` rounded to the data type, clamps like the
//! horizontal 8-bit case, and interpolates as `fma(t, S[s + 1] - S[s], S[s])` (the
//! difference rounded first), along each source row first and then down the columns of
//! those results. OpenCV's own kernel (1-pixel sources) uses the 8-bit
//! coordinates with `f32` weights `1 - f`, `f` and computes `S0 * w0 + S1 * w1` without
//! fusing, in `f32` for `float32` and in `f64` for `float64`.
//!
//! IPP's arithmetic is not documented: it was measured (on an AVX-512 machine with the
//! IPP 2026.0 of the `opencv-python` 5.0 x86-64 wheels) and IPP may take other code
//! paths on other CPUs. OpenCV builds without IPP (for instance ARM wheels) run OpenCV's
//! own float kernel everywhere, which rounds differently: by up to about `2e-5` on values
//! in `[0, 1)`, moving about 0.015% of colour levels by one.

use ndarray::{ArrayView2, ArrayView3, ArrayViewMut2, ArrayViewMut3, Axis};

use crate::error::{check_shape, KernelError};
use crate::rows::{as_contiguous, write_contiguous};
use crate::simd::multiversioned;

/// OpenCV's `INTER_RESIZE_COEF_SCALE`: weights are 11-bit fixed point.
const COEF_SCALE: f32 = 2048.0;

/// Resizes an 8-bit image `(H, W, C)` (any strides) to the shape of `out`
/// `(H2, W2, C)`, exactly like `cv2.resize(src, (W2, H2), interpolation=cv2.INTER_LINEAR)`.
///
/// ```
/// use anomaly_postprocess::resize::resize_linear_u8;
/// let src = ndarray::Array3::from_shape_vec((1, 2, 3), vec![0, 0, 0, 255, 255, 255]).unwrap();
/// let mut out = ndarray::Array3::<u8>::zeros((1, 4, 3));
/// resize_linear_u8(src.view(), out.view_mut()).unwrap();
/// let red: Vec<u8> = out.iter().step_by(3).copied().collect();
/// assert_eq!(red, [0, 64, 191, 255]);
/// ```
///
/// # Errors
///
/// [`KernelError::ShapeMismatch`] when `out` has another channel count than `src`, or
/// when `src` is empty but `out` is not.
pub fn resize_linear_u8(
    src: ArrayView3<'_, u8>,
    mut out: ArrayViewMut3<'_, u8>,
) -> Result<(), KernelError> {
    let (src_h, src_w, channels) = src.dim();
    let (dst_h, dst_w, _) = out.dim();
    check_shape("out", &[dst_h, dst_w, channels], out.shape())?;
    if out.is_empty() {
        return Ok(());
    }
    check_source(src.shape())?;
    if (src_h, src_w) == (dst_h, dst_w) {
        out.assign(&src);
        return Ok(());
    }
    if is_exact_half(src_w, dst_w) && is_exact_half(src_h, dst_h) {
        halve_u8(src, out);
        return Ok(());
    }
    let pass = FixedPoint {
        columns: Taps::fixed(src_w, dst_w, channels),
        rows: Taps::fixed_rows(src_h, dst_h),
    };
    separable(&pass, src, out);
    Ok(())
}

/// Resizes a float map `(H, W)` (any strides) to the shape of `out` `(H2, W2)` like
/// `cv2.resize(map, (W2, H2), interpolation=cv2.INTER_LINEAR)` for `float32` and
/// `float64` maps (see the module docs for which backend of OpenCV this reproduces).
///
/// ```
/// use anomaly_postprocess::resize::resize_linear_map;
/// let map = ndarray::array![[0.0f32, 1.0], [2.0, 3.0]];
/// let mut out = ndarray::Array2::<f32>::zeros((3, 3));
/// resize_linear_map(map.view(), out.view_mut()).unwrap();
/// assert_eq!(out, ndarray::array![[0.0, 0.5, 1.0], [1.0, 1.5, 2.0], [2.0, 2.5, 3.0]]);
/// ```
///
/// # Errors
///
/// [`KernelError::ShapeMismatch`] when `map` is empty but `out` is not.
pub fn resize_linear_map<T: ResizeFloat>(
    map: ArrayView2<'_, T>,
    mut out: ArrayViewMut2<'_, T>,
) -> Result<(), KernelError> {
    let (src_h, src_w) = map.dim();
    let (dst_h, dst_w) = out.dim();
    if out.is_empty() {
        return Ok(());
    }
    check_source(map.shape())?;
    if (src_h, src_w) == (dst_h, dst_w) {
        out.assign(&map);
        return Ok(());
    }
    let map = map.insert_axis(Axis(2));
    let out = out.insert_axis(Axis(2));
    if src_h == 1 || src_w == 1 {
        let pass = FloatLinear::<T, OpenCvMix> {
            columns: Taps::opencv_float(src_w, dst_w),
            rows: Taps::opencv_float_rows(src_h, dst_h),
            arithmetic: std::marker::PhantomData,
        };
        separable(&pass, map, out);
    } else {
        let pass = FloatLinear::<T, IppMix> {
            columns: Taps::ipp(src_w, dst_w),
            rows: Taps::ipp(src_h, dst_h),
            arithmetic: std::marker::PhantomData,
        };
        separable(&pass, map, out);
    }
    Ok(())
}

/// The float types a map can be resized in. IPP computes their source coordinates
/// differently (see the module docs), so each type carries its own.
pub trait ResizeFloat:
    Copy
    + Default
    + Send
    + Sync
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + sealed::Sealed
    + 'static
{
    /// IPP's source coordinate of destination index `d` for `scale = src / dst`.
    fn ipp_coordinate(d: usize, scale: f64) -> f64;
    /// A fraction in `[0, 1)` rounded to this type.
    fn from_f64(v: f64) -> Self;
    /// An OpenCV `f32` weight in this type.
    fn from_f32(v: f32) -> Self;
    /// `fma(t, b - a, a)`, rounded once after the subtraction.
    fn lerp(t: Self, a: Self, b: Self) -> Self;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl ResizeFloat for f32 {
    #[inline]
    fn ipp_coordinate(d: usize, scale: f64) -> f64 {
        (d as f64 + 0.5) * scale - 0.5
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    #[inline]
    fn from_f32(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn lerp(t: Self, a: Self, b: Self) -> Self {
        t.mul_add(b - a, a)
    }
}

impl ResizeFloat for f64 {
    #[inline]
    fn ipp_coordinate(d: usize, scale: f64) -> f64 {
        (d as f64 + 0.5).mul_add(scale, -0.5)
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
    #[inline]
    fn from_f32(v: f32) -> Self {
        f64::from(v)
    }
    #[inline(always)]
    fn lerp(t: Self, a: Self, b: Self) -> Self {
        t.mul_add(b - a, a)
    }
}

/// Rejects an empty source, from which nothing can be interpolated.
fn check_source(shape: &[usize]) -> Result<(), KernelError> {
    if shape[0] == 0 || shape[1] == 0 {
        let mut expected = shape.to_vec();
        expected[0] = expected[0].max(1);
        expected[1] = expected[1].max(1);
        return check_shape("non-empty resize source", &expected, shape);
    }
    Ok(())
}

/// OpenCV's `scale_x = 1. / inv_scale_x` with `inv_scale_x = (double)dst / src`.
fn opencv_scale(src: usize, dst: usize) -> f64 {
    1.0 / (dst as f64 / src as f64)
}

/// Whether OpenCV takes `INTER_AREA`'s fast path on this axis: `scale` within
/// `f64::EPSILON` of the integer `saturate_cast<int>(scale)`, which is 2.
fn is_exact_half(src: usize, dst: usize) -> bool {
    let scale = opencv_scale(src, dst);
    let rounded = scale.round_ties_even();
    (scale - rounded).abs() < f64::EPSILON && rounded == 2.0
}

/// OpenCV's source tap of destination index `d`: `floor` and fraction of
/// `f32((d + 0.5) * scale - 0.5)`.
fn opencv_coordinate(d: usize, scale: f64) -> (i64, f32) {
    let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
    let s = f.floor();
    // `f - s` is exact: the fraction of an f32 is an f32.
    (s as i64, f - s)
}

/// `saturate_cast<short>(w * INTER_RESIZE_COEF_SCALE)` for a weight `w` in `[0, 1]`.
fn fixed_weight(w: f32) -> i32 {
    (w * COEF_SCALE)
        .round_ties_even()
        .clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i32
}

/// Clips a source index to `0..len` like OpenCV's `clip`.
fn clip(i: i64, len: usize) -> usize {
    i.clamp(0, len as i64 - 1) as usize
}

/// Per destination index along one axis: the two source indices (already multiplied by
/// the channel count for columns) and their weights.
struct Taps<W> {
    lo: Vec<usize>,
    hi: Vec<usize>,
    w0: Vec<W>,
    w1: Vec<W>,
}

impl<W: Copy> Taps<W> {
    fn with_capacity(n: usize) -> Self {
        Taps {
            lo: Vec::with_capacity(n),
            hi: Vec::with_capacity(n),
            w0: Vec::with_capacity(n),
            w1: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, lo: usize, hi: usize, w0: W, w1: W) {
        self.lo.push(lo);
        self.hi.push(hi);
        self.w0.push(w0);
        self.w1.push(w1);
    }

    /// OpenCV's column taps (clamped at both borders) with weights `weight(1 - f)`,
    /// `weight(f)`, for `channels` interleaved channels.
    fn opencv_columns(src: usize, dst: usize, channels: usize, weight: impl Fn(f32) -> W) -> Self {
        let scale = opencv_scale(src, dst);
        let mut taps = Taps::with_capacity(dst);
        for d in 0..dst {
            let (s, f) = opencv_coordinate(d, scale);
            let (s, f) = if s < 0 {
                (0, 0.0)
            } else if s >= src as i64 - 1 {
                (src - 1, 0.0)
            } else {
                (s as usize, f)
            };
            let hi = (s + 1).min(src - 1);
            taps.push(s * channels, hi * channels, weight(1.0 - f), weight(f));
        }
        taps
    }

    /// OpenCV's row taps: rows clipped to the image, weights from the unclamped
    /// fraction.
    fn opencv_rows(src: usize, dst: usize, weight: impl Fn(f32) -> W) -> Self {
        let scale = opencv_scale(src, dst);
        let mut taps = Taps::with_capacity(dst);
        for d in 0..dst {
            let (s, f) = opencv_coordinate(d, scale);
            taps.push(clip(s, src), clip(s + 1, src), weight(1.0 - f), weight(f));
        }
        taps
    }
}

impl Taps<i32> {
    fn fixed(src: usize, dst: usize, channels: usize) -> Self {
        Taps::opencv_columns(src, dst, channels, fixed_weight)
    }

    fn fixed_rows(src: usize, dst: usize) -> Self {
        Taps::opencv_rows(src, dst, fixed_weight)
    }
}

impl<T: ResizeFloat> Taps<T> {
    fn opencv_float(src: usize, dst: usize) -> Self {
        Taps::opencv_columns(src, dst, 1, T::from_f32)
    }

    fn opencv_float_rows(src: usize, dst: usize) -> Self {
        Taps::opencv_rows(src, dst, T::from_f32)
    }

    /// IPP's taps, clamped at both borders; `w0` holds the fraction `t` (`w1` is
    /// unused).
    fn ipp(src: usize, dst: usize) -> Self {
        let scale = src as f64 / dst as f64;
        let mut taps = Taps::with_capacity(dst);
        for d in 0..dst {
            let x = T::ipp_coordinate(d, scale);
            let s = x.floor();
            let (s, t) = if s < 0.0 {
                (0, 0.0)
            } else if s >= (src - 1) as f64 {
                (src - 1, 0.0)
            } else {
                (s as usize, x - s)
            };
            taps.push(s, (s + 1).min(src - 1), T::from_f64(t), T::default());
        }
        taps
    }
}

/// One separable resize: a horizontal pass from a source row into a buffer row and a
/// vertical pass from two buffer rows into an output row.
trait Separable: Sync {
    type Elem: Copy + Default;
    type Buf: Copy + Default;
    /// The clipped source rows of output row `dy`.
    fn source_rows(&self, dy: usize) -> (usize, usize);
    fn horizontal(&self, src: &[Self::Elem], buf: &mut [Self::Buf]);
    fn vertical(&self, dy: usize, h0: &[Self::Buf], h1: &[Self::Buf], out: &mut [Self::Elem]);
}

/// OpenCV's 8-bit kernel.
struct FixedPoint {
    columns: Taps<i32>,
    rows: Taps<i32>,
}

impl Separable for FixedPoint {
    type Elem = u8;
    type Buf = i32;

    #[inline(always)]
    fn source_rows(&self, dy: usize) -> (usize, usize) {
        (self.rows.lo[dy], self.rows.hi[dy])
    }

    #[inline(always)]
    fn horizontal(&self, src: &[u8], buf: &mut [i32]) {
        // A constant channel count lets the compiler unroll the per-pixel loop.
        match buf.len() / self.columns.lo.len() {
            1 => fixed_row::<1>(&self.columns, src, buf, 1),
            3 => fixed_row::<3>(&self.columns, src, buf, 3),
            4 => fixed_row::<4>(&self.columns, src, buf, 4),
            channels => fixed_row::<0>(&self.columns, src, buf, channels),
        }
    }

    #[inline(always)]
    fn vertical(&self, dy: usize, h0: &[i32], h1: &[i32], out: &mut [u8]) {
        let (b0, b1) = (self.rows.w0[dy], self.rows.w1[dy]);
        for ((o, &p), &q) in out.iter_mut().zip(h0).zip(h1) {
            // b0 + b1 <= 2049 and p >> 4, q >> 4 <= 32655: the sum of the two products
            // shifted by 16 is at most 1020, so the result is at most 255.
            *o = ((((b0 * (p >> 4)) >> 16) + ((b1 * (q >> 4)) >> 16) + 2) >> 2) as u8;
        }
    }
}

/// One horizontally resized 8-bit row: `S[lo] * w0 + S[hi] * w1` per channel, for `C`
/// channels (`C = 0`: `channels` channels).
#[inline(always)]
fn fixed_row<const C: usize>(taps: &Taps<i32>, src: &[u8], buf: &mut [i32], channels: usize) {
    let channels = if C == 0 { channels } else { C };
    let weights = taps.w0.iter().zip(&taps.w1);
    let offsets = taps.lo.iter().zip(&taps.hi);
    for (out, ((&lo, &hi), (&a0, &a1))) in buf.chunks_exact_mut(channels).zip(offsets.zip(weights))
    {
        let (p, q) = (&src[lo..lo + channels], &src[hi..hi + channels]);
        for ((o, &p), &q) in out.iter_mut().zip(p).zip(q) {
            *o = i32::from(p) * a0 + i32::from(q) * a1;
        }
    }
}

/// How a float kernel combines two samples `p`, `q` with tap `i`'s weights: the one
/// place where IPP's and OpenCV's float arithmetic differ.
trait TwoTap<T: ResizeFloat>: Sync {
    fn mix(taps: &Taps<T>, i: usize, p: T, q: T) -> T;
}

/// IPP's float arithmetic: `fma(t, q − p, p)` (see [`ResizeFloat::lerp`]).
struct IppMix;
/// OpenCV's own float arithmetic (`HResizeLinear`/`VResizeLinear` for float and
/// double): `p · w0 + q · w1`.
struct OpenCvMix;

impl<T: ResizeFloat> TwoTap<T> for IppMix {
    #[inline(always)]
    fn mix(taps: &Taps<T>, i: usize, p: T, q: T) -> T {
        T::lerp(taps.w0[i], p, q)
    }
}

impl<T: ResizeFloat> TwoTap<T> for OpenCvMix {
    #[inline(always)]
    fn mix(taps: &Taps<T>, i: usize, p: T, q: T) -> T {
        p * taps.w0[i] + q * taps.w1[i]
    }
}

/// A separable float kernel with the two-tap arithmetic `M`.
struct FloatLinear<T, M> {
    columns: Taps<T>,
    rows: Taps<T>,
    arithmetic: std::marker::PhantomData<M>,
}

impl<T: ResizeFloat, M: TwoTap<T>> Separable for FloatLinear<T, M> {
    type Elem = T;
    type Buf = T;

    #[inline(always)]
    fn source_rows(&self, dy: usize) -> (usize, usize) {
        (self.rows.lo[dy], self.rows.hi[dy])
    }

    #[inline(always)]
    fn horizontal(&self, src: &[T], buf: &mut [T]) {
        let taps = &self.columns;
        for (dx, o) in buf.iter_mut().enumerate() {
            *o = M::mix(taps, dx, src[taps.lo[dx]], src[taps.hi[dx]]);
        }
    }

    #[inline(always)]
    fn vertical(&self, dy: usize, h0: &[T], h1: &[T], out: &mut [T]) {
        for ((o, &p), &q) in out.iter_mut().zip(h0).zip(h1) {
            *o = M::mix(&self.rows, dy, p, q);
        }
    }
}

multiversioned! {
    /// Runs a separable resize of `src` `(H, W, C)` into `out` `(H2, W2, C)`, computing
    /// each horizontally resized source row once while consecutive output rows share it.
    fn separable<P: Separable>(
        pass: &P,
        src: ArrayView3<'_, P::Elem>,
        mut out: ArrayViewMut3<'_, P::Elem>,
    ) {
        let width = out.shape()[1] * out.shape()[2];
        // Two cached horizontal rows, tagged with their source row.
        let mut cache = [
            (usize::MAX, vec![P::Buf::default(); width]),
            (usize::MAX, vec![P::Buf::default(); width]),
        ];
        let mut src_scratch = Vec::new();
        let mut out_scratch = Vec::new();
        for (dy, out_row) in out.outer_iter_mut().enumerate() {
            let (y0, y1) = pass.source_rows(dy);
            let i0 = match cache.iter().position(|(y, _)| *y == y0) {
                Some(i) => i,
                None => {
                    // Keep the slot holding y1, if any.
                    let i = usize::from(cache[0].0 == y1);
                    let row = as_contiguous(src.index_axis(Axis(0), y0), &mut src_scratch);
                    pass.horizontal(row, &mut cache[i].1);
                    cache[i].0 = y0;
                    i
                }
            };
            let i1 = match cache.iter().position(|(y, _)| *y == y1) {
                Some(i) => i,
                None => {
                    let i = 1 - i0;
                    let row = as_contiguous(src.index_axis(Axis(0), y1), &mut src_scratch);
                    pass.horizontal(row, &mut cache[i].1);
                    cache[i].0 = y1;
                    i
                }
            };
            let (h0, h1) = (&cache[i0].1, &cache[i1].1);
            write_contiguous(out_row, &mut out_scratch, |o| pass.vertical(dy, h0, h1, o));
        }
    }
}

multiversioned! {
    /// OpenCV's `INTER_AREA` fast path for an exact 2× downscale of 8-bit data.
    fn halve_u8(src: ArrayView3<'_, u8>, mut out: ArrayViewMut3<'_, u8>) {
        let channels = src.shape()[2];
        let mut top_scratch = Vec::new();
        let mut bottom_scratch = Vec::new();
        let mut out_scratch = Vec::new();
        for (dy, out_row) in out.outer_iter_mut().enumerate() {
            let top = as_contiguous(src.index_axis(Axis(0), 2 * dy), &mut top_scratch);
            let bottom = as_contiguous(src.index_axis(Axis(0), 2 * dy + 1), &mut bottom_scratch);
            write_contiguous(out_row, &mut out_scratch, |o| match channels {
                1 => halve_row::<1>(top, bottom, o, 1),
                3 => halve_row::<3>(top, bottom, o, 3),
                4 => halve_row::<4>(top, bottom, o, 4),
                _ => halve_row::<0>(top, bottom, o, channels),
            });
        }
    }
}

/// One output row of the 2× area path for `C` channels (`C = 0`: `channels` channels).
/// `resizeAreaFast_`'s vector path (1, 3 or 4 channels) rounds the block mean half up;
/// its scalar fallback (other channel counts) rounds `sum * 0.25f` half to even.
#[inline(always)]
fn halve_row<const C: usize>(top: &[u8], bottom: &[u8], out: &mut [u8], channels: usize) {
    let channels = if C == 0 { channels } else { C };
    let blocks = top
        .chunks_exact(2 * channels)
        .zip(bottom.chunks_exact(2 * channels));
    for (pixel, (t, b)) in out.chunks_exact_mut(channels).zip(blocks) {
        let (t0, t1) = t.split_at(channels);
        let (b0, b1) = b.split_at(channels);
        let sums = t0.iter().zip(t1).zip(b0.iter().zip(b1));
        for (v, ((&p, &q), (&r, &s))) in pixel.iter_mut().zip(sums) {
            let sum = u16::from(p) + u16::from(q) + u16::from(r) + u16::from(s);
            *v = if C != 0 {
                ((sum + 2) >> 2) as u8
            } else {
                (f32::from(sum) * 0.25).round_ties_even() as u8
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2, Array3};

    /// A deterministic pseudo-random byte stream (xorshift).
    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect()
    }

    fn image(h: usize, w: usize, c: usize, seed: u64) -> Array3<u8> {
        Array3::from_shape_vec((h, w, c), bytes(h * w * c, seed)).unwrap()
    }

    fn resized(src: &Array3<u8>, h: usize, w: usize) -> Array3<u8> {
        let mut out = Array3::zeros((h, w, src.shape()[2]));
        resize_linear_u8(src.view(), out.view_mut()).unwrap();
        out
    }

    #[test]
    fn identity_size_copies() {
        let src = image(7, 5, 3, 1);
        assert_eq!(resized(&src, 7, 5), src);
        let map = Array2::from_shape_fn((4, 6), |(y, x)| (y * 6 + x) as f32 * 0.1);
        let mut out = Array2::zeros((4, 6));
        resize_linear_map(map.view(), out.view_mut()).unwrap();
        assert_eq!(out, map);
    }

    #[test]
    fn constant_images_stay_constant() {
        let cases = [
            (1, 1, 5, 7),
            (3, 4, 1, 1),
            (5, 7, 13, 2),
            (9, 9, 4, 4),
            (10, 6, 5, 3),
            (17, 31, 40, 11),
            (100, 3, 7, 250),
        ];
        // Under Miri (a minute past these) the small ones, enlarging and shrinking.
        let cases = if cfg!(miri) { &cases[..5] } else { &cases[..] };
        for &(h, w, h2, w2) in cases {
            for v in [0u8, 1, 2, 127, 128, 254, 255] {
                let src = Array3::from_elem((h, w, 3), v);
                let out = resized(&src, h2, w2);
                assert!(out.iter().all(|&o| o == v), "{v} at {h}x{w} -> {h2}x{w2}");
            }
        }
    }

    #[test]
    fn hand_checked_2x2_to_3x3() {
        // Columns: taps (0, f=0) [clamped], (0, f=0.5), (1, f=0) [clamped] give the
        // rows [0, 255 * 1024, 255 * 2048] and [255 * 2048, 255 * 1024, 0]. Rows: the
        // first and last output rows keep the unclamped fractions 5/6 and 1/6 (weights
        // 341 and 1707) over twice the same source row, which truncates 255 * 1024 to
        // 127; the middle row averages both rows with weights 1024, 1024.
        let src = Array3::from_shape_fn((2, 2, 3), |(y, x, _)| if x == y { 0 } else { 255 });
        let out = resized(&src, 3, 3);
        let expected = [[0, 127, 255], [128, 128, 128], [255, 127, 0]];
        for (y, row) in expected.iter().enumerate() {
            for (x, &v) in row.iter().enumerate() {
                assert!(out.slice(s![y, x, ..]).iter().all(|&o| o == v));
            }
        }
    }

    #[test]
    fn exact_half_takes_the_area_path() {
        // 1 + 2 + 3 + 4 = 10: the block mean 2.5 rounds half up for 3 channels and half
        // to even for 2 channels.
        let src3 = Array3::from_shape_fn((2, 2, 3), |(y, x, _)| (1 + 2 * y + x) as u8);
        assert_eq!(resized(&src3, 1, 1).as_slice().unwrap(), &[3, 3, 3]);
        let src2 = Array3::from_shape_fn((2, 2, 2), |(y, x, _)| (1 + 2 * y + x) as u8);
        assert_eq!(resized(&src2, 1, 1).as_slice().unwrap(), &[2, 2]);
        assert!(is_exact_half(640, 320));
        assert!(!is_exact_half(641, 320));
        assert!(!is_exact_half(300, 100));
    }

    #[test]
    fn strided_sources_match_contiguous_ones() {
        let big = image(40, 30, 3, 7);
        let view = big.slice(s![..;-2, 1..;3, ..]);
        let copy = view.to_owned();
        let sizes = [(7, 9), (33, 21), (10, 5), (20, 10)];
        // Under Miri (a minute past these) a shrinking and an enlarging size.
        let sizes = if cfg!(miri) { &sizes[..2] } else { &sizes[..] };
        for &(h, w) in sizes {
            let mut a = Array3::zeros((h, w, 3));
            let mut b = Array3::zeros((h, w, 3));
            resize_linear_u8(view, a.view_mut()).unwrap();
            resize_linear_u8(copy.view(), b.view_mut()).unwrap();
            assert_eq!(a, b);
            // A transposed output view is filled like a contiguous one.
            let mut t = Array3::zeros((w, h, 3));
            resize_linear_u8(copy.view(), t.view_mut().permuted_axes([1, 0, 2])).unwrap();
            assert_eq!(t.permuted_axes([1, 0, 2]), b);
        }
    }

    #[test]
    fn shape_errors() {
        let src = image(4, 4, 3, 3);
        let mut out = Array3::zeros((2, 2, 4));
        assert!(matches!(
            resize_linear_u8(src.view(), out.view_mut()),
            Err(KernelError::ShapeMismatch { .. })
        ));
        let empty = Array3::<u8>::zeros((0, 4, 3));
        let mut out = Array3::zeros((2, 2, 3));
        assert!(resize_linear_u8(empty.view(), out.view_mut()).is_err());
        let mut none = Array3::zeros((0, 2, 3));
        assert!(resize_linear_u8(src.view(), none.view_mut()).is_ok());
    }

    #[test]
    fn float_maps_interpolate_and_clamp() {
        let map = ndarray::array![[0.0f64, 1.0], [2.0, 3.0]];
        let mut out = Array2::zeros((4, 4));
        resize_linear_map(map.view(), out.view_mut()).unwrap();
        // Source coordinates -0.25, 0.25, 0.75, 1.25 per axis, clamped at the borders.
        let axis = [0.0, 0.25, 0.75, 1.0];
        for y in 0..4 {
            for x in 0..4 {
                assert_eq!(out[[y, x]], 2.0 * axis[y] + axis[x]);
            }
        }
        // A one-pixel source takes OpenCV's own kernel.
        let row = ndarray::array![[1.0f32, 5.0]];
        let mut out = Array2::zeros((3, 4));
        resize_linear_map(row.view(), out.view_mut()).unwrap();
        for r in out.rows() {
            assert_eq!(r.to_vec(), [1.0, 2.0, 4.0, 5.0]);
        }
    }

    #[test]
    fn ipp_coordinates_differ_per_type() {
        // 141 -> 423 columns (3x): the exact coordinate of column 4 is 1. float32's
        // product-then-subtract lands on 1 (tap 1, fraction 0); float64's fused
        // multiply-add lands one ulp below (tap 0, fraction 1 - 2^-53).
        let scale = 141.0 / 423.0;
        assert_eq!(<f32 as ResizeFloat>::ipp_coordinate(4, scale), 1.0);
        assert_eq!(
            <f64 as ResizeFloat>::ipp_coordinate(4, scale),
            1.0 - f64::EPSILON / 2.0
        );
        let taps = Taps::<f32>::ipp(141, 423);
        assert_eq!((taps.lo[4], taps.w0[4]), (1, 0.0));
        let taps = Taps::<f64>::ipp(141, 423);
        assert_eq!((taps.lo[4], taps.w0[4]), (0, 1.0 - f64::EPSILON / 2.0));
    }
}
