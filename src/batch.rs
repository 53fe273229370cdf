//! Batch axes (SPEC §4): each map of a batch is processed on its own, so a batch call
//! returns exactly the stack of single calls.

use ndarray::{ArrayView3, ArrayView4, ArrayViewMut3, ArrayViewMut4, Axis};

use crate::blend::{superimpose_into, AddWeighted};
use crate::colormap::color_map_into;
use crate::error::{check_shape, KernelError};
use crate::levels::MapFloat;
use crate::mask::mask_into;

/// Adds the batch index to a per-map error.
fn in_batch(b: usize, batched: bool) -> impl Fn(KernelError) -> KernelError {
    move |e| match e {
        KernelError::NonFinite {
            count,
            first: (_, y, x),
            ..
        } => KernelError::NonFinite {
            count,
            first: (b, y, x),
            batched,
        },
        other => other,
    }
}

/// Runs `per_map(b)` for every map, stopping at the first error.
fn for_each_map(
    maps: usize,
    mut per_map: impl FnMut(usize) -> Result<(), KernelError>,
) -> Result<(), KernelError> {
    (0..maps).try_for_each(|b| per_map(b).map_err(in_batch(b, maps > 1)))
}

/// [`color_map_into`] over a batch `(B, H, W)` into `(B, H, W, 3)`.
///
/// ```
/// let maps = ndarray::Array3::<f32>::zeros((2, 4, 5));
/// let mut out = ndarray::Array4::<u8>::zeros((2, 4, 5, 3));
/// anomaly_postprocess::batch::color_maps_into(maps.view(), true, out.view_mut()).unwrap();
/// assert_eq!(out[[1, 3, 4, 2]], 128); // constant maps are level 0: dark blue
/// ```
pub fn color_maps_into<T: MapFloat>(
    maps: ArrayView3<'_, T>,
    normalize: bool,
    mut out: ArrayViewMut4<'_, u8>,
) -> Result<(), KernelError> {
    let (b, h, w) = maps.dim();
    check_shape("out", &[b, h, w, 3], out.shape())?;
    for_each_map(b, |i| {
        color_map_into(
            maps.index_axis(Axis(0), i),
            normalize,
            out.index_axis_mut(Axis(0), i),
        )
    })
}

/// [`superimpose_into`] over a batch. `images` has `B` images, or one used for every map.
///
/// ```
/// use anomaly_postprocess::blend::AddWeighted;
/// let maps = ndarray::Array3::<f64>::zeros((3, 2, 2));
/// let image = ndarray::Array4::<u8>::zeros((1, 2, 2, 3));
/// let mut out = ndarray::Array4::<u8>::zeros((3, 2, 2, 3));
/// anomaly_postprocess::batch::superimpose_maps_into(
///     maps.view(), image.view(), false, &AddWeighted::new(0.5, 0.0), out.view_mut()).unwrap();
/// assert_eq!(out[[2, 1, 1, 2]], 64); // blue 128 over black
/// ```
pub fn superimpose_maps_into<T: MapFloat>(
    maps: ArrayView3<'_, T>,
    images: ArrayView4<'_, u8>,
    normalize: bool,
    blend: &AddWeighted,
    mut out: ArrayViewMut4<'_, u8>,
) -> Result<(), KernelError> {
    let (b, h, w) = maps.dim();
    check_shape("out", &[b, h, w, 3], out.shape())?;
    let per_image = images.len_of(Axis(0));
    if per_image != 1 {
        check_shape("image", &[b, h, w, 3], images.shape())?;
    }
    for_each_map(b, |i| {
        let image = images.index_axis(Axis(0), if per_image == 1 { 0 } else { i });
        superimpose_into(
            maps.index_axis(Axis(0), i),
            image,
            normalize,
            blend,
            out.index_axis_mut(Axis(0), i),
        )
    })
}

/// [`mask_into`] over a batch `(B, H, W)` into `(B, H, W)`.
///
/// ```
/// let maps = ndarray::Array3::<f32>::from_elem((2, 3, 3), 0.8);
/// let mut out = ndarray::Array3::<u8>::zeros((2, 3, 3));
/// anomaly_postprocess::batch::masks_into(maps.view(), 0.5, 1, out.view_mut()).unwrap();
/// assert!(out.iter().all(|&v| v == 255));
/// ```
pub fn masks_into<T: MapFloat>(
    maps: ArrayView3<'_, T>,
    threshold: f64,
    kernel_size: u64,
    mut out: ArrayViewMut3<'_, u8>,
) -> Result<(), KernelError> {
    let (b, h, w) = maps.dim();
    check_shape("out", &[b, h, w], out.shape())?;
    for_each_map(b, |i| {
        mask_into(
            maps.index_axis(Axis(0), i),
            threshold,
            kernel_size,
            out.index_axis_mut(Axis(0), i),
        )
    })
}
