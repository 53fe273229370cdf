//! Maps of a batch run in parallel (docs/behaviour.md#threads): the calling thread and
//! the threads of one rayon pool take maps off a shared counter until none are left.
//! Owns the pool and its size.
//!
//! For `n` threads the caller is one of them and the pool holds the other `n − 1`: the
//! caller starts at once, while the pool's threads may first have to wake up (on a
//! virtual machine that can take a good part of a millisecond, as long as a whole
//! small batch). A large map is split into bands of rows run the same way
//! ([`for_each_band`]); a batch with at least as many maps as threads is not split
//! further.
//!
//! A process forked from this one has none of the pool's threads: it builds its own
//! pool for its first batch ([`install_fork_handlers`], `docs/behaviour.md#threads`).

use std::cell::Cell;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ndarray::{ArrayView, ArrayViewMut, Axis, Dimension};
use rayon::{ThreadPool, ThreadPoolBuilder};

/// The most threads a pool may have: more would only exhaust the system's threads.
pub const MAX_THREADS: usize = 1024;

/// The thread count asked for (`None`: one per core) and the pool of that size, built
/// when first needed.
struct Threads {
    count: Option<usize>,
    pool: Option<Arc<ThreadPool>>,
}

/// No other thread holds this lock while the process forks (see
/// [`install_fork_handlers`]), and it is never held while a batch runs.
static THREADS: RwLock<Threads> = RwLock::new(Threads {
    count: None,
    pool: None,
});

fn read_threads() -> RwLockReadGuard<'static, Threads> {
    THREADS.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_threads() -> RwLockWriteGuard<'static, Threads> {
    install_fork_handlers();
    THREADS.write().unwrap_or_else(PoisonError::into_inner)
}

/// Threads used when nobody has called [`set_num_threads`]: one per available core,
/// asked once (`available_parallelism` reads cgroup files: ~10 µs, as long as a small
/// map's whole computation). An atomic, not a lock: threads racing here both ask.
fn default_threads() -> usize {
    static CORES: AtomicUsize = AtomicUsize::new(0);
    match CORES.load(Ordering::Relaxed) {
        0 => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            CORES.store(cores, Ordering::Relaxed);
            cores
        }
        cores => cores,
    }
}

/// The number of threads batches run on.
///
/// ```
/// assert!(anomaly_postprocess::parallel::num_threads() >= 1);
/// ```
pub fn num_threads() -> usize {
    read_threads().count.unwrap_or_else(default_threads)
}

/// Sets the number of threads batches run on, clamped to `1..=MAX_THREADS` (the
/// Python layer rejects values outside). The next batch uses a pool of that size.
///
/// ```
/// use anomaly_postprocess::parallel::{num_threads, set_num_threads};
/// set_num_threads(2).unwrap();
/// assert_eq!(num_threads(), 2);
/// ```
pub fn set_num_threads(threads: usize) -> Result<(), rayon::ThreadPoolBuildError> {
    let threads = threads.clamp(1, MAX_THREADS);
    {
        let current = read_threads();
        if current.count == Some(threads) && current.pool.is_some() {
            return Ok(()); // already that size: keep the running pool
        }
    }
    let pool = build_pool(threads)?;
    let mut current = write_threads();
    current.count = Some(threads);
    current.pool = Some(Arc::new(pool));
    Ok(())
}

/// The pool for `threads` threads in all: the calling thread and `threads − 1` others.
fn build_pool(threads: usize) -> Result<ThreadPool, rayon::ThreadPoolBuildError> {
    ThreadPoolBuilder::new()
        .num_threads(threads.saturating_sub(1).max(1))
        .thread_name(|i| format!("anomaly-postprocess-{i}"))
        .build()
}

/// The pool, built on first use (also the first use in a forked child).
fn pool() -> Option<Arc<ThreadPool>> {
    if let Some(pool) = read_threads().pool.as_ref() {
        return Some(Arc::clone(pool));
    }
    // Build it, unless another thread just did.
    let mut current = write_threads();
    if current.pool.is_none() {
        let threads = current.count.unwrap_or_else(default_threads);
        current.pool = Some(Arc::new(build_pool(threads).ok()?));
    }
    current.pool.clone()
}

