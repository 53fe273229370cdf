//! Every product of one frame from one sweep over its map (and a second for a product
//! min-max normalised by the map's own range): `postprocess` (docs/behaviour.md#api).
//! An inspection line wants, for each map, the heatmap, the overlay, the mask and the
//! boxes with their scores; the separate kernels read the map once each
//! ([`crate::colormap`] twice with its range pass, [`crate::blend`], [`crate::mask`],
//! then the boxes re-pack the mask's bytes). Here:
//!
//! 1. One sweep over the map in strips of rows small enough to stay in the core's
//!    cache ([`STRIP_PIXELS`]): for each strip the existing row kernels run back to
//!    back on the same rows — the range scan (`RangeLanes`, when a product is
//!    normalised or has a fixed range: docs/behaviour.md#levels), the heatmap's colour
//!    pass (`ColorPass`) and the overlay's colour-and-blend pass (`BlendPass`) for
//!    the products whose levels need no range of the map's own (raw and fixed scales),
//!    and the threshold into the bit-packed mask (`threshold_rows`). Each runs with
//!    its operation's one dispatch, so every byte is the byte of the separate call by
//!    construction.
//! 2. When a product is min-max normalised (the heatmap's default), a second sweep
//!    colours it with the range the first one found. That is the range pass any
//!    normalised product needs, with every other per-pixel product riding along: the
//!    map is read twice, as the range pass and the one fused sweep would read it, but
//!    the scan, which is cheap beside the colour passes, no longer streams the map on
//!    its own.
//! 3. On the packed mask: the opening, `min_area` and the 0/255 bytes as
//!    `compute_mask` runs them after its threshold, in the same bands of rows
//!    (`crate::mask::finish_mask`: each band opens its block of the thresholded rows),
//!    and, from the same bits (never re-thresholded or re-packed from the bytes), the
//!    components with their maxima ([`components_with_max`]) for the boxes and scores.
//!
//! A product not asked for has no output here ([`FrameOut`]), and nothing is computed
//! for it. The sweeps run in bands of rows in parallel exactly as the separate kernels
//! do ([`for_each_band`], docs/behaviour.md#threads); batches are
//! [`crate::batch::frames_into`].

use ndarray::{ArrayView2, ArrayView3, ArrayViewMut2, ArrayViewMut3};

use crate::bitmap::BitMatrix;
use crate::blend::{AddWeighted, BlendPass};
use crate::colormap::{ColorPass, Palette};
use crate::error::{check_shape, KernelError};
use crate::levels::{locate_non_finite, LevelScale, MapFloat, NotFinite, RangeLanes, Scaling};
use crate::mask::{finish_mask, keep_mask_words, take_mask_words, threshold_rows};
use crate::parallel::{for_each_band, SliceRows, SplitRows};
use crate::regions::{components_with_max, Component};

/// A mask's 8-connected components in `cv2.connectedComponentsWithStats` label order,
/// each with the map's maximum over its pixels (its box and score).
pub type ScoredComponents<T> = Vec<(Component, T)>;

/// The options of every product of a frame; those of a product not asked for (see
/// [`FrameOut`]) are not used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameOptions<'p> {
    /// The colours of the heatmap and of the overlay's heat.
    pub palette: Palette<'p>,
    /// The heatmap's levels (`normalize_heatmap`, `value_range`).
    pub heatmap: Scaling,
    /// The overlay's levels (`normalize_overlay`, `value_range`).
    pub overlay: Scaling,
    /// The overlay's `cv2.addWeighted` (`alpha`, `gamma`).
    pub blend: AddWeighted,
    /// The mask's threshold, in numpy's comparison precision (docs/behaviour.md#threshold:
    /// [`crate::mask::threshold_bits`] says what it must be).
    pub threshold: f64,
    /// The radius of the opening's disk (0: none).
    pub kernel_size: u64,
    /// Components of fewer pixels are cleared from the mask (0 or 1: none).
    pub min_area: usize,
    /// Whether to find the mask's components with their scores.
    pub boxes: bool,
}

/// The products asked for, each with where it goes; `None`: not computed.
#[derive(Debug)]
pub struct FrameOut<'i, 'o> {
    /// The heatmap, `(H, W, 3)`.
    pub heatmap: Option<ArrayViewMut3<'o, u8>>,
    /// The image the overlay blends over and the overlay, both `(H, W, 3)`.
    pub overlay: Option<(ArrayView3<'i, u8>, ArrayViewMut3<'o, u8>)>,
    /// The 0/255 mask, `(H, W)`; with [`FrameOptions::boxes`] also the boxes.
    pub mask: Option<ArrayViewMut2<'o, u8>>,
}

