//! Binary erosion, dilation and opening with a disk, on bit-packed rows
//! (docs/behaviour.md#opening).
//!
//! The footprint is scikit-image's `disk(r)`: `{(dy, dx) : dy² + dx² ≤ r²}`. A disk is a
//! stack of horizontal runs: row offset `dy` holds `|dx| ≤ w(|dy|)` with
//! `w(d) = ⌊√(r² − d²)⌋`. So an erosion is, for every `d`, a horizontal erosion `H_w(d)`
//! of the image by a run of half-width `w(d)`, shifted up and down by `d` and ANDed into
//! the result (dilation: OR).
//!
//! - Runs are grown only to the distinct half-widths, narrowest first, each step at
//!   least doubling the width while far from the next one:
//!   `H_{b+a}(x) = H_b(x − a) ∘ H_b(x + a)` for `a ≤ b`, and with `∘ H_b(x)` for
//!   `a ≤ 2b + 1` (the logarithmic decomposition of a line segment, as in van den
//!   Boomgaard & van Balen, "Methods for fast morphological image transforms using
//!   bitmapped binary images", CVGIP: Graphical Models and Image Processing, 1992).
//!   Each step reads one buffer and writes another, over the rows that still need runs
//!   that wide: the wide runs serve only the rows near the centre. On CPUs with AVX-512
//!   VBMI2, one pass computes every next width that one step reaches from the widest
//!   so far (`runs::FanOut`, `avx512.rs`): 4 passes instead of 13 steps for r = 16.
//! - All row offsets that share a half-width are combined in one pass, up to four rows
//!   at a time.
//! - The image is processed in strips of rows, each with the `r` rows around it, so
//!   that every pass stays in cache; consecutive strips share those rows. Large images
//!   are split into bands of rows across the threads (docs/behaviour.md#threads), each
//!   band reading copies of the `r` rows above and below it, taken before any band
//!   writes (`runs.rs` works on one band).
//! - Exact early exits, which thresholded maps (large empty or full regions) and noise
//!   hit often: a strip whose neighbourhood is all outside-valued pixels (0 for
//!   dilation, 1 for erosion) is left so; and once a strip's result is all absorbing
//!   words (0 for erosion, 1 for dilation) no further term can change it. The result
//!   starts as the centre rows themselves, which are in the disk, so a strip of empty
//!   centre rows is done at once too.
//!
//! Pixels outside the image are ignored, which is OpenCV's default border for
//! `morphologyEx`: erosion sees them as foreground, dilation as background.

use crate::bitmap::BitMatrix;

#[cfg(target_arch = "x86_64")]
mod avx512;
mod distance;
mod runs;

/// Erosion or dilation: how words combine and what lies outside the image.
trait Op: Copy {
    /// The value of pixels outside the image, which leaves a combination unchanged.
    const OUTSIDE: u64;
    /// The word that a combination can never leave: 0 for erosion, all ones for dilation.
    const ABSORBING: u64 = !Self::OUTSIDE;
    fn combine(a: u64, b: u64) -> u64;
}

#[derive(Clone, Copy, Debug)]
struct Erode;
#[derive(Clone, Copy, Debug)]
struct Dilate;

impl Op for Erode {
    const OUTSIDE: u64 = u64::MAX;
    #[inline(always)]
    fn combine(a: u64, b: u64) -> u64 {
        a & b
    }
}

impl Op for Dilate {
    const OUTSIDE: u64 = 0;
    #[inline(always)]
    fn combine(a: u64, b: u64) -> u64 {
        a | b
    }
}

impl runs::Widening {
    /// The widening loop this CPU runs: the morphology's one choice between its
    /// hand-written loop (`avx512.rs`) and the portable one.
    fn detect() -> runs::Widening {
        #[cfg(target_arch = "x86_64")]
        if crate::simd::vbmi2_enabled() {
            return runs::Widening::FanOut;
        }
        runs::Widening::Steps
    }
}

