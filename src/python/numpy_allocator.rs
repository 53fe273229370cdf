//! numpy's side of the output pool (`crate::pool`, `docs/behaviour.md#memory`): results
//! whose data is a pooled buffer.
//!
//! A result of at least [`POOLED_BYTES`] (the Python layer asks for it through
//! [`new_output`]) is a numpy array allocated through numpy's own memory-handler API
//! (NEP 49, `PyDataMem_SetHandler`, numpy ≥ 1.22) with our handler set just for that
//! allocation. The array owns its memory like any other (`flags.owndata`, `resize`,
//! tracemalloc all as usual); numpy keeps the handler with it and calls our `free`
//! when the array dies, which gives the buffer back to the pool instead of releasing
//! it, still mapped, for the next result.
//!
//! This file holds only that glue: the handler and its four callbacks, the lookup of
//! `PyDataMem_SetHandler` in numpy's C-API table, and `new_output`. Which buffer is
//! reused and how many are kept is the pool's business.

use std::cell::Cell;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::npyffi::{get_type_object, npy_intp, NpyTypes, PY_ARRAY_API};
use numpy::{Element, PyArrayDescrMethods, PyArrayDyn};
use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCapsule;

use crate::pool::{self, Buffer};

/// Fresh results at least this large come from the pool (smaller ones gain nothing:
/// their pages are few, and often recycled by `malloc` anyway).
pub(crate) const POOLED_BYTES: usize = 1 << 18;

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
        Some(buffer) if buffer.size() >= size => Some(buffer),
        other => {
            if let Some(unsuitable) = other {
                pool::shared().give_back(unsuitable);
            }
            let recycled = pool::shared().take(size);
            recycled.or_else(|| Buffer::allocate(size))
        }
    }
}

/// Lends `buffer` to numpy: it stays live until numpy frees its address.
fn lend(buffer: Buffer) -> *mut c_void {
    pool::shared().lend(buffer).as_ptr().cast()
}

// The four functions numpy calls, safe for any arguments (an address that is not ours
// is ignored). A panic cannot cross `extern "C"` (it would abort the process), so each
// body runs under `catch_unwind` and a panic counts as an allocation failure.

/// Runs an allocation callback's body; a panic is a failed allocation (null).
fn no_unwind(body: impl FnOnce() -> *mut c_void) -> *mut c_void {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(std::ptr::null_mut())
}

extern "C" fn pool_malloc(_ctx: *mut c_void, size: usize) -> *mut c_void {
    no_unwind(|| obtain(size).map_or(std::ptr::null_mut(), lend))
}

extern "C" fn pool_calloc(_ctx: *mut c_void, count: usize, size: usize) -> *mut c_void {
    no_unwind(|| {
        let Some(bytes) = count.checked_mul(size) else {
            return std::ptr::null_mut();
        };
        let Some(buffer) = obtain(bytes) else {
            return std::ptr::null_mut();
        };
        // SAFETY: the buffer is ours alone and holds at least `bytes` writable bytes.
        unsafe { std::ptr::write_bytes(buffer.as_ptr().as_ptr(), 0, bytes) };
        lend(buffer)
    })
}

extern "C" fn pool_realloc(_ctx: *mut c_void, ptr: *mut c_void, new_size: usize) -> *mut c_void {
    no_unwind(|| {
        if ptr.is_null() {
            return pool_malloc(std::ptr::null_mut(), new_size);
        }
        let Some(old) = pool::shared().reclaim(ptr.cast()) else {
            return std::ptr::null_mut(); // not ours: cannot happen, numpy pairs handlers
        };
        if old.size() >= new_size {
            return lend(old); // still fits, as `realloc` may do in place
        }
        let Some(new) = Buffer::allocate(new_size) else {
            lend(old); // realloc failure leaves the old block valid
            return std::ptr::null_mut();
        };
        // SAFETY: both buffers are live, distinct and at least `old.size()` bytes long.
        unsafe {
            std::ptr::copy_nonoverlapping(old.as_ptr().as_ptr(), new.as_ptr().as_ptr(), old.size())
        };
        let mut pool = pool::shared();
        pool.give_back(old);
        pool.lend(new).as_ptr().cast()
    })
}

extern "C" fn pool_free(_ctx: *mut c_void, ptr: *mut c_void, _size: usize) {
    no_unwind(|| {
        let mut pool = pool::shared();
        if let Some(buffer) = pool.reclaim(ptr.cast()) {
            pool.give_back(buffer);
        }
        std::ptr::null_mut()
    });
}

