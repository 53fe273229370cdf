//! Maps of a batch run in parallel on one rayon pool whose size the user sets.
//!
//! A single map always runs on the calling thread: the pool only serves batches.

use std::sync::{Arc, PoisonError, RwLock};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

/// The most threads a pool may have: more would only exhaust the system's threads.
pub const MAX_THREADS: usize = 1024;

/// The pool and the thread count it was built with (`None` until first used or set).
static POOL: RwLock<Option<(usize, Arc<ThreadPool>)>> = RwLock::new(None);

/// Threads used when nobody has called [`set_num_threads`]: one per available core.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
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
    let pool = ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("anomaly-postprocess-{i}"))
        .build()?;
    *POOL.write().unwrap_or_else(PoisonError::into_inner) = Some((threads, Arc::new(pool)));
    Ok(())
}

fn pool() -> Option<Arc<ThreadPool>> {
    if let Some((_, pool)) = POOL.read().unwrap_or_else(PoisonError::into_inner).as_ref() {
        return Some(Arc::clone(pool));
    }
    // First use: build the default pool, unless another thread just did.
    let mut guard = POOL.write().unwrap_or_else(PoisonError::into_inner);
    if guard.is_none() {
        let threads = default_threads();
        let pool = ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("anomaly-postprocess-{i}"))
            .build()
            .ok()?;
        *guard = Some((threads, Arc::new(pool)));
    }
    guard.as_ref().map(|(_, pool)| Arc::clone(pool))
}

/// `work` applied to every item, results in item order: in parallel on the pool when
/// there are several items and more than one thread, else on the calling thread.
pub fn map_items<I, R, F>(items: Vec<I>, work: F) -> Vec<R>
where
    I: Send,
    R: Send,
    F: Fn(I) -> R + Sync + Send,
{
    if items.len() > 1 && num_threads() > 1 {
        if let Some(pool) = pool() {
            return pool.install(|| items.into_par_iter().map(&work).collect());
        }
    }
    items.into_iter().map(work).collect()
}
