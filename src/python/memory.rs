//! Output memory: recycled result buffers whose pages are already mapped.
//!
//! A fresh multi-megabyte result would otherwise take one page fault per 4 KiB page as
//! our kernel first writes it. `np.empty` cannot avoid that when the caller interleaves
//! other libraries (OpenCV) between our calls: glibc trims its heap or unmaps the
//! freed block, so every call gets new zero-filled pages (about 0.4 ms of a 1.4 ms
//! 1024×1024 colour map on this machine kind). So results of at least 256 KiB (the
//! threshold is in `_api.py`) come from [`new_output`]: a numpy array allocated through
//! numpy's own memory-handler API (NEP 49, `PyDataMem_SetHandler`, numpy ≥ 1.22) with
//! our handler set just for that allocation. The array owns its memory like any other
//! (`flags.owndata`, `resize`, tracemalloc all as usual); numpy keeps the handler with
//! it and calls our `free` when the array dies, which puts the buffer back into a
//! process-wide pool instead of releasing it, still mapped, for the next result.
//!
//! Reuse: the smallest free buffer that holds the result and is at most twice its size
//! (a small result never pins a large buffer), the most recently returned of equal
//! ones; otherwise a new buffer, its pages mapped in one `MADV_POPULATE_WRITE` call
//! with the GIL released. A reused buffer holds an earlier result's bytes, like
//! `np.empty`; every kernel overwrites its whole output.
//!
//! Bounds, so the pool never hoards memory: at most [`MAX_POOLED_BUFFERS`] free buffers
//! and [`MAX_POOLED_BYTES`] in total (the least recently returned go first), and no
//! buffer over [`MAX_POOLED_BUFFER_BYTES`] is kept (a 16384² colour map, 768 MiB, is
//! freed as soon as it dies). A pipeline holding a colour map, an overlay and a mask of
//! a 4096² map at once (48 + 48 + 16 MiB) still fits.

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard};

use numpy::{PyArrayDyn, PyArrayMethods};
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCapsule;

use crate::error::KernelError;

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

/// The free buffers, least recently returned first, and their total size; and the
/// buffers numpy arrays hold now, by address (numpy's `free` gives only the address).
struct Pool {
    free: VecDeque<Buffer>,
    bytes: usize,
    live: BTreeMap<usize, Buffer>,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: VecDeque::new(),
    bytes: 0,
    live: BTreeMap::new(),
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

impl Pool {
    /// Hands `buffer` to numpy: it is live until numpy frees its address.
    fn lend(&mut self, buffer: Buffer) -> *mut c_void {
        let ptr = buffer.ptr.as_ptr();
        self.live.insert(ptr as usize, buffer);
        ptr.cast()
    }

    /// The live buffer at `ptr`, taken back from numpy.
    fn reclaim(&mut self, ptr: *mut c_void) -> Option<Buffer> {
        self.live.remove(&(ptr as usize))
    }
}

thread_local! {
    /// The buffer [`new_output`] prepared (with the GIL released) for the allocation
    /// numpy is about to make on this thread through our handler.
    static PREPARED: Cell<Option<Buffer>> = const { Cell::new(None) };
}

/// numpy's `PyDataMemAllocator` (numpy/ndarraytypes.h, NEP 49).
#[repr(C)]
struct DataMemAllocator {
    ctx: *mut c_void,
    malloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void,
    calloc: unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void,
    realloc: unsafe extern "C" fn(*mut c_void, *mut c_void, usize) -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void, *mut c_void, usize),
}

/// numpy's `PyDataMem_Handler`: a name, version 1, the allocator.
#[repr(C)]
struct DataMemHandler {
    name: [u8; 127],
    version: u8,
    allocator: DataMemAllocator,
}

// SAFETY: the handler is immutable; its context pointer is null and never dereferenced.
unsafe impl Sync for DataMemHandler {}
// SAFETY: as above.
unsafe impl Send for DataMemHandler {}

const fn handler_name() -> [u8; 127] {
    let text = b"anomaly_postprocess output pool";
    let mut name = [0u8; 127];
    let mut i = 0;
    while i < text.len() {
        name[i] = text[i];
        i += 1;
    }
    name
}

static HANDLER: DataMemHandler = DataMemHandler {
    name: handler_name(),
    version: 1,
    allocator: DataMemAllocator {
        ctx: std::ptr::null_mut(),
        malloc: pool_malloc,
        calloc: pool_calloc,
        realloc: pool_realloc,
        free: pool_free,
    },
};