/// Pixels of one strip of a sweep (whole rows, at least one): the strip's map values
/// (32 KiB of float32) are read by up to four passes in a row, so they must still be
/// in the core's cache for all but the first; with the strip's image and outputs (up
/// to 13 bytes a pixel) the strip stays in L2. Measured on the 2-core development VM
/// (1 MiB L2; single thread, CPU time, 2048×2448 float32, all products): 8192 and
/// 2448–32 768 pixels alike, whole bands (no strips) 5–8% slower; at 1024×1024, where
/// the whole map stays in L3, no difference.
pub const STRIP_PIXELS: usize = 8192;

/// Rows per strip for rows of `cols` pixels.
fn strip_rows(cols: usize) -> usize {
    (STRIP_PIXELS / cols.max(1)).max(1)
}

/// Writes the products of `out` for one map `(H, W)` and returns, when the mask is
/// asked for with [`FrameOptions::boxes`], its 8-connected components with the map's
/// maximum over each (NaN ignored), in `cv2.connectedComponentsWithStats` label order.
///
/// Each product is, byte for byte, what the separate kernel writes (see the module
/// docs for how the map is read):
/// the heatmap [`crate::colormap::color_map_into`]`(map, options.heatmap, palette)`,
/// the overlay [`crate::blend::superimpose_into`]`(map, image, options.overlay,
/// palette, blend)`, the mask [`crate::mask::mask_into`]`(threshold_map or map,
/// threshold, kernel_size, min_area)`, the components
/// [`components_with_max`]`(mask, map)` — the components of the final mask (after
/// `min_area`, so each has at least `min_area` pixels).
///
/// `threshold_map`: the map the threshold compares, where it is not `map` itself (an
/// integer map against an integer threshold, which the caller compares exactly:
/// docs/behaviour.md#threshold); `None`: `map`.
///
/// Fails, writing nothing useful, like the separate kernels: a shape that does not
/// match, a fixed range without a finite, positive width in `T` (before the map is
/// read), NaN/±inf in the map when the heatmap or the overlay is asked for (the mask
/// accepts them).
///
/// ```
/// use anomaly_postprocess::blend::{superimpose_into, AddWeighted};
/// use anomaly_postprocess::colormap::{color_map_into, Palette};
/// use anomaly_postprocess::frame::{frame_into, FrameOptions, FrameOut};
/// use anomaly_postprocess::levels::Scaling;
/// use anomaly_postprocess::mask::mask_into;
/// use ndarray::{Array2, Array3};
///
/// let map = Array2::from_shape_fn((40, 50), |(y, x)| if (10..20).contains(&y) && x > 30 { 0.9f32 } else { 0.1 });
/// let image = Array3::from_elem((40, 50, 3), 200u8);
/// let options = FrameOptions {
///     palette: Palette::Jet,
///     heatmap: Scaling::MinMax,
///     overlay: Scaling::Raw,
///     blend: AddWeighted::new(0.4, 0.0),
///     threshold: 0.5,
///     kernel_size: 4,
///     min_area: 0,
///     boxes: true,
/// };
/// let (mut heat, mut overlay, mut mask) =
///     (Array3::zeros((40, 50, 3)), Array3::zeros((40, 50, 3)), Array2::zeros((40, 50)));
/// let out = FrameOut {
///     heatmap: Some(heat.view_mut()),
///     overlay: Some((image.view(), overlay.view_mut())),
///     mask: Some(mask.view_mut()),
/// };
/// let found = frame_into(map.view(), None, &options, out).unwrap().unwrap();
/// let (x1, y1, x2, y2) = (found[0].0.x1, found[0].0.y1, found[0].0.x2, found[0].0.y2);
/// assert_eq!((found.len(), (x1, y1, x2, y2), found[0].1), (1, (31, 10, 49, 19), 0.9));
///
/// // The same bytes as the separate kernels.
/// let mut alone = Array3::zeros((40, 50, 3));
/// color_map_into(map.view(), true, Palette::Jet, alone.view_mut()).unwrap();
/// assert_eq!(alone, heat);
/// superimpose_into(map.view(), image.view(), false, Palette::Jet, &options.blend, alone.view_mut()).unwrap();
/// assert_eq!(alone, overlay);
/// let mut mask_alone = Array2::zeros((40, 50));
/// mask_into(map.view(), 0.5, 4, 0, mask_alone.view_mut()).unwrap();
/// assert_eq!(mask_alone, mask);
/// ```
pub fn frame_into<T: MapFloat>(
    map: ArrayView2<'_, T>,
    threshold_map: Option<ArrayView2<'_, T>>,
    options: &FrameOptions<'_>,
    out: FrameOut<'_, '_>,
) -> Result<Option<ScoredComponents<T>>, KernelError> {
    let (h, w) = map.dim();
    let FrameOut {
        heatmap,
        overlay,
        mask,
    } = out;
    if let Some(out) = &heatmap {
        check_shape("out_heatmap", &[h, w, 3], out.shape())?;
    }
    if let Some((image, out)) = &overlay {
        check_shape("image", &[h, w, 3], image.shape())?;
        check_shape("out_overlay", &[h, w, 3], out.shape())?;
    }
    if let Some(out) = &mask {
        check_shape("out_mask", &[h, w], out.shape())?;
    }
    if let Some(compared) = &threshold_map {
        check_shape("threshold_map", &[h, w], compared.shape())?;
    }
    let heat_scaling = heatmap.as_ref().map(|_| options.heatmap);
    let overlay_scaling = overlay.as_ref().map(|_| options.overlay);
    let scalings = [heat_scaling, overlay_scaling];
    // An unusable fixed range is the caller's error, whatever the map holds: first.
    for scaling in scalings.into_iter().flatten() {
        scaling.check::<T>()?;
    }
    let boxes = mask.is_some() && options.boxes;
    if h == 0 || w == 0 {
        return Ok(boxes.then(Vec::new)); // no pixel: nothing to write, no component
    }
    let scan = scalings
        .into_iter()
        .flatten()
        .any(Scaling::needs_range_pass);
    // Products whose levels need the map's own range come in a second sweep; the
    // others (raw and fixed scales) ride along with the range scan in the first.
    let (heat_first, heat_second) = split_by_range(heatmap, options.heatmap);
    let (overlay_first, overlay_second) = split_by_range(overlay, options.overlay);
    // Each pass runs strip by strip, but streams as the separate call's would.
    let result_bytes = 3 * h * w;
    let heat_pass = |range| {
        (LevelScale::of(options.heatmap, range))
            .map(|s| ColorPass::new(s, options.palette).for_result_of(result_bytes))
    };
    let blend_pass = |range| {
        (LevelScale::of(options.overlay, range))
            .map(|s| BlendPass::new(s, options.palette, &options.blend).for_result_of(result_bytes))
    };
    let per_row = w.div_ceil(64);
    let mut words = mask.as_ref().map(|_| {
        let mut words = take_mask_words();
        words.clear();
        words.resize(h * per_row, 0);
        words
    });
    let first_heat = heat_first.as_ref().map(|_| heat_pass(None)).transpose()?;
    let first_blend = overlay_first
        .as_ref()
        .map(|_| blend_pass(None))
        .transpose()?;
    let rows = Rows {
        map,
        threshold_map,
        heatmap: heat_first,
        overlay: overlay_first,
        bits: words.as_mut().map(|items| SliceRows { items, per_row }),
    };
    let passes = Passes {
        heat: first_heat.as_ref(),
        blend: first_blend.as_ref(),
        threshold: T::floor_from_f64(options.threshold),
    };
    let first = map[[0, 0]];
    // Bands of rows in parallel (docs/behaviour.md#threads); an error names the map's
    // first non-finite value, whichever band met one.
    let bands = for_each_band(h, w, rows, |_, band| {
        sweep(band, &passes, scan.then(|| RangeLanes::new(first)))
    });
    let range = match bands.into_iter().collect::<Result<Vec<_>, NotFinite>>() {
        Ok(_) if !scan => Ok(None),
        Ok(lanes) => RangeLanes::finish(lanes.into_iter().flatten().collect())
            .map(Some)
            .ok_or(NotFinite),
        Err(NotFinite) => Err(NotFinite),
    };
    let Ok(range) = range else {
        if let Some(words) = words {
            keep_mask_words(words);
        }
        return Err(locate_non_finite(map).into());
    };
    if heat_second.is_some() || overlay_second.is_some() {
        let second_heat = heat_second.as_ref().map(|_| heat_pass(range)).transpose()?;
        let second_blend = overlay_second
            .as_ref()
            .map(|_| blend_pass(range))
            .transpose()?;
        let rows = Rows {
            map,
            threshold_map: None,
            heatmap: heat_second,
            overlay: overlay_second,
            bits: None,
        };
        let passes = Passes {
            heat: second_heat.as_ref(),
            blend: second_blend.as_ref(),
            threshold: passes.threshold,
        };
        // A normalising scale comes from the range scan, which checked every value.
        for_each_band(h, w, rows, |_, band| sweep(band, &passes, None));
    }
    let (Some(out), Some(words)) = (mask, words) else {
        return Ok(None);
    };
    let mask = BitMatrix::from_words(h, w, words);
    let bits = finish_mask(mask, options.kernel_size, options.min_area, out);
    let found = if boxes {
        Some(components_with_max(&bits, map)?)
    } else {
        None
    };
    keep_mask_words(bits.into_words());
    Ok(found)
}

