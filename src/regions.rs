//! 8-connected components of a mask: their bounding boxes and scores, and removing small
//! ones (docs/behaviour.md#regions: `min_area=`, `mask_to_boxes`, `anomaly_map=`).
//!
//! Components are found on the runs of set pixels of each row with union-find (the
//! run-based two-pass labelling of He, Chao & Suzuki, "A Run-Based Two-Scan Labeling
//! Algorithm", IEEE TIP 17(5), 2008). They are numbered the way
//! `cv2.connectedComponentsWithStats(mask, connectivity=8)` numbers them: OpenCV's
//! block-based algorithms scan 2×2 blocks in raster order, so labels follow the first
//! 2×2 block that holds a pixel of the component. All pixels of one 2×2 block are
//! 8-connected, so that order is well defined.

use std::ops::Range;

use crate::bitmap::BitMatrix;

/// A component: its pixel count and inclusive bounding box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Component {
    pub area: usize,
    pub x1: usize,
    pub y1: usize,
    pub x2: usize,
    pub y2: usize,
}

/// A run of set pixels `[start, end]` (inclusive) in row `y`.
#[derive(Clone, Copy, Debug)]
struct Run {
    y: usize,
    start: usize,
    end: usize,
}

/// The runs of every row, row by row, left to right.
fn runs_of(mask: &BitMatrix) -> (Vec<Run>, Vec<usize>) {
    runs_of_rows(mask.words(), mask.cols(), 0)
}

/// The runs of the rows of `words` (`cols` pixels a row, padding bits clear), numbered
/// from row `first`, and where each row's runs start (one more entry: the end).
fn runs_of_rows(words: &[u64], cols: usize, first: usize) -> (Vec<Run>, Vec<usize>) {
    let wpr = cols.div_ceil(64);
    let rows = words.len().checked_div(wpr).unwrap_or(0);
    let mut runs = Vec::new();
    let mut row_starts = Vec::with_capacity(rows + 1);
    for (i, row) in words.chunks_exact(wpr.max(1)).take(rows).enumerate() {
        let y = first + i;
        row_starts.push(runs.len());
        let mut x = 0;
        while x < cols {
            // Skip clear pixels a word at a time.
            let word = row[x / 64] >> (x % 64);
            if word == 0 {
                x = (x / 64 + 1) * 64;
                continue;
            }
            let start = x + word.trailing_zeros() as usize;
            let mut end = start;
            loop {
                let w = !row[end / 64] >> (end % 64);
                // `w` has a set bit at the first clear pixel from `end` on, if in this word.
                if w == 0 {
                    end = (end / 64 + 1) * 64;
                    if end >= cols {
                        break;
                    }
                } else {
                    end += w.trailing_zeros() as usize;
                    break;
                }
            }
            let end = end.min(cols);
            runs.push(Run {
                y,
                start,
                end: end - 1,
            });
            x = end;
        }
    }
    row_starts.push(runs.len());
    (runs, row_starts)
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]]; // path halving
        i = parent[i];
    }
    i
}

/// Joins the runs of each row to the 8-connected runs of the row above: afterwards
/// `find(parent, r)` is the same for exactly the runs of one component (the smallest
/// run index of it: roots are always the smaller index).
fn union_runs(runs: &[Run], row_starts: &[usize], rows: usize) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..runs.len()).collect();
    for y in 1..rows {
        let (above, here) = (
            row_starts[y - 1]..row_starts[y],
            row_starts[y]..row_starts[y + 1],
        );
        let mut j = above.start;
        for i in here {
            let run = runs[i];
            // Runs above that touch this one 8-connectedly: overlap of [start-1, end+1].
            while j < above.end && runs[j].end + 1 < run.start {
                j += 1;
            }
            let mut k = j;
            while k < above.end && runs[k].start <= run.end + 1 {
                let (a, b) = (find(&mut parent, i), find(&mut parent, k));
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
                k += 1;
            }
        }
    }
    parent
}