/// Makes `fork()` safe for the thread pool. A forked child has only the thread that
/// forked: the pool's threads do not exist there, so a batch handed to them would wait
/// forever. `fork()` first takes the pool's lock (so no other thread holds it when the
/// process is copied); in the child the inherited pool is then leaked, never used nor
/// dropped (dropping would signal threads that are not there), and the next batch
/// builds a new one of the same size. Both processes release the lock again.
///
/// Called before the first pool is built; the Python extension calls it when it is
/// imported. Idempotent and cheap after the first call.
pub fn install_fork_handlers() {
    #[cfg(unix)]
    fork::install();
}

#[cfg(unix)]
mod fork {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{PoisonError, RwLockWriteGuard};

    use super::{Threads, THREADS};

    thread_local! {
        /// The lock, held by the forking thread from `prepare` until the fork is done.
        static HELD: Cell<Option<RwLockWriteGuard<'static, Threads>>> =
            const { Cell::new(None) };
    }

    /// Before `fork()`, in the forking thread: waits for the lock (held only to read or
    /// replace the pool, never during a batch) and keeps it.
    extern "C" fn prepare() {
        let guard = THREADS.write().unwrap_or_else(PoisonError::into_inner);
        // If this thread's storage is already gone (it is exiting), the guard drops and
        // the fork goes on unprotected, as it did before this existed.
        let _ = HELD.try_with(|held| held.set(Some(guard)));
    }

    /// After `fork()`, in the parent: releases the lock.
    extern "C" fn parent() {
        let _ = HELD.try_with(|held| drop(held.take()));
    }

    /// After `fork()`, in the child: leaks the parent's pool, then releases the lock.
    extern "C" fn child() {
        let _ = HELD.try_with(|held| {
            if let Some(mut guard) = held.take() {
                std::mem::forget(guard.pool.take());
            }
        });
    }

    pub(super) fn install() {
        static INSTALLED: AtomicBool = AtomicBool::new(false);
        if INSTALLED.load(Ordering::Acquire) || INSTALLED.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: the three handlers are plain functions that live as long as the
        // program and never unwind; pthread_atfork has no other precondition. It fails
        // only without memory for the registration, which leaves forks unprotected as
        // before, so the result is ignored.
        unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
    }
}

/// `work` applied to every item, results in item order: on the calling thread and
/// `num_threads() − 1` pool threads when there are several items, else on the calling
/// thread alone.
///
/// ```
/// let squares = anomaly_postprocess::parallel::map_items((0..10).collect(), |i: u64| i * i);
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
/// ```
pub fn map_items<I, R, F>(items: Vec<I>, work: F) -> Vec<R>
where
    I: Send,
    R: Send,
    F: Fn(I) -> R + Sync + Send,
{
    map_items_on(num_threads(), items, work)
}

/// [`map_items`] on at most `threads` threads.
fn map_items_on<I, R, F>(threads: usize, items: Vec<I>, work: F) -> Vec<R>
where
    I: Send,
    R: Send,
    F: Fn(I) -> R + Sync + Send,
{
    let threads = threads.min(num_threads()).min(items.len());
    let pool = if threads > 1 { pool() } else { None };
    let Some(pool) = pool else {
        return items.into_iter().map(work).collect();
    };
    let count = items.len();
    let items: Vec<Mutex<Option<I>>> = items.into_iter().map(|i| Mutex::new(Some(i))).collect();
    let results: Vec<Mutex<Option<R>>> = (0..count).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let take_and_run = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = items.get(i) else { break };
        // Each index is handed out once, so every lock here is uncontended.
        let item = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        let result = work(item.expect("each item is taken once"));
        *results[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
    };
    // Each worker may split its map into bands for its share of the threads (none
    // left over when there are at least as many maps as threads).
    let share = (num_threads() / count).max(1);
    let take_and_run_with_share = || {
        let outer = BAND_THREADS.replace(Some(share));
        take_and_run();
        BAND_THREADS.set(outer);
    };
    pool.in_place_scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|_| take_and_run_with_share());
        }
        take_and_run_with_share();
    });
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .expect("every item ran")
        })
        .collect()
}

