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
//! The nearest site of column `x'` to row `y` is its last site at or above `y` or its
//! first at or below, and `w` decreases with `g`, so the union splits into the intervals
//! of the sites above and those of the sites below. Two sweeps compute them:
//!
//! - Downwards, each row gets the intervals of its own sites and of each column's last
//!   site above; the result is kept in a bit-packed buffer the size of the image.
//!   Upwards, each row adds those of each column's last site below (the first below,
//!   seen from the row) and is written in place: the rows above, which the sweep still
//!   needs, are untouched.
//! - A sweep records, per column, the row where its last vertical run of sites ended
//!   (one store per run end) and marks the column as having a site in reach; a column
//!   whose last site has fallen out of reach is unmarked when it is next looked at.
//! - The sites of the row itself (`g = 0`) are handled with word operations: their runs
//!   widened by `r` are merged and filled word-wise, jumping from run to run (runs that
//!   start within `2r + 1` of the current end merge with it, and only the last of those
//!   matters). Only the marked non-site columns within `r` of a pixel still uncovered
//!   can change the row, and only those are looked at one by one.
//! - Their intervals, sorted by centre, are merged in two passes: the right halves
//!   `[x', x' + w]` sorted by left end (a running right end), the left halves
//!   `[x' − w, x']` by right end (a running left end, from the right).
//!
//! Per row and sweep that is O(words + columns / r) plus one step per run end and per
//! column looked at: linear in the pixels at worst, whatever the radius, and close to
//! linear in the words when the sites are sparse or the rows' own sites cover them.
//! Memory: one bit-packed image and a few rows. The run method (`super`) is faster for
//! small disks and for masks its early exits empty quickly; [`prefers_distance`] chooses.

use crate::simd::{multiversioned, multiversioned_popcount};

use crate::bitmap::BitMatrix;

use super::{disk_covers_image, disk_half_widths, width_groups};

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

/// The first set bit at or after `pos`, if any.
#[inline(always)]
fn first_set_from(bits: &[u64], pos: usize) -> Option<usize> {
    let mut k = pos / 64;
    let mut word = *bits.get(k)? & !low_bits((pos % 64) as u32);
    while word == 0 {
        k += 1;
        word = *bits.get(k)?;
    }
    Some(64 * k + word.trailing_zeros() as usize)
}

/// The first clear bit at or after `pos` (`64 · bits.len()` if none).
#[inline(always)]
fn first_clear_from(bits: &[u64], pos: usize) -> usize {
    let mut k = pos / 64;
    let Some(&first) = bits.get(k) else {
        return 64 * bits.len();
    };
    let mut word = !first & !low_bits((pos % 64) as u32);
    while word == 0 {
        k += 1;
        match bits.get(k) {
            Some(&w) => word = !w,
            None => return 64 * bits.len(),
        }
    }
    64 * k + word.trailing_zeros() as usize
}

/// The last set bit in `lo..=hi`, if any.
#[inline(always)]
fn last_set_in(bits: &[u64], lo: usize, hi: usize) -> Option<usize> {
    let (first, mut k) = (lo / 64, hi / 64);
    let mut word = bits[k] & low_bits((hi % 64) as u32 + 1);
    loop {
        if k == first {
            word &= !low_bits((lo % 64) as u32);
        }
        if word != 0 {
            return Some(64 * k + 63 - word.leading_zeros() as usize);
        }
        if k == first {
            return None;
        }
        k -= 1;
        word = bits[k];
    }
}