/// `w(d)` for `d = 0..=min(r, rows − 1)`, clamped to `cols − 1`: a run that wide already
/// reaches across the whole row, so clamping changes nothing.
fn disk_half_widths(radius: u64, rows: usize, cols: usize) -> Vec<usize> {
    let r2 = u128::from(radius) * u128::from(radius);
    let max_d = radius.min(rows as u64 - 1) as usize;
    (0..=max_d)
        .map(|d| {
            let rest = r2 - (d as u128) * (d as u128);
            rest.isqrt().min(cols as u128 - 1) as usize
        })
        .collect()
}

/// Whether the disk centred on any pixel covers the whole image.
fn disk_covers_image(radius: u64, rows: usize, cols: usize) -> bool {
    let r2 = u128::from(radius) * u128::from(radius);
    let (h, w) = ((rows - 1) as u128, (cols - 1) as u128);
    r2 >= h * h + w * w
}

/// The row offsets that share one run half-width: `d_min..=d_max` all have
/// `w(d) = width`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct WidthGroup {
    width: usize,
    d_min: usize,
    d_max: usize,
}

/// The disk's rows grouped by half-width, narrowest (outermost rows) first.
fn width_groups(half_widths: &[usize]) -> Vec<WidthGroup> {
    let mut groups: Vec<WidthGroup> = Vec::new();
    for (d, &width) in half_widths.iter().enumerate().rev() {
        match groups.last_mut() {
            Some(g) if g.width == width => g.d_min = d,
            _ => groups.push(WidthGroup {
                width,
                d_min: d,
                d_max: d,
            }),
        }
    }
    groups
}

/// One widening step from half-width `from` towards `to`: the shift `a` and whether
/// the unshifted runs take part. `H_{b+a}(x) = H_b(x − a) ∘ H_b(x + a)` holds when the
/// two windows `[x − a − b, x − a + b]` and `[x + a − b, x + a + b]` touch, i.e.
/// `a ≤ b`; with `H_b(x)` as a third term, when `a ≤ 2b + 1`. So every step at least
/// doubles the width until the target is near.
fn widening_step(from: usize, to: usize) -> (usize, bool) {
    let a = to - from;
    if a <= from {
        (a, false)
    } else {
        (a.min(2 * from + 1), true)
    }
}

/// The fewest pixels a band of the run method gets when an erosion or dilation is split
/// across threads (docs/behaviour.md#threads), and the fewest rows as a multiple of the
/// disk's reach (each band also reads `reach` rows either side): a separate erosion or
/// dilation (the split opening of `compute_mask` is `mask::MIN_MASK_BAND_PIXELS`) of a
/// 1024 × 1024 mask measured no faster on 2 threads than on 1.
const MIN_MORPH_BAND_PIXELS: usize = 1 << 20;
const MIN_MORPH_BAND_REACHES: usize = 4;

/// Erosion or dilation by the run method, in place: in bands of rows on the threads for
/// large images ([`crate::parallel::bands`]), else on the calling thread.
fn morph_in_place<O: Op>(mask: &mut BitMatrix, radius: u64) {
    let (rows, cols) = (mask.rows(), mask.cols());
    let reach = radius.min(rows as u64) as usize;
    let bands = crate::parallel::bands(
        rows,
        cols,
        MIN_MORPH_BAND_PIXELS,
        MIN_MORPH_BAND_REACHES.saturating_mul(reach),
    );
    morph_in_bands::<O>(mask, radius, &bands, runs::Widening::detect());
}

