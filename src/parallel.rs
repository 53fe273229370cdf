//! Maps of a batch run in parallel (docs/behaviour.md#threads): the calling thread and
//! the threads of one rayon pool take maps off a shared counter until none are left.
//! Owns the pool and its size.
//!
//! A single map always runs on the calling thread. For a batch of `n` threads the
//! caller is one of them and the pool holds the other `n − 1`: the caller starts at
//! once, while the pool's threads may first have to wake up (on a virtual machine
//! that can take a good part of a millisecond, as long as a whole small batch).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// The most threads a pool may have: more would only exhaust the system's threads.
pub const MAX_THREADS: usize = 1024;

/// The pool and the thread count it was built with (`None` until first used or set).
static POOL: RwLock<Option<(usize, Arc<ThreadPool>)>> = RwLock::new(None);

/// Threads used when nobody has called [`set_num_threads`]: one per available core,
/// asked once (`available_parallelism` reads cgroup files: ~10 µs, as long as a small
/// map's whole computation).
fn default_threads() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The number of threads batches run on.
///
/// ```
/// assert!(anomaly_postprocess::parallel::num_threads() >= 1);
/// ```
pub fn num_threads() -> usize {
    let guard = POOL.read().unwrap_or_else(PoisonError::into_inner);
    guard.as_ref().map_or_else(default_threads, |(n, _)| *n)
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
    if POOL
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .is_some_and(|(n, _)| *n == threads)
    {
        return Ok(()); // already that size: keep the running pool
    }
    let pool = build_pool(threads)?;
    *POOL.write().unwrap_or_else(PoisonError::into_inner) = Some((threads, Arc::new(pool)));
    Ok(())
}

/// The pool for `threads` threads in all: the calling thread and `threads − 1` others.
fn build_pool(threads: usize) -> Result<ThreadPool, rayon::ThreadPoolBuildError> {
    ThreadPoolBuilder::new()
        .num_threads(threads.saturating_sub(1).max(1))
        .thread_name(|i| format!("anomaly-postprocess-{i}"))
        .build()
}

fn pool() -> Option<Arc<ThreadPool>> {
    if let Some((_, pool)) = POOL.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
        return Some(Arc::clone(pool));
    }
    // First use: build the default pool, unless another thread just did.
    let mut guard = POOL.write().unwrap_or_else(PoisonError::into_inner);
    if guard.is_none() {
        let threads = default_threads();
        let pool = build_pool(threads).ok()?;
        *guard = Some((threads, Arc::new(pool)));
    }
    guard.as_ref().map(|(_, pool)| Arc::clone(pool))
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
    let threads = num_threads().min(items.len());
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
    pool.in_place_scope(|scope| {
        for _ in 1..threads {
            scope.spawn(|_| take_and_run());
        }
        take_and_run();
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

#[cfg(test)]
mod tests {
    use super::*;
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
    fn results_keep_item_order() {
        set_num_threads(2).unwrap();
        let out = map_items((0..1000u32).collect(), |i| i.to_string());
        assert!(out.iter().enumerate().all(|(i, s)| *s == i.to_string()));
    }
}
