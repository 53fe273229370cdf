//! Batch axes (docs/behaviour.md#shapes): each map of a batch is processed on its own
//! (in parallel, see [`crate::parallel`] and docs/behaviour.md#threads), so a batch
//! call returns exactly the stack of single calls. Owns splitting a stack into maps
//! and merging the maps' errors into one that names the map.

use ndarray::{
    ArrayView, ArrayView2, ArrayView3, ArrayViewD, ArrayViewMut3, ArrayViewMut4, Axis, Dimension,
};

use crate::blend::{superimpose_into, AddWeighted};
use crate::colormap::{color_map_into, Palette};
use crate::error::{check_shape, KernelError};
use crate::frame::{frame_into, FrameOptions, FrameOut, ScoredComponents};
use crate::levels::{MapFloat, Scaling};
use crate::mask::mask_into;
use crate::parallel::map_items;

/// Splits a view into the views of its trailing `D::NDIM` axes, one per index of the
/// leading (batch) axes, in row-major order. No data is copied, whatever the strides.
///
/// ```
/// use anomaly_postprocess::batch::split_batch;
/// let stack = ndarray::Array::from_shape_fn((2, 3, 4, 5), |(a, b, y, x)| (a * 3 + b) * 100 + y * 5 + x);
/// let maps = split_batch::<_, ndarray::Ix2>(stack.view().into_dyn()).unwrap();
/// assert_eq!(maps.len(), 6);
/// assert_eq!(maps[4][[1, 2]], 4 * 100 + 7);
/// ```
pub fn split_batch<'a, T, D: Dimension>(
    view: ArrayViewD<'a, T>,
) -> Option<Vec<ArrayView<'a, T, D>>> {
    let trailing = D::NDIM?;
    if view.ndim() < trailing {
        return None;
    }
    let mut pending = vec![view];
    let mut done = Vec::new();
    while let Some(v) = pending.pop() {
        if v.ndim() == trailing {
            done.push(v.into_dimensionality::<D>().ok()?);
        } else {
            // Push in reverse so that popping yields row-major order.
            for i in (0..v.len_of(Axis(0))).rev() {
                pending.push(v.clone().index_axis_move(Axis(0), i));
            }
        }
    }
    Some(done)
}

/// The first error in batch order; a non-finite count covers the whole batch.
fn first_error(results: Vec<Result<(), KernelError>>) -> Result<(), KernelError> {
    every_map(results).map(drop)
}

/// Every map's result, or the first error in batch order (see [`first_error`]).
fn every_map<R>(results: Vec<Result<R, KernelError>>) -> Result<Vec<R>, KernelError> {
    let maps = results.len();
    let total: usize = results
        .iter()
        .map(|r| match r {
            Err(KernelError::NonFinite { count, .. }) => *count,
            _ => 0,
        })
        .sum();
    let (mut values, mut first_error) = (Vec::with_capacity(maps), None);
    for (b, result) in results.into_iter().enumerate() {
        match result {
            Ok(value) => values.push(value),
            Err(error) => {
                first_error.get_or_insert((b, error));
            }
        }
    }
    let Some((b, first)) = first_error else {
        return Ok(values);
    };
    Err(match first {
        KernelError::NonFinite {
            first: (_, y, x), ..
        } => KernelError::NonFinite {
            count: total,
            first: (b, y, x),
            batch_shape: if maps > 1 { vec![maps] } else { Vec::new() },
        },
        other => other,
    })
}

