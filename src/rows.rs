//! Contiguous rows for the kernels.
//!
//! The kernels run over slices, which the compiler vectorises. Views whose rows are
//! contiguous (any row stride) are used in place; other rows (column steps, transposes,
//! negative strides) are copied one at a time into a small scratch buffer, so strided
//! inputs give exactly the bytes of a contiguous copy without a full-size copy.

use ndarray::{ArrayView, ArrayViewMut, Dimension};

/// The view's elements as one slice in logical order: in place when they are
/// contiguous, else copied into `scratch`.
#[inline]
pub(crate) fn as_contiguous<'a, T: Copy, D: Dimension>(
    view: ArrayView<'a, T, D>,
    scratch: &'a mut Vec<T>,
) -> &'a [T] {
    match view.to_slice() {
        Some(slice) => slice,
        None => {
            scratch.clear();
            scratch.extend(view.iter().copied());
            scratch
        }
    }
}

/// Lets `write` fill the view through one slice in logical order: in place when the
/// view is contiguous, else through `scratch`, copied back afterwards.
#[inline]
pub(crate) fn write_contiguous<T: Copy + Default, D: Dimension, R>(
    mut view: ArrayViewMut<'_, T, D>,
    scratch: &mut Vec<T>,
    write: impl FnOnce(&mut [T]) -> R,
) -> R {
    if let Some(slice) = view.as_slice_mut() {
        return write(slice);
    }
    scratch.clear();
    scratch.resize(view.len(), T::default());
    let result = write(scratch);
    for (dst, &src) in view.iter_mut().zip(scratch.iter()) {
        *dst = src;
    }
    result
}
