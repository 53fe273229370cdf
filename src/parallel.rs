//! Maps of a batch run in parallel (docs/behaviour.md#threads): the calling thread and
//! the threads of one rayon pool take maps off a shared counter until none are left.
//! Owns the pool and its size.
//!
//! A single map always runs on the calling thread. For a batch of `n` threads the
//! caller is one of them and the pool holds the other `n − 1`: the caller starts at
//! once, while the pool's threads may first have to wake up (on a virtual machine
//! that can take a good part of a millisecond, as long as a whole small batch).
//!
//! A process forked from this one has none of the pool's threads: it builds its own
//! pool for its first batch ([`install_fork_handlers`], `docs/behaviour.md#threads`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

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
