//! The pool's reuse rule, bounds and eviction order (`docs/behaviour.md#memory`).
//!
//! These assertions were made from Python through `_native._pool_stats()` and
//! `_native._POOL_LIMITS` until the pool became plain Rust; the Python tests keep what
//! numpy users can observe (ownership, resize, tracemalloc, addresses being reused).

use std::collections::HashSet;
use std::sync::{mpsc, Barrier};
use std::time::Duration;

use super::*;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

fn buffer(len: usize) -> Buffer {
    Buffer::allocate(len).expect("memory for a test buffer")
}

fn address(buffer: &Buffer) -> usize {
    buffer.as_ptr().as_ptr() as usize
}

/// The addresses of the free buffers, least recently returned first.
fn free_addresses(pool: &Pool) -> Vec<usize> {
    pool.free.iter().map(address).collect()
}

/// The pool's bounds hold and its byte count is right.
fn check_bounds(pool: &Pool) {
    let (stats, limits) = (pool.stats(), pool.limits());
    assert!(stats.free_buffers <= limits.buffers, "{stats:?}");
    assert!(stats.free_bytes <= limits.bytes, "{stats:?}");
    assert_eq!(
        stats.free_bytes,
        pool.free.iter().map(Buffer::size).sum::<usize>()
    );
    assert!(pool.free.iter().all(|b| b.size() <= limits.buffer_bytes));
}

/// A small deterministic generator (the sequence matters, not its quality).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

#[test]
fn the_process_wide_limits() {
    assert_eq!(
        LIMITS,
        Limits {
            buffers: 8,
            bytes: 128 * MIB,
            buffer_bytes: 64 * MIB
        }
    );
    // A colour map, an overlay and a mask of a 4096² map are kept at once.
    let pipeline = [48 * MIB, 48 * MIB, 16 * MIB];
    assert!(pipeline.iter().sum::<usize>() <= LIMITS.bytes);
    assert!(pipeline.iter().all(|&b| b <= LIMITS.buffer_bytes));
}

#[test]
fn takes_the_smallest_free_buffer_that_fits_within_twice_the_size() {
    let mut pool = Pool::new(LIMITS);
    let sizes = [4 * MIB, MIB, 3 * MIB, 2 * MIB];
    let buffers: Vec<Buffer> = sizes.iter().map(|&s| buffer(s)).collect();
    let by_size: Vec<(usize, usize)> = buffers.iter().map(|b| (b.size(), address(b))).collect();
    let address_of = |size: usize| by_size.iter().find(|(s, _)| *s == size).unwrap().1;
    for b in buffers {
        pool.give_back(b);
    }
    // 1.5 MiB: 2 and 3 MiB fit (≤ 3 MiB); the smaller one.
    let taken = pool.take(3 * MIB / 2).unwrap();
    assert_eq!(address(&taken), address_of(2 * MIB));
    // An exact fit.
    assert_eq!(address(&pool.take(MIB).unwrap()), address_of(MIB));
    // 2.5 MiB: 3 and 4 MiB fit; the smaller one.
    assert_eq!(
        address(&pool.take(5 * MIB / 2).unwrap()),
        address_of(3 * MIB)
    );
    let before = pool.stats();
    // Only 4 MiB is left: too large for 1.9 MiB (more than twice), too small for 5 MiB.
    assert!(pool.take(19 * MIB / 10).is_none());
    assert!(pool.take(5 * MIB).is_none());
    assert_eq!(pool.stats(), before);
    assert_eq!(address(&pool.take(2 * MIB).unwrap()), address_of(4 * MIB)); // exactly 2×
    assert_eq!(pool.stats().free_buffers, 0);
}

#[test]
fn a_small_request_never_takes_a_much_larger_buffer() {
    // Was test_a_small_result_does_not_take_a_much_larger_buffer (tests/test_output_memory.py).
    let mut pool = Pool::new(LIMITS);
    pool.give_back(buffer(8 * MIB));
    assert!(pool.take(MIB).is_none());
    assert_eq!(pool.stats().free_buffers, 1);
    // Twice the size is the limit: 2 MiB + 1 byte is too large for 1 MiB.
    let mut pool = Pool::new(LIMITS);
    pool.give_back(buffer(2 * MIB + 1));
    assert!(pool.take(MIB).is_none());
    assert!(pool.take(MIB + 1).is_some());
}

