//! The defect mask, `compute_mask`: threshold (docs/behaviour.md#threshold), opening
//! with a disk and small components removed (docs/behaviour.md#opening,
//! docs/behaviour.md#regions), then 0/255 bytes.
//!
//! Owns the threshold's comparison precision, the bit-packed mask's round trip (packed
//! by the threshold, unpacked to bytes at the end) and the one choice between the
//! portable unpacking loop and the hand-written AVX-512 BW one of `avx512.rs`. The
//! opening itself is [`crate::morphology`], the components [`crate::regions`].

#[cfg(target_arch = "x86_64")]
mod avx512;

use std::cell::Cell;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::bitmap::BitMatrix;
use crate::error::{check_shape, KernelError};
use crate::levels::MapFloat;
use crate::morphology::open_disk_in_place;
use crate::parallel::{
    band_rows, bands, for_each_band, for_each_of_bands_on, on_one_thread, SliceRows,
};
use crate::regions::remove_small_components;
use crate::rows::for_each_row;
use crate::simd::multiversioned;

/// `map > threshold`, bit-packed.
///
/// `threshold` must already be rounded to the precision numpy compares in
/// (docs/behaviour.md#threshold: the map's dtype for a Python number, the common dtype
/// for a numpy scalar) and must not be NaN; every value of that precision is exact in
/// `f64`. Comparing `v > t` for `v` of type `T` is then exact as
/// `v > T::floor_from_f64(t)`. NaN is never above.
///
/// ```
/// use anomaly_postprocess::mask::threshold_bits;
/// let map = ndarray::array![[0.1f32, 0.2, f32::NAN]];
/// let bits = threshold_bits(map.view(), f64::from(0.1f32));
/// assert_eq!((bits.get(0, 0), bits.get(0, 1), bits.get(0, 2)), (false, true, false));
/// // numpy's np.float64(0.1) threshold: f32(0.1) = 0.100000001 is above it.
/// assert!(threshold_bits(map.view(), 0.1).get(0, 0));
/// ```
pub fn threshold_bits<T: MapFloat>(map: ArrayView2<'_, T>, threshold: f64) -> BitMatrix {
    threshold_bits_reusing(map, threshold, Vec::new())
}

multiversioned! {
    /// Packs `map > t` into `words` (its rows' words), compiled for each SIMD target:
    /// the threshold's row kernel, on the bands of [`threshold_bits`] and the strips of
    /// `crate::frame`. `t` is `T::floor_from_f64` of the threshold.
    pub(crate) fn threshold_rows<T: MapFloat>(map: ArrayView2<'_, T>, t: T, words: &mut [u64]) {
        BitMatrix::pack_rows(map, |v| v > t, words)
    }
}

/// [`threshold_bits`] into the memory of `words` (see
/// [`BitMatrix::from_view_reusing`]), in bands of rows in parallel
/// (docs/behaviour.md#threads): each band packs whole rows of words.
fn threshold_bits_reusing<T: MapFloat>(
    map: ArrayView2<'_, T>,
    threshold: f64,
    mut words: Vec<u64>,
) -> BitMatrix {
    let (rows, cols) = map.dim();
    let per_row = cols.div_ceil(64);
    words.clear();
    words.resize(rows * per_row, 0);
    let t = T::floor_from_f64(threshold);
    let bits = SliceRows {
        items: &mut words,
        per_row,
    };
    for_each_band(rows, cols, (map, bits), |_, (map, bits)| {
        threshold_rows(map, t, bits.items)
    });
    BitMatrix::from_words(rows, cols, words)
}

thread_local! {
    /// The memory of this thread's last packed mask, reused by its next call, so that a
    /// call writing into a preallocated `out` allocates nothing of image size.
    static MASK_WORDS: Cell<Vec<u64>> = const { Cell::new(Vec::new()) };
}

/// The largest packed mask a thread keeps between calls: 8 MiB, a 8192×8192 map.
const RETAINED_MASK_WORDS: usize = 1 << 20;

/// The memory this thread kept from its last packed mask (see [`keep_mask_words`]),
/// for a new one.
pub(crate) fn take_mask_words() -> Vec<u64> {
    MASK_WORDS.take()
}

/// Keeps the memory of a finished packed mask for this thread's next call, unless it
/// is larger than [`RETAINED_MASK_WORDS`].
pub(crate) fn keep_mask_words(words: Vec<u64>) {
    if words.capacity() <= RETAINED_MASK_WORDS {
        MASK_WORDS.set(words);
    }
}