/// A buffer of at least `size` bytes: the one [`new_output`] prepared, else one from
/// the pool, else a new one.
fn obtain(size: usize) -> Option<Buffer> {
    match PREPARED.take() {
        Some(buffer) if buffer.size >= size => Some(buffer),
        other => {
            if let Some(unsuitable) = other {
                pool().give_back(unsuitable);
            }
            let recycled = pool().take(size);
            recycled.or_else(|| Buffer::allocate(size))
        }
    }
}

// The four functions numpy calls. They never unwind (nothing in them panics but on a
// broken invariant, and `panic = "unwind"` would abort at the `extern "C"` boundary).

unsafe extern "C" fn pool_malloc(_ctx: *mut c_void, size: usize) -> *mut c_void {
    match obtain(size) {
        Some(buffer) => pool().lend(buffer),
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn pool_calloc(_ctx: *mut c_void, count: usize, size: usize) -> *mut c_void {
    let Some(bytes) = count.checked_mul(size) else {
        return std::ptr::null_mut();
    };
    match obtain(bytes) {
        Some(buffer) => {
            // SAFETY: the buffer holds at least `bytes` writable bytes.
            unsafe { std::ptr::write_bytes(buffer.ptr.as_ptr(), 0, bytes) };
            pool().lend(buffer)
        }
        None => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn pool_realloc(
    _ctx: *mut c_void,
    ptr: *mut c_void,
    new_size: usize,
) -> *mut c_void {
    if ptr.is_null() {
        // SAFETY: malloc has no preconditions.
        return unsafe { pool_malloc(std::ptr::null_mut(), new_size) };
    }
    let Some(old) = pool().reclaim(ptr) else {
        return std::ptr::null_mut(); // not ours: cannot happen, numpy pairs handlers
    };
    if old.size >= new_size {
        return pool().lend(old); // still fits, as `realloc` may do in place
    }
    let Some(new) = Buffer::allocate(new_size) else {
        pool().lend(old); // realloc failure leaves the old block valid
        return std::ptr::null_mut();
    };
    // SAFETY: both buffers are live, distinct and at least `old.size` bytes long.
    unsafe { std::ptr::copy_nonoverlapping(old.ptr.as_ptr(), new.ptr.as_ptr(), old.size) };
    let mut pool = pool();
    pool.give_back(old);
    pool.lend(new)
}

unsafe extern "C" fn pool_free(_ctx: *mut c_void, ptr: *mut c_void, _size: usize) {
    let mut pool = pool();
    if let Some(buffer) = pool.reclaim(ptr) {
        pool.give_back(buffer);
    }
}

/// `PyDataMem_SetHandler`: slot 304 of numpy's C-API table (numpy ≥ 1.22), which
/// rust-numpy does not wrap.
type SetHandler = unsafe extern "C" fn(*mut pyo3::ffi::PyObject) -> *mut pyo3::ffi::PyObject;

struct NumpyHandlerApi {
    set_handler: SetHandler,
    /// Our handler as the capsule numpy expects (name "mem_handler").
    capsule: Py<PyCapsule>,
}

static NUMPY_HANDLER_API: PyOnceLock<NumpyHandlerApi> = PyOnceLock::new();

fn numpy_handler_api(py: Python<'_>) -> PyResult<&NumpyHandlerApi> {
    NUMPY_HANDLER_API.get_or_try_init(py, || {
        let module = py
            .import("numpy._core.multiarray")
            .or_else(|_| py.import("numpy.core.multiarray"))?;
        let api = module.getattr("_ARRAY_API")?;
        let api = api.cast::<PyCapsule>()?;
        let table = api.pointer_checked(None)?.as_ptr().cast::<*const c_void>();
        // The C-API feature version of numpy 1.22, which added the handler API (entry
        // 304); pyproject requires numpy 1.24, but an older one may be installed anyway.
        const NUMPY_1_22: u32 = 0xf;
        // SAFETY: rust-numpy's wrapper of numpy's own entry 211, which every numpy has.
        let feature_version =
            unsafe { numpy::npyffi::PY_ARRAY_API.PyArray_GetNDArrayCFeatureVersion(py) };
        if feature_version < NUMPY_1_22 {
            return Err(PyRuntimeError::new_err(
                "numpy before 1.22 has no memory handlers",
            ));
        }
        // SAFETY: numpy's C-API table has (at least) 305 entries since numpy 1.22 (checked
        // above) and entry 304 is `PyDataMem_SetHandler` with this signature.
        let entry = unsafe { *table.add(304) };
        if entry.is_null() {
            return Err(PyRuntimeError::new_err("numpy has no PyDataMem_SetHandler"));
        }
        // SAFETY: as above; a non-null entry is that function.
        let set_handler = unsafe { std::mem::transmute::<*const c_void, SetHandler>(entry) };
        // SAFETY: HANDLER is a static, so the pointer stays valid for the capsule's
        // life; numpy only reads through it.
        let capsule = unsafe {
            let raw = pyo3::ffi::PyCapsule_New(
                std::ptr::addr_of!(HANDLER).cast_mut().cast(),
                c"mem_handler".as_ptr(),
                None,
            );
            Bound::from_owned_ptr_or_err(py, raw)?.cast_into::<PyCapsule>()?
        };
        Ok(NumpyHandlerApi {
            set_handler,
            capsule: capsule.unbind(),
        })
    })
}

/// Fresh results at least this large come from the pool (smaller ones gain nothing:
/// their pages are few, and often recycled by `malloc` anyway).
pub(crate) const POOLED_BYTES: usize = 1 << 18;

/// A new result of `shape`: [`new_output`] from `POOLED_BYTES` up, an ordinary new
/// array below.
pub(crate) fn result_array<'py>(
    py: Python<'py>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    if shape.iter().product::<usize>() >= POOLED_BYTES {
        return new_output(py, shape.to_vec());
    }
    // SAFETY: uninitialised u8 is valid for every bit pattern; callers overwrite it.
    Ok(unsafe { PyArrayDyn::<u8>::new(py, shape, false) })
}

/// A new result of `shape` (see [`result_array`]) that `kernel` fills, run without the
/// GIL: the one-call bindings of the common case.
pub(crate) fn new_result_from<'py, D: ndarray::Dimension>(
    py: Python<'py>,
    shape: &[usize],
    kernel: impl FnOnce(ndarray::ArrayViewMut<'_, u8, D>) -> Result<(), KernelError> + Send,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let result = result_array(py, shape)?;
    {
        let mut out = result.readwrite();
        let out = (out.as_array_mut().into_dimensionality::<D>())
            .expect("a new array of the kernel's dimensions");
        super::run_detached(py, move || kernel(out))?;
    }
    Ok(result)
}

/// A new C-contiguous, writable uint8 array of `shape`, contents undefined (like
/// `np.empty`), which owns a recycled buffer or a new one with its pages already mapped.
#[pyfunction]
pub(crate) fn new_output<'py>(
    py: Python<'py>,
    shape: Vec<usize>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let len = (shape.iter())
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| PyValueError::new_err(format!("result shape {shape:?} is too large")))?;
    let Ok(api) = numpy_handler_api(py) else {
        // No handler API (numpy < 1.22): an ordinary new array, as `np.empty` makes.
        // SAFETY: uninitialised u8 is valid for every bit pattern; callers overwrite it.
        return Ok(unsafe { PyArrayDyn::<u8>::new(py, shape.as_slice(), false) });
    };
    let recycled = pool().take(len);
    let buffer = match recycled {
        Some(buffer) => buffer,
        // Mapping tens of megabytes takes milliseconds: let other threads run meanwhile.
        None => py.detach(|| Buffer::allocate(len)).ok_or_else(|| {
            PyMemoryError::new_err(format!("cannot allocate {len} bytes for a result"))
        })?,
    };
    PREPARED.set(Some(buffer));
    // SAFETY: `set_handler` is numpy's PyDataMem_SetHandler; it takes a borrowed handler
    // capsule and returns a new reference to the previous one (or NULL on error).
    let previous = unsafe { (api.set_handler)(api.capsule.as_ptr()) };
    if previous.is_null() {
        PREPARED.take();
        return Err(PyErr::fetch(py));
    }
    // numpy allocates the data through our handler (`pool_malloc`) right here.
    // SAFETY: the contents are uninitialised bytes of u8, for which every bit pattern is
    // valid; the caller overwrites them all (every kernel writes its whole output).
    let array = unsafe { PyArrayDyn::<u8>::new(py, shape.as_slice(), false) };
    // SAFETY: as above; `previous` is the reference we own, restored and then released,
    // as is the new reference to our capsule that the call returns.
    unsafe {
        let ours = (api.set_handler)(previous);
        pyo3::ffi::Py_XDECREF(ours);
        pyo3::ffi::Py_DECREF(previous);
    }
    if let Some(unused) = PREPARED.take() {
        pool().give_back(unused); // numpy allocated nothing (an empty shape)
    }
    Ok(array)
}

/// The pool's free buffers: (count, total bytes). For tests.
#[pyfunction]
pub(crate) fn _pool_stats() -> (usize, usize) {
    let pool = pool();
    (pool.free.len(), pool.bytes)
}
