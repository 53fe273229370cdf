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

/// Appends `row` to a flat buffer of guarded rows: `guard` words of outside pixels,
/// the row (its padding bits set to outside), `guard` words of outside pixels. Returns
/// whether the row is all outside pixels.
fn push_guarded<O: Op>(buffer: &mut Vec<u64>, row: &[u64], guard: usize, pad: u64) -> bool {
    let start = buffer.len();
    buffer.resize(start + row.len() + 2 * guard, O::OUTSIDE);
    let inner = &mut buffer[start + guard..start + guard + row.len()];
    inner.copy_from_slice(row);
    if let Some(last) = inner.last_mut() {
        *last = (*last & !pad) | (O::OUTSIDE & pad);
    }
    inner.iter().fold(0, |diff, &w| diff | (w ^ O::OUTSIDE)) == 0
}

/// `out[k] = inp[k + a] ∘ inp[k − a]` (bit positions; with `centre`, also `∘ inp[k]`)
/// for every word `k` in `range`. Reads up to `a / 64 + 1` words either side of it.
#[inline(always)]
fn shift_step<O: Op>(
    out: &mut [u64],
    inp: &[u64],
    range: std::ops::Range<usize>,
    a: usize,
    centre: bool,
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
            *o = if centre { O::combine(v, h) } else { v };
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
        *o = if centre { O::combine(v, h) } else { v };
    }
}

/// `acc[k] = acc[k] ∘ terms[0][k] ∘ …`; returns whether `acc` is now all absorbing
/// words (then no further term can change it).
#[inline(always)]
fn combine_terms<O: Op, const T: usize>(acc: &mut [u64], terms: [&[u64]; T]) -> bool {
    let n = acc.len();
    let terms = terms.map(|t| &t[..n]);
    let mut diff = 0;
    for (k, a) in acc.iter_mut().enumerate() {
        let mut v = *a;
        for t in &terms {
            v = O::combine(v, t[k]);
        }
        *a = v;
        diff |= v ^ O::ABSORBING;
    }
    diff == 0
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
    let groups = width_groups(&half_widths);
    let reach = half_widths.len() - 1; // rows above and below that the disk reaches
    // The centre row's run is the widest: a guard that wide keeps every run's window
    // inside its own row's guards, and also bounds every shift.
    let guard = half_widths[0] / 64 + 1;
    let wpr = mask.words_per_row();
    let stride = wpr + 2 * guard;
    let pad = !mask.last_word_mask();
    let keep = !pad;
    // Strips of output rows, each with the `reach` rows around it, keep every pass in
    // L1/L2 cache. Only the narrow runs are needed that far out, so the overlap costs
    // little.
    let strip = (2 * reach).max(64).min(rows);
    // Row buffers: `guard` spare words, then guarded rows `first − reach .. end + reach`
    // (outside pixels for rows outside the image), then `guard` spare words, so that
    // shifted reads of any row stay in the buffer.
    let capacity = (strip + 2 * reach) * stride + 2 * guard;
    let mut source = Vec::with_capacity(capacity);
    let mut runs = vec![O::OUTSIDE; capacity];
    let mut next_runs = vec![O::OUTSIDE; capacity];
    let mut acc = vec![O::OUTSIDE; strip * stride];
    let outside_row = vec![O::OUTSIDE; wpr];
    // Original rows [kept_from, first) of the rows already overwritten.
    let mut kept: Vec<u64> = Vec::with_capacity(reach * wpr);
    let mut kept_from = 0;
    for first in (0..rows).step_by(strip) {
        let end = (first + strip).min(rows);
        let n = end - first;
        source.clear();
        source.resize(guard, O::OUTSIDE);
        let mut all_outside = true;
        for y in first as isize - reach as isize..(end + reach) as isize {
            let row = if y < 0 || y >= rows as isize {
                &outside_row[..]
            } else if (y as usize) < first {
                let i = y as usize - kept_from;
                &kept[i * wpr..(i + 1) * wpr]
            } else {
                mask.row(y as usize)
            };
            all_outside &= push_guarded::<O>(&mut source, row, guard, pad);
        }
        source.resize(source.len() + guard, O::OUTSIDE);
        // Row `first + i ± d` of the image is row `reach + i ± d` of the buffers.
        let row_start = |i: usize| guard + i * stride;
        // The next strip reads original rows from `end − reach` on: keep them.
        kept_from = end.saturating_sub(reach).max(first);
        kept.clear();
        for y in kept_from..end {
            kept.extend_from_slice(mask.row(y));
        }
        let acc = &mut acc[..n * stride];
        let mut settled = all_outside; // every output word is already known
        if all_outside {
            // Nothing but outside pixels in reach: the result is outside pixels too.
            acc.fill(O::OUTSIDE);
        } else {
            // The centre rows themselves are part of the disk. Guards and padding bits
            // of `acc` start absorbing, so that they stay so and the early exit test
            // below is one test over the whole buffer.
            acc.copy_from_slice(&source[row_start(reach)..row_start(reach + n)]);
            for row in acc.chunks_exact_mut(stride) {
                row[..guard].fill(O::ABSORBING);
                row[guard + wpr..].fill(O::ABSORBING);
                row[guard + wpr - 1] |= O::ABSORBING & pad;
            }
            settled = acc.iter().all(|&w| w == O::ABSORBING);
        }
        let mut width = 0;
        for group in &groups {
            if settled {
                break;
            }
            // Only rows within `d_max` of the strip still need runs this wide.
            let needed = row_start(reach - group.d_max)..row_start(reach + n + group.d_max);
            while width < group.width {
                let (a, centre) = widening_step(width, group.width);
                let from = if width == 0 { &source } else { &runs };
                shift_step::<O>(&mut next_runs, from, needed.clone(), a, centre);
                std::mem::swap(&mut runs, &mut next_runs);
                width += a;
            }
            let current = if width == 0 { &source } else { &runs };
            let term = |row: usize| &current[row_start(row)..row_start(row + n)];
            // Output row i takes rows i ± d for every d of the group, several per pass.
            let mut d = group.d_min;
            while d <= group.d_max && !settled {
                settled = if d == 0 {
                    combine_terms::<O, 1>(acc, [term(reach)])
                } else if d < group.d_max {
                    let pair = [term(reach + d), term(reach - d)];
                    let next = [term(reach + d + 1), term(reach - d - 1)];
                    d += 1;
                    combine_terms::<O, 4>(acc, [pair[0], pair[1], next[0], next[1]])
                } else {
                    combine_terms::<O, 2>(acc, [term(reach + d), term(reach - d)])
                };
                d += 1;
            }
        }
        if settled && !all_outside {
            acc.fill(O::ABSORBING);
        }
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