/// `(product, None)` when its levels need no range of the map's own (a raw or fixed
/// scale: the first sweep), `(None, product)` when they do (min-max: the second).
fn split_by_range<P>(product: Option<P>, scaling: Scaling) -> (Option<P>, Option<P>) {
    match scaling {
        Scaling::MinMax => (None, product),
        Scaling::Raw | Scaling::Fixed { .. } => (product, None),
    }
}

/// The passes of a sweep, each present exactly when its output is.
struct Passes<'a, 'p, T> {
    heat: Option<&'a ColorPass<'p, T>>,
    blend: Option<&'a BlendPass<'p, T>>,
    /// The threshold in `T` (`T::floor_from_f64`).
    threshold: T,
}

/// The rows of a band or strip: the map's, and those of every output of the sweep.
struct Rows<'m, 'i, 'o, 'w, T> {
    map: ArrayView2<'m, T>,
    threshold_map: Option<ArrayView2<'m, T>>,
    heatmap: Option<ArrayViewMut3<'o, u8>>,
    overlay: Option<(ArrayView3<'i, u8>, ArrayViewMut3<'o, u8>)>,
    /// The packed mask's words of these rows.
    bits: Option<SliceRows<'w, u64>>,
}

impl<T: Sync> SplitRows for Rows<'_, '_, '_, '_, T> {
    fn split_at_row(self, row: usize) -> (Self, Self) {
        let (map, map_rest) = self.map.split_at_row(row);
        let (threshold_map, threshold_rest) = self.threshold_map.split_at_row(row);
        let (heatmap, heatmap_rest) = self.heatmap.split_at_row(row);
        let (overlay, overlay_rest) = self.overlay.split_at_row(row);
        let (bits, bits_rest) = self.bits.split_at_row(row);
        (
            Rows {
                map,
                threshold_map,
                heatmap,
                overlay,
                bits,
            },
            Rows {
                map: map_rest,
                threshold_map: threshold_rest,
                heatmap: heatmap_rest,
                overlay: overlay_rest,
                bits: bits_rest,
            },
        )
    }
}

