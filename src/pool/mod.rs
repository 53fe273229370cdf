//! The output pool: recycled result buffers whose pages are already mapped.
//!
//! A fresh multi-megabyte result would otherwise take one page fault per 4 KiB page as
//! a kernel first writes it. `np.empty` cannot avoid that when the caller interleaves
//! other libraries (OpenCV) between our calls: glibc trims its heap or unmaps the
//! freed block, so every call gets new zero-filled pages (about 0.4 ms of a 1.4 ms
//! 1024×1024 colour map on this machine kind). So large results (see
//! `docs/behaviour.md#memory`) are made of [`Buffer`]s that come from here and return
//! here when the result dies; the Python binding lends them to numpy through numpy's
//! memory-handler API (`src/python/numpy_allocator.rs`). This module is plain Rust.
//!
//! Reuse ([`Pool::take`]): the smallest free buffer that holds the request and is at
//! most twice its size (a small result never pins a large buffer), the most recently
//! returned of equal ones (its bytes may still be in cache); otherwise none, and the
//! caller allocates a new one (its pages mapped in one `MADV_POPULATE_WRITE` call). A
//! reused buffer holds an earlier result's bytes, like `np.empty`; every kernel
//! overwrites its whole output.
//!
//! Bounds ([`LIMITS`]), so the pool never hoards memory: at most 8 free buffers and
//! 128 MiB in total (the least recently returned go first), and no buffer over 64 MiB
//! is kept (a 16384² colour map, 768 MiB, is freed as soon as it dies). A pipeline
//! holding a colour map, an overlay and a mask of a 4096² map at once (48 + 48 + 16
//! MiB) still fits.
//!
//! The process-wide pool ([`shared`]) sits behind one mutex, which no other thread
//! holds while the process forks: the child inherits it unlocked, with every buffer
//! (see [`install_fork_handlers`]).

mod buffer;

use std::collections::{BTreeMap, VecDeque};
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub use buffer::{Buffer, ALIGN};

/// How much a [`Pool`] may keep of the buffers given back to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At most this many free buffers are kept.
    pub buffers: usize,
    /// At most this many bytes of free buffers are kept.
    pub bytes: usize,
    /// A buffer larger than this is released when given back, never kept.
    pub buffer_bytes: usize,
}

/// The bounds of the process-wide pool.
pub const LIMITS: Limits = Limits {
    buffers: 8,
    bytes: 128 << 20,
    buffer_bytes: 64 << 20,
};

/// What a [`Pool`] holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Free buffers, ready for [`Pool::take`].
    pub free_buffers: usize,
    /// Their total size in bytes.
    pub free_bytes: usize,
    /// Buffers lent out ([`Pool::lend`]) and not yet reclaimed.
    pub lent_buffers: usize,
}

/// Free buffers, least recently returned first, within [`Limits`]; and the buffers lent
/// out, by address (a C allocator's `free` gives only the address).
#[derive(Debug)]
pub struct Pool {
    free: VecDeque<Buffer>,
    free_bytes: usize,
    lent: BTreeMap<usize, Buffer>,
    limits: Limits,
}

impl Pool {
    /// An empty pool with these bounds.
    pub const fn new(limits: Limits) -> Pool {
        Pool {
            free: VecDeque::new(),
            free_bytes: 0,
            lent: BTreeMap::new(),
            limits,
        }
    }

    /// The smallest free buffer of `len` to `2 * len` bytes, taken out of the pool; of
    /// equal ones the most recently returned. `None` if none fits (a zero-length request
    /// never takes one).
    pub fn take(&mut self, len: usize) -> Option<Buffer> {
        let fits = |b: &Buffer| b.size() >= len && b.size() <= len.saturating_mul(2);
        let (index, _) = (self.free.iter().enumerate().rev())
            .filter(|(_, b)| fits(b))
            .min_by_key(|(_, b)| b.size())?;
        let buffer = self.free.remove(index)?;
        self.free_bytes -= buffer.size();
        Some(buffer)
    }

    /// Keeps `buffer` unless it is larger than `limits.buffer_bytes`, then releases the
    /// least recently returned buffers until the pool is within its bounds.
    pub fn give_back(&mut self, buffer: Buffer) {
        if buffer.size() > self.limits.buffer_bytes {
            return;
        }
        self.free_bytes += buffer.size();
        self.free.push_back(buffer);
        while self.free.len() > self.limits.buffers || self.free_bytes > self.limits.bytes {
            let Some(oldest) = self.free.pop_front() else {
                break; // cannot happen: the bounds hold for an empty pool
            };
            self.free_bytes -= oldest.size();
        }
    }

    /// Lends `buffer` out: it stays owned by the pool, live, until [`Pool::reclaim`] is
    /// given its address.
    pub fn lend(&mut self, buffer: Buffer) -> NonNull<u8> {
        let ptr = buffer.as_ptr();
        self.lent.insert(ptr.as_ptr() as usize, buffer);
        ptr
    }

    /// The lent buffer at `ptr`, taken back; `None` for any other address.
    pub fn reclaim(&mut self, ptr: *const u8) -> Option<Buffer> {
        self.lent.remove(&(ptr as usize))
    }

    /// What the pool holds now.
    pub fn stats(&self) -> Stats {
        Stats {
            free_buffers: self.free.len(),
            free_bytes: self.free_bytes,
            lent_buffers: self.lent.len(),
        }
    }

    /// The bounds this pool keeps.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}

/// The process-wide pool.
static SHARED: Mutex<Pool> = Mutex::new(Pool::new(LIMITS));

/// The process-wide pool, locked. Hold it briefly: no allocation of a new buffer, no
/// waiting for anything else, and never a `fork()` while holding it.
pub fn shared() -> MutexGuard<'static, Pool> {
    install_fork_handlers();
    lock_shared()
}

fn lock_shared() -> MutexGuard<'static, Pool> {
    // The pool is consistent after every statement, so a lock poisoned by a panic
    // elsewhere is still usable.
    SHARED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Makes `fork()` safe for the pool: `fork()` first takes the pool's lock, so no other
/// thread is inside the pool when the process is copied, and releases it in the parent
/// and in the child (whose only thread is the one that forked). Without this a child
/// forked while another thread held the lock would wait for it forever.
///
/// [`shared`] calls it; the Python extension calls it when it is imported, before any
/// thread can use the pool. Idempotent and cheap after the first call.
pub fn install_fork_handlers() {
    #[cfg(unix)]
    fork::install();
}

#[cfg(unix)]
mod fork {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::MutexGuard;

    use super::Pool;

    thread_local! {
        /// The pool's lock, held by the forking thread from `prepare` until `release`.
        static HELD: Cell<Option<MutexGuard<'static, Pool>>> = const { Cell::new(None) };
    }

    /// Before `fork()`, in the forking thread: waits for the pool's lock (held only for
    /// a few bookkeeping steps) and keeps it.
    extern "C" fn prepare() {
        let guard = super::lock_shared();
        // If this thread's storage is already gone (it is exiting), the guard drops and
        // the fork goes on unprotected, as it did before this existed.
        let _ = HELD.try_with(|held| held.set(Some(guard)));
    }

    /// After `fork()`, in the parent and in the child: releases the lock again.
    extern "C" fn release() {
        let _ = HELD.try_with(|held| drop(held.take()));
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
        unsafe { libc::pthread_atfork(Some(prepare), Some(release), Some(release)) };
    }
}

#[cfg(test)]
pub(crate) mod tests;
