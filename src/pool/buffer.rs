//! An owned, aligned heap buffer whose pages are mapped when it is made.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

/// Alignment of every buffer: a cache line, and a full AVX-512 vector.
pub const ALIGN: usize = 64;

/// An owned, [`ALIGN`]-aligned heap buffer (like a `Box<[u8]>` of uninitialised bytes)
/// whose pages were mapped in one system call when it was allocated.
#[derive(Debug)]
pub struct Buffer {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: a `Buffer` exclusively owns its allocation, as a `Box<[u8]>` does; it can be
// freed from any thread.
unsafe impl Send for Buffer {}
// SAFETY: `&Buffer` gives no access to the bytes, only to the pointer's value.
unsafe impl Sync for Buffer {}

impl Buffer {
    /// A new buffer of at least `len` bytes (at least [`ALIGN`], so a zero-length
    /// request still gets a real, aligned block) with every page mapped, or `None` if
    /// the allocator has no memory for it or `len` exceeds `isize::MAX`.
    ///
    /// Its bytes are uninitialised: write before reading.
    pub fn allocate(len: usize) -> Option<Buffer> {
        let layout = Layout::from_size_align(len.max(ALIGN), ALIGN).ok()?;
        // SAFETY: the layout's size is not zero (at least ALIGN bytes).
        let ptr = NonNull::new(unsafe { alloc::alloc(layout) })?;
        populate(ptr, layout.size());
        Some(Buffer { ptr, layout })
    }

    /// The number of bytes the buffer holds (at least what was asked for).
    pub fn size(&self) -> usize {
        self.layout.size()
    }

    /// The first byte; [`ALIGN`]-aligned, valid for [`Buffer::size`] bytes of reads and
    /// writes for as long as the buffer lives.
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: `ptr` was allocated by `alloc::alloc` with this very layout and is
        // freed only here, once.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Buffers at least this large may use transparent huge pages, as numpy's own
/// allocations do (`MADV_HUGEPAGE` from 4 MiB).
#[cfg(all(target_os = "linux", not(miri)))]
const HUGE_PAGE_BYTES: usize = 4 << 20;

/// Maps every whole page of `[ptr, ptr + len)` in one system call (Linux
/// `MADV_POPULATE_WRITE`), as writing it would, after allowing huge pages for large
/// buffers. A no-op elsewhere and on kernels older than 5.14; it never changes the
/// bytes.
///
/// Not under Miri, which interprets no `madvise` (nor needs it: it has no page faults to
/// save); there the buffer is allocated, reused and freed exactly as elsewhere.
fn populate(ptr: NonNull<u8>, len: usize) {
    #[cfg(all(target_os = "linux", not(miri)))]
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
    #[cfg(any(not(target_os = "linux"), miri))]
    let _ = (ptr, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills the buffer with `value` and checks every byte reads back.
    fn fill_and_check(buffer: &Buffer, value: u8) {
        let ptr = buffer.as_ptr().as_ptr();
        // SAFETY: the buffer is live and valid for `size()` bytes of writes and reads;
        // the bytes are initialised by the write before the slice reads them.
        let bytes = unsafe {
            std::ptr::write_bytes(ptr, value, buffer.size());
            std::slice::from_raw_parts(ptr, buffer.size())
        };
        assert!(bytes.iter().all(|&b| b == value));
    }

    #[test]
    fn buffers_are_aligned_writable_and_at_least_as_large_as_asked() {
        // Across page and huge-page boundaries, odd sizes included.
        let sizes = [
            1,
            63,
            64,
            65,
            4095,
            4096,
            4097,
            1 << 18,
            (4 << 20) + 3,
            9 << 20,
        ];
        // Under Miri, which makes no system call here (see `populate`), the sizes up to
        // a page: reading megabytes back byte by byte would take it minutes.
        let sizes = if cfg!(miri) { &sizes[..7] } else { &sizes[..] };
        for &len in sizes {
            let buffer = Buffer::allocate(len).expect("memory for a test buffer");
            assert_eq!(buffer.as_ptr().as_ptr() as usize % ALIGN, 0, "len {len}");
            assert!(buffer.size() >= len, "len {len}");
            fill_and_check(&buffer, (len % 251) as u8);
        }
    }

    #[test]
    fn a_zero_length_buffer_is_a_real_aligned_block() {
        let buffer = Buffer::allocate(0).expect("a zero-length buffer");
        assert_eq!(buffer.size(), ALIGN);
        assert_eq!(buffer.as_ptr().as_ptr() as usize % ALIGN, 0);
        fill_and_check(&buffer, 0xA5);
    }

    #[test]
    fn impossible_sizes_are_refused_not_a_panic() {
        assert!(Buffer::allocate(usize::MAX).is_none());
        assert!(Buffer::allocate(isize::MAX as usize).is_none());
    }

    #[test]
    fn live_buffers_are_distinct() {
        let buffers: Vec<Buffer> = (0..16)
            .map(|i| Buffer::allocate(4096 + i).unwrap())
            .collect();
        for (i, a) in buffers.iter().enumerate() {
            for b in &buffers[i + 1..] {
                let (a0, b0) = (a.as_ptr().as_ptr() as usize, b.as_ptr().as_ptr() as usize);
                assert!(a0 + a.size() <= b0 || b0 + b.size() <= a0);
            }
        }
    }
}
