//! Binary erosion, dilation and opening with a disk, on bit-packed rows (SPEC §3 step 2).
//!
//! The footprint is scikit-image's `disk(r)`: `{(dy, dx) : dy² + dx² ≤ r²}`. A disk is a
//! stack of horizontal runs: row offset `dy` holds `|dx| ≤ w(|dy|)` with
//! `w(d) = ⌊√(r² − d²)⌋`. So an erosion is, for every `d`, a horizontal erosion of the
//! image by a run of half-width `w(d)`, shifted up and down by `d` and ANDed into the
//! result (dilation: OR). The horizontal runs are grown from narrow to wide, one pixel
//! a side at a time, and each is used for the row offsets that need it, so the cost is
//! O(r · H · W / 64) word operations.
//!
//! Pixels outside the image are ignored, which is OpenCV's default border for
//! `morphologyEx`: erosion sees them as foreground, dilation as background.

use multiversion::multiversion;

use crate::bitmap::BitMatrix;

/// Erosion or dilation: how words combine and what lies outside the image.
trait Op: Copy {
    /// The value of pixels outside the image, which leaves a combination unchanged.
    const OUTSIDE: u64;
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

/// Appends row `row` to a flat buffer of guarded rows: `guard` words of outside pixels,
/// the row (its padding bits set to outside), `guard` words of outside pixels. Shifts by
/// up to `64 · (guard − 1)` pixels then need no bounds checks, and every pass over a
/// strip of rows is one long loop.
fn push_guarded<O: Op>(buffer: &mut Vec<u64>, row: &[u64], guard: usize, pad: u64) {
    let start = buffer.len();
    buffer.resize(start + row.len() + 2 * guard, O::OUTSIDE);
    let inner = &mut buffer[start + guard..start + guard + row.len()];
    inner.copy_from_slice(row);
    if let Some(last) = inner.last_mut() {
        *last = (*last & !pad) | (O::OUTSIDE & pad);
    }
}

/// `runs[i] = combine(runs[i], source shifted by +k, source shifted by −k)` over the
/// whole plane but its outermost guards, where "shifted by +k" puts the source's pixel
/// `x + k` at `x`. Guard words of `runs` get meaningless values, which are never read
/// back into inner words.
#[inline(always)]
fn widen_runs<O: Op>(runs: &mut [u64], source: &[u64], guard: usize, k: usize) {
    let (q, s) = (k / 64, (k % 64) as u32);
    debug_assert!(q < guard);
    let n = runs.len() - 2 * guard;
    let runs = &mut runs[guard..guard + n];
    // Word j of the runs sits at source word j; these are source words j + q, j + q + 1,
    // j − q and j − q − 1, as slices zipped below so that the loop has no bounds checks.
    let ahead = &source[guard + q..guard + q + n];
    let ahead_next = &source[guard + q + 1..guard + q + 1 + n];
    let behind = &source[guard - q..guard - q + n];
    let behind_prev = &source[guard - q - 1..guard - q - 1 + n];
    let words = runs
        .iter_mut()
        .zip(ahead.iter().zip(ahead_next))
        .zip(behind.iter().zip(behind_prev));
    if s == 0 {
        for ((w, (&a, _)), (&b, _)) in words {
            *w = O::combine(*w, O::combine(a, b));
        }
    } else {
        for ((w, (&a, &a_next)), (&b, &b_prev)) in words {
            let right = (a >> s) | (a_next << (64 - s));
            let left = (b << s) | (b_prev >> (64 - s));
            *w = O::combine(*w, O::combine(right, left));
        }
    }
}

#[inline(always)]
fn combine_into<O: Op>(acc: &mut [u64], other: &[u64]) {
    for (a, &b) in acc.iter_mut().zip(other) {
        *a = O::combine(*a, b);
    }
}

/// Erosion or dilation of `mask` by `disk(radius)` in place, pixels outside ignored.
///
/// Works strip by strip of output rows; each strip reads the `reach` rows around it,
/// so the original content of the rows just above the next strip is kept aside before
/// they are overwritten. Extra memory: a few strips, whatever the image size.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
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
    let reach = half_widths.len() - 1; // rows above and below that the disk reaches
    let guard = half_widths[0] / 64 + 1; // the centre row's run is the widest
    let wpr = mask.words_per_row();
    let stride = wpr + 2 * guard;
    let pad = !mask.last_word_mask();
    // Strips of output rows, each with the `reach` rows around it, keep every pass in
    // L1/L2 cache; the runs of those extra rows are computed twice, a small price.
    let strip = (2 * reach).max(64);
    let mut source = Vec::with_capacity((strip + 2 * reach) * stride);
    let mut runs = Vec::with_capacity(source.capacity());
    let mut acc = vec![O::OUTSIDE; strip * stride];
    // Original rows [kept_from, first) of the rows already overwritten.
    let mut kept: Vec<u64> = Vec::with_capacity(reach * wpr);
    let mut kept_from = 0;
    for first in (0..rows).step_by(strip) {
        let end = (first + strip).min(rows);
        let (lo, hi) = (first.saturating_sub(reach), (end + reach).min(rows));
        source.clear();
        for y in lo..hi {
            let row = if y < first {
                &kept[(y - kept_from) * wpr..(y - kept_from + 1) * wpr]
            } else {
                mask.row(y)
            };
            push_guarded::<O>(&mut source, row, guard, pad);
        }
        // `runs` holds, per row, the horizontal erosion/dilation by a run of half-width
        // `run_width`, grown one pixel a side at a time from the source.
        runs.clear();
        runs.extend_from_slice(&source);
        let mut run_width = 0usize;
        let acc = &mut acc[..(end - first) * stride];
        acc.fill(O::OUTSIDE);
        // From the widest row offset to the centre, half-widths only grow.
        for d in (0..=reach).rev() {
            while run_width < half_widths[d] {
                run_width += 1;
                widen_runs::<O>(&mut runs, &source, guard, run_width);
            }
            // Output row y takes the runs of rows y + d and y − d where they exist;
            // rows outside the image would leave it unchanged.
            let below = (end - first).min(rows.saturating_sub(first + d));
            if below > 0 {
                let from = (first + d - lo) * stride;
                combine_into::<O>(
                    &mut acc[..below * stride],
                    &runs[from..from + below * stride],
                );
            }
            let skip = d.saturating_sub(first); // output rows with no row y − d
            if d > 0 && skip < end - first {
                let from = (first + skip - d - lo) * stride;
                let len = (end - first - skip) * stride;
                combine_into::<O>(&mut acc[skip * stride..], &runs[from..from + len]);
            }
        }
        // The next strip reads original rows from `end − reach` on: keep them.
        kept_from = end.saturating_sub(reach).max(first);
        kept.clear();
        for y in kept_from..end {
            kept.extend_from_slice(mask.row(y));
        }
        let keep = !pad;
        for (y, row) in acc.chunks_exact(stride).enumerate() {
            let dst = mask.row_mut(first + y);
            dst.copy_from_slice(&row[guard..guard + wpr]);
            dst[wpr - 1] &= keep;
        }
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
    morph_in_place::<Erode>(&mut out, radius);
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
    morph_in_place::<Dilate>(&mut out, radius);
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
    let mut out = src.clone();
    open_disk_in_place(&mut out, radius);
    out
}

/// [`open_disk`] in place: no image-sized memory besides `mask` itself.
pub fn open_disk_in_place(mask: &mut BitMatrix, radius: u64) {
    morph_in_place::<Erode>(mask, radius);
    morph_in_place::<Dilate>(mask, radius);
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
        BitMatrix::from_fn(src.rows(), src.cols(), |y, x| {
            let mut acc = op == Which::Erode;
            for dy in -radius..=radius {
                for dx in -radius..=radius {
                    if dy * dy + dx * dx > radius * radius {
                        continue;
                    }
                    let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                    if yy < 0 || xx < 0 || yy >= rows || xx >= cols {
                        continue;
                    }
                    let v = src.get(yy as usize, xx as usize);
                    acc = match op {
                        Which::Erode => acc && v,
                        Which::Dilate => acc || v,
                    };
                }
            }
            acc
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
        for (i, &(rows, cols)) in sizes.iter().enumerate() {
            for density in [30, 85, 97] {
                let m = random_matrix(rows, cols, i as u64 * 31 + density, density);
                for r in [0i64, 1, 2, 3, 4, 5, 7, 10, 16, 33, 70] {
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
}