/// One band of a sweep: strip after strip, the range scan (`range`, when given) and
/// the passes back to back on the strip's rows; returns the band's range lanes. Stops
/// at the first row whose values are not all finite (raw scales only: the range scan
/// reports the others when it finishes).
fn sweep<T: MapFloat>(
    mut rows: Rows<'_, '_, '_, '_, T>,
    passes: &Passes<'_, '_, T>,
    mut range: Option<RangeLanes<T>>,
) -> Result<Option<RangeLanes<T>>, NotFinite> {
    let strip = strip_rows(rows.map.ncols());
    // The portable overlay loop's colour row and the scan's copy of a strided row,
    // kept across strips.
    let (mut heat, mut scratch) = (Vec::new(), Vec::new());
    while rows.map.nrows() > 0 {
        let next = strip.min(rows.map.nrows());
        let (head, rest) = rows.split_at_row(next);
        if let Some(lanes) = &mut range {
            lanes.add_rows(head.map, &mut scratch);
        }
        if let (Some(pass), Some(out)) = (passes.heat, head.heatmap) {
            pass.rows(head.map, out)?;
        }
        if let (Some(pass), Some((image, out))) = (passes.blend, head.overlay) {
            pass.rows(head.map, image, out, &mut heat)?;
        }
        if let Some(bits) = head.bits {
            let compared = head.threshold_map.unwrap_or(head.map);
            threshold_rows(compared, passes.threshold, bits.items);
        }
        rows = rest;
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blend::superimpose_into;
    use crate::colormap::{color_map_into, palettes::PALETTES};
    use crate::mask::mask_into;
    use crate::outline::nonzero_bits;
    use crate::parallel::with_band_threads;
    use ndarray::{Array2, Array3};

    /// A small deterministic generator (xorshift), so tests need no dependency.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Box-smoothed noise in [0, 1): thresholds give blobs of many sizes and specks.
    fn smooth_map(h: usize, w: usize, seed: u64) -> Array2<f64> {
        let mut noise = Noise(seed | 1);
        let raw = Array2::from_shape_fn((h, w), |_| noise.next());
        let radius = 2isize;
        let at = |y: isize, x: isize| {
            raw[[
                y.clamp(0, h as isize - 1) as usize,
                x.clamp(0, w as isize - 1) as usize,
            ]]
        };
        Array2::from_shape_fn((h, w), |(y, x)| {
            let mut sum = 0.0;
            for dy in -radius..=radius {
                for dx in -radius..=radius {
                    sum += at(y as isize + dy, x as isize + dx);
                }
            }
            sum / 25.0
        })
    }

    fn image(h: usize, w: usize, seed: u64) -> Array3<u8> {
        let mut noise = Noise(seed | 1);
        Array3::from_shape_fn((h, w, 3), |_| (noise.next() * 256.0) as u8)
    }

    /// Every product of `frame_into` against the separate kernels, byte for byte.
    fn check<T: MapFloat + std::fmt::Debug>(
        map: ArrayView2<'_, T>,
        image: ArrayView3<'_, u8>,
        options: &FrameOptions<'_>,
    ) {
        let (h, w) = map.dim();
        let (mut heat, mut overlay, mut mask) = (
            Array3::from_elem((h, w, 3), 7u8),
            Array3::from_elem((h, w, 3), 7u8),
            Array2::from_elem((h, w), 7u8),
        );
        let out = FrameOut {
            heatmap: Some(heat.view_mut()),
            overlay: Some((image, overlay.view_mut())),
            mask: Some(mask.view_mut()),
        };
        let found = frame_into(map, None, options, out).unwrap().unwrap();
        let what = format!("{h}x{w} {options:?}");
        let mut expected = Array3::zeros((h, w, 3));
        color_map_into(map, options.heatmap, options.palette, expected.view_mut()).unwrap();
        assert_eq!(heat, expected, "heatmap {what}");
        superimpose_into(
            map,
            image,
            options.overlay,
            options.palette,
            &options.blend,
            expected.view_mut(),
        )
        .unwrap();
        assert_eq!(overlay, expected, "overlay {what}");
        let mut expected_mask = Array2::zeros((h, w));
        mask_into(
            map,
            options.threshold,
            options.kernel_size,
            options.min_area,
            expected_mask.view_mut(),
        )
        .unwrap();
        assert_eq!(mask, expected_mask, "mask {what}");
        // mask_to_boxes(mask, anomaly_map=map): the bytes re-packed, then components.
        let boxes = components_with_max(&nonzero_bits(expected_mask.view()), map).unwrap();
        assert_eq!(found, boxes, "boxes and scores {what}");
        // Only some products: the same bytes again.
        let mut mask_only = Array2::zeros((h, w));
        let out = FrameOut {
            heatmap: None,
            overlay: None,
            mask: Some(mask_only.view_mut()),
        };
        let again = FrameOptions {
            boxes: false,
            ..*options
        };
        assert_eq!(frame_into(map, None, &again, out).unwrap(), None);
        assert_eq!(mask_only, expected_mask, "mask alone {what}");
        let mut heat_only = Array3::zeros((h, w, 3));
        let out = FrameOut {
            heatmap: Some(heat_only.view_mut()),
            overlay: None,
            mask: None,
        };
        assert_eq!(frame_into(map, None, options, out).unwrap(), None);
        assert_eq!(heat_only, heat, "heatmap alone {what}");
    }

    fn options(palette: Palette<'_>, heatmap: Scaling, overlay: Scaling) -> FrameOptions<'_> {
        FrameOptions {
            palette,
            heatmap,
            overlay,
            blend: AddWeighted::new(0.4, 0.0),
            threshold: 0.5,
            kernel_size: 2,
            min_area: 0,
            boxes: true,
        }
    }

    #[test]
    fn every_product_equals_the_separate_kernel() {
        // One strip, several strips with a short last one, one row a strip. Under Miri
        // (minutes a map past these) a pixel and a one-strip map, with the default
        // blend: each other blend's integer-form search tries all 65 536 byte pairs.
        let sizes = [(1, 1), (37, 53), (401, 53), (3, 9000), (64, 129)];
        let sizes = if cfg!(miri) {
            &[(1, 1), (5, 70)][..]
        } else {
            &sizes[..]
        };
        let fixed = Scaling::Fixed {
            low: 0.3,
            high: 0.62,
        };
        let table = Palette::Table(&PALETTES[20].2);
        let scalings = [
            (Scaling::MinMax, Scaling::Raw),
            (fixed, fixed),
            (Scaling::Raw, Scaling::MinMax),
            (Scaling::MinMax, Scaling::MinMax),
        ];
        let scalings = if cfg!(miri) {
            &scalings[..2]
        } else {
            &scalings[..]
        };
        for (i, &(h, w)) in sizes.iter().enumerate() {
            let map = smooth_map(h, w, 17 + i as u64);
            let picture = image(h, w, 3 + i as u64);
            let map32 = map.mapv(|v| v as f32);
            for &(heatmap, overlay) in scalings {
                for palette in [Palette::Jet, table] {
                    let mut o = options(palette, heatmap, overlay);
                    check(map.view(), picture.view(), &o);
                    check(map32.view(), picture.view(), &o);
                    // A float blend (no integer form), another threshold, min_area,
                    // no opening and a disk larger than the map.
                    if !cfg!(miri) {
                        o.blend = AddWeighted::new(0.5, 3.0);
                    }
                    o.threshold = 0.45;
                    o.min_area = 6;
                    check(map32.view(), picture.view(), &o);
                    o.kernel_size = 0;
                    check(map.view(), picture.view(), &o);
                    o.kernel_size = 40;
                    check(map32.view(), picture.view(), &o);
                }
            }
            // Strided views: a transposed map and image.
            let timage = picture.view().permuted_axes([1, 0, 2]);
            let o = options(Palette::Jet, Scaling::MinMax, Scaling::Raw);
            check(map32.t(), timage, &o);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "maps of millions of pixels: hours under Miri")]
    fn the_same_bytes_on_every_number_of_bands() {
        crate::parallel::set_num_threads(2).unwrap();
        // Odd sizes that split into 2 and into 7 bands.
        for (h, w) in [(1031, 1031), (1031, 3601)] {
            let map = smooth_map(h, w, 99).mapv(|v| v as f32);
            let picture = image(h, w, 5);
            let mut o = options(Palette::Jet, Scaling::MinMax, Scaling::Raw);
            // The mask's bands open blocks of the swept mask: with and without min_area.
            o.min_area = if w > 2000 { 6 } else { 0 };
            let run = |threads: usize| {
                with_band_threads(threads, || {
                    let (mut heat, mut overlay, mut mask) = (
                        Array3::zeros((h, w, 3)),
                        Array3::zeros((h, w, 3)),
                        Array2::zeros((h, w)),
                    );
                    let out = FrameOut {
                        heatmap: Some(heat.view_mut()),
                        overlay: Some((picture.view(), overlay.view_mut())),
                        mask: Some(mask.view_mut()),
                    };
                    let found = frame_into(map.view(), None, &o, out).unwrap().unwrap();
                    (heat, overlay, mask, found)
                })
            };
            let one = run(1);
            for threads in [2, 3, 7] {
                assert_eq!(run(threads), one, "{h}x{w} on {threads} threads");
            }
            check(map.view(), picture.view(), &o);
        }
    }

    #[test]
    fn a_product_not_asked_for_is_not_computed() {
        // NaN fails the colour products and is never above the threshold: a mask alone
        // succeeds, so no colour pass ran.
        let mut map = smooth_map(20, 30, 4);
        map[[3, 7]] = f64::NAN;
        map[[11, 2]] = f64::INFINITY;
        let o = options(Palette::Jet, Scaling::MinMax, Scaling::Raw);
        let mut mask = Array2::zeros((20, 30));
        let out = FrameOut {
            heatmap: None,
            overlay: None,
            mask: Some(mask.view_mut()),
        };
        let found = frame_into(map.view(), None, &o, out).unwrap();
        let mut expected = Array2::zeros((20, 30));
        mask_into(map.view(), 0.5, 2, 0, expected.view_mut()).unwrap();
        assert_eq!(mask, expected);
        assert!(found.is_some());
        // Nothing asked for: nothing computed, not even the range pass.
        let none = FrameOut {
            heatmap: None,
            overlay: None,
            mask: None,
        };
        assert_eq!(frame_into(map.view(), None, &o, none), Ok(None));
        // With the heatmap (either scale) or the overlay: the separate kernel's error.
        let mut heat = Array3::zeros((20, 30, 3));
        let error = color_map_into(map.view(), true, Palette::Jet, heat.view_mut()).unwrap_err();
        for scaling in [Scaling::MinMax, Scaling::Raw] {
            let o = options(Palette::Jet, scaling, scaling);
            let out = FrameOut {
                heatmap: Some(heat.view_mut()),
                overlay: None,
                mask: Some(mask.view_mut()),
            };
            assert_eq!(frame_into(map.view(), None, &o, out), Err(error.clone()));
            let picture = image(20, 30, 1);
            let mut overlay = Array3::zeros((20, 30, 3));
            let out = FrameOut {
                heatmap: None,
                overlay: Some((picture.view(), overlay.view_mut())),
                mask: None,
            };
            assert_eq!(frame_into(map.view(), None, &o, out), Err(error.clone()));
        }
    }

    #[test]
    fn errors_are_the_separate_kernels() {
        let map = smooth_map(6, 8, 2).mapv(|v| v as f32);
        let mut heat = Array3::zeros((6, 8, 3));
        // A range without width in float32: refused before the map is read.
        let empty = Scaling::Fixed {
            low: 1.0,
            high: 1.0 + 1e-9,
        };
        let o = options(Palette::Jet, empty, Scaling::Raw);
        let out = FrameOut {
            heatmap: Some(heat.view_mut()),
            overlay: None,
            mask: None,
        };
        let expected = color_map_into(
            map.view(),
            empty,
            Palette::Jet,
            Array3::zeros((6, 8, 3)).view_mut(),
        );
        assert!(expected.is_err());
        assert_eq!(frame_into(map.view(), None, &o, out).map(|_| ()), expected);
        // Shapes name the output.
        let mut wrong = Array2::zeros((6, 9));
        let out = FrameOut {
            heatmap: None,
            overlay: None,
            mask: Some(wrong.view_mut()),
        };
        let error = frame_into(map.view(), None, &o, out).unwrap_err();
        assert_eq!(
            error.to_string(),
            "out_mask must have shape [6, 8], got [6, 9]"
        );
    }

    #[test]
    fn a_threshold_map_is_thresholded_and_the_map_scored() {
        // The caller's exact comparison (integer maps): bits from `threshold_map`,
        // scores from the map.
        let map = smooth_map(30, 40, 8);
        let compared = map.mapv(|v| if v > 0.55 { 1.0 } else { 0.0 });
        let o = FrameOptions {
            threshold: 0.0,
            ..options(Palette::Jet, Scaling::MinMax, Scaling::Raw)
        };
        let mut mask = Array2::zeros((30, 40));
        let out = FrameOut {
            heatmap: None,
            overlay: None,
            mask: Some(mask.view_mut()),
        };
        let found = frame_into(map.view(), Some(compared.view()), &o, out)
            .unwrap()
            .unwrap();
        let mut expected = Array2::zeros((30, 40));
        mask_into(compared.view(), 0.0, 2, 0, expected.view_mut()).unwrap();
        assert_eq!(mask, expected);
        assert!(!found.is_empty());
        assert_eq!(
            found,
            components_with_max(&nonzero_bits(expected.view()), map.view()).unwrap()
        );
    }

    #[test]
    fn empty_maps_have_no_pixels_and_no_components() {
        let map = Array2::<f32>::zeros((0, 5));
        let o = options(Palette::Jet, Scaling::MinMax, Scaling::Raw);
        let (mut heat, mut mask) = (Array3::zeros((0, 5, 3)), Array2::zeros((0, 5)));
        let out = FrameOut {
            heatmap: Some(heat.view_mut()),
            overlay: None,
            mask: Some(mask.view_mut()),
        };
        assert_eq!(frame_into(map.view(), None, &o, out), Ok(Some(Vec::new())));
    }
}