/// `PyDataMem_SetHandler`: slot 304 of numpy's C-API table (numpy ≥ 1.22), which
/// rust-numpy does not wrap.
type SetHandler = unsafe extern "C" fn(*mut pyo3::ffi::PyObject) -> *mut pyo3::ffi::PyObject;

struct NumpyHandlerApi {
    set_handler: SetHandler,
    /// Our handler as the capsule numpy expects (name "mem_handler").
    capsule: Py<PyCapsule>,
}

/// The handler API, or `None` where numpy has none (then results are plain arrays).
static NUMPY_HANDLER_API: PyOnceLock<Option<NumpyHandlerApi>> = PyOnceLock::new();

/// Looks the handler API up, once. The extension's init calls it on import, so the
/// lookup never runs while another thread could fork.
pub(crate) fn init(py: Python<'_>) {
    numpy_handler_api(py);
}

fn numpy_handler_api(py: Python<'_>) -> Option<&NumpyHandlerApi> {
    let api = NUMPY_HANDLER_API.get_or_init(py, || look_up_handler_api(py).ok());
    api.as_ref()
}

fn look_up_handler_api(py: Python<'_>) -> PyResult<NumpyHandlerApi> {
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
    // SAFETY: HANDLER is a static, so the pointer stays valid for the capsule's life;
    // numpy only reads through it. The name is a static C string.
    let raw = unsafe {
        pyo3::ffi::PyCapsule_New(
            std::ptr::addr_of!(HANDLER).cast_mut().cast(),
            c"mem_handler".as_ptr(),
            None,
        )
    };
    // SAFETY: `raw` is a new reference to a capsule, or null with an exception set.
    let capsule = unsafe { Bound::from_owned_ptr_or_err(py, raw) }?.cast_into::<PyCapsule>()?;
    Ok(NumpyHandlerApi {
        set_handler,
        capsule: capsule.unbind(),
    })
}

/// An ordinary new C-contiguous uint8 array of `shape`, contents undefined (like
/// `np.empty`), allocated by numpy's current handler. numpy's `MemoryError` (or
/// `ValueError` for a shape too large) is returned, not a panic as rust-numpy's
/// `PyArray::new` would.
pub(crate) fn plain_array<'py>(
    py: Python<'py>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let mut dims = (shape.iter())
        .map(|&d| npy_intp::try_from(d))
        .collect::<Result<Vec<npy_intp>, _>>()
        .map_err(|_| PyValueError::new_err(format!("result shape {shape:?} is too large")))?;
    let ndim = std::ffi::c_int::try_from(dims.len())
        .map_err(|_| PyValueError::new_err(format!("result shape {shape:?} has too many axes")))?;
    // SAFETY: numpy's PyArray_NewFromDescr with the ndarray type object, a new
    // reference to the uint8 descriptor (which it steals), `ndim` dimensions read from
    // `dims` (alive for the call), no strides and no data: numpy allocates a new
    // C-contiguous array and returns a new reference, or null with an exception set
    // (too large, out of memory). numpy checks the dimensions itself.
    let raw = unsafe {
        PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            get_type_object(py, NpyTypes::PyArray_Type),
            u8::get_dtype(py).into_dtype_ptr(),
            ndim,
            dims.as_mut_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            std::ptr::null_mut(),
        )
    };
    // SAFETY: `raw` is a new reference or null with an exception set, as above.
    let array = unsafe { Bound::from_owned_ptr_or_err(py, raw) }?;
    Ok(array.cast_into::<PyArrayDyn<u8>>()?)
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
    let Some(api) = numpy_handler_api(py) else {
        return plain_array(py, &shape); // no handler API (numpy < 1.22)
    };
    let recycled = pool::shared().take(len);
    let buffer = match recycled {
        Some(buffer) => buffer,
        // Mapping tens of megabytes takes milliseconds: let other threads run meanwhile.
        None => super::run_detached(py, || Ok(Buffer::allocate(len)))?.ok_or_else(|| {
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
    let array = plain_array(py, &shape);
    // SAFETY: `previous` is the reference we own, restored and then released, as is the
    // new reference to our capsule that the call returns.
    unsafe {
        let ours = (api.set_handler)(previous);
        pyo3::ffi::Py_XDECREF(ours);
        pyo3::ffi::Py_DECREF(previous);
    }
    if let Some(unused) = PREPARED.take() {
        // numpy allocated nothing (an empty shape), or failed before allocating.
        pool::shared().give_back(unused);
    }
    array
}
