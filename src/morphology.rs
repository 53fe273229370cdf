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
//!   that wide: the wide runs serve only the rows near the centre.
//! - All row offsets that share a half-width are combined in one pass, up to four rows
//!   at a time.
//! - The image is processed in strips of rows, each with the `r` rows around it, so
//!   that every pass stays in cache; consecutive strips share those rows.
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
use crate::simd::multiversioned;

mod distance;

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

/// Copies `row` into the inner words of a guarded row, its padding bits set to outside
/// pixels; returns whether the row is all outside pixels.
#[inline(always)]
fn load_row<O: Op>(inner: &mut [u64], row: &[u64], pad: u64) -> bool {
    let (last, body) = inner.split_last_mut().expect("rows have at least one word");
    // Copied word by word rather than by `memcpy`, whose stores the test would wait on.
    let mut diff = 0;
    for (dst, &word) in body.iter_mut().zip(row) {
        *dst = word;
        diff |= word ^ O::OUTSIDE;
    }
    *last = (row[row.len() - 1] & !pad) | (O::OUTSIDE & pad);
    diff | (*last ^ O::OUTSIDE) == 0
}

/// `out[k] = inp[k + a] ∘ inp[k − a]` (bit positions; with `centre`, also `∘ inp[k]`)
/// for every word `k` in `range`. Reads up to `a / 64 + 1` words either side of it.
#[inline(always)]
fn shift_step<O: Op, const CENTRE: bool>(
    out: &mut [u64],
    inp: &[u64],
    range: std::ops::Range<usize>,
    a: usize,
) {
    let (q, s) = (a / 64, (a % 64) as u32);
    let (start, n) = (range.start, range.len());
    let out = &mut out[range];
    let here = &inp[start..start + n];
    let ahead = &inp[start + q..start + q + n];
    let behind = &inp[start - q..start - q + n];
    if s == 0 {
        let words = out.iter_mut().zip(here).zip(ahead.iter().zip(behind));
        for ((o, &h), (&r, &l)) in words {
            let v = O::combine(r, l);
            *o = if CENTRE { O::combine(v, h) } else { v };
        }
        return;
    }
    let ahead_next = &inp[start + q + 1..start + q + 1 + n];
    let behind_prev = &inp[start - q - 1..start - q - 1 + n];
    let words = out
        .iter_mut()
        .zip(here)
        .zip(ahead.iter().zip(ahead_next))
        .zip(behind.iter().zip(behind_prev));
    for (((o, &h), (&r, &r_next)), (&l, &l_prev)) in words {
        let right = (r >> s) | (r_next << (64 - s));
        let left = (l << s) | (l_prev >> (64 - s));
        let v = O::combine(right, left);
        *o = if CENTRE { O::combine(v, h) } else { v };
    }
}

/// `acc[k] = acc[k] ∘ terms[0][k] ∘ …` for one, two or four terms; returns whether
/// `acc` is now all absorbing words (then no further term can change it).
#[inline(always)]
fn combine_terms<O: Op>(acc: &mut [u64], terms: &[&[u64]]) -> bool {
    let n = acc.len();
    let mut diff = 0;
    match *terms {
        [t0] => {
            for (a, &b0) in acc.iter_mut().zip(&t0[..n]) {
                let v = O::combine(*a, b0);
                *a = v;
                diff |= v ^ O::ABSORBING;
            }
        }
        [t0, t1] => {
            for (a, (&b0, &b1)) in acc.iter_mut().zip(t0[..n].iter().zip(&t1[..n])) {
                let v = O::combine(*a, O::combine(b0, b1));
                *a = v;
                diff |= v ^ O::ABSORBING;
            }
        }
        [t0, t1, t2, t3] => {
            let pairs = t0[..n].iter().zip(&t1[..n]);
            let more = t2[..n].iter().zip(&t3[..n]);
            for (a, ((&b0, &b1), (&b2, &b3))) in acc.iter_mut().zip(pairs.zip(more)) {
                let v = O::combine(O::combine(*a, O::combine(b0, b1)), O::combine(b2, b3));
                *a = v;
                diff |= v ^ O::ABSORBING;
            }
        }
        _ => unreachable!("one, two or four terms"),
    }
    diff == 0
}