/// `SPREAD[b]` holds, in little-endian byte order, 0xFF for each set bit of `b`.
static SPREAD: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut bit = 0;
        while bit < 8 {
            if b >> bit & 1 == 1 {
                table[b] |= 0xFF << (8 * bit);
            }
            bit += 1;
        }
        b += 1;
    }
    table
};

/// Writes 255 for each set bit and 0 for each clear one, eight pixels per lookup.
#[inline(always)]
fn unpack_row(bits: &[u64], out: &mut [u8]) {
    let full_words = out.len() / 64;
    let mut pixels = out.chunks_exact_mut(64);
    for (px, &word) in (&mut pixels).zip(bits) {
        for (i, eight) in px.chunks_exact_mut(8).enumerate() {
            let byte = (word >> (8 * i)) as u8;
            eight.copy_from_slice(&SPREAD[byte as usize].to_le_bytes());
        }
    }
    let tail = pixels.into_remainder();
    if let Some(&word) = bits.get(full_words) {
        for (i, px) in tail.iter_mut().enumerate() {
            *px = 0u8.wrapping_sub((word >> i) as u8 & 1);
        }
    }
}

multiversioned! {
    /// The portable unpacking: [`unpack_row`] on every row, compiled for each SIMD target.
    fn unpack_rows_portable(bits: &BitMatrix, first: usize, out: ArrayViewMut2<'_, u8>) {
        for_each_row(out, |y, px| {
            unpack_row(bits.row(first + y), px);
            true
        });
    }
}

/// Writes 255 for each set bit of rows `first..` of `bits` and 0 for each clear one into
/// `out`, with the hand-written AVX-512 BW loop where the CPU has it, else the portable
/// loop.
fn unpack_band(bits: &BitMatrix, first: usize, out: ArrayViewMut2<'_, u8>) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx512bw_enabled() {
        // SAFETY: avx512bw_enabled() checked that the CPU has AVX-512 F and BW, the
        // features avx512::unpack_rows is compiled for and all it requires.
        return unsafe { avx512::unpack_rows(bits, first, out) };
    }
    unpack_rows_portable(bits, first, out)
}

/// [`unpack_band`] of every row, in bands of rows in parallel
/// (docs/behaviour.md#threads).
pub(crate) fn unpack_rows(bits: &BitMatrix, out: ArrayViewMut2<'_, u8>) {
    let (rows, cols) = out.dim();
    for_each_band(rows, cols, out, |range, out| {
        unpack_band(bits, range.start, out)
    });
}

/// A band's block is its rows and this many times the opening's reach above and below
/// them (see [`opened_block`]); a map is split for the fused path only into bands at
/// least [`MIN_BAND_REACHES`] reaches tall, so that the rows done twice stay few.
const BLOCK_REACHES: usize = 2;
const MIN_BAND_REACHES: usize = 16;

/// Where bands stay at least [`MIN_SHARED_BAND_REACHES`] reaches tall (the rows done
/// twice at most an eighth), a split map gets this many bands per thread, taken off a
/// shared counter as in `for_each_band`: a pool thread that wakes late (after an idle
/// millisecond or two, about 0.3 ms on the development VM) then takes the bands the
/// calling thread has not started, instead of the calling thread waiting for the late
/// thread's whole band. Measured there (2 threads; 1024 × 1024 and 2048 × 2448, noise
/// and smooth maps, k = 1, 4, 16; medians of 40): with 2 ms between calls 1.03–1.12×
/// one thread's speed at 2048 × 2448 (one band a thread: 0.97–1.10×), back to back
/// 1.48–1.85× (one band a thread: 1.44–1.77×).
const SHARED_BANDS_PER_THREAD: usize = 2;
const MIN_SHARED_BAND_REACHES: usize = 32;

/// The fewest pixels a band of `compute_mask` with an opening gets: split from twice
/// this many pixels (1024 × 1024), as every other pass. Measured on the 2-core
/// development VM (quiet; float32 maps of uniform noise and of smooth blobs at the
/// median, medians of 60 calls, 1 → 2 threads, one process): at 1024 × 1024 k = 4
/// 0.16-0.25 → 0.11-0.20 ms with the map in cache, 0.38-0.56 → 0.37-0.47 ms with the
/// caches evicted between calls, k = 16 0.28-0.40 → 0.19-0.28 ms; earlier, at
/// 1448 × 1448 1.8-1.9× and 2048 × 2448 1.7-1.85×.
const MIN_MASK_BAND_PIXELS: usize = crate::parallel::MIN_BAND_PIXELS;