/// Labels the runs: `component[r]` is the component index (OpenCV's label − 1) of run
/// `r`, and the components in label order.
fn label_runs(mask: &BitMatrix) -> (Vec<Run>, Vec<usize>, Vec<Component>) {
    let (runs, row_starts) = runs_of(mask);
    let mut parent = union_runs(&runs, &row_starts, mask.rows());
    // Order components by their first 2×2 block in raster order.
    let block_cols = mask.cols().div_ceil(2);
    let mut first_block = vec![usize::MAX; runs.len()];
    for (r, run) in runs.iter().enumerate() {
        let root = find(&mut parent, r);
        first_block[root] = first_block[root].min((run.y / 2) * block_cols + run.start / 2);
    }
    let mut roots: Vec<usize> = (0..runs.len()).filter(|&r| parent[r] == r).collect();
    roots.sort_unstable_by_key(|&r| first_block[r]);
    let mut index_of_root = vec![usize::MAX; runs.len()];
    for (index, &root) in roots.iter().enumerate() {
        index_of_root[root] = index;
    }
    let mut components = vec![
        Component {
            area: 0,
            x1: usize::MAX,
            y1: usize::MAX,
            x2: 0,
            y2: 0,
        };
        roots.len()
    ];
    let mut component_of_run = Vec::with_capacity(runs.len());
    for (r, run) in runs.iter().enumerate() {
        let index = index_of_root[find(&mut parent, r)];
        component_of_run.push(index);
        let c = &mut components[index];
        c.area += run.end - run.start + 1;
        c.x1 = c.x1.min(run.start);
        c.x2 = c.x2.max(run.end);
        c.y1 = c.y1.min(run.y);
        c.y2 = c.y2.max(run.y);
    }
    (runs, component_of_run, components)
}

/// The 8-connected components of `mask`, in `cv2.connectedComponentsWithStats` label
/// order (background excluded).
///
/// ```
/// use anomaly_postprocess::bitmap::BitMatrix;
/// use anomaly_postprocess::regions::components;
/// let mask = BitMatrix::from_fn(4, 8, |y, x| (y, x) == (1, 0) || (y, x) == (0, 5));
/// let found = components(&mask);
/// // (1, 0) lies in the first 2×2 block, so OpenCV labels it first.
/// assert_eq!((found[0].x1, found[0].y1, found[1].x1), (0, 1, 5));
/// ```
pub fn components(mask: &BitMatrix) -> Vec<Component> {
    let bands = label_bands(mask);
    match components_in_bands::<f32>(mask, None, &bands) {
        Some(found) => found.into_iter().map(|(c, _)| c).collect(),
        None => label_runs(mask).2,
    }
}

/// The bands of rows a mask's components are labelled in (docs/behaviour.md#threads):
/// as every other pass, from 2 × [`crate::parallel::MIN_BAND_PIXELS`] pixels.
fn label_bands(mask: &BitMatrix) -> Vec<Range<usize>> {
    let (rows, cols) = (mask.rows(), mask.cols());
    crate::parallel::bands(rows, cols, crate::parallel::MIN_BAND_PIXELS, 1)
}

/// What a component of a band (or of several, joined) has gathered: its area and box,
/// its first 2×2 block in raster order (its label order) and, with a map, its maximum.
#[derive(Clone, Copy)]
struct Gathered<T> {
    component: Component,
    first_block: usize,
    max: Option<T>,
}

impl<T: crate::levels::MapFloat> Gathered<T> {
    /// Adds the pixels of `other` (another part of the same component).
    fn add(&mut self, other: &Gathered<T>) {
        let (c, o) = (&mut self.component, &other.component);
        c.area += o.area;
        c.x1 = c.x1.min(o.x1);
        c.y1 = c.y1.min(o.y1);
        c.x2 = c.x2.max(o.x2);
        c.y2 = c.y2.max(o.y2);
        self.first_block = self.first_block.min(other.first_block);
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(larger(a, b)),
            (a, b) => a.or(b),
        };
    }
}