/// `out |= ` every run of set bits of `src` (padding bits clear) widened by `w` on both
/// sides, clipped to `cols`.
///
/// Runs that start within `2w + 1` of the current one's end merge with it, and only
/// the last of them decides the new end: so the search jumps from one such last run to
/// the next, in O(words + cols / w) per row however many runs there are.
#[inline(always)]
fn widen_runs(src: &[u64], w: usize, cols: usize, out: &mut [u64]) {
    let mut pos = 0;
    while let Some(start) = first_set_from(src, pos) {
        let mut end = first_clear_from(src, start).min(cols) - 1;
        while end + w < cols - 1 {
            match last_set_in(src, end + 1, (end + 2 * w + 1).min(cols - 1)) {
                Some(z) => end = first_clear_from(src, z).min(cols) - 1,
                None => break,
            }
        }
        let hi = (end + w).min(cols - 1);
        fill(out, start.saturating_sub(w), hi);
        pos = end + 2 * w + 2;
        if hi == cols - 1 || pos >= cols {
            return;
        }
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
#[inline(always)]
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

/// One sweep over the rows in one direction: per column, the nearest site seen so far.
struct Sweep {
    /// The row of the last site of each column, meaningful where `active` is set.
    last: Vec<usize>,
    /// Columns whose last site may still be within reach (out-of-reach ones are found
    /// and dropped lazily, when asked about).
    active: Vec<u64>,
    /// The sites of the row processed before.
    prev: Vec<u64>,
    uncovered: Vec<u64>,
    near: Vec<u64>,
    intervals: Vec<(usize, usize)>, // (centre, half-width)
}

impl Sweep {
    fn new(cols: usize, wpr: usize) -> Self {
        Sweep {
            last: vec![0; cols],
            active: vec![0; wpr],
            prev: vec![0; wpr],
            uncovered: vec![0; wpr],
            near: vec![0; wpr],
            intervals: Vec::new(),
        }
    }

    /// Row `y` (`prev_y` is the row processed before it, if any): records the columns
    /// whose vertical run of sites ended at `prev_y`, then adds to `covered` the
    /// intervals of the other columns' last sites, where they can still matter.
    /// `covered` must already hold the row's own sites widened by the widest run.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn row(
        &mut self,
        y: usize,
        prev_y: Option<usize>,
        sites: &[u64],
        covered: &mut [u64],
        half_widths: &[usize],
        cols: usize,
        last_valid: u64,
    ) {
        let wpr = sites.len();
        let reach = half_widths.len() - 1;
        if let Some(prev_y) = prev_y {
            for (k, (&p, &s)) in self.prev.iter().zip(sites).enumerate() {
                let ended = p & !s;
                if ended != 0 {
                    self.active[k] |= ended;
                    let last = &mut self.last[64 * k..(64 * k + 64).min(cols)];
                    if ended.count_ones() <= 8 {
                        for_each_bit(ended, 0, |i| last[i] = prev_y);
                    } else {
                        // Many ends in this word: a select per column vectorises.
                        for (i, l) in last.iter_mut().enumerate() {
                            *l = if ended >> i & 1 != 0 { prev_y } else { *l };
                        }
                    }
                }
            }
        }
        self.prev.copy_from_slice(sites);
        // Only columns within `widest` of a pixel still uncovered can change the row.
        let mut any_uncovered = false;
        for (k, (u, &c)) in self.uncovered.iter_mut().zip(covered.iter()).enumerate() {
            let valid = if k + 1 == wpr { last_valid } else { u64::MAX };
            *u = !c & valid;
            any_uncovered |= *u != 0;
        }
        if !any_uncovered {
            return;
        }
        self.near.fill(0);
        widen_runs(&self.uncovered, half_widths[0], cols, &mut self.near);
        self.intervals.clear();
        let (last, intervals) = (&self.last, &mut self.intervals);
        let words = self.active.iter_mut().zip(&self.near).zip(sites);
        for (k, ((active, &near), &site)) in words.enumerate() {
            let candidates = near & *active & !site;
            for_each_bit(candidates, 64 * k, |x| {
                let g = y.abs_diff(last[x]);
                if g <= reach {
                    intervals.push((x, half_widths[g]));
                } else {
                    *active &= !(1 << (x % 64)); // out of reach from now on
                }
            });
        }
        fill_union(&self.intervals, cols, covered);
    }
}

multiversioned! {
    /// Erosion (`SITES_SET = false`) or dilation (`true`) of `mask` by `disk(radius)` in
    /// place, by the distance method of this module. Same result as the run method.
    ///
    /// Two sweeps: downwards, each row gets the intervals of the sites at or above it,
    /// kept in a buffer of the image's size in bits; upwards, those of the sites below,
    /// and the result.
    pub(crate) fn morph_in_place<const SITES_SET: bool>(mask: &mut BitMatrix, radius: u64) {
        let (rows, cols) = (mask.rows(), mask.cols());
        if rows == 0 || cols == 0 || radius == 0 {
            return;
        }
        let (ones, pixels) = (mask.count_ones(), rows * cols);
        if (SITES_SET && ones == 0) || (!SITES_SET && ones == pixels) {
            return; // no site: nothing is covered, the image stays as it is
        }
        if disk_covers_image(radius, rows, cols) {
            // Every pixel sees every pixel: all or nothing.
            // (There is a site, so a dilation covers everything and an erosion nothing.)
            mask.fill(SITES_SET);
            return;
        }
        // half_widths[g] = ⌊√(r² − g²)⌋ for g = 0..=reach, clamped to cols − 1.
        let half_widths = disk_half_widths(radius, rows, cols);
        let widest = half_widths[0];
        let wpr = mask.words_per_row();
        let last_valid = mask.last_word_mask();
        // The sites of a row: set pixels, or clear pixels inside the image.
        let sites_of = |row: &[u64], sites: &mut [u64]| {
            for (k, (s, &w)) in sites.iter_mut().zip(row).enumerate() {
                *s = if SITES_SET {
                    w
                } else {
                    let valid = if k + 1 == wpr { last_valid } else { u64::MAX };
                    !w & valid
                };
            }
        };
        let mut sites = vec![0u64; wpr];
        let mut sweep = Sweep::new(cols, wpr);

        // Downwards: the row's own sites and those above it.
        let mut upper = vec![0u64; rows * wpr];
        for (y, covered) in upper.chunks_exact_mut(wpr).enumerate() {
            sites_of(mask.row(y), &mut sites);
            widen_runs(&sites, widest, cols, covered);
            let prev_y = y.checked_sub(1);
            sweep.row(y, prev_y, &sites, covered, &half_widths, cols, last_valid);
        }
        // Upwards: the sites below, then the result (input rows above are still intact).
        let mut sweep = Sweep::new(cols, wpr);
        for (y, covered) in upper.chunks_exact_mut(wpr).enumerate().rev() {
            sites_of(mask.row(y), &mut sites);
            let prev_y = (y + 1 < rows).then_some(y + 1);
            sweep.row(y, prev_y, &sites, covered, &half_widths, cols, last_valid);
            for (k, (o, &c)) in mask.row_mut(y).iter_mut().zip(covered.iter()).enumerate() {
                let valid = if k + 1 == wpr { last_valid } else { u64::MAX };
                *o = if SITES_SET { c } else { !c } & valid;
            }
        }
    }
}

multiversioned_popcount! {
    /// The cost model: whether this method is expected to be faster than the run method
    /// for an erosion (`SITES_SET = false`) or dilation (`true`) of `mask` by
    /// `disk(radius)`. Only the time depends on the answer, never the result.
    ///
    /// Both estimates are in nanoseconds per word of the mask, fitted to timings of both
    /// methods on one AMD EPYC core (AVX-512) for erosions and dilations of thresholded
    /// smooth noise (Gaussian σ = 4, 12 and 48, threshold at the median) and of a full
    /// mask with a few small holes, radii 16 to 512, 1024² and 4096²:
    ///
    /// - The run method costs about 1.1 ns per word and width group of the disk, for the
    ///   rows within `r` of a site (it skips the others), and stops early once a strip of
    ///   its result can no longer change: after about `L / r` of its groups, where `L` is
    ///   the typical extent of the regions without a site. `L` is estimated from the share
    ///   `q` of words without a site: `L ≈ 20 + 400 q / (1 − q)` (about 20 pixels for fine
    ///   noise, 250 for σ = 48 blobs, unbounded for the full mask).
    /// - This method costs about 12 ns per word, plus up to 50 more for the pixels that are
    ///   no site but have one near, looked at one by one: most when sites and non-sites
    ///   are mixed half and half (`4ρ(1 − ρ)` for a share `ρ` of sites) and the radius is
    ///   not far above `L`.
    ///
    /// Returns `false` without looking at the mask when the disk has at most 16 width
    /// groups (radius up to 24): the run method was faster on every mask measured.
    pub(super) fn prefers_distance<const SITES_SET: bool>(mask: &BitMatrix, radius: u64) -> bool {
        const RUN_NS_PER_GROUP: f64 = 1.1;
        const DISTANCE_NS: f64 = 12.0;
        const DISTANCE_DENSE_NS: f64 = 50.0;
        let (rows, cols) = (mask.rows(), mask.cols());
        if rows == 0 || cols == 0 || radius == 0 || disk_covers_image(radius, rows, cols) {
            return false; // both methods are immediate
        }
        let half_widths = disk_half_widths(radius, rows, cols);
        let groups = width_groups(&half_widths).len() as f64;
        if groups <= 16.0 {
            return false;
        }
        // One pass over the words: sites, words without a site, rows with a site. Counted
        // as set bits and full or empty words, which vectorises; the last word of a row
        // apart, for its padding bits.
        let wpr = mask.words_per_row();
        let last_valid = mask.last_word_mask();
        let no_site = if SITES_SET { 0 } else { u64::MAX };
        let (mut ones, mut empty_words) = (0usize, 0usize);
        let mut site_rows = Vec::with_capacity(rows);
        for y in 0..rows {
            let (&last, body) = mask.row(y).split_last().expect("cols > 0");
            let row_ones: usize = body.iter().map(|w| w.count_ones() as usize).sum();
            let row_empty = body.iter().filter(|&&w| w == no_site).count()
                + usize::from(last == no_site & last_valid);
            ones += row_ones + last.count_ones() as usize;
            empty_words += row_empty;
            site_rows.push(row_empty < wpr);
        }
        let sites = if SITES_SET { ones } else { rows * cols - ones };
        // Rows within `reach` of a row with a site, by a sliding count.
        let reach = half_widths.len() - 1;
        let mut in_window = site_rows[..reach.min(rows - 1) + 1]
            .iter()
            .filter(|&&s| s)
            .count();
        let mut busy_rows = 0;
        for y in 0..rows {
            busy_rows += usize::from(in_window > 0);
            if let Some(&entering) = site_rows.get(y + reach + 1) {
                in_window += usize::from(entering);
            }
            if y >= reach && site_rows[y - reach] {
                in_window -= 1;
            }
        }
        let words = (rows * wpr) as f64;
        let busy = busy_rows as f64 / rows as f64;
        let q = empty_words as f64 / words;
        let extent = if q >= 1.0 {
            f64::INFINITY
        } else {
            20.0 + 400.0 * q / (1.0 - q)
        };
        let settles = (extent / radius as f64).min(1.0);
        let density = sites as f64 / (rows * cols) as f64;
        let runs = RUN_NS_PER_GROUP * groups * busy * settles;
        let mixed = 4.0 * density * (1.0 - density);
        let distance = DISTANCE_NS + DISTANCE_DENSE_NS * mixed * settles;
        runs > distance
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
                    (x + offset + y).is_multiple_of(step + 2) || x % 17 == offset
                })
            }
            _ => {
                let value = rng.below(2) == 0;
                BitMatrix::from_fn(rows, cols, |_, _| value)
            }
        }
    }

    /// Image shapes for the comparisons; Miri, which interprets every step, gets a few
    /// small ones that still cover 1×N, N×1, one word, word boundaries and tiny images.
    fn shapes() -> Vec<(usize, usize)> {
        if cfg!(miri) {
            return vec![
                (1, 1),
                (1, 2),
                (2, 1),
                (1, 70),
                (70, 1),
                (3, 64),
                (5, 65),
                (9, 33),
            ];
        }
        vec![
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
            (40, 200),
            (130, 70),
            (100, 257),
        ]
    }

    /// Radii from 0 up, past the image's extent (where the disk covers it) and huge.
    fn radii(rows: usize, cols: usize) -> Vec<u64> {
        let extent = (rows.max(cols) as u64) * 3 / 2;
        let mut radii: Vec<u64> = if cfg!(miri) {
            vec![0, 1, 2, 3, 5, 9]
        } else {
            let mut small: Vec<u64> = (0..=6).collect();
            small.extend([8, 11, 16, 25, 33, 64, 65]);
            small
        };
        radii.extend([extent, extent + 1, 1 << 33, u64::MAX]);
        radii
    }

    #[test]
    fn erosion_and_dilation_match_the_definition_and_the_run_method() {
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        let masks_per_shape = if cfg!(miri) { 1 } else { 10 };
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
            for _ in 0..if cfg!(miri) { 1 } else { 4 } {
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
    fn cost_model_picks_the_method_that_was_measured_faster() {
        if cfg!(miri) {
            return; // a choice of speed only, on images too large to interpret
        }
        let mut rng = Rng(11);
        // A full mask with a few small holes: the run method's cost grows with the
        // radius, this one's does not.
        let holes = BitMatrix::from_fn(512, 512, |y, x| (y % 200 > 3) || (x % 150 > 3));
        assert!(prefers_distance::<false>(&holes, 128));
        assert!(!prefers_distance::<false>(&holes, 16), "small disks: runs");
        // Fine noise: the run method's erosion empties every strip within a few groups.
        let noise = BitMatrix::from_fn(512, 512, |_, _| rng.below(2) == 0);
        assert!(!prefers_distance::<false>(&noise, 64));
        // Nothing to do for either: the disk covers the image, or no radius.
        assert!(!prefers_distance::<false>(&holes, 2000));
        assert!(!prefers_distance::<true>(&holes, 0));
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
        let small = if cfg!(miri) { 40 } else { 300 };
        for r in (0..=small).chain(big) {
            let widths = disk_half_widths(r, small as usize + 1, usize::MAX);
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
        let (widths, rounds): (&[usize], _) = if cfg!(miri) {
            (&[1, 63, 65, 130], 3)
        } else {
            (&[1, 5, 63, 64, 65, 128, 130, 200], 40)
        };
        for &cols in widths {
            let wpr = cols.div_ceil(64);
            for _ in 0..rounds {
                let density = rng.below(101);
                let bits: Vec<bool> = (0..cols).map(|_| rng.below(100) < density).collect();
                let mut row = vec![0u64; wpr];
                for (x, &b) in bits.iter().enumerate() {
                    row[x / 64] |= u64::from(b) << (x % 64);
                }
                // Bit searches, against the bits themselves.
                for pos in 0..cols + 2 {
                    let set = (pos..cols).find(|&x| bits[x]);
                    assert_eq!(first_set_from(&row, pos), set, "cols {cols} pos {pos}");
                    // Padding bits are clear.
                    let clear = (pos..64 * wpr)
                        .find(|&x| x >= cols || !bits[x])
                        .unwrap_or(64 * wpr);
                    assert_eq!(first_clear_from(&row, pos), clear, "cols {cols} pos {pos}");
                }
                for lo in 0..cols {
                    for hi in (lo..cols).step_by(7).chain([cols - 1]) {
                        let last = (lo..=hi).rev().find(|&x| bits[x]);
                        assert_eq!(last_set_in(&row, lo, hi), last, "cols {cols} {lo}..={hi}");
                    }
                }
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