thread_local! {
    /// The memory of this thread's last band block ([`opened_block`]), as
    /// [`MASK_WORDS`] for whole masks.
    static BLOCK_WORDS: Cell<Vec<u64>> = const { Cell::new(Vec::new()) };
}

/// The threshold and the opening of the map rows `range` of one band, from the block of
/// rows `range` widened by twice the disk's reach (clipped to the map): the erosion of a
/// row reads the rows within reach, and the dilation of a band row the eroded rows within
/// reach, so rows `range` of the block's opening are those of the whole map's, whatever
/// the block's own edges do to the rows near them. Returns the block and the index of
/// `range.start` in it.
fn opened_block<T: MapFloat>(
    map: ArrayView2<'_, T>,
    threshold: f64,
    kernel_size: u64,
    range: std::ops::Range<usize>,
    reach: usize,
) -> (BitMatrix, usize) {
    let rows = map.nrows();
    let (from, to) = block_rows(rows, &range, reach);
    let block = map.slice(ndarray::s![from..to, ..]);
    let mut bits = threshold_bits_reusing(block, threshold, BLOCK_WORDS.take());
    open_disk_in_place(&mut bits, kernel_size);
    (bits, range.start - from)
}

/// The rows `from..to` of a band's block: rows `range` and twice the disk's reach
/// around them, clipped to the `rows` of the map.
fn block_rows(rows: usize, range: &std::ops::Range<usize>, reach: usize) -> (usize, usize) {
    let from = range.start.saturating_sub(BLOCK_REACHES * reach);
    (from, (range.end + BLOCK_REACHES * reach).min(rows))
}

/// [`opened_block`] from a mask already thresholded (`crate::frame`'s sweep).
fn opened_block_of_bits(
    mask: &BitMatrix,
    kernel_size: u64,
    range: std::ops::Range<usize>,
    reach: usize,
) -> (BitMatrix, usize) {
    let (rows, cols) = (mask.rows(), mask.cols());
    let (from, to) = block_rows(rows, &range, reach);
    let per_row = mask.words_per_row();
    let mut words = BLOCK_WORDS.take();
    words.clear();
    words.extend_from_slice(&mask.words()[from * per_row..to * per_row]);
    let mut bits = BitMatrix::from_words(to - from, cols, words);
    open_disk_in_place(&mut bits, kernel_size);
    (bits, range.start - from)
}

/// Keeps a block's memory for this thread's next band, up to the size kept for masks.
fn retain_block(bits: BitMatrix) {
    let words = bits.into_words();
    if words.capacity() <= RETAINED_MASK_WORDS {
        BLOCK_WORDS.set(words);
    }
}

/// Writes the 0/255 defect mask of one map into `out` (shape `(H, W)`).
///
/// `kernel_size` is the disk radius; 0 means no opening. Then 8-connected components of
/// fewer than `min_area` pixels are removed (0 or 1: none).
///
/// ```
/// use anomaly_postprocess::mask::mask_into;
/// let mut map = ndarray::Array2::<f64>::zeros((7, 7));
/// map.slice_mut(ndarray::s![1..6, 1..6]).fill(0.9); // a 5×5 defect
/// map[[0, 6]] = 0.9; // and a speck
/// let mut out = ndarray::Array2::<u8>::zeros((7, 7));
/// mask_into(map.view(), 0.5, 1, 0, out.view_mut()).unwrap();
/// assert_eq!(out[[3, 3]], 255);
/// assert_eq!(out[[0, 6]], 0);
/// ```
pub fn mask_into<T: MapFloat>(
    map: ArrayView2<'_, T>,
    threshold: f64,
    kernel_size: u64,
    min_area: usize,
    out: ArrayViewMut2<'_, u8>,
) -> Result<(), KernelError> {
    let (rows, cols) = map.dim();
    check_shape("out", &[rows, cols], out.shape())?;
    // Large maps with an opening: in bands of rows in parallel, each band thresholding,
    // opening and unpacking its own block (docs/behaviour.md#threads), so that the
    // threads wait for each other once (`min_area`, whose components span bands, adds
    // its own steps), and each band's bits stay in its core's cache.
    let unfused = |out| {
        let mask = threshold_bits_reusing(map, threshold, take_mask_words());
        keep_mask_words(finish_whole(mask, kernel_size, min_area, out).into_words());
    };
    match split_opening(rows, cols, kernel_size) {
        Split::OneThread => on_one_thread(|| unfused(out)),
        Split::Whole => unfused(out),
        Split::Bands { threads, bands } => {
            let reach = reach_of(rows, kernel_size);
            let open_block = |range| opened_block(map, threshold, kernel_size, range, reach);
            let split = (threads, &bands[..]);
            if let Some(mask) = open_in_bands(cols, split, min_area, out, false, open_block) {
                keep_mask_words(mask.into_words());
            }
        }
    }
    Ok(())
}