thread_local! {
    /// The threads a map started on this thread may be split across, while it runs as
    /// one item of [`map_items`]; `None`: all of them ([`num_threads`]).
    static BAND_THREADS: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Runs `f` with the maps this thread starts split as on `threads` threads (bands for
/// `threads`, run on the pool's threads): for tests of other modules, which must not
/// change the process-wide count that concurrent tests share.
#[cfg(test)]
pub(crate) fn with_band_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    let outer = BAND_THREADS.replace(Some(threads));
    let result = f();
    BAND_THREADS.set(outer);
    result
}

/// The fewest pixels per thread a map is split across: a map is split only from twice
/// this many pixels (1024×1024), across at most one thread per this many pixels.
///
/// Measured on the 2-core AVX-512 development VM (load average ~7 from other work;
/// float32 maps, colour, best of 80 calls, 1 → 2 threads): 512×512 73 → 96 µs,
/// 724×724 197 → 221 µs, 1024×1024 257 → 166 µs. A band on a pool thread costs that
/// thread's wake-up (tens to hundreds of µs on this VM), so half a pass must save more
/// than that: from about 1M pixels it does; below, splitting only waits for the pool.
pub const MIN_BAND_PIXELS: usize = 1 << 19;

/// How many of `threads` threads a `rows × cols` map is split across: at most one per
/// row and per [`MIN_BAND_PIXELS`] pixels ([`for_each_band`] then cuts
/// [`BANDS_PER_THREAD`] bands for each).
///
/// ```
/// use anomaly_postprocess::parallel::split_thread_count;
/// assert_eq!(split_thread_count(2048, 2448, 2), 2);
/// assert_eq!(split_thread_count(257, 263, 7), 1); // too small to pay for a wake-up
/// assert_eq!(split_thread_count(1, 10_000_000, 4), 1); // one row
/// ```
pub fn split_thread_count(rows: usize, cols: usize, threads: usize) -> usize {
    split_threads_of_at_least(MIN_BAND_PIXELS, rows, cols, threads)
}

/// [`split_thread_count`] with another least share (tests make it small under Miri,
/// where millions of pixels take hours).
fn split_threads_of_at_least(min_pixels: usize, rows: usize, cols: usize, threads: usize) -> usize {
    let by_size = rows.saturating_mul(cols) / min_pixels;
    by_size.min(threads).min(rows).max(1)
}

/// The least band size [`for_each_band`] splits at on this thread.
fn min_band_pixels() -> usize {
    #[cfg(test)]
    if let Some(pixels) = tests::BAND_PIXELS.get() {
        return pixels;
    }
    MIN_BAND_PIXELS
}

/// The rows of band `i` of `bands` over `rows` rows: consecutive, in order, covering
/// every row exactly once, sizes differing by at most one (`bands ≤ rows`: none empty).
///
/// ```
/// use anomaly_postprocess::parallel::band_rows;
/// assert_eq!(band_rows(10, 3), [0..3, 3..6, 6..10]);
/// ```
pub fn band_rows(rows: usize, bands: usize) -> Vec<Range<usize>> {
    let bands = bands.max(1);
    (0..bands)
        .map(|i| rows * i / bands..rows * (i + 1) / bands)
        .collect()
}

/// Something indexed by row that splits into two disjoint parts at a row: the
/// inputs and outputs of one band ([`for_each_band`]).
pub trait SplitRows: Sized + Send {
    /// Rows `..row` and rows `row..`.
    fn split_at_row(self, row: usize) -> (Self, Self);
}

impl<A: Sync, D: Dimension> SplitRows for ArrayView<'_, A, D> {
    fn split_at_row(self, row: usize) -> (Self, Self) {
        self.split_at(Axis(0), row)
    }
}

impl<A: Send, D: Dimension> SplitRows for ArrayViewMut<'_, A, D> {
    fn split_at_row(self, row: usize) -> (Self, Self) {
        self.split_at(Axis(0), row)
    }
}