multiversioned! {
    /// Erosion or dilation of `mask` by `disk(radius)` in place, pixels outside ignored.
    ///
    /// Works strip by strip of output rows; each strip reads the `reach` rows around it
    /// into its own buffer, and hands the last `2 · reach` of them, still as they were
    /// before the strip wrote its output, to the next strip. Extra memory: a few strips,
    /// whatever the image size.
    fn morph_in_place<O: Op>(mask: &mut BitMatrix, radius: u64) {
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
        let half_widths = disk_half_widths(radius, rows, cols);
        let groups = width_groups(&half_widths);
        // Rows above and below that the disk reaches.
        let reach = half_widths.len() - 1;
        // The centre row's run is the widest: a guard that wide keeps every run's window
        // inside its own row's guards, and also bounds every shift.
        let guard = half_widths[0] / 64 + 1;
        let wpr = mask.words_per_row();
        let stride = wpr + 2 * guard;
        let pad = !mask.last_word_mask();
        let keep = !pad;
        // Strips of output rows, each with the `reach` rows around it, keep every pass in
        // L1/L2 cache. Only the narrow runs are needed that far out, so the overlap costs
        // little; short strips also take the early exits below more often (measured: 32
        // to 64 rows beat 128).
        let strip = (4 * reach).max(32).min(rows);
        // Row buffers: `guard` spare words, then guarded rows `first − reach .. end + reach`
        // (outside pixels for rows outside the image), then `guard` spare words, so that
        // shifted reads of any row stay in the buffer. Guards of `source` are never written.
        let capacity = (strip + 2 * reach) * stride + 2 * guard;
        // Buffer row i (image row first − reach + i) starts at its leading guard here.
        let row_start = |i: usize| guard + i * stride;
        let mut source = vec![O::OUTSIDE; capacity];
        let mut source_outside = vec![false; strip + 2 * reach]; // per buffer row
        let mut runs = vec![O::OUTSIDE; capacity];
        let mut next_runs = vec![O::OUTSIDE; capacity];
        // Which bits of `acc` are pixels: guards and padding bits of `acc` start absorbing,
        // so that they stay so and the early exit test is one test over the whole buffer.
        let mut pixels = vec![0; strip * stride];
        for row in pixels.chunks_exact_mut(stride) {
            row[guard..guard + wpr].fill(u64::MAX);
            row[guard + wpr - 1] = keep;
        }
        let mut acc = vec![O::OUTSIDE; strip * stride];
        let mut carried = 0; // buffer rows already loaded by the previous strip
        for first in (0..rows).step_by(strip) {
            let end = (first + strip).min(rows);
            let n = end - first;
            for i in carried..n + 2 * reach {
                let y = (first + i).wrapping_sub(reach);
                let inner = &mut source[row_start(i) + guard..row_start(i) + guard + wpr];
                source_outside[i] = if y < rows {
                    load_row::<O>(inner, mask.row(y), pad)
                } else {
                    inner.fill(O::OUTSIDE);
                    true
                };
            }
            let rows_out = &mut mask.words_mut()[first * wpr..end * wpr];
            let mut settled = None; // the value of every output word, once known
            if source_outside[..n + 2 * reach].iter().all(|&o| o) {
                // Nothing but outside pixels in reach: the result is outside pixels too.
                settled = Some(O::OUTSIDE);
            } else {
                // The centre rows themselves are part of the disk.
                let acc = &mut acc[..n * stride];
                let centre = &source[row_start(reach)..row_start(reach + n)];
                let mut diff = 0;
                for ((a, &c), &m) in acc.iter_mut().zip(centre).zip(&pixels) {
                    *a = (c & m) | (O::ABSORBING & !m);
                    diff |= *a ^ O::ABSORBING;
                }
                let mut done = diff == 0;
                let mut width = 0;
                for group in &groups {
                    if done {
                        break;
                    }
                    // Only rows within `d_max` of the strip still need runs this wide. Each
                    // step computes whole guarded rows as if the buffer were one long row;
                    // a run value that reads a stale row or another row's guards is never
                    // read back for the pixels of its own row, whose windows (at most
                    // `half_widths[0]` pixels either side) end inside their own guards.
                    let needed = row_start(reach - group.d_max)..row_start(reach + n + group.d_max);
                    while width < group.width {
                        let (a, centre) = widening_step(width, group.width);
                        let from = if width == 0 { &source } else { &runs };
                        if centre {
                            shift_step::<O, true>(&mut next_runs, from, needed.clone(), a);
                        } else {
                            shift_step::<O, false>(&mut next_runs, from, needed.clone(), a);
                        }
                        std::mem::swap(&mut runs, &mut next_runs);
                        width += a;
                    }
                    let current = if width == 0 { &source } else { &runs };
                    let term = |row: usize| &current[row_start(row)..row_start(row + n)];
                    // Output row i takes rows i ± d for every d of the group, several per pass.
                    let mut d = group.d_min;
                    while d <= group.d_max && !done {
                        done = if d == 0 {
                            combine_terms::<O>(acc, &[term(reach)])
                        } else if d < group.d_max {
                            d += 1;
                            combine_terms::<O>(
                                acc,
                                &[
                                    term(reach + d - 1),
                                    term(reach - d + 1),
                                    term(reach + d),
                                    term(reach - d),
                                ],
                            )
                        } else {
                            combine_terms::<O>(acc, &[term(reach + d), term(reach - d)])
                        };
                        d += 1;
                    }
                }
                if done {
                    settled = Some(O::ABSORBING);
                } else {
                    for (dst, row) in rows_out.chunks_exact_mut(wpr).zip(acc.chunks_exact(stride)) {
                        dst.copy_from_slice(&row[guard..guard + wpr]);
                        dst[wpr - 1] &= keep;
                    }
                }
            }
            if let Some(word) = settled {
                rows_out.fill(word);
                for dst in rows_out.chunks_exact_mut(wpr) {
                    dst[wpr - 1] &= keep;
                }
            }
            // The next strip's first rows are this one's last, as read before it wrote.
            if end < rows {
                let (from, to) = (row_start(n), row_start(n + 2 * reach));
                source.copy_within(from..to, row_start(0));
                source_outside.copy_within(n..n + 2 * reach, 0);
                carried = 2 * reach;
            }
        }
    }
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

/// [`open_disk`] in place. Scratch memory besides `mask`: the run method keeps a few
/// strips of up to about `6r` rows (cache-sized for the small disks it is chosen for);
/// the distance method, one bit-packed copy of the image and a few rows.
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
