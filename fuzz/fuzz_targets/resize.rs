#![no_main]
//! resize_linear_u8 and resize_linear_map (f32 and f64) on arbitrary sizes (up, down,
//! mixed, equal, exact halves, one-pixel sources), channel counts and strides: never a
//! panic, and every output value equals a per-pixel brute-force evaluation of the
//! arithmetic `docs/behaviour.md#resizing` and `src/resize.rs` describe (OpenCV's
//! INTER_LINEAR: 11-bit fixed point for 8-bit images, IPP's fused lerp for float maps of
//! at least 2×2, OpenCV's own float kernel for one-pixel sources). The references below
//! share no code with the crate: taps are recomputed for every output pixel.

use anomaly_postprocess::resize::{resize_linear_map, resize_linear_u8, ResizeFloat};
use libfuzzer_sys::fuzz_target;
use ndarray::{s, Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut3, Axis};

mod common;

/// Bounds that keep one input well under a millisecond of reference work.
const MAX_SRC: usize = 48;
const MAX_DST: usize = 96;

/// Source and destination sizes of one axis, with the special cases OpenCV dispatches on
/// (equal sizes, exact 2× downscale, one-pixel sources) drawn far more often than chance.
fn axis_sizes(bytes: &mut common::Bytes<'_>, shape: u8) -> (usize, usize) {
    match shape % 6 {
        0 => {
            let dst = 1 + bytes.below(MAX_SRC / 2);
            (2 * dst, dst) // exact half
        }
        1 => {
            let n = 1 + bytes.below(MAX_SRC);
            (n, n) // equal: a copy
        }
        2 => (1, 1 + bytes.below(MAX_DST)), // one pixel wide or tall
        3 => {
            let src = 1 + bytes.below(MAX_SRC);
            (src, (src * (2 + bytes.below(3))).min(MAX_DST)) // integer upscale
        }
        _ => (1 + bytes.below(MAX_SRC), 1 + bytes.below(MAX_DST)),
    }
}

/// OpenCV's `scale = 1 / (dst / src)` (f64) and the tap of destination index `d`:
/// `f = f32((d + 0.5) * scale - 0.5)`, `s = floor(f)`, fraction `f - s`.
fn opencv_tap(d: usize, src: usize, dst: usize) -> (i64, f32) {
    let scale = 1.0 / (dst as f64 / src as f64);
    let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
    let s = f.floor();
    (s as i64, f - s)
}

/// Horizontal taps: clamped at both borders, the fraction dropped when clamped.
fn opencv_column(d: usize, src: usize, dst: usize) -> (usize, usize, f32) {
    let (s, f) = opencv_tap(d, src, dst);
    let last = src as i64 - 1;
    let (s, f) = if s < 0 {
        (0, 0.0)
    } else if s >= last {
        (last, 0.0)
    } else {
        (s, f)
    };
    (s as usize, (s + 1).min(last) as usize, f)
}

/// Vertical taps: both rows clipped to the image, the fraction kept as it is.
fn opencv_row(d: usize, src: usize, dst: usize) -> (usize, usize, f32) {
    let (s, f) = opencv_tap(d, src, dst);
    let clip = |i: i64| i.clamp(0, src as i64 - 1) as usize;
    (clip(s), clip(s + 1), f)
}

/// `saturate_cast<short>(w * 2048)`, rounded half to even (`cvRound`).
fn coef(w: f32) -> i32 {
    (w * 2048.0).round_ties_even().clamp(-32768.0, 32767.0) as i32
}