/// A row-major slice of `per_row` items a row (a bit-packed mask's words).
#[derive(Debug)]
pub struct SliceRows<'a, T> {
    pub items: &'a mut [T],
    pub per_row: usize,
}

impl<T: Send> SplitRows for SliceRows<'_, T> {
    fn split_at_row(self, row: usize) -> (Self, Self) {
        let (a, b) = self.items.split_at_mut(row * self.per_row);
        let per_row = self.per_row;
        (
            SliceRows { items: a, per_row },
            SliceRows { items: b, per_row },
        )
    }
}

/// A part that only some calls have (an output not asked for: `crate::frame`).
impl<A: SplitRows> SplitRows for Option<A> {
    fn split_at_row(self, row: usize) -> (Self, Self) {
        match self {
            Some(a) => {
                let (a0, a1) = a.split_at_row(row);
                (Some(a0), Some(a1))
            }
            None => (None, None),
        }
    }
}

impl<A: SplitRows, B: SplitRows> SplitRows for (A, B) {
    fn split_at_row(self, row: usize) -> (Self, Self) {
        let (a0, a1) = self.0.split_at_row(row);
        let (b0, b1) = self.1.split_at_row(row);
        ((a0, b0), (a1, b1))
    }
}

impl<A: SplitRows, B: SplitRows, C: SplitRows> SplitRows for (A, B, C) {
    fn split_at_row(self, row: usize) -> (Self, Self) {
        let (a0, a1) = self.0.split_at_row(row);
        let ((b0, c0), (b1, c1)) = (self.1, self.2).split_at_row(row);
        ((a0, b0, c0), (a1, b1, c1))
    }
}

/// Runs `work` with every split into bands inside it on the calling thread alone (for
/// work that measured no faster on more threads at its size, but calls functions that
/// would split it).
///
/// ```
/// use anomaly_postprocess::parallel::{bands, on_one_thread, set_num_threads, MIN_BAND_PIXELS};
/// set_num_threads(2).unwrap();
/// assert_eq!(on_one_thread(|| bands(2048, 2448, MIN_BAND_PIXELS, 1).len()), 1);
/// ```
pub fn on_one_thread<R>(work: impl FnOnce() -> R) -> R {
    let outer = BAND_THREADS.replace(Some(1));
    // Restored even if `work` panics (a caught panic must not leave the thread limited).
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            BAND_THREADS.set(self.0);
        }
    }
    let _restore = Restore(outer);
    work()
}

/// The bands of rows that [`for_each_band`] splits a `rows × cols` map into here: one
/// per thread this map may use (all of them, or its share as one map of a batch), at
/// most one per row and at least `min_pixels` pixels and `min_rows` rows each (so one
/// band, the whole map, when it is smaller than twice that).
///
/// ```
/// use anomaly_postprocess::parallel::{band_rows, bands, set_num_threads, MIN_BAND_PIXELS};
/// set_num_threads(2).unwrap();
/// assert_eq!(bands(2048, 2448, MIN_BAND_PIXELS, 1), band_rows(2048, 2));
/// assert_eq!(bands(2048, 2448, MIN_BAND_PIXELS, 1500), [0..2048]);
/// ```
pub fn bands(rows: usize, cols: usize, min_pixels: usize, min_rows: usize) -> Vec<Range<usize>> {
    let threads = BAND_THREADS.get().unwrap_or_else(num_threads);
    let by_size = rows.saturating_mul(cols) / min_pixels.max(1);
    let by_rows = rows / min_rows.max(1);
    band_rows(rows, by_size.min(by_rows).min(threads).max(1))
}

