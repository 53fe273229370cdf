//! Output memory: recycled result buffers whose pages are already mapped.
//!
//! A fresh multi-megabyte result would otherwise take one page fault per 4 KiB page as
//! our kernel first writes it. `np.empty` cannot avoid that when the caller interleaves
//! other libraries (OpenCV) between our calls: glibc trims its heap or unmaps the
//! freed block, so every call gets new zero-filled pages (about 0.4 ms of a 1.4 ms
//! 1024×1024 colour map on this machine kind). So results of at least 256 KiB (the
//! threshold is in `_api.py`) come from [`new_output`]: a numpy array over a
//! 64-byte-aligned buffer owned by an [`OutputBuffer`], its `base`. When the last array
//! or view over it dies, the buffer goes back to a process-wide pool instead of to the
//! allocator, still mapped, and the next result of a similar size reuses it.
//!
//! Reuse: the smallest free buffer that holds the result and is at most twice its size
//! (a small result never pins a large buffer), the most recently returned of equal
//! ones; otherwise a new buffer, its pages mapped in one `MADV_POPULATE_WRITE` call. A
//! reused buffer holds an earlier result's bytes, like `np.empty`; every kernel
//! overwrites its whole output.
//!
//! Bounds, so the pool never hoards memory: at most [`MAX_POOLED_BUFFERS`] free buffers
//! and [`MAX_POOLED_BYTES`] in total (the least recently returned go first), and no
//! buffer over [`MAX_POOLED_BUFFER_BYTES`] is kept (a 16384² colour map, 768 MiB, is
//! freed as soon as it dies). A pipeline holding a colour map, an overlay and a mask of
//! a 4096² map at once (48 + 48 + 16 MiB) still fits.
//!
//! Every pool access happens with the GIL held (taking a buffer, and `Drop` of the
//! Python object; a new buffer is mapped with the GIL released but outside the lock), so
//! the lock is never contended and never held across `os.fork`.

use std::alloc::{self, Layout};
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard};

use numpy::ndarray::{ArrayViewD, IxDyn};
use numpy::PyArrayDyn;
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;

/// Alignment of every buffer: a cache line, and a full AVX-512 vector.
const ALIGN: usize = 64;
/// At most this many free buffers are kept.
pub(crate) const MAX_POOLED_BUFFERS: usize = 8;
/// At most this many bytes of free buffers are kept.
pub(crate) const MAX_POOLED_BYTES: usize = 128 << 20;
/// A free buffer larger than this is released, never kept.
pub(crate) const MAX_POOLED_BUFFER_BYTES: usize = 64 << 20;

/// An owned, 64-byte-aligned heap buffer of `size` bytes (like a `Box<[u8]>`).
struct Buffer {
    ptr: NonNull<u8>,
    size: usize,
}

// SAFETY: a `Buffer` exclusively owns its allocation, as a `Box<[u8]>` does; it can be
// freed from any thread.
unsafe impl Send for Buffer {}
// SAFETY: `&Buffer` gives no access to the bytes, only to the pointer's value.
unsafe impl Sync for Buffer {}

impl Buffer {
    /// A new buffer of at least `len` bytes with every page mapped, or `None` if the
    /// allocator has no memory for it.
    fn allocate(len: usize) -> Option<Buffer> {
        let layout = Layout::from_size_align(len.max(ALIGN), ALIGN).ok()?;
        // SAFETY: the layout's size is not zero.
        let ptr = NonNull::new(unsafe { alloc::alloc(layout) })?;
        let buffer = Buffer {
            ptr,
            size: layout.size(),
        };
        populate(buffer.ptr, buffer.size);
        Some(buffer)
    }

    fn layout(&self) -> Layout {
        Layout::from_size_align(self.size, ALIGN).expect("checked when allocated")
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: `ptr` was allocated by `alloc::alloc` with this very layout and is
        // freed only here.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout()) }
    }
}

/// Buffers at least this large may use transparent huge pages, as numpy's own
/// allocations do (`MADV_HUGEPAGE` from 4 MiB).
#[cfg(target_os = "linux")]
const HUGE_PAGE_BYTES: usize = 4 << 20;