/// `cv2.resize(src, (W2, H2), interpolation=cv2.INTER_LINEAR)` for one 8-bit output value.
fn reference_u8(src: &Array3<u8>, dst_h: usize, dst_w: usize, y: usize, x: usize, c: usize) -> u8 {
    let (src_h, src_w, channels) = src.dim();
    if (src_h, src_w) == (dst_h, dst_w) {
        return src[[y, x, c]];
    }
    // INTER_AREA's fast path when the scale is exactly 2 on both axes.
    if src_h == 2 * dst_h && src_w == 2 * dst_w {
        let sum: u32 = [(0, 0), (0, 1), (1, 0), (1, 1)]
            .iter()
            .map(|&(dy, dx)| u32::from(src[[2 * y + dy, 2 * x + dx, c]]))
            .sum();
        return if matches!(channels, 1 | 3 | 4) {
            ((sum + 2) >> 2) as u8
        } else {
            (sum as f32 * 0.25).round_ties_even() as u8
        };
    }
    let (x0, x1, fx) = opencv_column(x, src_w, dst_w);
    let (y0, y1, fy) = opencv_row(y, src_h, dst_h);
    let (a0, a1) = (coef(1.0 - fx), coef(fx));
    let (b0, b1) = (coef(1.0 - fy), coef(fy));
    let h = |row: usize| i32::from(src[[row, x0, c]]) * a0 + i32::from(src[[row, x1, c]]) * a1;
    let v = (((b0 * (h(y0) >> 4)) >> 16) + ((b1 * (h(y1) >> 4)) >> 16) + 2) >> 2;
    assert!(
        (0..=255).contains(&v),
        "fixed-point result {v} out of range"
    );
    v as u8
}