/// Runs `work(rows, band)` on bands of consecutive rows of a `rows × cols` map —
/// `parts` (its inputs and outputs, all indexed by the map's row) split at the same
/// rows — and returns the results in band order. How a single map's passes that need
/// no rows around their own run in parallel (docs/behaviour.md#threads): on
/// [`split_thread_count`] threads (the calling thread and pool threads), which take
/// [`BANDS_PER_THREAD`] bands each off a shared counter as in [`map_items`]; one band,
/// on the calling thread, below [`MIN_BAND_PIXELS`] pixels a thread, on one thread, or
/// when the map is one of a batch with at least as many maps as threads. Each band
/// writes only its own rows, so the result is the same for every split.
///
/// ```
/// use anomaly_postprocess::parallel::for_each_band;
/// let mut out = ndarray::Array2::<u32>::zeros((1000, 600));
/// let sums = for_each_band(1000, 600, out.view_mut(), |rows, mut band| {
///     band.fill(rows.start as u32);
///     rows.len()
/// });
/// assert_eq!(sums.iter().sum::<usize>(), 1000);
/// assert_eq!(out[[999, 0]], *out.column(0).iter().max().unwrap());
/// ```
pub fn for_each_band<P, R, F>(rows: usize, cols: usize, parts: P, work: F) -> Vec<R>
where
    P: SplitRows,
    R: Send,
    F: Fn(Range<usize>, P) -> R + Sync + Send,
{
    let threads = bands(rows, cols, min_band_pixels(), 1).len();
    let pieces = band_rows(rows, bands_for_threads(rows, threads));
    for_each_of_bands_on(threads, &pieces, parts, work)
}

/// How many bands [`for_each_band`] cuts `rows` rows into for `threads` threads:
/// [`BANDS_PER_THREAD`] each (at most one per row), or one band for one thread.
fn bands_for_threads(rows: usize, threads: usize) -> usize {
    if threads < 2 {
        1
    } else {
        (threads * BANDS_PER_THREAD).min(rows)
    }
}

/// How many bands [`for_each_band`] cuts a map into for each thread it splits it
/// across. The threads take bands off a shared counter, so the calling thread starts
/// at once and a pool thread joins when it wakes (on the development VM 20–50 µs later
/// back to back, about 0.3 ms after an idle millisecond or two) instead of leaving the
/// calling thread idle at the end for that long; for passes
/// whose bands need no rows around them, more bands cost nothing else. Measured there
/// (2 threads, float32, interleaved): a 2048×2448 colour map 1.41–1.43× faster than
/// one thread with one band a thread, 1.64–1.72× with 8 (4: 1.46–1.49×); the other
/// passes within the noise of both.
pub const BANDS_PER_THREAD: usize = 8;

/// [`for_each_band`] on given bands (consecutive, in order, from row 0, as [`bands`]
/// returns them), for work that needs to know the split first (the opening copies the
/// rows around each band before any band writes).
pub fn for_each_of_bands<P, R, F>(bands: &[Range<usize>], parts: P, work: F) -> Vec<R>
where
    P: SplitRows,
    R: Send,
    F: Fn(Range<usize>, P) -> R + Sync + Send,
{
    for_each_of_bands_on(bands.len(), bands, parts, work)
}