/// The components of `mask` in label order, each with the maximum of `map` over it when
/// a map is given, labelled in `bands` in parallel: each band's runs and components
/// within the band, then (on one thread) the components that touch across band edges
/// joined. `None` when there is one band, and when a score is ±0 or NaN: its runs were
/// then folded in another order than the one-band labelling folds them, which can pick
/// the other zero or NaN ([`nan_ignoring_max`]); the caller labels on one thread.
fn components_in_bands<T: crate::levels::MapFloat>(
    mask: &BitMatrix,
    map: Option<ndarray::ArrayView2<'_, T>>,
    bands: &[Range<usize>],
) -> Option<Vec<(Component, Option<T>)>> {
    if bands.len() < 2 {
        return None;
    }
    let (rows, cols) = (mask.rows(), mask.cols());
    let wpr = mask.words_per_row();
    let words = ndarray::ArrayView2::from_shape((rows, wpr), mask.words())
        .expect("a mask is rows × words per row");
    let block_cols = cols.div_ceil(2);
    let found = crate::parallel::for_each_of_bands(bands, (words, map), |range, (words, map)| {
        let words = words.as_slice().expect("rows of a standard-layout mask");
        let labels = BandLabels::of(words, cols, range.start);
        // One entry per component of the band, in the order of their roots (their
        // first runs); `slot[root]` says where (per-run vectors of whole entries cost
        // page faults on large masks).
        let mut slot = vec![usize::MAX; labels.runs.len()];
        let mut gathered: Vec<(usize, Gathered<T>)> = Vec::new();
        for (i, (run, &root)) in labels.runs.iter().zip(&labels.root).enumerate() {
            if let (Some(map), Some(ahead)) = (map, labels.runs.get(i + RUNS_AHEAD)) {
                request_run(map.row(ahead.y - range.start), ahead);
            }
            let this = Gathered {
                component: Component {
                    area: run.end - run.start + 1,
                    x1: run.start,
                    y1: run.y,
                    x2: run.end,
                    y2: run.y,
                },
                first_block: (run.y / 2) * block_cols + run.start / 2,
                max: map.map(|m| run_max(m.row(run.y - range.start), run)),
            };
            match slot[root] {
                usize::MAX => {
                    slot[root] = gathered.len();
                    gathered.push((root, this));
                }
                at => gathered[at].1.add(&this),
            }
        }
        (labels, gathered)
    });
    let labels: Vec<&BandLabels> = found.iter().map(|(labels, _)| labels).collect();
    let (mut parent, offsets) = join_seams(&labels);
    let mut slot = vec![usize::MAX; parent.len()];
    let mut joined: Vec<Gathered<T>> = Vec::new();
    for ((_, gathered), &offset) in found.iter().zip(&offsets) {
        for (root, g) in gathered {
            let top = find(&mut parent, offset + root);
            match slot[top] {
                usize::MAX => {
                    slot[top] = joined.len();
                    joined.push(*g);
                }
                at => joined[at].add(g),
            }
        }
    }
    let mut all = joined;
    // A zero or NaN score may depend on the order its runs were folded in.
    #[allow(clippy::eq_op)] // NaN is the one value not equal to itself
    let order_dependent = |v: T| v != v || v == T::ZERO;
    if all.iter().any(|g| g.max.is_some_and(order_dependent)) {
        return None;
    }
    all.sort_unstable_by_key(|g| g.first_block);
    Some(all.into_iter().map(|g| (g.component, g.max)).collect())
}

/// How many runs ahead of the one being scored [`request_run`] asks for a run's map
/// pixels. Runs jump across the map (one row's runs lie in different components), so
/// the hardware prefetchers cannot follow them, and with one miss at a time scoring
/// a mask took a DRAM latency per run. Measured on the 2-core development VM (5 MP
/// smooth map at 0.7, 18 883 runs, single thread): the scores cost 1.4–1.9 ms
/// without, 0.7 ms with 16 runs ahead (8 and 48: the same).
const RUNS_AHEAD: usize = 16;

/// Requests into cache the map pixels of `run` (a few runs before they are scored).
fn request_run<T>(row: ndarray::ArrayView1<'_, T>, run: &Run) {
    match row.to_slice() {
        Some(values) => crate::simd::prefetch::lines_of(&values[run.start..=run.end]),
        None => crate::simd::prefetch::lines_of(std::slice::from_ref(&row[run.start])),
    }
}

/// The NaN-ignoring maximum of `run`'s pixels in its map row.
fn run_max<T: crate::levels::MapFloat>(row: ndarray::ArrayView1<'_, T>, run: &Run) -> T {
    match row.as_slice() {
        Some(values) => nan_ignoring_max(&values[run.start..=run.end]),
        None => (run.start + 1..=run.end).fold(row[run.start], |m, x| larger(m, row[x])),
    }
}

/// Clears the 8-connected components of fewer than `min_area` pixels.
///
/// ```
/// use anomaly_postprocess::bitmap::BitMatrix;
/// use anomaly_postprocess::regions::remove_small_components;
/// let mut mask = BitMatrix::from_fn(3, 6, |y, x| x < 2 || (y, x) == (0, 5));
/// remove_small_components(&mut mask, 2);
/// assert_eq!(mask, BitMatrix::from_fn(3, 6, |_, x| x < 2));
/// ```
pub fn remove_small_components(mask: &mut BitMatrix, min_area: usize) {
    if min_area <= 1 {
        return;
    }
    let (rows, cols) = (mask.rows(), mask.cols());
    let bands = crate::parallel::bands(rows, cols, crate::parallel::MIN_BAND_PIXELS, 1);
    remove_small_in_bands(mask, min_area, &bands);
}