/// How `compute_mask`'s opening of a `rows × cols` map is split across threads
/// (docs/behaviour.md#threads).
enum Split {
    /// Too small for the threads to pay: everything on the calling thread.
    OneThread,
    /// No opening, or bands too short for the disk (the erosion and dilation then
    /// split themselves): each step over the whole mask, split by its own rule.
    Whole,
    /// Bands of rows, each opening its own block, on `threads` threads.
    Bands {
        threads: usize,
        bands: Vec<std::ops::Range<usize>>,
    },
}

fn split_opening(rows: usize, cols: usize, kernel_size: u64) -> Split {
    if kernel_size == 0 {
        return Split::Whole;
    }
    if bands(rows, cols, MIN_MASK_BAND_PIXELS, 1).len() == 1 {
        return Split::OneThread;
    }
    let reach = reach_of(rows, kernel_size);
    let threads = bands(rows, cols, MIN_MASK_BAND_PIXELS, MIN_BAND_REACHES * reach).len();
    if threads < 2 {
        return Split::Whole;
    }
    let tall = rows / (MIN_SHARED_BAND_REACHES * reach).max(1);
    let count = (threads * SHARED_BANDS_PER_THREAD).min(tall).max(threads);
    Split::Bands {
        threads,
        bands: band_rows(rows, count),
    }
}

/// The disk's reach in rows: its radius, at most the map's height.
fn reach_of(rows: usize, kernel_size: u64) -> usize {
    kernel_size.min(rows as u64) as usize
}

/// The opening, `min_area` and the 0/255 bytes of a thresholded mask, each step over the
/// whole mask; returns the final mask.
fn finish_whole(
    mut mask: BitMatrix,
    kernel_size: u64,
    min_area: usize,
    out: ArrayViewMut2<'_, u8>,
) -> BitMatrix {
    open_disk_in_place(&mut mask, kernel_size);
    remove_small_components(&mut mask, min_area);
    unpack_rows(&mask, out);
    mask
}

/// The opening of `bands` (more than one, on `threads` threads), each band's rows from
/// its own opened block
/// (`open_block(range)`: the block and the index of `range.start` in it), then
/// `min_area` and the 0/255 bytes into `out`. Returns the final mask when `keep` or
/// `min_area` needs it whole; else each band unpacks straight from its block.
fn open_in_bands(
    cols: usize,
    (threads, bands): (usize, &[std::ops::Range<usize>]),
    min_area: usize,
    out: ArrayViewMut2<'_, u8>,
    keep: bool,
    open_block: impl Fn(std::ops::Range<usize>) -> (BitMatrix, usize) + Sync,
) -> Option<BitMatrix> {
    if min_area <= 1 && !keep {
        for_each_of_bands_on(threads, bands, out, |range, out| {
            let (block, first) = open_block(range);
            unpack_band(&block, first, out);
            retain_block(block);
        });
        return None;
    }
    let rows = bands.last().map_or(0, |b| b.end);
    let per_row = cols.div_ceil(64);
    let mut words = take_mask_words();
    words.clear();
    words.resize(rows * per_row, 0);
    let mask_rows = SliceRows {
        items: &mut words,
        per_row,
    };
    // The block's rows of its own band into the whole mask.
    let open_own = |range, dst: SliceRows<'_, u64>| {
        let (block, first) = open_block(range);
        dst.items
            .copy_from_slice(&block.words()[first * per_row..][..dst.items.len()]);
        (block, first)
    };
    if min_area <= 1 {
        for_each_of_bands_on(threads, bands, (mask_rows, out), |range, (dst, out)| {
            let (block, first) = open_own(range, dst);
            unpack_band(&block, first, out);
            retain_block(block);
        });
        return Some(BitMatrix::from_words(rows, cols, words));
    }
    // Components span bands: the opened bands into one mask, then `min_area` on it.
    for_each_of_bands_on(threads, bands, mask_rows, |range, dst| {
        retain_block(open_own(range, dst).0)
    });
    let mask = BitMatrix::from_words(rows, cols, words);
    Some(finish_whole(mask, 0, min_area, out))
}

