//! Erosion and dilation by a disk at a cost independent of its radius: the row-by-row
//! half of a Euclidean distance transform, thresholded at the radius.
//!
//! A pixel `p` of a dilation is set iff some set pixel ("site") `q` of the input lies in
//! the disk around it, `|p − q|² ≤ r²`; an erosion is the same with the clear pixels of
//! the input as sites and the result complemented. Pixels outside the image are never
//! sites, which is OpenCV's border rule (outside = foreground for erosion, background
//! for dilation).
//!
//! This is the decomposition of Meijster, Roerdink and Hesselink, "A general algorithm
//! for computing distance transforms in linear time" (Mathematical Morphology and its
//! Applications to Image and Signal Processing, 2000): first, per column, the vertical
//! distance `g(y, x')` from row `y` to the nearest site of column `x'`; then, per row,
//! the distance `min over x' of (x − x')² + g(y, x')²`. Only whether that minimum is
//! `≤ r²` matters here, so the second phase needs no lower envelope of parabolas:
//! column `x'` covers exactly `|x − x'| ≤ w(g) = ⌊√(r² − g²)⌋` (an integer square root,
//! exact, tabulated once per call), and a row of the result is a **union of intervals**
//! centred on the columns with `g ≤ r`.
//!
//! Rows are processed top to bottom, in place (each output row is written only after
//! every later input row it depends on has been read), with O(columns) state:
//!
//! - For a column that is not a site in the current row, the last site row above it is
//!   recorded when a vertical run of sites ends, and the first site row below it (within
//!   `r`) is searched for at that moment, word-parallel over 64 columns; a column with
//!   none in reach only has to look at the row entering its window, `y + r`. Each search
//!   scans a stretch of non-site rows of its column that no other search of that column
//!   scans again, so all of them together read each word of the image at most once per
//!   column of that word.
//! - The sites of the row itself (`g = 0`) are handled as runs with word operations:
//!   their union `[a − r, b + r]` is filled word-wise. Only the other columns within `r`
//!   of a pixel that these leave uncovered can still change the row, and only those are
//!   looked at one by one.
//! - Their intervals, sorted by centre, are merged in two sweeps: the right halves
//!   `[x', x' + w]` sorted by left end (a running right end), the left halves
//!   `[x' − w, x']` by right end (a running left end, from the right).
//!
//! The cost is linear in the pixels in the worst case and usually closer to linear in
//! the words plus the sites near an edge, whatever the radius; `super` chooses between
//! this and the run method, which is faster for small disks.

use crate::bitmap::BitMatrix;

use super::{disk_covers_image, disk_half_widths};

/// The mask of bits `0..n` of a word (`n ≤ 64`).
#[inline(always)]
fn low_bits(n: u32) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// Sets bits `lo..=hi` of a row of words.
#[inline]
fn fill(row: &mut [u64], lo: usize, hi: usize) {
    let (first, last) = (lo / 64, hi / 64);
    let head = !low_bits((lo % 64) as u32);
    let tail = low_bits((hi % 64) as u32 + 1);
    if first == last {
        row[first] |= head & tail;
    } else {
        row[first] |= head;
        row[first + 1..last].fill(u64::MAX);
        row[last] |= tail;
    }
}

/// Calls `f(a, b)` for every maximal run `a..=b` of set bits, left to right.
#[inline]
fn for_each_run(bits: &[u64], mut f: impl FnMut(usize, usize)) {
    let mut open: Option<usize> = None;
    for (k, &word) in bits.iter().enumerate() {
        let base = 64 * k;
        let mut x = word;
        if let Some(start) = open {
            let ones = (!x).trailing_zeros();
            if ones == 64 {
                continue;
            }
            f(start, base + ones as usize - 1);
            open = None;
            x &= !low_bits(ones);
        }
        while x != 0 {
            let a = x.trailing_zeros();
            let end = (!(x | low_bits(a))).trailing_zeros();
            if end == 64 {
                open = Some(base + a as usize);
                break;
            }
            f(base + a as usize, base + end as usize - 1);
            x &= !low_bits(end);
        }
    }
    if let Some(start) = open {
        f(start, 64 * bits.len() - 1);
    }
}

