//! Output memory: a fresh multi-megabyte result would otherwise take one page fault
//! per 4 KiB page as the kernel first writes it (about a millisecond for a 1024×1024
//! RGB heatmap on this machine kind, more than the colouring itself).

use numpy::PyReadwriteArrayDyn;
use pyo3::prelude::*;

/// Maps every page of a freshly allocated, C-contiguous output array in one system call
/// (Linux `MADV_POPULATE_WRITE`). A no-op elsewhere, on kernels older than 5.14, or
/// for arrays that are not contiguous; it never changes the array's contents.
#[pyfunction]
pub(crate) fn prefault(mut out: PyReadwriteArrayDyn<'_, u8>) {
    #[cfg(target_os = "linux")]
    if let Ok(bytes) = out.as_slice_mut() {
        // SAFETY: sysconf has no preconditions.
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            p if p > 0 => p as usize,
            _ => return,
        };
        let start = bytes.as_mut_ptr() as usize;
        let first = start.next_multiple_of(page);
        let last = (start + bytes.len()) / page * page;
        if last > first {
            // SAFETY: [first, last) lies inside `bytes`, a live allocation we hold a
            // unique borrow of. MADV_POPULATE_WRITE only faults the pages in, as a write
            // would, without changing their contents; an error (e.g. EINVAL on an old
            // kernel) leaves everything as it was, so it is ignored.
            unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    last - first,
                    libc::MADV_POPULATE_WRITE,
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = &mut out;
}