/// The opening by a disk of radius `kernel_size`, `min_area` and the 0/255 bytes (into
/// `out`) of a mask already thresholded, as [`mask_into`] runs them after its threshold
/// and in the same bands (docs/behaviour.md#threads), each band opening its block of
/// the thresholded rows; returns the final mask (`crate::frame`'s boxes are found on
/// it).
pub(crate) fn finish_mask(
    mask: BitMatrix,
    kernel_size: u64,
    min_area: usize,
    out: ArrayViewMut2<'_, u8>,
) -> BitMatrix {
    let (rows, cols) = (mask.rows(), mask.cols());
    match split_opening(rows, cols, kernel_size) {
        Split::OneThread => on_one_thread(|| finish_whole(mask, kernel_size, min_area, out)),
        Split::Whole => finish_whole(mask, kernel_size, min_area, out),
        Split::Bands { threads, bands } => {
            let reach = reach_of(rows, kernel_size);
            let open_block = |range| opened_block_of_bits(&mask, kernel_size, range, reach);
            let opened = open_in_bands(cols, (threads, &bands), min_area, out, true, open_block);
            keep_mask_words(mask.into_words());
            opened.expect("kept")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn strict_comparison_in_map_precision() {
        let map = array![[0.5f32, 0.5000001, 0.4999999]];
        let bits = threshold_bits(map.view(), 0.5);
        assert_eq!(
            (bits.get(0, 0), bits.get(0, 1), bits.get(0, 2)),
            (false, true, false)
        );
    }

    #[test]
    fn infinities() {
        let map = array![[f32::INFINITY, f32::MAX, f32::NEG_INFINITY]];
        let above_max = threshold_bits(map.view(), 1e39);
        assert_eq!((above_max.get(0, 0), above_max.get(0, 1)), (true, false));
        let all = threshold_bits(map.view(), f64::NEG_INFINITY);
        assert_eq!((all.get(0, 1), all.get(0, 2)), (true, false));
    }

    #[test]
    fn unpacking_equals_the_portable_loop() {
        // Without AVX-512 BW both sides run the portable loop: say that the test could
        // not compare the two.
        crate::simd::has_avx512bw_or_skip(
            "mask::tests::unpacking_equals_the_portable_loop (the AVX-512 side)",
        );
        for cols in [1, 63, 64, 65, 130, 1000] {
            let bits = BitMatrix::from_fn(3, cols, |y, x| (x * 7 + y * 3) % 5 < 2);
            let mut dispatched = ndarray::Array2::<u8>::zeros((3, cols));
            unpack_rows(&bits, dispatched.view_mut());
            let mut portable = ndarray::Array2::<u8>::zeros((3, cols));
            unpack_rows_portable(&bits, 0, portable.view_mut());
            assert_eq!(dispatched, portable);
            let expected =
                ndarray::Array2::from_shape_fn((3, cols), |(y, x)| 255 * u8::from(bits.get(y, x)));
            assert_eq!(dispatched, expected);
        }
    }

    /// Counts the bytes each thread allocates (for the whole unit-test binary).
    mod counting {
        use std::alloc::{GlobalAlloc, Layout, System};
        use std::cell::Cell;

        pub struct Counting;

        thread_local! {
            pub static ALLOCATED: Cell<usize> = const { Cell::new(0) };
        }

        // SAFETY: every call is forwarded to the system allocator unchanged; the counter
        // is a const-initialised thread-local without a destructor, which never allocates.
        unsafe impl GlobalAlloc for Counting {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                ALLOCATED.with(|a| a.set(a.get() + layout.size()));
                // SAFETY: the caller's contract is System's.
                unsafe { System.alloc(layout) }
            }
            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: as above.
                unsafe { System.dealloc(ptr, layout) }
            }
            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                ALLOCATED.with(|a| a.set(a.get() + new_size));
                // SAFETY: as above.
                unsafe { System.realloc(ptr, layout, new_size) }
            }
        }

        #[global_allocator]
        static COUNTING: Counting = Counting;
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "needs a map large beside the opening's fixed scratch (4096x128): an hour \
                  under Miri, which runs the counting allocator in every test anyway"
    )]
    fn repeated_calls_into_out_allocate_nothing_of_image_size() {
        let (rows, cols) = (4096, 128);
        let map = ndarray::Array2::from_shape_fn((rows, cols), |(y, x)| {
            ((y * 131 + x * 17) % 97) as f32 / 97.0
        });
        let mut out = ndarray::Array2::<u8>::zeros((rows, cols));
        let packed_mask_bytes = rows * cols / 8;
        for kernel_size in [0, 1, 4] {
            mask_into(map.view(), 0.5, kernel_size, 0, out.view_mut()).unwrap();
            let before = counting::ALLOCATED.with(|a| a.get());
            mask_into(map.view(), 0.5, kernel_size, 0, out.view_mut()).unwrap();
            let allocated = counting::ALLOCATED.with(|a| a.get()) - before;
            assert!(
                allocated < packed_mask_bytes / 4,
                "kernel_size {kernel_size}: {allocated} bytes for a {rows}x{cols} map"
            );
        }
    }

    #[test]
    fn bands_give_the_bytes_of_one_band() {
        // Any split (two, three, seven bands, a one-row band, bands thinner than the
        // disk), any radius and min_area: the bytes of the threshold, opening, min_area
        // and unpacking of the whole map.
        let shapes: &[(usize, usize)] = if cfg!(miri) {
            &[(9, 70)]
        } else {
            &[(9, 70), (157, 203), (64, 1), (1, 200)]
        };
        let kernel_sizes: &[u64] = if cfg!(miri) {
            &[1, 3]
        } else {
            &[1, 2, 3, 5, 8, 13, 21, 40, 200]
        };
        for &(rows, cols) in shapes {
            let map = ndarray::Array2::from_shape_fn((rows, cols), |(y, x)| {
                // Blobs of about 12 pixels, and some noise.
                let blob = ((y as f32 / 6.0).sin() + (x as f32 / 5.0).cos()) * 0.3 + 0.5;
                blob + if (y * 7 + x * 13) % 17 == 0 { 0.3 } else { 0.0 }
            });
            let mut splits: Vec<Vec<std::ops::Range<usize>>> = [2, 3, 7]
                .into_iter()
                .filter(|&k| k <= rows)
                .map(|k| crate::parallel::band_rows(rows, k))
                .collect();
            if rows > 2 {
                splits.push(vec![0..1, 1..rows - 1, rows - 1..rows]);
            }
            for &k in kernel_sizes {
                for min_area in [0, 30] {
                    let thresholded = threshold_bits(map.view(), 0.5);
                    let mut expected_bits = thresholded.clone();
                    open_disk_in_place(&mut expected_bits, k);
                    remove_small_components(&mut expected_bits, min_area);
                    let expected = ndarray::Array2::from_shape_fn((rows, cols), |(y, x)| {
                        255 * u8::from(expected_bits.get(y, x))
                    });
                    let reach = reach_of(rows, k);
                    for bands in &splits {
                        let what = format!("{rows}x{cols} k {k} min_area {min_area} {bands:?}");
                        // Blocks thresholded from the map (compute_mask), or cut from a
                        // mask already thresholded (postprocess), the whole mask kept or not.
                        // One band a thread, or more bands than threads.
                        let cases = [(false, false), (false, true), (true, true)];
                        for ((from_bits, keep), threads) in
                            cases.into_iter().zip([bands.len(), 2, 2])
                        {
                            let mut out = ndarray::Array2::<u8>::zeros((rows, cols));
                            let open_block = |range| {
                                if from_bits {
                                    opened_block_of_bits(&thresholded, k, range, reach)
                                } else {
                                    opened_block(map.view(), 0.5, k, range, reach)
                                }
                            };
                            let kept = open_in_bands(
                                cols,
                                (threads, bands),
                                min_area,
                                out.view_mut(),
                                keep,
                                open_block,
                            );
                            assert_eq!(out, expected, "{what} from bits {from_bits}");
                            if keep {
                                assert_eq!(kept.as_ref(), Some(&expected_bits), "{what}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn mask_values_are_0_or_255() {
        let map = array![[0.9f64, 0.1], [0.7, 0.6]];
        let mut out = ndarray::Array2::<u8>::zeros((2, 2));
        mask_into(map.view(), 0.5, 0, 0, out.view_mut()).unwrap();
        assert_eq!(out, array![[255u8, 0], [255, 255]]);
    }
}