/// `out |= ` every run of `src` widened by `w` on both sides, clipped to `cols`.
fn widen_runs(src: &[u64], w: usize, cols: usize, out: &mut [u64]) {
    let mut current: Option<(usize, usize)> = None;
    for_each_run(src, |a, b| {
        let (lo, hi) = (a.saturating_sub(w), (b + w).min(cols - 1));
        // Same width for every run: sorted by left end is sorted by right end too.
        match &mut current {
            Some((_, end)) if lo <= *end + 1 => *end = hi,
            _ => {
                if let Some((l, h)) = current {
                    fill(out, l, h);
                }
                current = Some((lo, hi));
            }
        }
    });
    if let Some((l, h)) = current {
        fill(out, l, h);
    }
}

/// Calls `f(x)` for every set bit `x` of a row, left to right.
#[inline(always)]
fn for_each_bit(word: u64, base: usize, mut f: impl FnMut(usize)) {
    let mut x = word;
    while x != 0 {
        f(base + x.trailing_zeros() as usize);
        x &= x - 1;
    }
}

/// `out |=` the union of `[x − w, x + w]` (clipped) over `intervals`, sorted by `x`.
fn fill_union(intervals: &[(usize, usize)], cols: usize, out: &mut [u64]) {
    // Right halves [x, x + w], sorted by left end.
    let mut current: Option<(usize, usize)> = None;
    for &(x, w) in intervals {
        let hi = (x + w).min(cols - 1);
        match &mut current {
            Some((_, end)) if x <= *end + 1 => *end = (*end).max(hi),
            _ => {
                if let Some((l, h)) = current {
                    fill(out, l, h);
                }
                current = Some((x, hi));
            }
        }
    }
    if let Some((l, h)) = current {
        fill(out, l, h);
    }
    // Left halves [x − w, x], sorted by right end: the same from the right.
    let mut current: Option<(usize, usize)> = None;
    for &(x, w) in intervals.iter().rev() {
        let lo = x.saturating_sub(w);
        match &mut current {
            Some((start, _)) if x + 1 >= *start => *start = (*start).min(lo),
            _ => {
                if let Some((l, h)) = current {
                    fill(out, l, h);
                }
                current = Some((lo, x));
            }
        }
    }
    if let Some((l, h)) = current {
        fill(out, l, h);
    }
}