/// [`color_map_into`] for every map, into `out` `(B, H, W, 3)`.
///
/// ```
/// use anomaly_postprocess::colormap::Palette;
/// let maps = ndarray::Array3::<f32>::zeros((2, 4, 5));
/// let views: Vec<_> = maps.outer_iter().collect();
/// let mut out = ndarray::Array4::<u8>::zeros((2, 4, 5, 3));
/// anomaly_postprocess::batch::color_maps_into(&views, true, Palette::Jet, out.view_mut()).unwrap();
/// assert_eq!(out[[1, 3, 4, 2]], 128); // constant maps are level 0: dark blue
/// ```
pub fn color_maps_into<T: MapFloat>(
    maps: &[ArrayView2<'_, T>],
    scaling: impl Into<Scaling>,
    palette: Palette<'_>,
    mut out: ArrayViewMut4<'_, u8>,
) -> Result<(), KernelError> {
    let (h, w) = maps.first().map_or((0, 0), |m| m.dim());
    check_shape("out", &[maps.len(), h, w, 3], out.shape())?;
    // An unusable range is the caller's error, not a map's: before any map is written.
    let scaling = scaling.into();
    scaling.check::<T>()?;
    let items: Vec<_> = maps.iter().zip(out.outer_iter_mut()).collect();
    first_error(map_items(items, |(map, out)| {
        color_map_into(*map, scaling, palette, out)
    }))
}

/// [`superimpose_into`] for every map; `images` holds one image per map, or one for all.
///
/// ```
/// use anomaly_postprocess::blend::AddWeighted;
/// use anomaly_postprocess::colormap::Palette;
/// let maps = ndarray::Array3::<f64>::zeros((3, 2, 2));
/// let image = ndarray::Array3::<u8>::zeros((2, 2, 3));
/// let views: Vec<_> = maps.outer_iter().collect();
/// let mut out = ndarray::Array4::<u8>::zeros((3, 2, 2, 3));
/// anomaly_postprocess::batch::superimpose_maps_into(
///     &views, &[image.view()], false, Palette::Jet, &AddWeighted::new(0.5, 0.0), out.view_mut()).unwrap();
/// assert_eq!(out[[2, 1, 1, 2]], 64); // blue 128 over black
/// ```
pub fn superimpose_maps_into<T: MapFloat>(
    maps: &[ArrayView2<'_, T>],
    images: &[ArrayView3<'_, u8>],
    scaling: impl Into<Scaling>,
    palette: Palette<'_>,
    blend: &AddWeighted,
    mut out: ArrayViewMut4<'_, u8>,
) -> Result<(), KernelError> {
    let (h, w) = maps.first().map_or((0, 0), |m| m.dim());
    check_shape("out", &[maps.len(), h, w, 3], out.shape())?;
    if images.len() != 1 {
        check_shape("image", &[maps.len()], &[images.len()])?;
    }
    let scaling = scaling.into();
    scaling.check::<T>()?;
    let items: Vec<_> = maps
        .iter()
        .zip(images.iter().cycle())
        .zip(out.outer_iter_mut())
        .collect();
    first_error(map_items(items, |((map, image), out)| {
        superimpose_into(*map, *image, scaling, palette, blend, out)
    }))
}

/// [`mask_into`] for every map, into `out` `(B, H, W)`.
///
/// ```
/// let maps = ndarray::Array3::<f32>::from_elem((2, 3, 3), 0.8);
/// let views: Vec<_> = maps.outer_iter().collect();
/// let mut out = ndarray::Array3::<u8>::zeros((2, 3, 3));
/// anomaly_postprocess::batch::masks_into(&views, 0.5, 1, 0, out.view_mut()).unwrap();
/// assert!(out.iter().all(|&v| v == 255));
/// ```
pub fn masks_into<T: MapFloat>(
    maps: &[ArrayView2<'_, T>],
    threshold: f64,
    kernel_size: u64,
    min_area: usize,
    mut out: ArrayViewMut3<'_, u8>,
) -> Result<(), KernelError> {
    let (h, w) = maps.first().map_or((0, 0), |m| m.dim());
    check_shape("out", &[maps.len(), h, w], out.shape())?;
    let items: Vec<_> = maps.iter().zip(out.outer_iter_mut()).collect();
    first_error(map_items(items, |(map, out)| {
        mask_into(*map, threshold, kernel_size, min_area, out)
    }))
}

/// The products of a batch asked for, each with where it goes (a leading axis of one
/// entry per map); `None`: not computed. See [`FrameOut`].
#[derive(Debug)]
pub struct FramesOut<'o> {
    /// The heatmaps, `(B, H, W, 3)`.
    pub heatmap: Option<ArrayViewMut4<'o, u8>>,
    /// The overlays, `(B, H, W, 3)` (over the images given to [`frames_into`]).
    pub overlay: Option<ArrayViewMut4<'o, u8>>,
    /// The masks, `(B, H, W)`.
    pub mask: Option<ArrayViewMut3<'o, u8>>,
}

/// [`frame_into`] for every map, in parallel: `threshold_maps` (one per map) as there;
/// `images` one per map or one for all (used when the overlay is asked for). Returns
/// each map's components with their scores when the masks are asked for with
/// [`FrameOptions::boxes`].
///
/// ```
/// use anomaly_postprocess::batch::{frames_into, FramesOut};
/// use anomaly_postprocess::blend::AddWeighted;
/// use anomaly_postprocess::colormap::Palette;
/// use anomaly_postprocess::frame::FrameOptions;
/// use anomaly_postprocess::levels::Scaling;
/// let mut maps = ndarray::Array3::<f64>::zeros((2, 5, 6));
/// maps[[1, 2, 3]] = 0.9;
/// let views: Vec<_> = maps.outer_iter().collect();
/// let options = FrameOptions {
///     palette: Palette::Jet, heatmap: Scaling::MinMax, overlay: Scaling::Raw,
///     blend: AddWeighted::new(0.4, 0.0), threshold: 0.5, kernel_size: 0, min_area: 0, boxes: true,
/// };
/// let mut masks = ndarray::Array3::<u8>::zeros((2, 5, 6));
/// let out = FramesOut { heatmap: None, overlay: None, mask: Some(masks.view_mut()) };
/// let found = frames_into(&views, None, &[], &options, out).unwrap();
/// assert_eq!((found[0].as_ref().unwrap().len(), found[1].as_ref().unwrap()[0].1), (0, 0.9));
/// assert_eq!(masks[[1, 2, 3]], 255);
/// ```
pub fn frames_into<T: MapFloat>(
    maps: &[ArrayView2<'_, T>],
    threshold_maps: Option<&[ArrayView2<'_, T>]>,
    images: &[ArrayView3<'_, u8>],
    options: &FrameOptions<'_>,
    out: FramesOut<'_>,
) -> Result<Vec<Option<ScoredComponents<T>>>, KernelError> {
    let (h, w) = maps.first().map_or((0, 0), |m| m.dim());
    let n = maps.len();
    let FramesOut {
        mut heatmap,
        mut overlay,
        mut mask,
    } = out;
    if let Some(out) = &heatmap {
        check_shape("out_heatmap", &[n, h, w, 3], out.shape())?;
        // An unusable range is the caller's error, not a map's: before any map is written.
        options.heatmap.check::<T>()?;
    }
    if let Some(out) = &overlay {
        check_shape("out_overlay", &[n, h, w, 3], out.shape())?;
        if images.len() != 1 {
            check_shape("image", &[n], &[images.len()])?;
        }
        options.overlay.check::<T>()?;
    }
    if let Some(out) = &mask {
        check_shape("out_mask", &[n, h, w], out.shape())?;
    }
    if let Some(compared) = threshold_maps {
        check_shape("threshold_map", &[n], &[compared.len()])?;
    }
    let mut heatmaps = heatmap.as_mut().map(|o| o.outer_iter_mut());
    let mut overlays = overlay.as_mut().map(|o| o.outer_iter_mut());
    let mut masks = mask.as_mut().map(|o| o.outer_iter_mut());
    let items: Vec<_> = (maps.iter().enumerate())
        .map(|(b, &map)| {
            let out = FrameOut {
                heatmap: heatmaps.as_mut().and_then(Iterator::next),
                overlay: (overlays.as_mut().and_then(Iterator::next))
                    .map(|o| (images[b % images.len()], o)),
                mask: masks.as_mut().and_then(Iterator::next),
            };
            (map, threshold_maps.map(|t| t[b]), out)
        })
        .collect();
    every_map(map_items(items, |(map, compared, out)| {
        frame_into(map, compared, options, out)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_counts_cover_the_batch() {
        let mut maps = ndarray::Array3::<f64>::zeros((3, 4, 5));
        maps[[1, 2, 4]] = f64::NAN;
        maps[[2, 0, 0]] = f64::INFINITY;
        maps[[2, 1, 1]] = f64::NEG_INFINITY;
        let views: Vec<_> = maps.outer_iter().collect();
        let mut out = ndarray::Array4::<u8>::zeros((3, 4, 5, 3));
        let err = color_maps_into(&views, false, Palette::Jet, out.view_mut()).unwrap_err();
        assert_eq!(
            err,
            KernelError::NonFinite {
                count: 3,
                first: (1, 2, 4),
                batch_shape: vec![3]
            }
        );
    }

    #[test]
    fn parallel_batch_equals_sequential_calls() {
        crate::parallel::set_num_threads(2).unwrap();
        // Under Miri (seconds a map) fewer and smaller maps.
        let (n, h, w) = if cfg!(miri) { (4, 9, 13) } else { (9, 17, 23) };
        let maps = ndarray::Array3::from_shape_fn((n, h, w), |(b, y, x)| {
            ((b * 31 + y * 7 + x) as f32 * 0.01).sin()
        });
        let views: Vec<_> = maps.outer_iter().collect();
        let mut batch = ndarray::Array3::<u8>::zeros((n, h, w));
        masks_into(&views, 0.2, 2, 0, batch.view_mut()).unwrap();
        for (view, expected) in views.iter().zip(batch.outer_iter()) {
            let mut single = ndarray::Array2::<u8>::zeros((h, w));
            mask_into(*view, 0.2, 2, 0, single.view_mut()).unwrap();
            assert_eq!(single, expected);
        }
    }
}