#[test]
fn of_equal_buffers_the_most_recently_returned_comes_first() {
    let mut pool = Pool::new(LIMITS);
    let buffers: Vec<Buffer> = (0..3).map(|_| buffer(MIB)).collect();
    let order: Vec<usize> = buffers.iter().map(address).collect();
    for b in buffers {
        pool.give_back(b);
    }
    for &expected in order.iter().rev() {
        assert_eq!(address(&pool.take(MIB).unwrap()), expected);
    }
    assert!(pool.take(MIB).is_none());
}

#[test]
fn a_reclaimed_buffer_is_reused_for_the_next_request() {
    // The pool side of test_freed_result_memory_is_reused.
    let mut pool = Pool::new(LIMITS);
    let len = 960 * KIB;
    let lent = pool.lend(buffer(len));
    assert_eq!(pool.stats().lent_buffers, 1);
    let back = pool.reclaim(lent.as_ptr()).expect("a lent buffer");
    assert_eq!(address(&back), lent.as_ptr() as usize);
    pool.give_back(back);
    assert_eq!(pool.stats().lent_buffers, 0);
    assert_eq!(address(&pool.take(len).unwrap()), lent.as_ptr() as usize);
}

#[test]
fn only_lent_addresses_are_reclaimed_and_only_once() {
    let mut pool = Pool::new(LIMITS);
    let kept = buffer(MIB);
    assert!(pool.reclaim(kept.as_ptr().as_ptr()).is_none()); // never lent
    let lent = pool.lend(buffer(MIB));
    // SAFETY: one byte past the start lies inside the lent buffer.
    let inside = unsafe { lent.as_ptr().add(1) };
    assert!(pool.reclaim(inside).is_none()); // not the start of a lent buffer
    assert!(pool.reclaim(lent.as_ptr()).is_some());
    assert!(pool.reclaim(lent.as_ptr()).is_none());
    assert_eq!(pool.stats().lent_buffers, 0);
}

#[test]
fn lent_buffers_are_aligned_and_a_zero_size_request_takes_nothing() {
    let mut pool = Pool::new(LIMITS);
    for len in [0, 1, 100, 4096 + 7, 300 * 900, MIB + 3] {
        let ptr = pool.lend(buffer(len));
        assert_eq!(ptr.as_ptr() as usize % ALIGN, 0, "len {len}");
        let back = pool.reclaim(ptr.as_ptr()).unwrap();
        assert!(back.size() >= len);
        pool.give_back(back);
    }
    // A zero-size request (a result with an empty axis) never takes a free buffer.
    assert!(pool.stats().free_buffers > 0);
    assert!(pool.take(0).is_none());
}

#[test]
fn keeps_at_most_the_buffer_count_evicting_the_least_recently_returned() {
    let mut pool = Pool::new(LIMITS);
    let buffers: Vec<Buffer> = (0..LIMITS.buffers + 3).map(|_| buffer(MIB)).collect();
    let order: Vec<usize> = buffers.iter().map(address).collect();
    for b in buffers {
        pool.give_back(b);
        check_bounds(&pool);
    }
    assert_eq!(pool.stats().free_buffers, LIMITS.buffers);
    assert_eq!(free_addresses(&pool), order[3..]);
}

#[test]
fn keeps_at_most_the_byte_count_evicting_the_least_recently_returned() {
    let mut pool = Pool::new(LIMITS);
    let small = buffer(10 * MIB);
    let (a, b, c) = (buffer(60 * MIB), buffer(60 * MIB), buffer(MIB));
    let (small_at, a_at, b_at, c_at) = (address(&small), address(&a), address(&b), address(&c));
    pool.give_back(small);
    pool.give_back(a);
    assert_eq!(pool.stats().free_bytes, 70 * MIB);
    // 130 MiB > 128 MiB: the oldest goes, although it is the smallest.
    pool.give_back(b);
    check_bounds(&pool);
    assert_eq!(free_addresses(&pool), [a_at, b_at]);
    pool.give_back(c);
    check_bounds(&pool);
    assert_eq!(free_addresses(&pool), [a_at, b_at, c_at]);
    assert_eq!(pool.stats().free_bytes, 121 * MIB);
    assert!(!free_addresses(&pool).contains(&small_at));
}