/// [`morph_in_place`] on given bands of rows, with the given widening loop.
fn morph_in_bands<O: Op>(
    mask: &mut BitMatrix,
    radius: u64,
    bands: &[std::ops::Range<usize>],
    widening: runs::Widening,
) {
    let (rows, cols) = (mask.rows(), mask.cols());
    if rows == 0 || cols == 0 || radius == 0 {
        return;
    }
    if disk_covers_image(radius, rows, cols) {
        // Every pixel sees every pixel: all or nothing.
        let all = if O::OUTSIDE == 0 {
            mask.count_ones() > 0
        } else {
            mask.is_full()
        };
        mask.fill(all);
        return;
    }
    let wpr = mask.words_per_row();
    if let [_] = bands {
        let source = runs::Source {
            block: mask.words_mut(),
            first: 0,
            halo: &|_| unreachable!("a whole image reads no other rows"),
            image_rows: rows,
            cols,
        };
        runs::morph_block::<O>(source, radius, widening);
        return;
    }
    // The rows within reach above and below each band, as they are before any band
    // writes its own.
    let reach = radius.min(rows as u64 - 1) as usize;
    let halos: Vec<(std::ops::Range<usize>, Vec<u64>)> = bands
        .iter()
        .flat_map(|band| {
            let above = band.start.saturating_sub(reach)..band.start;
            let below = band.end..(band.end + reach).min(rows);
            [above, below]
        })
        .map(|r| {
            let words = mask.words()[r.start * wpr..r.end * wpr].to_vec();
            (r, words)
        })
        .collect();
    let halo = |y: usize| -> &[u64] {
        let (range, words) = halos
            .iter()
            .find(|(r, _)| r.contains(&y))
            .expect("every row within reach of a band is copied");
        &words[(y - range.start) * wpr..][..wpr]
    };
    let words = crate::parallel::SliceRows {
        items: mask.words_mut(),
        per_row: wpr,
    };
    crate::parallel::for_each_of_bands(bands, words, |range, band| {
        let source = runs::Source {
            block: band.items,
            first: range.start,
            halo: &halo,
            image_rows: rows,
            cols,
        };
        runs::morph_block::<O>(source, radius, widening);
    });
}
/// Which algorithm computes an erosion or a dilation. Every method gives the same bytes;
/// only the time differs. Public for the fuzz targets and benches, not part of the API.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The cheaper of the two for this mask and radius, by a cost model (`distance`).
    Auto,
    /// Horizontal runs per width of the disk (this module): cost grows with the radius.
    Runs,
    /// Per-column distances and unions of intervals (`distance`): cost independent of it.
    Distance,
}

fn erode_in_place(mask: &mut BitMatrix, radius: u64, method: Method) {
    let distance = match method {
        Method::Auto => distance::prefers_distance::<false>(mask, radius),
        Method::Runs => false,
        Method::Distance => true,
    };
    if distance {
        distance::morph_in_place::<false>(mask, radius);
    } else {
        morph_in_place::<Erode>(mask, radius);
    }
}

fn dilate_in_place(mask: &mut BitMatrix, radius: u64, method: Method) {
    let distance = match method {
        Method::Auto => distance::prefers_distance::<true>(mask, radius),
        Method::Runs => false,
        Method::Distance => true,
    };
    if distance {
        distance::morph_in_place::<true>(mask, radius);
    } else {
        morph_in_place::<Dilate>(mask, radius);
    }
}

/// Erosion by `disk(radius)`; pixels outside the image count as foreground.
///
/// ```
/// use anomaly_postprocess::bitmap::BitMatrix;
/// use anomaly_postprocess::morphology::erode_disk;
/// let square = BitMatrix::from_fn(5, 5, |y, x| (1..4).contains(&y) && (1..4).contains(&x));
/// let eroded = erode_disk(&square, 1);
/// assert_eq!(eroded, BitMatrix::from_fn(5, 5, |y, x| y == 2 && x == 2));
/// ```
pub fn erode_disk(src: &BitMatrix, radius: u64) -> BitMatrix {
    let mut out = src.clone();
    erode_in_place(&mut out, radius, Method::Auto);
    out
}

/// Dilation by `disk(radius)`; pixels outside the image count as background.
///
/// ```
/// use anomaly_postprocess::bitmap::BitMatrix;
/// use anomaly_postprocess::morphology::dilate_disk;
/// let dot = BitMatrix::from_fn(3, 3, |y, x| y == 1 && x == 1);
/// let plus = BitMatrix::from_fn(3, 3, |y, x| y == 1 || x == 1);
/// assert_eq!(dilate_disk(&dot, 1), plus);
/// ```
pub fn dilate_disk(src: &BitMatrix, radius: u64) -> BitMatrix {
    let mut out = src.clone();
    dilate_in_place(&mut out, radius, Method::Auto);
    out
}

