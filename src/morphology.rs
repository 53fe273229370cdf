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

use crate::bitmap::BitMatrix;

/// Which of the two morphological operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Erode,
    Dilate,
}

impl Op {
    /// The value of a pixel outside the image, which leaves the result unchanged.
    fn outside(self) -> u64 {
        match self {
            Op::Erode => u64::MAX,
            Op::Dilate => 0,
        }
    }

    #[inline(always)]
    fn combine(self, a: u64, b: u64) -> u64 {
        match self {
            Op::Erode => a & b,
            Op::Dilate => a | b,
        }
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
            // rest < 2^128; its square root fits u64.
            let w = rest.isqrt();
            w.min(cols as u128 - 1) as usize
        })
        .collect()
}

/// Whether the disk centred on any pixel covers the whole image.
fn disk_covers_image(radius: u64, rows: usize, cols: usize) -> bool {
    let r2 = u128::from(radius) * u128::from(radius);
    let (h, w) = ((rows - 1) as u128, (cols - 1) as u128);
    r2 >= h * h + w * w
}

/// Word `i` of a row, or the outside value past either end.
#[inline(always)]
fn word_at(row: &[u64], i: isize, outside: u64) -> u64 {
    if i >= 0 && (i as usize) < row.len() {
        row[i as usize]
    } else {
        outside
    }
}

/// Word `j` of the row shifted so that pixel `x` holds the source's pixel `x + k`
/// (`toward_lower`) or `x − k`.
#[inline(always)]
fn shifted_word(row: &[u64], j: usize, k: usize, toward_lower: bool, outside: u64) -> u64 {
    let (q, s) = ((k / 64) as isize, (k % 64) as u32);
    let j = j as isize;
    if toward_lower {
        let lo = word_at(row, j + q, outside);
        if s == 0 {
            return lo;
        }
        let hi = word_at(row, j + q + 1, outside);
        (lo >> s) | (hi << (64 - s))
    } else {
        let hi = word_at(row, j - q, outside);
        if s == 0 {
            return hi;
        }
        let lo = word_at(row, j - q - 1, outside);
        (hi << s) | (lo >> (64 - s))
    }
}

/// Erosion or dilation of `src` by `disk(radius)`, pixels outside ignored.
fn morph(src: &BitMatrix, radius: u64, op: Op) -> BitMatrix {
    let (rows, cols) = (src.rows(), src.cols());
    let mut out = BitMatrix::zeros(rows, cols);
    if rows == 0 || cols == 0 {
        return out;
    }
    if disk_covers_image(radius, rows, cols) {
        // Every pixel sees every pixel: all or nothing.
        let any_zero = !src.is_full();
        let any_one = src.count_ones() > 0;
        out.fill(match op {
            Op::Erode => !any_zero,
            Op::Dilate => any_one,
        });
        return out;
    }
    let wpr = src.words_per_row();
    let outside = op.outside();
    let pad = !src.last_word_mask();

    // `padded` is the source with its padding bits acting as outside pixels; `runs`
    // holds, per row, the horizontal erosion/dilation by a run of half-width
    // `run_width`, grown one pixel at a time from `padded` so that every read past the
    // image sees the outside value.
    let mut padded = src.clone();
    for y in 0..rows {
        let last = &mut padded.row_mut(y)[wpr - 1];
        *last = (*last & !pad) | (outside & pad);
    }
    let mut runs = padded.clone();
    let mut run_width = 0usize;

    let acc = out.words_mut();
    acc.fill(outside);

    let half_widths = disk_half_widths(radius, rows, cols);
    // From the widest row offset to the centre, half-widths only grow.
    for d in (0..half_widths.len()).rev() {
        while run_width < half_widths[d] {
            run_width += 1;
            for y in 0..rows {
                let source = padded.row(y);
                for (j, w) in runs.row_mut(y).iter_mut().enumerate() {
                    let right = shifted_word(source, j, run_width, true, outside);
                    let left = shifted_word(source, j, run_width, false, outside);
                    *w = op.combine(*w, op.combine(right, left));
                }
            }
        }
        let runs_words = runs.words();
        for y in 0..rows {
            let acc_row = &mut acc[y * wpr..(y + 1) * wpr];
            let mut fold = |source_row: usize| {
                let src_row = &runs_words[source_row * wpr..(source_row + 1) * wpr];
                for (a, &b) in acc_row.iter_mut().zip(src_row) {
                    *a = op.combine(*a, b);
                }
            };
            if y + d < rows {
                fold(y + d);
            }
            if d > 0 && y >= d {
                fold(y - d);
            }
        }
    }
    // Restore the padding invariant.
    let keep = src.last_word_mask();
    for y in 0..rows {
        out.row_mut(y)[wpr - 1] &= keep;
    }
    out
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
    morph(src, radius, Op::Erode)
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
    morph(src, radius, Op::Dilate)
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
    if radius == 0 {
        return src.clone();
    }
    dilate_disk(&erode_disk(src, radius), radius)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straight from the definition: the disk's offsets, pixels outside ignored.
    fn naive(src: &BitMatrix, radius: i64, op: Op) -> BitMatrix {
        let (rows, cols) = (src.rows() as i64, src.cols() as i64);
        BitMatrix::from_fn(src.rows(), src.cols(), |y, x| {
            let mut acc = op == Op::Erode;
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
                        Op::Erode => acc && v,
                        Op::Dilate => acc || v,
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
        ];
        for (i, &(rows, cols)) in sizes.iter().enumerate() {
            for density in [30, 85, 97] {
                let m = random_matrix(rows, cols, i as u64 * 31 + density, density);
                for r in [0i64, 1, 2, 3, 4, 5, 7, 10, 16, 33, 70] {
                    for op in [Op::Erode, Op::Dilate] {
                        assert_eq!(
                            morph(&m, r as u64, op),
                            naive(&m, r, op),
                            "{rows}x{cols} density {density} r {r} {op:?}"
                        );
                    }
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