#[test]
fn taking_a_buffer_keeps_the_others_in_their_order() {
    let mut pool = Pool::new(LIMITS);
    let buffers: Vec<Buffer> = [MIB, 2 * MIB, 3 * MIB].iter().map(|&s| buffer(s)).collect();
    let at: Vec<usize> = buffers.iter().map(address).collect();
    for b in buffers {
        pool.give_back(b);
    }
    let middle = pool.take(2 * MIB).unwrap();
    pool.give_back(middle); // now the most recently returned
    assert_eq!(free_addresses(&pool), [at[0], at[2], at[1]]);
    // Allocated first, so none reuses the address of a buffer evicted meanwhile.
    let more: Vec<Buffer> = (1..LIMITS.buffers).map(|_| buffer(64 * KIB)).collect();
    for b in more {
        pool.give_back(b);
    }
    // Two over the count: the 1 MiB and then the 3 MiB buffer go.
    assert_eq!(pool.stats().free_buffers, LIMITS.buffers);
    assert_eq!(free_addresses(&pool)[0], at[1]);
    assert!(!free_addresses(&pool).contains(&at[0]));
    assert!(!free_addresses(&pool).contains(&at[2]));
}

#[test]
fn huge_buffers_are_never_retained() {
    // Was test_huge_results_are_not_retained (tests/test_output_memory.py).
    let mut pool = Pool::new(LIMITS);
    pool.give_back(buffer(MIB));
    pool.give_back(buffer(40 * MIB));
    let before = pool.stats();
    let len = LIMITS.buffer_bytes + 4096;
    assert!(pool.take(len).is_none()); // no fitting buffer is pooled
    assert_eq!(pool.stats(), before);
    let huge = buffer(len);
    let lent = pool.lend(huge);
    let back = pool.reclaim(lent.as_ptr()).unwrap();
    pool.give_back(back);
    assert_eq!(pool.stats(), before);
    // The largest kept size is kept.
    pool.give_back(buffer(LIMITS.buffer_bytes));
    assert_eq!(pool.stats().free_buffers, before.free_buffers + 1);
}

#[test]
fn stays_within_its_bounds_under_a_scrambled_workload() {
    // Was test_pool_stays_within_its_bounds (tests/test_output_memory.py): 40 results
    // of 256 KiB to 40 MiB, freed a few at a time in a scrambled order.
    let mut pool = Pool::new(LIMITS);
    let mut rng = Lcg(3);
    let mut live: Vec<NonNull<u8>> = Vec::new();
    for _ in 0..40 {
        let len = 256 * KIB + rng.below(40 * MIB - 256 * KIB);
        let got = pool.take(len).unwrap_or_else(|| buffer(len));
        assert!(got.size() >= len && got.size() <= 2 * len.max(ALIGN));
        live.push(pool.lend(got));
        if live.len() > 3 {
            let ptr = live.remove(rng.below(live.len()));
            let back = pool.reclaim(ptr.as_ptr()).unwrap();
            pool.give_back(back);
            check_bounds(&pool);
        }
    }
    for ptr in live.drain(..) {
        let back = pool.reclaim(ptr.as_ptr()).unwrap();
        pool.give_back(back);
    }
    check_bounds(&pool);
    assert!(pool.stats().free_buffers > 0);
    assert_eq!(pool.stats().lent_buffers, 0);
}