/// The float arithmetic a map type is resized with.
trait Float: Copy + std::fmt::Debug + std::ops::Sub<Output = Self> {
    /// IPP's source coordinate `(d + 0.5) * (src / dst) - 0.5`: two roundings for f32
    /// data, one fused multiply-add for f64 data.
    fn ipp_coordinate(d: usize, scale: f64) -> f64;
    fn from_f64(v: f64) -> Self;
    fn from_f32(v: f32) -> Self;
    fn fma(self, b: Self, c: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    fn add(self, b: Self) -> Self;
    fn is_nan(self) -> bool;
    fn to_f64(self) -> f64;
}

impl Float for f32 {
    fn ipp_coordinate(d: usize, scale: f64) -> f64 {
        (d as f64 + 0.5) * scale - 0.5
    }
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn from_f32(v: f32) -> Self {
        v
    }
    fn fma(self, b: Self, c: Self) -> Self {
        self.mul_add(b, c)
    }
    fn mul(self, b: Self) -> Self {
        self * b
    }
    fn add(self, b: Self) -> Self {
        self + b
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Float for f64 {
    fn ipp_coordinate(d: usize, scale: f64) -> f64 {
        (d as f64 + 0.5).mul_add(scale, -0.5)
    }
    fn from_f64(v: f64) -> Self {
        v
    }
    fn from_f32(v: f32) -> Self {
        f64::from(v)
    }
    fn fma(self, b: Self, c: Self) -> Self {
        self.mul_add(b, c)
    }
    fn mul(self, b: Self) -> Self {
        self * b
    }
    fn add(self, b: Self) -> Self {
        self + b
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn to_f64(self) -> f64 {
        self
    }
}

/// IPP's tap of destination index `d`: `x` as above, clamped at both borders, and the
/// fraction `x - floor(x)` rounded to the data type.
fn ipp_tap<T: Float>(d: usize, src: usize, dst: usize) -> (usize, usize, T) {
    let x = T::ipp_coordinate(d, src as f64 / dst as f64);
    let s = x.floor();
    let (s, t) = if s < 0.0 {
        (0, 0.0)
    } else if s >= (src - 1) as f64 {
        (src - 1, 0.0)
    } else {
        (s as usize, x - s)
    };
    (s, (s + 1).min(src - 1), T::from_f64(t))
}

/// `cv2.resize` of a float map for one output value.
fn reference_map<T: Float>(map: &Array2<T>, dst_h: usize, dst_w: usize, y: usize, x: usize) -> T {
    let (src_h, src_w) = map.dim();
    if (src_h, src_w) == (dst_h, dst_w) {
        return map[[y, x]];
    }
    if src_h == 1 || src_w == 1 {
        // IPP declines one-pixel sources; OpenCV's own kernel: f32 weights, p*w0 + q*w1
        // unfused, along the row first and then down the column.
        let (x0, x1, fx) = opencv_column(x, src_w, dst_w);
        let (y0, y1, fy) = opencv_row(y, src_h, dst_h);
        let (a0, a1) = (T::from_f32(1.0 - fx), T::from_f32(fx));
        let (b0, b1) = (T::from_f32(1.0 - fy), T::from_f32(fy));
        let h = |row: usize| map[[row, x0]].mul(a0).add(map[[row, x1]].mul(a1));
        return h(y0).mul(b0).add(h(y1).mul(b1));
    }
    // IPP: fma(t, q - p, p), along the row first and then down the column.
    let (x0, x1, tx) = ipp_tap::<T>(x, src_w, dst_w);
    let (y0, y1, ty) = ipp_tap::<T>(y, src_h, dst_h);
    let lerp = |t: T, p: T, q: T| t.fma(q - p, p);
    let h = |row: usize| lerp(tx, map[[row, x0]], map[[row, x1]]);
    lerp(ty, h(y0), h(y1))
}

/// The owner of a source laid out with other strides: transposed storage, every other
/// column of a wider buffer, or flipped rows; `view` reads the same values as `data`.
enum Layout {
    Plain,
    Transposed,
    Stepped,
    Flipped,
}

fn layout(how: u8) -> Layout {
    match how % 4 {
        0 => Layout::Plain,
        1 => Layout::Transposed,
        2 => Layout::Stepped,
        _ => Layout::Flipped,
    }
}

/// Runs `resize` on `src` stored with `how`'s strides into an output stored with
/// `out_how`'s, and returns the output as a standard-layout array.
fn run_u8(src: &Array3<u8>, dst: (usize, usize), how: u8, out_how: u8) -> Array3<u8> {
    let (h, w, c) = src.dim();
    let t_owner = src
        .view()
        .permuted_axes([1, 0, 2])
        .as_standard_layout()
        .into_owned();
    let mut wide = Array3::<u8>::from_elem((h, 2 * w, c), 0xA5);
    wide.slice_mut(s![.., ..;2, ..]).assign(src);
    let mut flipped = src.clone();
    flipped.invert_axis(Axis(0));
    let view: ArrayView3<'_, u8> = match layout(how) {
        Layout::Plain => src.view(),
        Layout::Transposed => t_owner.view().permuted_axes([1, 0, 2]),
        Layout::Stepped => wide.slice(s![.., ..;2, ..]),
        Layout::Flipped => {
            let mut v = flipped.view();
            v.invert_axis(Axis(0));
            v
        }
    };
    assert_eq!(view, src.view());
    let (dh, dw) = dst;
    // Canary bytes around and between the written values must survive.
    let mut out = Array3::<u8>::from_elem((dh, 2 * dw, c), 0x5A);
    let mut out_t = Array3::<u8>::from_elem((dw, dh, c), 0x5A);
    {
        let target: ArrayViewMut3<'_, u8> = match out_how % 3 {
            0 => out.slice_mut(s![.., ..dw, ..]),
            1 => out.slice_mut(s![.., ..;2, ..]),
            _ => out_t.view_mut().permuted_axes([1, 0, 2]),
        };
        resize_linear_u8(view, target).unwrap();
    }
    match out_how % 3 {
        0 => {
            assert!(
                out.slice(s![.., dw.., ..]).iter().all(|&v| v == 0x5A),
                "wrote past the view"
            );
            out.slice(s![.., ..dw, ..]).to_owned()
        }
        1 => {
            assert!(
                out.slice(s![.., 1..;2, ..]).iter().all(|&v| v == 0x5A),
                "wrote between"
            );
            out.slice(s![.., ..;2, ..]).to_owned()
        }
        _ => out_t
            .permuted_axes([1, 0, 2])
            .as_standard_layout()
            .into_owned(),
    }
}

fn run_map<T: Float + ResizeFloat>(
    map: &Array2<T>,
    dst: (usize, usize),
    how: u8,
    out_how: u8,
) -> Array2<T> {
    let (h, w) = map.dim();
    let t_owner = map.t().as_standard_layout().into_owned();
    let wide = common::widened(map);
    let mut flipped = map.clone();
    flipped.invert_axis(Axis(1));
    let view: ArrayView2<'_, T> = match layout(how) {
        Layout::Plain => map.view(),
        Layout::Transposed => t_owner.t(),
        Layout::Stepped => wide.slice(s![.., ..;2]),
        Layout::Flipped => {
            let mut v = flipped.view();
            v.invert_axis(Axis(1));
            v
        }
    };
    assert_eq!((view.nrows(), view.ncols()), (h, w));
    let (dh, dw) = dst;
    let mut out = Array2::<T>::default((dh, dw));
    let mut out_t = Array2::<T>::default((dw, dh));
    if out_how % 2 == 0 {
        resize_linear_map(view, out.view_mut()).unwrap();
        out
    } else {
        resize_linear_map(view, out_t.view_mut().reversed_axes()).unwrap();
        out_t.reversed_axes().as_standard_layout().into_owned()
    }
}

/// Bit-equal (so -0.0 differs from 0.0), or NaN on both sides.
fn same<T: Float>(a: T, b: T) -> bool {
    a.to_f64().to_bits() == b.to_f64().to_bits() || a.is_nan() && b.is_nan()
}

fuzz_target!(|data: &[u8]| {
    let mut bytes = common::Bytes(data);
    let (kind, how, out_how) = (bytes.byte(), bytes.byte(), bytes.byte());
    let (rows_shape, cols_shape) = (bytes.byte(), bytes.byte());
    let (src_h, dst_h) = axis_sizes(&mut bytes, rows_shape);
    let (src_w, dst_w) = axis_sizes(&mut bytes, cols_shape);
    match kind % 3 {
        0 => {
            let channels = 1 + bytes.below(5);
            let src = Array3::from_shape_fn((src_h, src_w, channels), |_| bytes.byte());
            let got = run_u8(&src, (dst_h, dst_w), how, out_how);
            for ((y, x, c), &v) in got.indexed_iter() {
                let want = reference_u8(&src, dst_h, dst_w, y, x, c);
                assert_eq!(
                    v, want,
                    "u8 {src_h}x{src_w}x{channels} -> {dst_h}x{dst_w} at ({y}, {x}, {c})"
                );
            }
        }
        1 => {
            let allow_non_finite = how & 0x80 != 0;
            let map = Array2::from_shape_fn((src_h, src_w), |_| {
                let v = bytes.value() as f32;
                if allow_non_finite || v.is_finite() {
                    v
                } else {
                    0.75
                }
            });
            let got = run_map(&map, (dst_h, dst_w), how, out_how);
            for ((y, x), &v) in got.indexed_iter() {
                let want = reference_map(&map, dst_h, dst_w, y, x);
                assert!(
                    same(v, want),
                    "f32 {src_h}x{src_w} -> {dst_h}x{dst_w} at ({y}, {x}): {v:e} != {want:e}"
                );
            }
        }
        _ => {
            let allow_non_finite = how & 0x80 != 0;
            let map = Array2::from_shape_fn((src_h, src_w), |_| {
                let v = bytes.value();
                if allow_non_finite || v.is_finite() {
                    v
                } else {
                    0.75
                }
            });
            let got = run_map(&map, (dst_h, dst_w), how, out_how);
            for ((y, x), &v) in got.indexed_iter() {
                let want = reference_map(&map, dst_h, dst_w, y, x);
                assert!(
                    same(v, want),
                    "f64 {src_h}x{src_w} -> {dst_h}x{dst_w} at ({y}, {x}): {v:e} != {want:e}"
                );
            }
        }
    }
});
