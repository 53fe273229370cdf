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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2, Array3};

    #[test]
    fn contiguous_views_are_used_in_place_others_copied_in_logical_order() {
        let a = Array2::from_shape_fn((4, 6), |(y, x)| (10 * y + x) as u16);
        let mut scratch = Vec::new();
        let row = a.row(2);
        let slice = as_contiguous(row, &mut scratch);
        assert_eq!(
            slice.as_ptr(),
            row.as_ptr(),
            "a contiguous row is not copied"
        );
        assert!(scratch.is_empty());
        for view in [
            a.t(),
            a.slice(s![.., ..;-1]),
            a.slice(s![..;-2, 1..;2]),
            a.slice(s![1..2, ..]).reversed_axes(),
        ] {
            let expected: Vec<u16> = view.iter().copied().collect();
            assert_eq!(as_contiguous(view, &mut scratch), expected, "{view:?}");
        }
    }

    #[test]
    fn strided_outputs_get_every_element_in_logical_order() {
        /// Writes 0, 1, 2, … through `write_contiguous` and checks the view reads back so.
        fn check(mut view: ndarray::ArrayViewMut3<'_, u16>, scratch: &mut Vec<u16>) {
            let len = view.len();
            let returned = write_contiguous(view.view_mut(), scratch, |out| {
                assert_eq!(out.len(), len);
                for (i, v) in out.iter_mut().enumerate() {
                    *v = i as u16;
                }
                7
            });
            assert_eq!(returned, 7);
            let expected: Vec<u16> = (0..len as u16).collect();
            assert_eq!(view.iter().copied().collect::<Vec<_>>(), expected);
        }
        let mut scratch = Vec::new();
        // A transposed output, a reversed one and a column-stepped one: all through the
        // scratch buffer, written back to the right places.
        let mut a = Array3::<u16>::zeros((3, 4, 2));
        check(a.view_mut().permuted_axes([1, 0, 2]), &mut scratch);
        check(a.slice_mut(s![..;-1, .., ..]), &mut scratch);
        check(a.slice_mut(s![.., ..;2, ..]), &mut scratch);
        // In place when contiguous.
        let mut b = Array2::<u8>::zeros((2, 3));
        let ptr = b.as_ptr();
        write_contiguous(b.view_mut(), &mut Vec::new(), |out| {
            assert_eq!(out.as_ptr(), ptr);
            out.fill(9);
        });
        assert!(b.iter().all(|&v| v == 9));
    }

    #[test]
    fn rows_are_visited_in_order_until_one_fails() {
        let mut a = Array3::<u8>::zeros((4, 3, 2));
        let mut seen = Vec::new();
        let all = for_each_row(a.view_mut().permuted_axes([1, 0, 2]), |y, row| {
            seen.push(y);
            assert_eq!(row.len(), 4 * 2);
            row.fill(y as u8 + 1);
            true
        });
        assert!(all);
        assert_eq!(seen, [0, 1, 2]);
        for ((_, x, _), &v) in a.indexed_iter() {
            assert_eq!(v, x as u8 + 1);
        }
        seen.clear();
        let all = for_each_row(a.view_mut(), |y, _| {
            seen.push(y);
            y < 1
        });
        assert!(!all);
        assert_eq!(seen, [0, 1], "stops at the first row that fails");
    }
}