/// [`remove_small_components`] on given bands of rows (`min_area ≥ 2`).
fn remove_small_in_bands(mask: &mut BitMatrix, min_area: usize, bands: &[Range<usize>]) {
    let (rows, cols) = (mask.rows(), mask.cols());
    if let [_] = bands {
        let labels = BandLabels::of(mask.words(), cols, 0);
        let keep: Vec<bool> = labels.area.iter().map(|&a| a >= min_area).collect();
        labels.clear_small(mask.words_mut(), cols, 0, &keep);
        return;
    }
    // In bands of rows in parallel (docs/behaviour.md#threads): each band's runs and
    // their components within the band, then (on one thread) the components that
    // touch across band edges joined, then each band clears its runs of small ones.
    let wpr = mask.words_per_row();
    let words = ndarray::ArrayView2::from_shape((rows, wpr), mask.words())
        .expect("a mask is rows × words per row");
    let labels = crate::parallel::for_each_of_bands(bands, words, |range, words| {
        let words = words.as_slice().expect("rows of a standard-layout mask");
        BandLabels::of(words, cols, range.start)
    });
    let keep = join_bands(&labels, min_area);
    let mask_rows = crate::parallel::SliceRows {
        items: mask.words_mut(),
        per_row: wpr,
    };
    crate::parallel::for_each_of_bands(bands, mask_rows, |range, rows| {
        let i = bands.partition_point(|b| b.start < range.start);
        debug_assert_eq!(bands[i], range);
        labels[i].clear_small(rows.items, cols, range.start, &keep[i]);
    });
}

/// The runs of some rows and their components within those rows: `root[r]` is the
/// smallest run index of run `r`'s component, `area` its pixel count at roots (0 at
/// other runs).
struct BandLabels {
    runs: Vec<Run>,
    row_starts: Vec<usize>,
    root: Vec<usize>,
    area: Vec<usize>,
}

impl BandLabels {
    /// The labels of the rows of `words` (`cols` pixels a row), numbered from `first`.
    fn of(words: &[u64], cols: usize, first: usize) -> BandLabels {
        let (runs, row_starts) = runs_of_rows(words, cols, first);
        let mut root = union_runs(&runs, &row_starts, row_starts.len() - 1);
        let mut area = vec![0; runs.len()];
        for (r, run) in runs.iter().enumerate() {
            // Roots come before their runs, so one look up the (already flat) tree
            // suffices.
            let top = root[root[r]];
            root[r] = top;
            area[top] += run.end - run.start + 1;
        }
        BandLabels {
            runs,
            row_starts,
            root,
            area,
        }
    }

    /// Clears, in `words` (the rows from `first` on, `cols` pixels a row), the runs whose
    /// root is not kept.
    fn clear_small(&self, words: &mut [u64], cols: usize, first: usize, keep: &[bool]) {
        let wpr = cols.div_ceil(64);
        for (run, &root) in self.runs.iter().zip(&self.root) {
            if !keep[root] {
                let at = (run.y - first) * wpr;
                clear_bits(&mut words[at..at + wpr], run.start, run.end);
            }
        }
    }
}

/// A union-find over all bands' runs (band `i`'s numbered after those of the bands
/// before it, starting at `offsets[i]`) in which each band's components are joined to
/// the next band's that touch them 8-connectedly across the edge between the two (the
/// last row of one, the first row of the next). Returns `(parent, offsets)`.
fn join_seams(bands: &[&BandLabels]) -> (Vec<usize>, Vec<usize>) {
    let offsets: Vec<usize> = bands
        .iter()
        .scan(0, |total, b| {
            let at = *total;
            *total += b.runs.len();
            Some(at)
        })
        .collect();
    let total = offsets
        .last()
        .zip(bands.last())
        .map_or(0, |(o, b)| o + b.runs.len());
    let mut parent: Vec<usize> = (0..total).collect();
    for (i, pair) in bands.windows(2).enumerate() {
        let (upper, lower) = (pair[0], pair[1]);
        let rows = upper.row_starts.len() - 1;
        let above = upper.row_starts[rows - 1]..upper.row_starts[rows];
        let here = lower.row_starts[0]..lower.row_starts[1];
        let mut j = above.start;
        for k in here {
            let run = lower.runs[k];
            while j < above.end && upper.runs[j].end + 1 < run.start {
                j += 1;
            }
            let mut m = j;
            while m < above.end && upper.runs[m].start <= run.end + 1 {
                let a = find(&mut parent, offsets[i] + upper.root[m]);
                let b = find(&mut parent, offsets[i + 1] + lower.root[k]);
                if a != b {
                    parent[a.max(b)] = a.min(b);
                }
                m += 1;
            }
        }
    }
    (parent, offsets)
}

/// Whether each run's component (as a root of its band) has at least `min_area` pixels,
/// components joined across band edges: a union-find over all bands' runs (band `i`'s
/// numbered after those of the bands before it) that joins the 8-connected runs of each
/// band's last row and the next band's first row, then sums areas per joined component.
fn join_bands(bands: &[BandLabels], min_area: usize) -> Vec<Vec<bool>> {
    let (mut parent, offsets) = join_seams(&bands.iter().collect::<Vec<_>>());
    let total = parent.len();
    let mut area = vec![0; total];
    for (band, &offset) in bands.iter().zip(&offsets) {
        for (r, &a) in band.area.iter().enumerate() {
            if a > 0 {
                let top = find(&mut parent, offset + r);
                area[top] += a;
            }
        }
    }
    bands
        .iter()
        .zip(&offsets)
        .map(|(band, &offset)| {
            (0..band.runs.len())
                .map(|r| band.area[r] > 0 && area[find(&mut parent, offset + r)] >= min_area)
                .collect()
        })
        .collect()
}