/// Opening (erosion, then dilation) by `disk(radius)`, OpenCV's border rule.
///
/// ```
/// use anomaly_postprocess::bitmap::BitMatrix;
/// use anomaly_postprocess::morphology::open_disk;
/// // A lone pixel vanishes; a 3×3 block survives a radius-1 opening.
/// let m = BitMatrix::from_fn(6, 6, |y, x| (y == 0 && x == 5) || (y >= 2 && y < 5 && x < 3));
/// let opened = open_disk(&m, 1);
/// assert!(!opened.get(0, 5));
/// assert!(opened.get(3, 1));
/// ```
pub fn open_disk(src: &BitMatrix, radius: u64) -> BitMatrix {
    open_disk_with(src, radius, Method::Auto)
}

/// [`open_disk`] by a given [`Method`] (the same bytes for every method).
///
/// ```
/// use anomaly_postprocess::bitmap::BitMatrix;
/// use anomaly_postprocess::morphology::{open_disk, open_disk_with, Method};
/// let m = BitMatrix::from_fn(40, 70, |y, x| (y * 7 + x * 3) % 11 < 8);
/// let runs = open_disk_with(&m, 5, Method::Runs);
/// assert_eq!(open_disk_with(&m, 5, Method::Distance), runs);
/// assert_eq!(open_disk(&m, 5), runs);
/// ```
#[doc(hidden)]
pub fn open_disk_with(src: &BitMatrix, radius: u64, method: Method) -> BitMatrix {
    let mut out = src.clone();
    open_in_place(&mut out, radius, method);
    out
}

/// [`erode_disk`] by a given [`Method`] (the same bytes for every method).
#[doc(hidden)]
pub fn erode_disk_with(src: &BitMatrix, radius: u64, method: Method) -> BitMatrix {
    let mut out = src.clone();
    erode_in_place(&mut out, radius, method);
    out
}

/// [`dilate_disk`] by a given [`Method`] (the same bytes for every method).
#[doc(hidden)]
pub fn dilate_disk_with(src: &BitMatrix, radius: u64, method: Method) -> BitMatrix {
    let mut out = src.clone();
    dilate_in_place(&mut out, radius, method);
    out
}

/// [`erode_disk_with`] (`dilate` false) or [`dilate_disk_with`] (true) by the run method
/// on given bands of rows, as large images are split across threads
/// (docs/behaviour.md#threads): each band on a thread, reading copies of the rows around
/// it. The same bits for every split. For the fuzz targets and tests.
///
/// # Panics
/// Unless `bands` are non-empty consecutive ranges from row 0 to the last row (or the
/// image has no rows).
///
/// ```
/// use anomaly_postprocess::bitmap::BitMatrix;
/// use anomaly_postprocess::morphology::{erode_disk, morph_disk_in_bands};
/// let m = BitMatrix::from_fn(9, 70, |y, x| (y * 5 + x * 3) % 7 < 5);
/// assert_eq!(morph_disk_in_bands(&m, 2, false, &[0..1, 1..4, 4..9]), erode_disk(&m, 2));
/// ```
#[doc(hidden)]
pub fn morph_disk_in_bands(
    src: &BitMatrix,
    radius: u64,
    dilate: bool,
    bands: &[std::ops::Range<usize>],
) -> BitMatrix {
    let rows = src.rows();
    let consecutive = bands.windows(2).all(|w| w[0].end == w[1].start);
    let covering = bands.first().is_some_and(|b| b.start == 0)
        && bands.last().is_some_and(|b| b.end == rows)
        && bands.iter().all(|b| !b.is_empty());
    assert!(
        consecutive && (covering || rows == 0),
        "bands {bands:?} do not split {rows} rows"
    );
    let mut out = src.clone();
    let widening = runs::Widening::detect();
    if dilate {
        morph_in_bands::<Dilate>(&mut out, radius, bands, widening);
    } else {
        morph_in_bands::<Erode>(&mut out, radius, bands, widening);
    }
    out
}

/// [`open_disk`] in place. Scratch memory besides `mask`, per erosion and dilation: the
/// run method keeps 3 buffers of `max(6r, 32 + 2r)` guarded rows and 2 of
/// `max(4r, 32)` rows (up to 10 and 2 with the fan-out passes of AVX-512 VBMI2),
/// whatever the image's height, and copies of the `r` rows around each band when split
/// across threads; the distance method, one bit-packed copy of the image and a few rows.
///
/// ```
/// use anomaly_postprocess::bitmap::BitMatrix;
/// use anomaly_postprocess::morphology::{open_disk, open_disk_in_place};
/// let m = BitMatrix::from_fn(6, 6, |y, x| (y == 0 && x == 5) || (y >= 2 && y < 5 && x < 3));
/// let mut opened = m.clone();
/// open_disk_in_place(&mut opened, 1);
/// assert_eq!(opened, open_disk(&m, 1));
/// ```
pub fn open_disk_in_place(mask: &mut BitMatrix, radius: u64) {
    open_in_place(mask, radius, Method::Auto);
}

