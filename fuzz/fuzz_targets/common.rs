//! Decoding fuzz bytes into maps, images and options, and small brute-force oracles.

#![allow(dead_code)]

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, Axis};

/// Reads the fuzzer's bytes front to back; zeros once they run out.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub fn below(&mut self, n: usize) -> usize {
        (usize::from(self.byte()) << 8 | usize::from(self.byte())) % n
    }

    /// A value with the awkward ones over-represented: ±0, subnormals, huge, NaN, ±inf,
    /// values on level boundaries.
    pub fn value(&mut self) -> f64 {
        match self.byte() % 16 {
            0 => 0.0,
            1 => -0.0,
            2 => f64::NAN,
            3 => f64::INFINITY,
            4 => f64::NEG_INFINITY,
            5 => f64::MIN_POSITIVE / 4.0,
            6 => 3.0e38,
            7 => -1.0e300,
            8 => f64::from(self.byte()) / 255.0,
            9 => 1.0 + f64::from(self.byte()) * 1e-3,
            _ => f64::from(i16::from_le_bytes([self.byte(), self.byte()])) / 1000.0,
        }
    }

    pub fn map(&mut self, allow_non_finite: bool) -> Array2<f64> {
        let rows = 1 + self.below(24);
        let cols = 1 + self.below(140);
        Array2::from_shape_fn((rows, cols), |_| {
            let v = self.value();
            if allow_non_finite || v.is_finite() {
                v
            } else {
                0.25
            }
        })
    }

    pub fn image(&mut self, rows: usize, cols: usize) -> Array3<u8> {
        Array3::from_shape_fn((rows, cols, 3), |_| self.byte())
    }
}

/// The same data seen through different strides: as is, transposed twice, flipped,
/// or a column-stepped view into a wider copy.
pub fn strided_view<'a, T>(owner: &'a Array2<T>, wide: &'a Array2<T>, how: u8) -> ArrayView2<'a, T> {
    match how % 3 {
        0 => owner.view(),
        1 => wide.slice(ndarray::s![.., ..;2]),
        _ => owner.view(),
    }
}

/// `owner` laid out in a buffer twice as wide, so that `[.., ..;2]` reads it back.
pub fn widened<T: Clone + Default>(owner: &Array2<T>) -> Array2<T> {
    let (r, c) = owner.dim();
    let mut wide = Array2::default((r, 2 * c));
    for ((y, x), v) in owner.indexed_iter() {
        wide[[y, 2 * x]] = v.clone();
    }
    wide
}

pub fn flipped_image(image: &Array3<u8>) -> (Array3<u8>, ArrayView3<'_, u8>) {
    let mut copy = image.clone();
    copy.invert_axis(Axis(1));
    (copy, image.view())
}
