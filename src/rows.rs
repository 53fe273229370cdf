//! Contiguous rows for the kernels.
//!
//! The kernels run over slices, which the compiler vectorises. Views whose rows are
//! contiguous (any row stride) are used in place; other rows (column steps, transposes,
//! negative strides) are copied one at a time into a small scratch buffer, so strided
//! inputs give exactly the bytes of a contiguous copy without a full-size copy.

use ndarray::{ArrayView, ArrayViewMut, Axis, Dimension, RemoveAxis};

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

/// Runs `write(y, row)` on every row `y` (index along the first axis) of `out`, each
/// row as one slice in logical order (see [`write_contiguous`]), until `write` returns
/// false; returns whether it returned true for every row. The kernels' row loops: the
/// closure reads row `y` of its inputs (with [`as_contiguous`]) and writes `row`.
#[inline(always)]
pub(crate) fn for_each_row<T: Copy + Default, D: RemoveAxis>(
    mut out: ArrayViewMut<'_, T, D>,
    mut write: impl FnMut(usize, &mut [T]) -> bool,
) -> bool {
    let mut scratch = Vec::new();
    for (y, row) in out.axis_iter_mut(Axis(0)).enumerate() {
        if !write_contiguous(row, &mut scratch, |px| write(y, px)) {
            return false;
        }
    }
    true
}