/// [`for_each_of_bands`] on at most `threads` threads, which take the bands off a shared
/// counter (more bands than threads: see [`BANDS_PER_THREAD`]).
pub fn for_each_of_bands_on<P, R, F>(
    threads: usize,
    bands: &[Range<usize>],
    parts: P,
    work: F,
) -> Vec<R>
where
    P: SplitRows,
    R: Send,
    F: Fn(Range<usize>, P) -> R + Sync + Send,
{
    if let [whole] = bands {
        return vec![work(whole.clone(), parts)];
    }
    let mut items = Vec::with_capacity(bands.len());
    let mut rest = parts;
    for range in bands.iter().rev() {
        // Split from the last band backwards: `rest` always starts at row 0.
        let (head, band) = rest.split_at_row(range.start);
        items.push((range.clone(), band));
        rest = head;
    }
    items.reverse();
    map_items_on(threads, items, |(range, band)| work(range, band))
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// A least band size for this thread's [`for_each_band`] calls instead of
        /// [`MIN_BAND_PIXELS`].
        pub(super) static BAND_PIXELS: Cell<Option<usize>> = const { Cell::new(None) };
    }
    use std::collections::HashSet;
    use std::time::{Duration, Instant};

    #[test]
    fn the_caller_and_the_pool_share_a_batch() {
        set_num_threads(2).unwrap();
        let caller = std::thread::current().id();
        let seen = Mutex::new(HashSet::new());
        let ids = map_items((0..8).collect(), |i: usize| {
            let me = std::thread::current().id();
            seen.lock().unwrap().insert(me);
            if i == 0 {
                // Hold the first item until a second thread has taken one (or give up
                // after 10 s, and the assertion below fails).
                let start = Instant::now();
                while seen.lock().unwrap().len() < 2 && start.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            me
        });
        let distinct: HashSet<_> = ids.iter().collect();
        assert_eq!(distinct.len(), 2, "{ids:?}");
        assert!(distinct.contains(&caller));
    }

    #[test]
    fn bands_cover_every_row_exactly_once() {
        for rows in (0..70).chain([257, 1031, 2048, 100_003]) {
            for bands in 1..=rows.clamp(1, 40) {
                let ranges = band_rows(rows, bands);
                assert_eq!(ranges.len(), bands);
                let mut next = 0;
                for r in &ranges {
                    assert_eq!(r.start, next, "rows {rows} bands {bands}: {ranges:?}");
                    assert!(rows == 0 || !r.is_empty(), "{rows} {bands}: {ranges:?}");
                    let (small, large) = (rows / bands, rows.div_ceil(bands));
                    assert!((small..=large).contains(&r.len()));
                    next = r.end;
                }
                assert_eq!(next, rows);
            }
        }
    }

    #[test]
    fn split_thread_counts_respect_threads_rows_and_size() {
        for threads in [1, 2, 3, 7, 1024] {
            for (rows, cols) in [
                (0, 0),
                (1, 1 << 30),
                (1 << 30, 1),
                (3, 1 << 20),
                (2048, 2448),
            ] {
                let split = split_thread_count(rows, cols, threads);
                assert!((1..=threads.min(rows.max(1))).contains(&split));
                if split > 1 {
                    assert!(rows * cols / split >= MIN_BAND_PIXELS);
                }
            }
        }
        assert_eq!(split_thread_count(1024, 1023, 2), 1);
        assert_eq!(split_thread_count(1024, 1024, 2), 2);
        assert_eq!(split_thread_count(2048, 2448, 7), 7);
        assert_eq!(split_thread_count(3, 1 << 20, 7), 3);
    }

    /// Every row is written by exactly one band, with the rows and parts split alike,
    /// for any thread count (a band's own rows only), and results keep band order.
    #[test]
    fn for_each_band_writes_every_row_once() {
        set_num_threads(2).unwrap();
        // Under Miri bands of 64 pixels, so that small maps split (millions of pixels
        // take it hours); natively the real size.
        let (min_pixels, shapes) = if cfg!(miri) {
            (64, [(1, 1101), (1101, 1), (31, 31), (40, 30)])
        } else {
            (
                MIN_BAND_PIXELS,
                [(1, 1_100_001), (1_100_001, 1), (1031, 1031), (1100, 1000)],
            )
        };
        BAND_PIXELS.set(Some(min_pixels));
        for threads in [1, 2, 3, 7] {
            // The split for `threads` (on the pool of 2: the global count is shared
            // with the other tests of this process).
            BAND_THREADS.set(Some(threads));
            for (rows, cols) in shapes {
                let input = ndarray::Array2::from_shape_fn((rows, cols), |(y, _)| y as u32);
                let mut out = ndarray::Array2::<u32>::zeros((rows, cols));
                let mut words = vec![0u64; rows * 2];
                let words_rows = SliceRows {
                    items: &mut words,
                    per_row: 2,
                };
                let parts = (input.view(), out.view_mut(), words_rows);
                let ran_on = Mutex::new(std::collections::HashSet::new());
                let ranges = for_each_band(rows, cols, parts, |range, (inp, mut out, words)| {
                    let thread = std::thread::current().id();
                    ran_on.lock().unwrap().insert(thread);
                    assert_eq!((inp.nrows(), out.nrows()), (range.len(), range.len()));
                    assert_eq!(words.items.len(), 2 * range.len());
                    assert_eq!(inp[[0, 0]] as usize, range.start);
                    out.zip_mut_with(&inp, |o, &i| *o += i + 1);
                    words.items.iter_mut().for_each(|w| *w += 1);
                    range
                });
                let split = split_threads_of_at_least(min_pixels, rows, cols, threads);
                assert_eq!(ranges, band_rows(rows, bands_for_threads(rows, split)));
                assert!(
                    threads == 1 || rows == 1 || ranges.len() > split,
                    "{rows}x{cols} not split in {threads} threads' bands"
                );
                // The bands' threads: the caller's and pool threads, at most `split`.
                let ran_on = ran_on.into_inner().unwrap().len();
                assert!(ran_on <= split.min(num_threads()), "{ran_on} threads");
                assert_eq!(out, input.mapv(|i| i + 1));
                assert!(words.iter().all(|&w| w == 1));
            }
        }
        BAND_THREADS.set(None);
        BAND_PIXELS.set(None);
    }

    #[test]
    fn a_full_batch_does_not_split_its_maps() {
        set_num_threads(2).unwrap();
        let bands = map_items(vec![(); MAX_THREADS], |()| {
            for_each_band(
                2048,
                2048,
                ndarray::Array2::<u8>::zeros((2048, 0)).view(),
                |r, _| r,
            )
            .len()
        });
        assert!(bands.iter().all(|&b| b == 1));
        let bands = map_items(vec![()], |()| {
            for_each_band(
                2048,
                2048,
                ndarray::Array2::<u8>::zeros((2048, 0)).view(),
                |r, _| r,
            )
            .len()
        });
        assert_eq!(bands, [2 * BANDS_PER_THREAD]);
    }

    #[test]
    fn results_keep_item_order() {
        set_num_threads(2).unwrap();
        // Under Miri, which interprets the pool's spinning threads too, fewer items.
        let items = if cfg!(miri) { 40 } else { 1000u32 };
        let out = map_items((0..items).collect(), |i| i.to_string());
        assert!(out.iter().enumerate().all(|(i, s)| *s == i.to_string()));
    }

    /// Whether a batch of 64 items runs correctly (on the pool: two threads).
    #[cfg(unix)]
    fn batch_is_right() -> bool {
        let doubled = map_items((0..64u64).collect(), |i| i * 2);
        doubled.iter().enumerate().all(|(i, &d)| d == 2 * i as u64)
    }

    #[cfg(unix)]
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot fork() a process")]
    fn a_forked_child_runs_batches_on_a_new_pool() {
        use crate::pool::tests::in_forked_child;
        set_num_threads(2).unwrap();
        assert!(batch_is_right()); // the parent's pool has threads now
        let result = in_forked_child(Duration::from_secs(20), || {
            // The inherited pool's threads do not exist here: without the fork
            // handlers this batch would wait for them forever.
            batch_is_right() && num_threads() == 2 && batch_is_right()
        });
        assert_eq!(
            result,
            Some(true),
            "the child hung (None) or failed (Some(false))"
        );
        assert!(batch_is_right()); // the parent's pool still works
    }

    #[cfg(unix)]
    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot fork() a process")]
    fn a_child_forked_while_another_thread_holds_the_lock_or_runs_a_batch() {
        use crate::pool::tests::in_forked_child;
        use std::sync::mpsc;
        set_num_threads(2).unwrap();
        let (started, has_started) = mpsc::channel();
        // A batch in progress on the pool's thread and this one while the fork happens.
        let busy = std::thread::spawn(move || {
            let started = Mutex::new(Some(started));
            map_items((0..8u64).collect(), |i| {
                if let Some(s) = started.lock().unwrap().take() {
                    s.send(()).unwrap();
                }
                std::thread::sleep(Duration::from_millis(40));
                i
            })
        });
        has_started.recv().unwrap();
        let (locked, is_locked) = mpsc::channel();
        // And a reader holding the lock: the fork waits for it.
        let holder = std::thread::spawn(move || {
            let guard = read_threads();
            locked.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            drop(guard);
        });
        is_locked.recv().unwrap();
        let result = in_forked_child(Duration::from_secs(20), batch_is_right);
        holder.join().unwrap();
        assert_eq!(busy.join().unwrap(), (0..8).collect::<Vec<u64>>());
        assert_eq!(
            result,
            Some(true),
            "the child hung (None) or failed (Some(false))"
        );
    }
}