fn open_in_place(mask: &mut BitMatrix, radius: u64, method: Method) {
    // An empty mask erodes and dilates to itself: noise often erodes to nothing.
    let is_empty = |mask: &BitMatrix| mask.words().iter().all(|&w| w == 0);
    if is_empty(mask) {
        return;
    }
    erode_in_place(mask, radius, method);
    if !is_empty(mask) {
        dilate_in_place(mask, radius, method);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straight from the definition: the disk's offsets, pixels outside ignored.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Which {
        Erode,
        Dilate,
    }

    fn naive(src: &BitMatrix, radius: i64, op: Which) -> BitMatrix {
        let (rows, cols) = (src.rows() as i64, src.cols() as i64);
        // The disk's offsets that land in the image; the first pixel that decides the
        // result (background for erosion, foreground for dilation) ends the search.
        let decisive = op == Which::Dilate;
        BitMatrix::from_fn(src.rows(), src.cols(), |y, x| {
            let (y, x) = (y as i64, x as i64);
            for dy in (-radius).max(-y)..=radius.min(rows - 1 - y) {
                for dx in (-radius).max(-x)..=radius.min(cols - 1 - x) {
                    if dy * dy + dx * dx <= radius * radius
                        && src.get((y + dy) as usize, (x + dx) as usize) == decisive
                    {
                        return decisive;
                    }
                }
            }
            !decisive
        })
    }

    /// A small deterministic generator, so tests need no dependency.
    fn random_matrix(rows: usize, cols: usize, seed: u64, density: u64) -> BitMatrix {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        BitMatrix::from_fn(rows, cols, |_, _| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % 100 < density
        })
    }

    /// A smooth random mask: random values on a grid `scale` pixels apart, interpolated
    /// bilinearly and thresholded at the middle (blobs about `scale` pixels across).
    fn smooth_matrix(rows: usize, cols: usize, seed: u64, scale: usize) -> BitMatrix {
        let (gy, gx) = (rows / scale + 2, cols / scale + 2);
        let noise = random_matrix(gy, gx * 8, seed, 50);
        let value = |y: usize, x: usize| -> f64 {
            (0..8)
                .map(|b| f64::from(u8::from(noise.get(y, x * 8 + b))) * f64::from(1u8 << b))
                .sum()
        };
        BitMatrix::from_fn(rows, cols, |y, x| {
            let (fy, fx) = (y as f64 / scale as f64, x as f64 / scale as f64);
            let (y0, x0) = (fy as usize, fx as usize);
            let (ty, tx) = (fy - y0 as f64, fx - x0 as f64);
            let top = value(y0, x0) * (1.0 - tx) + value(y0, x0 + 1) * tx;
            let bottom = value(y0 + 1, x0) * (1.0 - tx) + value(y0 + 1, x0 + 1) * tx;
            top * (1.0 - ty) + bottom * ty > 127.5
        })
    }

    /// The run method's erosion or dilation on given bands of rows, by both widening
    /// loops (the hand-written one where this CPU has it, else the portable one twice):
    /// asserts that they agree and returns the result.
    fn by_bands(m: &BitMatrix, r: u64, op: Which, bands: &[std::ops::Range<usize>]) -> BitMatrix {
        let by = |widening| {
            let mut out = m.clone();
            match op {
                Which::Erode => morph_in_bands::<Erode>(&mut out, r, bands, widening),
                Which::Dilate => morph_in_bands::<Dilate>(&mut out, r, bands, widening),
            }
            out
        };
        let portable = by(runs::Widening::Steps);
        let detected = runs::Widening::detect();
        if detected != runs::Widening::Steps {
            assert_eq!(
                by(detected),
                portable,
                "{}x{} r {r} {op:?} {bands:?}: {detected:?} vs Steps",
                m.rows(),
                m.cols()
            );
        }
        portable
    }

    /// Splits of `rows` rows into bands: even ones of 1, 2, 3 and 7 bands, one of a
    /// single row first, and bands of one row each (thinner than any disk's reach).
    fn splits(rows: usize) -> Vec<Vec<std::ops::Range<usize>>> {
        let mut splits: Vec<Vec<_>> = [1, 2, 3, 7]
            .into_iter()
            .filter(|&k| k <= rows)
            .map(|k| crate::parallel::band_rows(rows, k))
            .collect();
        if rows > 1 {
            splits.push(vec![0..1, 1..rows]);
            splits.push(
                (0..rows)
                    .map(|y| y..y + 1)
                    .take(if cfg!(miri) { 4 } else { 64 })
                    .collect(),
            );
            // (`take` keeps the list short for tall images; close it with the rest.)
            let last = splits.last_mut().expect("just pushed");
            let end = last.last().expect("rows > 1").end;
            if end < rows {
                last.push(end..rows);
            }
        }
        splits
    }

    #[test]
    fn bands_match_the_definition_for_every_radius_up_to_40() {
        // Odd shapes, one row, one column; noise of two densities and smooth blobs.
        let shapes: &[(usize, usize)] = if cfg!(miri) {
            &[(1, 5), (5, 1), (7, 66)]
        } else {
            &[
                (1, 1),
                (1, 67),
                (67, 1),
                (2, 5),
                (13, 29),
                (19, 65),
                (31, 70),
            ]
        };
        let radii: Vec<u64> = if cfg!(miri) {
            vec![1, 3]
        } else {
            (0..=40).collect()
        };
        for (i, &(rows, cols)) in shapes.iter().enumerate() {
            let masks = [
                random_matrix(rows, cols, 7 + i as u64, 50),
                smooth_matrix(rows, cols, 11 + i as u64, 6),
                random_matrix(rows, cols, 9 + i as u64, 93),
            ];
            // Under Miri (seconds a call) noise and blobs only.
            let masks = if cfg!(miri) { &masks[..2] } else { &masks[..] };
            for (k, m) in masks.iter().enumerate() {
                for &r in &radii {
                    for op in [Which::Erode, Which::Dilate] {
                        let expected = naive(m, r as i64, op);
                        for bands in splits(rows) {
                            assert_eq!(
                                by_bands(m, r, op, &bands),
                                expected,
                                "{rows}x{cols} mask {k} r {r} {op:?} bands {bands:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn fan_out_passes_match_the_steps() {
        // Without AVX-512 VBMI2 both sides would run the portable steps: say that the
        // test could not compare them.
        if runs::Widening::detect() == runs::Widening::Steps {
            // Straight to stderr, which the harness does not capture (as `simd` does).
            use std::io::Write;
            let why = if cfg!(miri) {
                "Miri reports no AVX-512 VBMI2 and runs the portable code"
            } else {
                "CPU lacks AVX-512 VBMI2 (or the hand-written loops are off)"
            };
            let line =
                format!("skipped: morphology::tests::fan_out_passes_match_the_steps: {why}\n");
            let _ = std::io::stderr().write_all(line.as_bytes());
            return;
        }
        // Every radius whose runs fit in a word (the fan-out's range) and the first ones
        // past it, on widths around word boundaries; noise, smooth and sparse content.
        for (i, (rows, cols)) in [(70, 63), (90, 64), (75, 65), (80, 200), (129, 130)]
            .into_iter()
            .enumerate()
        {
            let masks = [
                random_matrix(rows, cols, 31 + i as u64, 55),
                random_matrix(rows, cols, 33 + i as u64, 97),
                random_matrix(rows, cols, 35 + i as u64, 4),
                smooth_matrix(rows, cols, 37 + i as u64, 9),
            ];
            for m in &masks {
                for r in (1..=66).chain([80, 100]) {
                    for op in [Which::Erode, Which::Dilate] {
                        by_bands(m, r, op, &crate::parallel::band_rows(rows, 1));
                    }
                }
            }
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "images of 300 rows in many splits: hours under Miri")]
    fn bands_of_larger_images_match_the_whole_image() {
        // Strips inside bands, bands thinner than a strip, smooth and noisy content.
        for (i, (rows, cols)) in [(300, 130), (257, 263), (129, 1)].into_iter().enumerate() {
            let masks = [
                random_matrix(rows, cols, 21 + i as u64, 70),
                smooth_matrix(rows, cols, 23 + i as u64, 12),
                smooth_matrix(rows, cols, 25 + i as u64, 4),
            ];
            for m in &masks {
                for r in [1, 2, 4, 7, 16, 24, 40, 70] {
                    for op in [Which::Erode, Which::Dilate] {
                        let whole = by_bands(m, r, op, &crate::parallel::band_rows(rows, 1));
                        for bands in splits(rows) {
                            assert_eq!(
                                by_bands(m, r, op, &bands),
                                whole,
                                "{rows}x{cols} r {r} {op:?} {bands:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn disk_half_widths_match_skimage_disk() {
        // skimage.morphology.disk(4) row half-widths, centre row first.
        assert_eq!(disk_half_widths(4, 100, 100), vec![4, 3, 3, 2, 0]);
        assert_eq!(disk_half_widths(1, 100, 100), vec![1, 0]);
        assert_eq!(disk_half_widths(4, 2, 3), vec![2, 2]);
    }

    #[test]
    fn erosion_and_dilation_match_the_definition() {
        let sizes = [
            (1, 1),
            (1, 9),
            (9, 1),
            (3, 64),
            (7, 65),
            (13, 130),
            (20, 200),
            (64, 63),
            // Taller than one strip (at least 64 rows), so strips hand rows on.
            (200, 65),
            (300, 9),
        ];
        // Under Miri, where the definition takes seconds an image, small sizes and
        // radii (the empty disk, the cross, a disk, one covering the image).
        let sizes = if cfg!(miri) { &sizes[..5] } else { &sizes[..] };
        let radii: &[i64] = if cfg!(miri) {
            &[0, 1, 3, 70]
        } else {
            &[0, 1, 2, 3, 4, 5, 7, 10, 16, 33, 70]
        };
        for (i, &(rows, cols)) in sizes.iter().enumerate() {
            for density in [30, 85, 97] {
                let m = random_matrix(rows, cols, i as u64 * 31 + density, density);
                for &r in radii {
                    assert_eq!(
                        erode_disk(&m, r as u64),
                        naive(&m, r, Which::Erode),
                        "{rows}x{cols} density {density} r {r} erode"
                    );
                    assert_eq!(
                        dilate_disk(&m, r as u64),
                        naive(&m, r, Which::Dilate),
                        "{rows}x{cols} density {density} r {r} dilate"
                    );
                }
            }
        }
    }

    #[test]
    fn huge_radius_is_all_or_nothing() {
        let full = BitMatrix::from_fn(5, 70, |_, _| true);
        assert_eq!(open_disk(&full, u64::MAX), full);
        let almost = BitMatrix::from_fn(5, 70, |y, x| !(y == 4 && x == 69));
        assert_eq!(erode_disk(&almost, 1 << 40).count_ones(), 0);
        assert_eq!(dilate_disk(&almost, u64::MAX).count_ones(), 5 * 70);
    }

    #[test]
    fn padding_bits_stay_zero() {
        let m = random_matrix(9, 70, 5, 60);
        for r in [1, 3, 9] {
            let d = dilate_disk(&m, r);
            for y in 0..9 {
                assert_eq!(d.row(y)[1] & !d.last_word_mask(), 0);
            }
        }
    }

    #[test]
    fn width_groups_cover_every_row_offset() {
        for r in 0..if cfg!(miri) { 64 } else { 200u64 } {
            let widths = disk_half_widths(r, 1000, 1000);
            let groups = width_groups(&widths);
            // Narrowest first, strictly widening, and every d in exactly one group.
            let mut d_next = widths.len();
            for pair in groups.windows(2) {
                assert!(pair[0].width < pair[1].width, "r {r}");
            }
            for g in &groups {
                assert_eq!(g.d_max + 1, d_next, "r {r}");
                d_next = g.d_min;
                assert!((g.d_min..=g.d_max).all(|d| widths[d] == g.width), "r {r}");
            }
            assert_eq!(d_next, 0, "r {r}");
        }
    }

    #[test]
    fn widening_steps_keep_windows_contiguous_and_land_on_every_width() {
        for r in 0..if cfg!(miri) { 64 } else { 300u64 } {
            let widths = disk_half_widths(r, 1000, 1000);
            let mut width = 0;
            for g in width_groups(&widths) {
                while width < g.width {
                    let (a, centre) = widening_step(width, g.width);
                    assert!(a >= 1 && width + a <= g.width, "r {r}");
                    // Two windows touch when a ≤ b; the middle one bridges up to 2b + 1.
                    assert!(
                        if centre {
                            a <= 2 * width + 1
                        } else {
                            a <= width
                        },
                        "r {r}"
                    );
                    width += a;
                }
                assert_eq!(width, g.width, "r {r}");
            }
        }
    }

    fn check_all(m: &BitMatrix, radii: &[i64], what: &str) {
        for &r in radii {
            assert_eq!(
                erode_disk(m, r as u64),
                naive(m, r, Which::Erode),
                "{what} {}x{} r {r} erode",
                m.rows(),
                m.cols()
            );
            assert_eq!(
                dilate_disk(m, r as u64),
                naive(m, r, Which::Dilate),
                "{what} {}x{} r {r} dilate",
                m.rows(),
                m.cols()
            );
        }
    }

    #[test]
    fn uniform_images_and_the_early_exits() {
        // An image of one value is its own erosion and dilation, whatever the radius.
        let sizes = [(1, 1), (2, 3), (70, 64), (130, 129), (300, 65)];
        // Under Miri (minutes past these) the sizes up to two strips.
        let sizes = if cfg!(miri) { &sizes[..3] } else { &sizes[..] };
        for &(rows, cols) in sizes {
            for value in [false, true] {
                let m = BitMatrix::from_fn(rows, cols, |_, _| value);
                for r in (0..=12).chain([16, 31, 32, 33, 63, 64, 65, 70, 500]) {
                    assert_eq!(erode_disk(&m, r), m, "{rows}x{cols} {value} r {r} erode");
                    assert_eq!(dilate_disk(&m, r), m, "{rows}x{cols} {value} r {r} dilate");
                }
            }
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "images of 300 rows against the definition: hours under Miri"
    )]
    fn sparse_features_across_strips_and_words() {
        // Mostly empty or mostly full images: whole strips take an early exit while
        // their neighbours do not, features sit on strip and word boundaries.
        let cases: [(usize, usize, &[i64]); 4] = [
            (300, 130, &[0, 1, 2, 3, 4, 5, 6, 16, 17]),
            (150, 193, &[1, 2, 3, 7, 16]),
            (129, 1, &[1, 4, 16, 40, 70]),
            (200, 64, &[24, 40, 70]),
        ];
        for (rows, cols, radii) in cases {
            for invert in [false, true] {
                for (k, (cy, cx)) in [(63, 63), (64, 64), (127, 0), (199, 128), (0, 129)]
                    .into_iter()
                    .enumerate()
                {
                    // A disk of radius 2 + 5k around (cy, cx), plus a single pixel.
                    let (cy, cx) = (cy % rows, cx % cols);
                    let rb = 2 + 5 * k;
                    let m = BitMatrix::from_fn(rows, cols, |y, x| {
                        let (dy, dx) = (y.abs_diff(cy), x.abs_diff(cx));
                        let inside = dy * dy + dx * dx <= rb * rb || (y, x) == (rows / 2, 5);
                        inside != invert
                    });
                    check_all(&m, radii, "blob");
                }
            }
        }
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "every radius up to 70 against the definition: hours under Miri"
    )]
    fn noise_with_every_radius_up_to_70() {
        // Dense noise: erosion settles to all zero within a few run widths.
        let radii: Vec<i64> = (0..=70).collect();
        for (i, (rows, cols, density)) in [(90, 130, 50), (140, 66, 97), (75, 200, 3)]
            .into_iter()
            .enumerate()
        {
            let m = random_matrix(rows, cols, 101 + i as u64, density);
            check_all(&m, &radii, "noise");
        }
    }
}
