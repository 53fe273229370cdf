//! `mark_boundaries`: a mask's outline painted over an image (docs/behaviour.md#regions).
//!
//! The outline is scikit-image's `find_boundaries(mask, mode="thick")`: the pixels
//! whose 4-neighbourhood (themselves included, pixels outside the image ignored —
//! scipy's reflect border repeats the edge pixel, which changes neither the minimum
//! nor the maximum) holds both set and clear pixels. That is the dilation by the cross
//! `disk(1)` minus the erosion by it.

use ndarray::{ArrayView2, ArrayView3, ArrayViewMut3, Axis};

use crate::bitmap::BitMatrix;
use crate::error::{check_shape, KernelError};
use crate::morphology::{dilate_disk, erode_disk};
use crate::rows::{as_contiguous, for_each_row};
use crate::simd::multiversioned;

/// The set pixels of a `u8` mask (`v > 0`), bit-packed.
///
/// ```
/// use anomaly_postprocess::outline::nonzero_bits;
/// let bits = nonzero_bits(ndarray::array![[0u8, 3], [255, 0]].view());
/// assert!(bits.get(0, 1) && bits.get(1, 0) && !bits.get(0, 0));
/// ```
pub fn nonzero_bits(mask: ArrayView2<'_, u8>) -> BitMatrix {
    let (rows, cols) = mask.dim();
    let mut words = vec![0; rows * cols.div_ceil(64)];
    pack_nonzero_rows(mask, &mut words);
    BitMatrix::from_words(rows, cols, words)
}

multiversioned! {
    /// Packs `mask > 0` into `words`, compiled for each SIMD target: the baseline
    /// x86-64 build packed 64 bytes a word one byte at a time (0.5 ms of a 1024×1024
    /// `mask_to_boxes`), where AVX-512 compares 64 at once.
    fn pack_nonzero_rows(mask: ArrayView2<'_, u8>, words: &mut [u64]) {
        BitMatrix::pack_rows(mask, |v| v > 0, words)
    }
}

/// `find_boundaries(mask, mode="thick")`.
///
/// ```
/// use anomaly_postprocess::bitmap::BitMatrix;
/// use anomaly_postprocess::outline::thick_boundaries;
/// let square = BitMatrix::from_fn(5, 5, |y, x| (1..4).contains(&y) && (1..4).contains(&x));
/// let edge = thick_boundaries(&square);
/// assert!(edge.get(0, 2) && edge.get(1, 1) && !edge.get(2, 2) && !edge.get(0, 0));
/// ```
pub fn thick_boundaries(mask: &BitMatrix) -> BitMatrix {
    let mut edge = dilate_disk(mask, 1);
    let inner = erode_disk(mask, 1);
    for (e, &i) in edge.words_mut().iter_mut().zip(inner.words()) {
        *e &= !i;
    }
    edge
}

/// Writes `image` with the thick boundary of `mask` painted in `color` into `out`.
///
/// ```
/// use anomaly_postprocess::outline::{mark_boundaries_into, nonzero_bits};
/// let image = ndarray::Array3::<u8>::zeros((1, 3, 3));
/// let mask = nonzero_bits(ndarray::array![[0u8, 0, 1]].view());
/// let mut out = ndarray::Array3::<u8>::zeros((1, 3, 3));
/// mark_boundaries_into(image.view(), &mask, [255, 0, 0], out.view_mut()).unwrap();
/// assert_eq!(out.as_slice().unwrap(), &[0, 0, 0, 255, 0, 0, 255, 0, 0]);
/// ```
pub fn mark_boundaries_into(
    image: ArrayView3<'_, u8>,
    mask: &BitMatrix,
    color: [u8; 3],
    out: ArrayViewMut3<'_, u8>,
) -> Result<(), KernelError> {
    let (rows, cols) = (mask.rows(), mask.cols());
    check_shape("image", &[rows, cols, 3], image.shape())?;
    check_shape("out", &[rows, cols, 3], out.shape())?;
    let edge = thick_boundaries(mask);
    let mut scratch = Vec::new();
    for_each_row(out, |y, px| {
        px.copy_from_slice(as_contiguous(image.index_axis(Axis(0), y), &mut scratch));
        // Outlines are sparse: visit only the set bits of each word.
        for (w, &word) in edge.row(y).iter().enumerate() {
            let mut rest = word;
            while rest != 0 {
                let x = w * 64 + rest.trailing_zeros() as usize;
                if x >= cols {
                    break; // padding bits (kept 0, but never painted)
                }
                px[3 * x..3 * x + 3].copy_from_slice(&color);
                rest &= rest - 1;
            }
        }
        true
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2, Array3};

    /// From the definition: the pixel's 4-neighbourhood (itself included, pixels outside
    /// ignored) holds both set and clear pixels.
    fn on_boundary(mask: &Array2<u8>, y: usize, x: usize) -> bool {
        let (rows, cols) = mask.dim();
        let mut seen = [false; 2];
        for (dy, dx) in [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)] {
            let (ny, nx) = (y as i64 + dy, x as i64 + dx);
            if (0..rows as i64).contains(&ny) && (0..cols as i64).contains(&nx) {
                seen[usize::from(mask[[ny as usize, nx as usize]] > 0)] = true;
            }
        }
        seen == [true, true]
    }

    #[test]
    fn boundaries_follow_the_definition_for_strided_images_and_outputs() {
        let sizes = [(1, 1), (3, 5), (9, 70), (7, 64), (5, 130)];
        // Under Miri (a minute for all) the sizes up to two words a row.
        let sizes = if cfg!(miri) { &sizes[..3] } else { &sizes[..] };
        for &(rows, cols) in sizes {
            let mask = Array2::from_shape_fn((rows, cols), |(y, x)| {
                u8::from((y * 5 + x * 3) % 7 < 3 || (y, x) == (rows / 2, cols / 2))
            });
            // The image, reversed along both axes; the output, transposed.
            let base =
                Array3::from_shape_fn((rows, cols, 3), |(y, x, c)| (y * 31 + x * 7 + c) as u8);
            let image = base.slice(s![..;-1, ..;-1, ..]);
            let mut out_t = Array3::<u8>::zeros((cols, rows, 3));
            let out = out_t.view_mut().permuted_axes([1, 0, 2]);
            let color = [250, 1, 128];
            mark_boundaries_into(image, &nonzero_bits(mask.view()), color, out).unwrap();
            let out = out_t.permuted_axes([1, 0, 2]);
            for ((y, x, c), &got) in out.indexed_iter() {
                let expected = if on_boundary(&mask, y, x) {
                    color[c]
                } else {
                    image[[y, x, c]]
                };
                assert_eq!(got, expected, "{rows}x{cols} at {y},{x},{c}");
            }
        }
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let mask = nonzero_bits(Array2::<u8>::zeros((2, 3)).view());
        let image = Array3::<u8>::zeros((2, 3, 3));
        let mut out = Array3::<u8>::zeros((3, 2, 3));
        assert!(mark_boundaries_into(image.view(), &mask, [0; 3], out.view_mut()).is_err());
        let mut out = Array3::<u8>::zeros((2, 3, 3));
        let wrong = Array3::<u8>::zeros((2, 3, 4));
        assert!(mark_boundaries_into(wrong.view(), &mask, [0; 3], out.view_mut()).is_err());
        assert!(mark_boundaries_into(image.view(), &mask, [0; 3], out.view_mut()).is_ok());
    }
}