/// Erosion (`SITES_SET = false`) or dilation (`true`) of `mask` by `disk(radius)` in
/// place, by the distance method of this module. Same result as the run method.
pub(crate) fn morph_in_place<const SITES_SET: bool>(mask: &mut BitMatrix, radius: u64) {
    let (rows, cols) = (mask.rows(), mask.cols());
    if rows == 0 || cols == 0 || radius == 0 {
        return;
    }
    if disk_covers_image(radius, rows, cols) {
        // Every pixel sees every pixel: all or nothing.
        let all = if SITES_SET {
            mask.count_ones() > 0
        } else {
            mask.is_full()
        };
        mask.fill(all);
        return;
    }
    // half_widths[g] = ⌊√(r² − g²)⌋ for g = 0..=reach, clamped to cols − 1.
    let half_widths = disk_half_widths(radius, rows, cols);
    let reach = half_widths.len() - 1;
    let widest = half_widths[0];
    let wpr = mask.words_per_row();
    let last_valid = mask.last_word_mask();
    let valid = |k: usize| if k + 1 == wpr { last_valid } else { u64::MAX };
    // The sites of word k of a row: set pixels, or clear pixels inside the image.
    let sites_of = |row: &[u64], k: usize| {
        if SITES_SET {
            row[k]
        } else {
            !row[k] & valid(k)
        }
    };

    // Per column, meaningful only while the column is not a site in the current row:
    // the last site row above (if `above_bits`; it may lie beyond reach, which is found
    // out lazily) and the first site row below within reach (iff `below_bits`).
    let mut above_row = vec![0usize; cols];
    let mut below_row = vec![0usize; cols];
    let mut above_bits = vec![0u64; wpr];
    let mut below_bits = vec![0u64; wpr];
    let mut prev = vec![0u64; wpr]; // the sites of the previous row
    let mut sites = vec![0u64; wpr];
    let mut covered = vec![0u64; wpr];
    let mut uncovered = vec![0u64; wpr];
    let mut near = vec![0u64; wpr];
    let mut pending: Vec<(usize, u64)> = Vec::new(); // (word, columns still searching)
    let mut intervals: Vec<(usize, usize)> = Vec::new(); // (centre, half-width)

    for y in 0..rows {
        let row = mask.row(y);
        for (k, s) in sites.iter_mut().enumerate() {
            *s = sites_of(row, k);
        }
        // Columns whose window gained row y + reach and had no site in reach: look there.
        let entering = y + reach;
        if y > 0 && entering < rows {
            let new_row = mask.row(entering);
            for k in 0..wpr {
                let waiting = !below_bits[k] & !prev[k] & !sites[k] & valid(k);
                let hits = sites_of(new_row, k) & waiting;
                if hits != 0 {
                    below_bits[k] |= hits;
                    for_each_bit(hits, 64 * k, |x| below_row[x] = entering);
                }
            }
        }
        // Columns that stop being sites here (all non-sites, on the first row): the
        // last site is the row above; search for the next one below, word-parallel.
        pending.clear();
        for k in 0..wpr {
            let ended = if y == 0 {
                !sites[k] & valid(k)
            } else {
                prev[k] & !sites[k]
            };
            if ended != 0 {
                if y > 0 {
                    above_bits[k] |= ended;
                    for_each_bit(ended, 64 * k, |x| above_row[x] = y - 1);
                }
                below_bits[k] &= !ended;
                pending.push((k, ended));
            }
        }
        let mut ys = y + 1;
        while !pending.is_empty() && ys <= (y + reach).min(rows - 1) {
            let search_row = mask.row(ys);
            pending.retain_mut(|(k, wanted)| {
                let hits = sites_of(search_row, *k) & *wanted;
                if hits != 0 {
                    below_bits[*k] |= hits;
                    for_each_bit(hits, 64 * *k, |x| below_row[x] = ys);
                    *wanted &= !hits;
                }
                *wanted != 0
            });
            ys += 1;
        }

        // The row's own sites cover [x − widest, x + widest].
        covered.fill(0);
        widen_runs(&sites, widest, cols, &mut covered);
        // Only columns within `widest` of a pixel still uncovered can change the row.
        let mut any_uncovered = false;
        for (k, (u, &c)) in uncovered.iter_mut().zip(&covered).enumerate() {
            *u = !c & valid(k);
            any_uncovered |= *u != 0;
        }
        if any_uncovered {
            near.fill(0);
            widen_runs(&uncovered, widest, cols, &mut near);
            intervals.clear();
            for k in 0..wpr {
                let candidates = near[k] & (above_bits[k] | below_bits[k]) & !sites[k];
                for_each_bit(candidates, 64 * k, |x| {
                    let bit = 1u64 << (x % 64);
                    let mut g = usize::MAX;
                    if above_bits[k] & bit != 0 {
                        let up = y - above_row[x];
                        if up <= reach {
                            g = up;
                        } else {
                            above_bits[k] &= !bit; // out of reach from now on
                        }
                    }
                    if below_bits[k] & bit != 0 {
                        g = g.min(below_row[x] - y);
                    }
                    if g <= reach {
                        intervals.push((x, half_widths[g]));
                    }
                });
            }
            fill_union(&intervals, cols, &mut covered);
        }

        prev.copy_from_slice(&sites);
        let out = mask.row_mut(y);
        for (k, (o, &c)) in out.iter_mut().zip(&covered).enumerate() {
            *o = if SITES_SET { c } else { !c } & valid(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::morphology::{open_disk_with, Method};

    /// The definition: `(y, x)` is set iff some site lies in the disk around it (only
    /// the disk's bounding box is searched, and the first site found decides).
    fn brute_force(src: &BitMatrix, radius: u64, dilate: bool) -> BitMatrix {
        let (rows, cols) = (src.rows() as i128, src.cols() as i128);
        // Beyond the image's diagonal every radius covers the same pixels.
        let r = i128::from(radius).min(rows + cols);
        BitMatrix::from_fn(src.rows(), src.cols(), |y, x| {
            let (y, x) = (y as i128, x as i128);
            let ys = (y - r).max(0)..=(y + r).min(rows - 1);
            let site_near = ys.into_iter().any(|sy| {
                ((x - r).max(0)..=(x + r).min(cols - 1)).any(|sx| {
                    let (dy, dx) = (sy - y, sx - x);
                    dy * dy + dx * dx <= r * r && src.get(sy as usize, sx as usize) == dilate
                })
            });
            site_near == dilate
        })
    }

    fn by_distance(src: &BitMatrix, radius: u64, dilate: bool) -> BitMatrix {
        let mut out = src.clone();
        if dilate {
            morph_in_place::<true>(&mut out, radius);
        } else {
            morph_in_place::<false>(&mut out, radius);
        }
        out
    }

    fn by_runs(src: &BitMatrix, radius: u64, dilate: bool) -> BitMatrix {
        use crate::morphology::{Dilate, Erode};
        let mut out = src.clone();
        if dilate {
            crate::morphology::morph_in_place::<Dilate>(&mut out, radius);
        } else {
            crate::morphology::morph_in_place::<Erode>(&mut out, radius);
        }
        out
    }

    /// A small deterministic generator (xorshift), so tests need no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Random masks of several kinds: noise of a density, blobs, lines, all or nothing.
    fn random_mask(rows: usize, cols: usize, rng: &mut Rng) -> BitMatrix {
        match rng.below(6) {
            0 => {
                let density = rng.below(101);
                BitMatrix::from_fn(rows, cols, |_, _| rng.below(100) < density)
            }
            1 | 2 => {
                // A few discs on a background of either value: long runs, edges.
                let background = rng.below(2) == 0;
                let discs: Vec<(i64, i64, i64)> = (0..1 + rng.below(4))
                    .map(|_| {
                        let cy = rng.below(rows as u64 + 2) as i64 - 1;
                        let cx = rng.below(cols as u64 + 2) as i64 - 1;
                        (cy, cx, rng.below(12) as i64)
                    })
                    .collect();
                BitMatrix::from_fn(rows, cols, |y, x| {
                    let inside = discs.iter().any(|&(cy, cx, r)| {
                        let (dy, dx) = (y as i64 - cy, x as i64 - cx);
                        dy * dy + dx * dx <= r * r
                    });
                    inside != background
                })
            }
            3 => {
                // Sparse sites in a full or empty image (the "holes" case).
                let background = rng.below(2) == 0;
                let n = rng.below(4);
                let points: Vec<(usize, usize)> = (0..n)
                    .map(|_| {
                        let y = rng.below(rows as u64) as usize;
                        (y, rng.below(cols as u64) as usize)
                    })
                    .collect();
                BitMatrix::from_fn(rows, cols, |y, x| points.contains(&(y, x)) != background)
            }
            4 => {
                // Diagonal and vertical lines: columns whose runs end at every row.
                let step = 1 + rng.below(5) as usize;
                let offset = rng.below(7) as usize;
                BitMatrix::from_fn(rows, cols, |y, x| {
                    (x + offset + y) % (step + 2) == 0 || x % 17 == offset
                })
            }
            _ => {
                let value = rng.below(2) == 0;
                BitMatrix::from_fn(rows, cols, |_, _| value)
            }
        }
    }

    fn shapes() -> Vec<(usize, usize)> {
        let mut shapes = vec![
            (1, 1),
            (1, 2),
            (2, 1),
            (1, 70),
            (70, 1),
            (2, 3),
            (3, 64),
            (5, 65),
            (7, 127),
            (9, 129),
            (16, 16),
            (23, 40),
            (64, 63),
        ];
        if !cfg!(miri) {
            shapes.extend([(40, 200), (130, 70), (100, 257)]);
        }
        shapes
    }

    fn radii(rows: usize, cols: usize) -> Vec<u64> {
        let extent = (rows.max(cols) as u64) * 3 / 2;
        let mut radii: Vec<u64> = (0..=6).collect();
        radii.extend([
            8,
            11,
            16,
            25,
            33,
            64,
            65,
            extent,
            extent + 1,
            1 << 33,
            u64::MAX,
        ]);
        radii
    }

    #[test]
    fn erosion_and_dilation_match_the_definition_and_the_run_method() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let masks_per_shape = if cfg!(miri) { 2 } else { 10 };
        for (rows, cols) in shapes() {
            for _ in 0..masks_per_shape {
                let m = random_mask(rows, cols, &mut rng);
                for r in radii(rows, cols) {
                    for dilate in [false, true] {
                        let ours = by_distance(&m, r, dilate);
                        let what = if dilate { "dilate" } else { "erode" };
                        assert_eq!(ours, by_runs(&m, r, dilate), "{rows}x{cols} r {r} {what}");
                        // The brute force is slow: small images, or small disks.
                        if rows * cols <= 1000 || r <= 4 {
                            assert_eq!(
                                ours,
                                brute_force(&m, r, dilate),
                                "{rows}x{cols} r {r} {what} vs definition"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn openings_agree_for_every_method() {
        let mut rng = Rng(77);
        for (rows, cols) in shapes() {
            for _ in 0..4 {
                let m = random_mask(rows, cols, &mut rng);
                for r in radii(rows, cols) {
                    let runs = open_disk_with(&m, r, Method::Runs);
                    assert_eq!(
                        open_disk_with(&m, r, Method::Distance),
                        runs,
                        "{rows}x{cols} r {r}"
                    );
                    assert_eq!(
                        open_disk_with(&m, r, Method::Auto),
                        runs,
                        "{rows}x{cols} r {r}"
                    );
                }
            }
        }
    }

    #[test]
    fn tall_images_with_sites_far_apart() {
        // Columns whose next site lies exactly at, just within or beyond the radius.
        if cfg!(miri) {
            return;
        }
        for (rows, cols) in [(300, 3), (257, 130)] {
            for gap in [9usize, 10, 11, 20, 21, 40] {
                for invert in [false, true] {
                    let m = BitMatrix::from_fn(rows, cols, |y, x| {
                        ((y + x / 7) % gap == 0 || (y * 3 + x) % 101 == 0) != invert
                    });
                    for r in [1u64, 5, 10, 11, 20, 21, 64, 100] {
                        for dilate in [false, true] {
                            assert_eq!(
                                by_distance(&m, r, dilate),
                                by_runs(&m, r, dilate),
                                "{rows}x{cols} gap {gap} invert {invert} r {r} dilate {dilate}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn half_widths_are_exact_integer_square_roots_at_perfect_squares() {
        // w(g) = ⌊√(r² − g²)⌋: w² ≤ r² − g² < (w + 1)², at and around perfect squares
        // (Pythagorean triples make r² − g² a square) and for radii past 2³².
        let big = [
            1u64 << 32,
            (1 << 32) + 1,
            3_037_000_499,
            3_037_000_500,
            u64::MAX >> 1,
        ];
        for r in (0..=300u64).chain(big) {
            let widths = disk_half_widths(r, 301, usize::MAX);
            for (g, &w) in widths.iter().enumerate() {
                let rest = u128::from(r) * u128::from(r) - (g as u128) * (g as u128);
                let w = w as u128;
                assert!(
                    w * w <= rest && rest < (w + 1) * (w + 1),
                    "r {r} g {g} w {w}"
                );
            }
        }
        assert_eq!(disk_half_widths(5, 10, 10), vec![5, 4, 4, 4, 3, 0]);
        assert_eq!(disk_half_widths(25, 26, 100)[7], 24); // 7² + 24² = 25²
        assert_eq!(disk_half_widths(25, 26, 100)[15], 20); // 15² + 20² = 25²
    }

    #[test]
    fn row_helpers_match_their_definitions() {
        let mut rng = Rng(3);
        for cols in [1usize, 5, 63, 64, 65, 128, 130, 200] {
            let wpr = cols.div_ceil(64);
            for _ in 0..40 {
                let density = rng.below(101);
                let bits: Vec<bool> = (0..cols).map(|_| rng.below(100) < density).collect();
                let mut row = vec![0u64; wpr];
                for (x, &b) in bits.iter().enumerate() {
                    row[x / 64] |= u64::from(b) << (x % 64);
                }
                // Runs: maximal, ordered, exactly the set bits.
                let mut seen = vec![false; cols];
                let mut last_end: Option<usize> = None;
                for_each_run(&row, |a, b| {
                    assert!(a <= b && b < cols);
                    assert!(last_end.is_none_or(|e| a > e + 1), "runs must be maximal");
                    seen[a..=b].fill(true);
                    last_end = Some(b);
                });
                assert_eq!(seen, bits);
                // Widened runs and unions of intervals, against pixel loops.
                for w in [0usize, 1, 3, 63, 64, 200] {
                    let mut out = vec![0u64; wpr];
                    widen_runs(&row, w, cols, &mut out);
                    let mut intervals = Vec::new();
                    let mut expected = vec![0u64; wpr];
                    for x in (0..cols).filter(|&x| bits[x]) {
                        let width = (x * 7 + w) % (w + 1);
                        intervals.push((x, width));
                        for z in x.saturating_sub(w)..=(x + w).min(cols - 1) {
                            expected[z / 64] |= 1 << (z % 64);
                        }
                    }
                    assert_eq!(out, expected, "cols {cols} w {w}");
                    let mut union = vec![0u64; wpr];
                    fill_union(&intervals, cols, &mut union);
                    let mut expected = vec![0u64; wpr];
                    for &(x, width) in &intervals {
                        for z in x.saturating_sub(width)..=(x + width).min(cols - 1) {
                            expected[z / 64] |= 1 << (z % 64);
                        }
                    }
                    assert_eq!(union, expected, "cols {cols} w {w} union");
                }
            }
        }
    }
}