/// Maps every whole page of `[ptr, ptr + len)` in one system call (Linux
/// `MADV_POPULATE_WRITE`), as writing it would, after allowing huge pages for large
/// buffers. A no-op elsewhere and on kernels older than 5.14; it never changes the
/// bytes.
fn populate(ptr: NonNull<u8>, len: usize) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sysconf has no preconditions.
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            p if p > 0 => p as usize,
            _ => return,
        };
        let start = ptr.as_ptr() as usize;
        let first = start.next_multiple_of(page);
        let last = (start + len) / page * page;
        if last > first {
            let advise = |advice| {
                // SAFETY: [first, last) lies inside the live allocation [ptr, ptr + len),
                // which nothing else uses yet. MADV_HUGEPAGE and MADV_POPULATE_WRITE
                // change how its pages are backed, never their contents; an error
                // (e.g. EINVAL on an old kernel) leaves everything as it was, so it is
                // ignored.
                unsafe { libc::madvise(first as *mut libc::c_void, last - first, advice) };
            };
            if len >= HUGE_PAGE_BYTES {
                advise(libc::MADV_HUGEPAGE);
            }
            advise(libc::MADV_POPULATE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (ptr, len);
}

/// The free buffers, least recently returned first, and their total size.
struct Pool {
    free: VecDeque<Buffer>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: VecDeque::new(),
    bytes: 0,
});

fn pool() -> MutexGuard<'static, Pool> {
    // Nothing panics while holding the lock, and the pool is consistent after every
    // statement anyway, so a poisoned lock is still usable.
    POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Pool {
    /// The smallest free buffer of `len` to `2 * len` bytes, taken out of the pool; of
    /// equal ones the most recently returned (its bytes may still be in cache).
    fn take(&mut self, len: usize) -> Option<Buffer> {
        let fits = |b: &Buffer| b.size >= len && b.size <= len.saturating_mul(2);
        let (index, _) = (self.free.iter().enumerate().rev())
            .filter(|(_, b)| fits(b))
            .min_by_key(|(_, b)| b.size)?;
        let buffer = self.free.remove(index)?;
        self.bytes -= buffer.size;
        Some(buffer)
    }

    /// Keeps `buffer` unless it is too large, then releases the least recently returned
    /// buffers until the pool is within its bounds.
    fn give_back(&mut self, buffer: Buffer) {
        if buffer.size > MAX_POOLED_BUFFER_BYTES {
            return;
        }
        self.bytes += buffer.size;
        self.free.push_back(buffer);
        while self.free.len() > MAX_POOLED_BUFFERS || self.bytes > MAX_POOLED_BYTES {
            let oldest = self.free.pop_front().expect("the pool is not empty");
            self.bytes -= oldest.size;
        }
    }
}

/// The owner of a result's memory: the `base` of the numpy array [`new_output`] returns
/// (and of its views). When the last of them dies, the buffer returns to the pool.
#[pyclass(frozen, module = "anomaly_postprocess._native")]
pub(crate) struct OutputBuffer {
    buffer: Option<Buffer>,
}

impl Drop for OutputBuffer {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            pool().give_back(buffer);
        }
    }
}

/// A new C-contiguous, writable uint8 array of `shape`, contents undefined (like
/// `np.empty`), over a recycled buffer or a new one with its pages already mapped.
#[pyfunction]
pub(crate) fn new_output<'py>(
    py: Python<'py>,
    shape: Vec<usize>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let len = (shape.iter())
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| PyValueError::new_err(format!("result shape {shape:?} is too large")))?;
    let recycled = pool().take(len);
    let buffer = match recycled {
        Some(buffer) => buffer,
        // Mapping tens of megabytes takes milliseconds: let other threads run meanwhile.
        None => py.detach(|| Buffer::allocate(len)).ok_or_else(|| {
            PyMemoryError::new_err(format!("cannot allocate {len} bytes for a result"))
        })?,
    };
    let data = buffer.ptr.as_ptr().cast_const();
    let owner = Bound::new(
        py,
        OutputBuffer {
            buffer: Some(buffer),
        },
    )?;
    // SAFETY: `data` is valid for reads and writes of `len` bytes (the product of
    // `shape`, at most isize::MAX) and is aligned for u8; the view's C strides stay
    // inside them. The memory belongs to `owner` and is neither moved nor freed while
    // `owner` lives.
    let view = unsafe { ArrayViewD::from_shape_ptr(IxDyn(&shape), data) };
    // SAFETY: `owner` becomes the array's base, so it outlives the array and every view
    // of it, and its buffer is never reallocated: it is only handed back to the pool
    // when `owner` itself is dropped. No other array refers to that memory meanwhile
    // (the pool gives a buffer to one owner at a time), so writing through it is sound.
    Ok(unsafe { PyArrayDyn::borrow_from_array(&view, owner.into_any()) })
}

/// The pool's free buffers: (count, total bytes). For tests.
#[pyfunction]
pub(crate) fn _pool_stats() -> (usize, usize) {
    let pool = pool();
    (pool.free.len(), pool.bytes)
}
