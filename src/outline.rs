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

/// The set pixels of a `u8` mask (`v > 0`), bit-packed.
///
/// ```
/// use anomaly_postprocess::outline::nonzero_bits;
/// let bits = nonzero_bits(ndarray::array![[0u8, 3], [255, 0]].view());
/// assert!(bits.get(0, 1) && bits.get(1, 0) && !bits.get(0, 0));
/// ```
pub fn nonzero_bits(mask: ArrayView2<'_, u8>) -> BitMatrix {
    BitMatrix::from_view(mask, |v| v > 0)
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
        let bits = edge.row(y);
        for (x, rgb) in px.chunks_exact_mut(3).enumerate() {
            if bits[x / 64] >> (x % 64) & 1 == 1 {
                rgb.copy_from_slice(&color);
            }
        }
        true
    });
    Ok(())
}