/// Clears bits `lo..=hi` of a row of words.
fn clear_bits(row: &mut [u64], lo: usize, hi: usize) {
    let (first, last) = (lo / 64, hi / 64);
    let head = u64::MAX << (lo % 64);
    let tail = u64::MAX >> (63 - hi % 64);
    if first == last {
        row[first] &= !(head & tail);
    } else {
        row[first] &= !head;
        row[first + 1..last].fill(0);
        row[last] &= !tail;
    }
}

/// The 8-connected components of `mask` (as [`components`]), each with the maximum of
/// `map` over its pixels: anomalib's box score (`masks_to_boxes(masks, anomaly_maps)`).
/// NaN values are ignored; a component whose values are all NaN scores NaN. A maximum
/// is one of the values, so the score is exact (of two equal zeros, either sign).
///
/// ```
/// use anomaly_postprocess::bitmap::BitMatrix;
/// use anomaly_postprocess::regions::components_with_max;
/// let mask = BitMatrix::from_fn(2, 5, |_, x| x != 2);
/// let map = ndarray::array![[0.5f32, f32::NAN, 9.0, 1.0, 2.0], [0.25, 0.75, 9.0, f32::NAN, 1.5]];
/// let found = components_with_max(&mask, map.view()).unwrap();
/// let scores: Vec<f32> = found.iter().map(|&(_, score)| score).collect();
/// assert_eq!(scores, vec![0.75, 2.0]);
/// ```
pub fn components_with_max<T: crate::levels::MapFloat>(
    mask: &BitMatrix,
    map: ndarray::ArrayView2<'_, T>,
) -> Result<Vec<(Component, T)>, crate::KernelError> {
    crate::error::check_shape("anomaly_map", &[mask.rows(), mask.cols()], map.shape())?;
    if let Some(found) = components_in_bands(mask, Some(map), &label_bands(mask)) {
        let scored = found
            .into_iter()
            .map(|(c, max)| (c, max.expect("a map was given")));
        return Ok(scored.collect());
    }
    Ok(components_with_max_on_one_thread(mask, map))
}

/// [`components_with_max`] labelled in one pass over all rows, its runs folded in
/// raster order.
fn components_with_max_on_one_thread<T: crate::levels::MapFloat>(
    mask: &BitMatrix,
    map: ndarray::ArrayView2<'_, T>,
) -> Vec<(Component, T)> {
    let (runs, component_of_run, components) = label_runs(mask);
    let mut best: Vec<Option<T>> = vec![None; components.len()];
    for (i, (run, &c)) in runs.iter().zip(&component_of_run).enumerate() {
        if let Some(ahead) = runs.get(i + RUNS_AHEAD) {
            request_run(map.row(ahead.y), ahead);
        }
        let run_max = run_max(map.row(run.y), run);
        best[c] = Some(best[c].map_or(run_max, |b| larger(b, run_max)));
    }
    let scores = best
        .into_iter()
        .map(|b| b.expect("every component has a run"));
    components.into_iter().zip(scores).collect()
}

/// The score rule's step: `v` beats `best` when larger, or when `best` is NaN. NaN
/// compares false both ways: it neither wins nor, once beaten, comes back.
#[inline(always)]
fn larger<T: PartialOrd + Copy>(best: T, v: T) -> T {
    #[allow(clippy::eq_op)] // NaN is the one value not equal to itself
    let best_is_nan = best != best;
    if v > best || best_is_nan {
        v
    } else {
        best
    }
}