#[test]
fn threads_sharing_the_process_wide_pool_get_independent_buffers() {
    // Was the pool part of test_threads_get_correct_independent_results
    // (tests/test_output_memory.py): 8 threads, 25 rounds, each holding its last
    // 3 buffers filled with its own value, then the bounds.
    // Under Miri, which runs threads one step at a time and checks every byte read,
    // fewer and smaller rounds (seconds instead of hours); the interleavings it explores
    // are what matters there.
    const THREADS: usize = if cfg!(miri) { 3 } else { 8 };
    const ROUNDS: usize = if cfg!(miri) { 6 } else { 25 };
    const BASE: usize = if cfg!(miri) { KIB } else { 256 * KIB };
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                let mut held: Vec<(u8, NonNull<u8>, usize)> = Vec::new();
                for i in 0..ROUNDS {
                    let len = BASE + 64 * t + i;
                    let recycled = shared().take(len);
                    let got = recycled.unwrap_or_else(|| buffer(len));
                    let ptr = shared().lend(got);
                    let value = (t * ROUNDS + i) as u8;
                    // SAFETY: the buffer is lent to this thread alone and holds at
                    // least `len` bytes until it is reclaimed below.
                    unsafe { std::ptr::write_bytes(ptr.as_ptr(), value, len) };
                    held.push((value, ptr, len));
                    if held.len() > 3 {
                        let (_, old, _) = held.remove(0);
                        let back = shared().reclaim(old.as_ptr()).expect("lent above");
                        shared().give_back(back);
                    }
                    for &(value, ptr, len) in &held {
                        // SAFETY: as above: lent to this thread, `len` bytes written.
                        let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), len) };
                        assert!(bytes.iter().all(|&b| b == value), "thread {t} round {i}");
                    }
                }
                for (_, ptr, _) in held {
                    let back = shared().reclaim(ptr.as_ptr()).expect("lent above");
                    shared().give_back(back);
                }
            });
        }
    });
    check_bounds(&shared());
}

#[test]
fn live_lent_buffers_never_share_memory() {
    // The pool side of test_live_results_are_independent.
    let mut pool = Pool::new(LIMITS);
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for round in 0..3 {
        let lent: Vec<(NonNull<u8>, usize)> = (0..12)
            .map(|_| {
                let b = pool.take(960 * KIB).unwrap_or_else(|| buffer(960 * KIB));
                let size = b.size();
                (pool.lend(b), size)
            })
            .collect();
        spans.clear();
        spans.extend(lent.iter().map(|&(p, s)| (p.as_ptr() as usize, s)));
        let starts: HashSet<usize> = spans.iter().map(|s| s.0).collect();
        assert_eq!(starts.len(), 12, "round {round}");
        for (i, &(a, la)) in spans.iter().enumerate() {
            for &(b, lb) in &spans[i + 1..] {
                assert!(a + la <= b || b + lb <= a, "round {round}");
            }
        }
        for (p, _) in lent {
            let back = pool.reclaim(p.as_ptr()).unwrap();
            pool.give_back(back);
        }
        check_bounds(&pool);
    }
}

/// Runs `child` in a forked child process and returns whether it returned true, or
/// `None` if the child did not finish within `timeout` (it is killed then). The child
/// exits with `_exit`, without unwinding into the test harness.
#[cfg(unix)]
pub(crate) fn in_forked_child(timeout: Duration, child: impl FnOnce() -> bool) -> Option<bool> {
    // SAFETY: the child calls only what a process forked from a multi-threaded one may
    // (the allocator, which glibc makes fork-safe, our own fork-safe locks and thread
    // creation) and leaves through `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(false);
        // SAFETY: ends the child at once, running nothing inherited from the harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let deadline = std::time::Instant::now() + timeout;
    let mut status = 0;
    loop {
        // SAFETY: `pid` is our child; `status` is a valid place for its status.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if done == pid {
            return Some(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
        if std::time::Instant::now() > deadline {
            // SAFETY: as above; kills and reaps our own hung child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(unix)]
#[test]
#[cfg_attr(miri, ignore = "Miri cannot fork() a process")]
fn a_child_forked_while_another_thread_holds_the_pool_can_use_it() {
    let lent = shared().lend(buffer(MIB));
    let (locked, is_locked) = mpsc::channel();
    let holder = std::thread::spawn(move || {
        let guard = shared();
        locked.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(guard);
    });
    is_locked.recv().unwrap();
    // The holder has the lock now: without the fork handlers the child would inherit
    // it locked, by a thread that does not exist there, and wait forever.
    let result = in_forked_child(Duration::from_secs(20), move || {
        let mut pool = shared();
        // The child inherits the pool: the lent buffer comes back to it.
        let Some(back) = pool.reclaim(lent.as_ptr()) else {
            return false;
        };
        pool.give_back(back);
        drop(pool);
        let again = shared().take(MIB).unwrap_or_else(|| buffer(MIB));
        shared().give_back(again);
        true
    });
    holder.join().unwrap();
    assert_eq!(
        result,
        Some(true),
        "the child hung (None) or failed (Some(false))"
    );
    let back = shared()
        .reclaim(lent.as_ptr())
        .expect("still lent in the parent");
    shared().give_back(back);
}