/// `values` (not empty) folded left to right with [`larger`], without the fold's
/// chain of dependent compares: 8 lanes fold independently, then combine. The lanes
/// change only which of several equal values wins, which matters only for ±0 (equal,
/// but different bytes) and NaN (all NaN: the fold ends on the last one); for those the
/// plain fold runs instead, so the result is always the fold's.
fn nan_ignoring_max<T: crate::levels::MapFloat>(values: &[T]) -> T {
    const LANES: usize = 8;
    let sequential = || values[1..].iter().fold(values[0], |m, &v| larger(m, v));
    if values.len() < 2 * LANES {
        return sequential();
    }
    let mut lanes = [T::from_f64(f64::NAN); LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = larger(*lane, v);
        }
    }
    let lanes_max = lanes
        .into_iter()
        .chain(tail.iter().copied())
        .fold(lanes[0], larger);
    #[allow(clippy::eq_op)]
    let is_nan = lanes_max != lanes_max;
    if is_nan || lanes_max == T::ZERO {
        sequential()
    } else {
        lanes_max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lanes_max_is_the_folds() {
        // Values from a small set with ±0, NaNs of different payloads and ties, so that
        // every case of the fallback and of equal values comes up.
        let pool32 = [
            0.0f32,
            -0.0,
            1.5,
            -2.0,
            1.5,
            f32::NAN,
            f32::from_bits(0x7fc0_0001),
            7.0,
        ];
        let mut seed = 0x9e37_79b9_u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for len in 1..80 {
            for _ in 0..200 {
                // Half the vectors without a positive value: their maximum is ±0 or NaN.
                let choices = if next() % 2 == 0 { 8 } else { 5 };
                let pick = |r: u32| pool32[[0, 1, 3, 5, 6, 2, 4, 7][r as usize % choices]];
                let values: Vec<f32> = (0..len).map(|_| pick(next())).collect();
                let fold = values[1..].iter().fold(values[0], |m, &v| larger(m, v));
                assert_eq!(
                    nan_ignoring_max(&values).to_bits(),
                    fold.to_bits(),
                    "{values:?}"
                );
                let wide: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
                let fold = wide[1..].iter().fold(wide[0], |m, &v| larger(m, v));
                assert_eq!(
                    nan_ignoring_max(&wide).to_bits(),
                    fold.to_bits(),
                    "{wide:?}"
                );
            }
        }
    }

    /// Flood fill from the definition, for comparison.
    fn naive_areas(mask: &BitMatrix) -> Vec<usize> {
        let (h, w) = (mask.rows(), mask.cols());
        let mut seen = vec![false; h * w];
        let mut areas = Vec::new();
        for y in 0..h {
            for x in 0..w {
                if !mask.get(y, x) || seen[y * w + x] {
                    continue;
                }
                let mut stack = vec![(y, x)];
                seen[y * w + x] = true;
                let mut area = 0;
                while let Some((cy, cx)) = stack.pop() {
                    area += 1;
                    for dy in -1i64..=1 {
                        for dx in -1i64..=1 {
                            let (ny, nx) = (cy as i64 + dy, cx as i64 + dx);
                            if ny < 0 || nx < 0 || ny >= h as i64 || nx >= w as i64 {
                                continue;
                            }
                            let (ny, nx) = (ny as usize, nx as usize);
                            if mask.get(ny, nx) && !seen[ny * w + nx] {
                                seen[ny * w + nx] = true;
                                stack.push((ny, nx));
                            }
                        }
                    }
                }
                areas.push(area);
            }
        }
        areas
    }

    #[test]
    fn areas_match_flood_fill() {
        let mut state = 0x1234_5678_9ABC_DEF1u64;
        let sizes = [(1, 1), (1, 70), (70, 1), (9, 130), (33, 65), (64, 64)];
        // Under Miri (minutes past these) the small sizes.
        let sizes = if cfg!(miri) { &sizes[..4] } else { &sizes[..] };
        for &(h, w) in sizes {
            for density in [20, 45, 60] {
                let mask = BitMatrix::from_fn(h, w, |_, _| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state % 100 < density
                });
                let mut ours: Vec<usize> = components(&mask).iter().map(|c| c.area).collect();
                let mut theirs = naive_areas(&mask);
                ours.sort_unstable();
                theirs.sort_unstable();
                assert_eq!(ours, theirs, "{h}x{w} density {density}");
                assert_eq!(ours.iter().sum::<usize>(), mask.count_ones());
            }
        }
    }

    /// `remove_small_components` from the definition: a flood fill per component.
    fn naive_removal(mask: &BitMatrix, min_area: usize) -> BitMatrix {
        let (h, w) = (mask.rows(), mask.cols());
        let mut label = vec![usize::MAX; h * w];
        let mut areas = Vec::new();
        for y in 0..h {
            for x in 0..w {
                if !mask.get(y, x) || label[y * w + x] != usize::MAX {
                    continue;
                }
                let id = areas.len();
                label[y * w + x] = id;
                let (mut stack, mut area) = (vec![(y, x)], 0);
                while let Some((cy, cx)) = stack.pop() {
                    area += 1;
                    for ny in cy.saturating_sub(1)..(cy + 2).min(h) {
                        for nx in cx.saturating_sub(1)..(cx + 2).min(w) {
                            if mask.get(ny, nx) && label[ny * w + nx] == usize::MAX {
                                label[ny * w + nx] = id;
                                stack.push((ny, nx));
                            }
                        }
                    }
                }
                areas.push(area);
            }
        }
        BitMatrix::from_fn(h, w, |y, x| {
            mask.get(y, x) && areas[label[y * w + x]] >= min_area
        })
    }

    #[test]
    fn removal_matches_flood_fill() {
        let mut state = 0x5EED_0FC0_FFEE_1100u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let sizes = [
            (1, 1),
            (1, 200),
            (70, 1),
            (9, 130),
            (33, 65),
            (64, 64),
            (40, 257),
        ];
        let sizes = if cfg!(miri) { &sizes[..4] } else { &sizes[..] };
        for &(h, w) in sizes {
            for density in [20, 45, 60, 97] {
                // Noise, and long runs (runs across words, rows of one component).
                let noise = BitMatrix::from_fn(h, w, |_, _| next() % 100 < density);
                let bars =
                    BitMatrix::from_fn(h, w, |y, x| (x * 3 + y * 5) % (density as usize + 7) < 60);
                for mask in [noise, bars] {
                    for min_area in [0, 1, 2, 3, 5, 17, 64, 65, 300, 10_000] {
                        let mut ours = mask.clone();
                        remove_small_components(&mut ours, min_area);
                        assert_eq!(
                            ours,
                            naive_removal(&mask, min_area),
                            "{h}x{w} {density} {min_area}"
                        );
                    }
                }
            }
        }
    }

    /// Masks with components across band edges (noise, long vertical bars and
    /// diagonals) of several sizes, each with the splits to try: bands of one row, of
    /// two, uneven ones. `next` draws the noise.
    #[allow(clippy::type_complexity)]
    fn banded_cases(
        mut next: impl FnMut() -> u64,
    ) -> Vec<(usize, usize, Vec<BitMatrix>, Vec<Vec<Range<usize>>>)> {
        let sizes: &[(usize, usize)] = if cfg!(miri) {
            &[(7, 9), (5, 70)]
        } else {
            &[(7, 9), (5, 70), (40, 130), (97, 65), (64, 1)]
        };
        let mut cases = Vec::new();
        for &(h, w) in sizes {
            let masks = vec![
                BitMatrix::from_fn(h, w, |_, _| next() % 100 < 55),
                BitMatrix::from_fn(h, w, |y, x| x % 9 == 0 || (x + y) % 13 == 0),
                BitMatrix::from_fn(h, w, |y, x| (x * 7 + y * 3) % 11 < 4),
            ];
            let mut splits: Vec<Vec<Range<usize>>> = [2, 3, 7]
                .into_iter()
                .filter(|&k| k <= h)
                .map(|k| crate::parallel::band_rows(h, k))
                .collect();
            splits.push((0..h).map(|y| y..y + 1).collect());
            if h > 3 {
                splits.push(vec![0..1, 1..h - 2, h - 2..h]);
            }
            cases.push((h, w, masks, splits));
        }
        cases
    }

    #[test]
    fn labelling_in_bands_matches_one_band() {
        // Maps with distinct values (the bands' scores are returned) and with zeros and
        // NaN (some are not: the caller falls back).
        let mut state = 0x1ABE_1B0D_0000_0001u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (h, w, masks, splits) in banded_cases(&mut next) {
            let distinct =
                ndarray::Array2::from_shape_fn((h, w), |_| (next() % 1_000_000) as f64 + 1.0);
            let signed_zeros = ndarray::Array2::from_shape_fn((h, w), |_| match next() % 4 {
                0 => 0.0,
                1 => -0.0,
                2 => f64::NAN,
                _ => -1.0,
            });
            for mask in &masks {
                let expected = label_runs(mask).2;
                let scored = components_with_max_on_one_thread(mask, distinct.view());
                let zeros = components_with_max_on_one_thread(mask, signed_zeros.view());
                for bands in splits.iter().filter(|b| b.len() > 1) {
                    let boxes = components_in_bands::<f64>(mask, None, bands).unwrap();
                    let boxes: Vec<Component> = boxes.into_iter().map(|(c, _)| c).collect();
                    assert_eq!(boxes, expected, "{h}x{w} {bands:?}");
                    let ours = components_in_bands(mask, Some(distinct.view()), bands).unwrap();
                    let ours: Vec<(Component, f64)> =
                        ours.into_iter().map(|(c, m)| (c, m.unwrap())).collect();
                    assert_eq!(ours, scored, "{h}x{w} {bands:?}");
                    // With ±0 and NaN scores, bands give either the same scores (to the
                    // bit) or none.
                    if let Some(ours) = components_in_bands(mask, Some(signed_zeros.view()), bands)
                    {
                        assert_eq!(ours.len(), zeros.len());
                        let bits = |v: f64| v.to_bits();
                        for ((c, m), (e, z)) in ours.iter().zip(&zeros) {
                            assert_eq!((c, bits(m.unwrap())), (e, bits(*z)), "{h}x{w} {bands:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn removal_in_bands_matches_flood_fill() {
        let mut state = 0xBA4D_5EED_0000_0001u64;
        let next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (h, w, masks, splits) in banded_cases(next) {
            // Under Miri (seconds a call) two areas.
            let areas: &[usize] = if cfg!(miri) {
                &[2, 9]
            } else {
                &[2, 3, 9, 40, 200, 100_000]
            };
            for mask in &masks {
                for &min_area in areas {
                    let expected = naive_removal(mask, min_area);
                    for bands in &splits {
                        let mut ours = mask.clone();
                        remove_small_in_bands(&mut ours, min_area, bands);
                        assert_eq!(ours, expected, "{h}x{w} min_area {min_area} {bands:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn diagonal_pixels_are_connected() {
        let mask = BitMatrix::from_fn(4, 4, |y, x| y == x);
        assert_eq!(components(&mask).len(), 1);
    }

    #[test]
    fn full_rows_across_word_boundaries() {
        let mask = BitMatrix::from_fn(2, 200, |y, x| y == 0 || x == 199);
        let found = components(&mask);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].area, found[0].x2, found[0].y2), (201, 199, 1));
    }

    /// Flood fill from the definition: each component's area, box and NaN-ignoring max.
    fn naive_scores(mask: &BitMatrix, map: &ndarray::Array2<f64>) -> Vec<(usize, [usize; 4], f64)> {
        let (h, w) = (mask.rows(), mask.cols());
        let mut seen = vec![false; h * w];
        let mut found = Vec::new();
        for y in 0..h {
            for x in 0..w {
                if !mask.get(y, x) || seen[y * w + x] {
                    continue;
                }
                seen[y * w + x] = true;
                let mut stack = vec![(y, x)];
                let (mut area, mut bbox, mut best) = (0, [x, y, x, y], f64::NAN);
                while let Some((cy, cx)) = stack.pop() {
                    area += 1;
                    bbox = [
                        bbox[0].min(cx),
                        bbox[1].min(cy),
                        bbox[2].max(cx),
                        bbox[3].max(cy),
                    ];
                    let v = map[[cy, cx]];
                    if !v.is_nan() && (best.is_nan() || v > best) {
                        best = v;
                    }
                    for ny in cy.saturating_sub(1)..(cy + 2).min(h) {
                        for nx in cx.saturating_sub(1)..(cx + 2).min(w) {
                            if mask.get(ny, nx) && !seen[ny * w + nx] {
                                seen[ny * w + nx] = true;
                                stack.push((ny, nx));
                            }
                        }
                    }
                }
                found.push((area, bbox, best));
            }
        }
        found
    }

    #[test]
    fn scores_match_flood_fill_maxima() {
        let mut state = 0x0DDB_1A5E_5BAD_5EEDu64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (h, w) in [(1, 1), (1, 70), (70, 1), (9, 130), (33, 65), (64, 64)] {
            for density in [20, 45, 60, 95] {
                let mask = BitMatrix::from_fn(h, w, |_, _| next() % 100 < density);
                let map = ndarray::Array2::from_shape_fn((h, w), |_| match next() % 10 {
                    0 => f64::NAN,
                    1 => f64::NEG_INFINITY,
                    2 => -0.0,
                    _ => (next() % 1000) as f64 / 7.0 - 50.0,
                });
                // NaN payloads may differ; any NaN is the same score.
                let key = |(area, bbox, score): (usize, [usize; 4], f64)| {
                    (
                        area,
                        bbox,
                        if score.is_nan() {
                            u64::MAX
                        } else {
                            score.to_bits()
                        },
                    )
                };
                let mut ours: Vec<_> = components_with_max(&mask, map.view())
                    .unwrap()
                    .into_iter()
                    .map(|(c, score)| key((c.area, [c.x1, c.y1, c.x2, c.y2], score + 0.0)))
                    .collect();
                let mut theirs: Vec<_> = naive_scores(&mask, &map)
                    .into_iter()
                    .map(|(a, b, s)| key((a, b, s + 0.0)))
                    .collect();
                ours.sort_unstable();
                theirs.sort_unstable();
                assert_eq!(ours, theirs, "{h}x{w} density {density}");
                // The same components, in the same order, as without a map.
                let plain: Vec<Component> = components_with_max(&mask, map.view())
                    .unwrap()
                    .into_iter()
                    .map(|(c, _)| c)
                    .collect();
                assert_eq!(plain, components(&mask));
            }
        }
    }

    #[test]
    fn all_nan_component_scores_nan_and_f32_works() {
        let mask = BitMatrix::from_fn(3, 4, |y, x| x == 0 || (y == 1 && x == 3));
        let map = ndarray::array![
            [f32::NAN, 0.0, 0.0, 0.0],
            [f32::NAN, 0.0, 0.0, f32::INFINITY],
            [f32::NAN, 0.0, 0.0, 0.0]
        ];
        let found = components_with_max(&mask, map.view()).unwrap();
        assert!(found[0].1.is_nan());
        assert_eq!(found[1].1, f32::INFINITY);
        assert!(components_with_max(&mask, map.t()).is_err());
    }
}
