//! SIMD plumbing shared by every kernel: which code paths run on this CPU.
//!
//! Two mechanisms pick a path at run time, and both give the same bytes on every CPU
//! (docs/behaviour.md#simd):
//!
//! - Compiler-vectorised loops are compiled several times by the `multiversion` crate,
//!   once per target of the crate's one list (AVX-512, AVX2+FMA, NEON; plus the
//!   baseline build), and the first clone whose features the CPU has runs. Every kernel
//!   gets that list from the `multiversioned!` macro declared here (and the one cost
//!   model that counts bits, the same list with the popcount instructions, from
//!   `multiversioned_popcount!`): no target list is written anywhere else.
//! - Hand-written AVX-512 loops (`colormap::avx512`, `blend::avx512`, `mask::avx512`,
//!   `morphology::avx512`) run where `vbmi_enabled()`, `avx512bw_enabled()` or
//!   `vbmi2_enabled()` says so; each operation's `mod.rs` (`morphology.rs` for the
//!   opening) is the one place that makes that choice. [`set_hand_written_simd`] turns
//!   them off for the whole process (tests compare both paths).
//!
//! [`dispatch_target`] names the path this CPU takes, for tests, CI logs and bug reports.

pub(crate) mod prefetch;

use std::sync::atomic::{AtomicBool, Ordering};

/// Pixels per step of the colour and blend loops: one AVX-512 register of levels, and
/// enough for the compiler to fill whole registers in the portable loops.
pub(crate) const CHUNK: usize = 64;

/// The least result, in bytes, that the hand-written colour and blend loops write
/// with non-temporal stores (past the caches, without reading each line first): a
/// result this large does not stay in cache for its reader anyway, and each cached
/// store would first read its line from memory and evict the map the pass is still
/// reading (docs/behaviour.md#simd gives the measurements).
#[cfg(target_arch = "x86_64")]
pub(crate) const STREAM_OUTPUT_BYTES: usize = 4 << 20;

/// Whether a colour or blend pass whose whole result (all bands and strips of it)
/// is `bytes` long streams it past the caches.
#[cfg(target_arch = "x86_64")]
pub(crate) fn streams_output(bytes: usize) -> bool {
    bytes >= STREAM_OUTPUT_BYTES
}

/// How many pixels of 3 bytes at the start of `out` come before a 64-byte boundary at
/// a pixel's start (fewer than 64: 3 is invertible modulo 64, 3 · 43 = 129): a
/// streaming loop colours those with ordinary stores, then 64 pixels (three aligned
/// lines) at a time.
#[cfg(target_arch = "x86_64")]
pub(crate) fn pixels_before_alignment(out: &[u8]) -> usize {
    let to_boundary = (64 - out.as_ptr() as usize % 64) % 64;
    (to_boundary * 43 % 64).min(out.len() / 3)
}

/// Wraps an item (a function) in `#[multiversion(targets(...))]` with the crate's one
/// list of SIMD targets, so that every kernel is cloned for the same CPUs and
/// [`dispatch_target`] can name the clone that runs.
///
/// The list, in the order `multiversion` tries it (the first whose features the CPU
/// has wins; otherwise the baseline build runs):
/// 1. `x86_64+avx512f+avx512bw+avx512vl+avx2+fma`
/// 2. `x86_64+avx2+fma`
/// 3. `aarch64+neon`
///
/// Used as `multiversioned! { fn kernel(...) { ... } }`. Helpers that such a function
/// calls must be `#[inline]`/`#[inline(always)]` to be compiled into each clone.
macro_rules! multiversioned {
    ($($item:tt)*) => {
        #[::multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512vl+avx2+fma",
            "x86_64+avx2+fma",
            "aarch64+neon"
        ))]
        $($item)*
    };
}
pub(crate) use multiversioned;

/// [`multiversioned!`] with the popcount instructions added to the x86-64 targets
/// (`avx512vpopcntdq`, `popcnt`), for code whose time goes into counting set bits (the
/// opening's cost model, `morphology::distance`). The list, in the order tried:
/// 1. `x86_64+avx512f+avx512bw+avx512vl+avx512vpopcntdq+avx2+fma`
/// 2. `x86_64+avx2+fma+popcnt`
/// 3. `aarch64+neon`
///
/// Not named by [`dispatch_target`]: it picks how fast bits are counted, never which
/// bytes a result holds.
macro_rules! multiversioned_popcount {
    ($($item:tt)*) => {
        #[::multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512vl+avx512vpopcntdq+avx2+fma",
            "x86_64+avx2+fma+popcnt",
            "aarch64+neon"
        ))]
        $($item)*
    };
}
pub(crate) use multiversioned_popcount;

/// Whether the hand-written AVX-512 loops may run (see [`set_hand_written_simd`]).
static HAND_WRITTEN_SIMD: AtomicBool = AtomicBool::new(true);

/// Turns the hand-written AVX-512 loops (colour, blend, mask unpacking and the
/// opening's run widening) off or back on, for the whole process; off, every kernel runs
/// its compiler-vectorised portable loop. For tests, which compare the two, and for
/// debugging: both give the same bytes. Elsewhere than x86-64 there are no hand-written
/// loops and this changes nothing.
///
/// ```
/// use anomaly_postprocess::colormap::{color_map_into, Palette};
/// use anomaly_postprocess::simd::set_hand_written_simd;
/// let map = ndarray::Array2::from_shape_fn((3, 130), |(y, x)| (y * 130 + x) as f32);
/// let colour = |out: &mut ndarray::Array3<u8>| {
///     color_map_into(map.view(), true, Palette::Jet, out.view_mut()).unwrap()
/// };
/// let (mut fast, mut portable) = (ndarray::Array3::zeros((3, 130, 3)), ndarray::Array3::zeros((3, 130, 3)));
/// colour(&mut fast);
/// set_hand_written_simd(false);
/// colour(&mut portable);
/// set_hand_written_simd(true);
/// assert_eq!(fast, portable);
/// ```
pub fn set_hand_written_simd(enabled: bool) {
    HAND_WRITTEN_SIMD.store(enabled, Ordering::Relaxed);
}

/// Whether [`set_hand_written_simd`] left the hand-written loops on (all of them are
/// x86-64 code).
#[cfg(target_arch = "x86_64")]
fn hand_written_simd() -> bool {
    HAND_WRITTEN_SIMD.load(Ordering::Relaxed)
}

/// Whether loops that need AVX-512 F and BW may run: the CPU has them (checked once by
/// std, then cached) and they are not turned off.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn avx512bw_enabled() -> bool {
    hand_written_simd()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
}

/// Whether loops that need AVX-512 F, BW and VBMI may run: the CPU has them and they
/// are not turned off.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn vbmi_enabled() -> bool {
    avx512bw_enabled() && std::arch::is_x86_feature_detected!("avx512vbmi")
}

/// Whether loops that need AVX-512 F, BW and VBMI2 may run (the opening's run widening):
/// the CPU has them and they are not turned off.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn vbmi2_enabled() -> bool {
    avx512bw_enabled() && std::arch::is_x86_feature_detected!("avx512vbmi2")
}

/// The code path that kernels take on this CPU: the clone of `multiversioned!`
/// functions that runs (the same feature tests, in the same order, as its dispatch),
/// then which hand-written loops run.
///
/// The clone is one of `AVX-512 (F, BW, VL) + AVX2 + FMA`, `AVX2 + FMA`,
/// `x86-64 baseline` on x86-64; `NEON` on aarch64; `portable` elsewhere. Then
/// `; hand-written AVX-512 VBMI loops` (colour, blend and mask unpacking),
/// `; hand-written AVX-512 BW mask unpacking` (a CPU with BW but not VBMI),
/// `; hand-written loops turned off` (see [`set_hand_written_simd`]) or
/// `; no hand-written loops` (the CPU has no AVX-512 BW, or this is not x86-64). The
/// opening's VBMI2 run widening is not named: it runs wherever the CPU also has VBMI2
/// and the hand-written loops are on.
///
/// ```
/// let target = anomaly_postprocess::simd::dispatch_target();
/// assert!(target.contains("; "), "{target}");
/// ```
pub fn dispatch_target() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let clone = if has!("avx512f")
            && has!("avx512bw")
            && has!("avx512vl")
            && has!("avx2")
            && has!("fma")
        {
            0
        } else if has!("avx2") && has!("fma") {
            1
        } else {
            2
        };
        let loops = if vbmi_enabled() {
            0
        } else if avx512bw_enabled() {
            1
        } else if !hand_written_simd() && has!("avx512f") && has!("avx512bw") {
            2
        } else {
            3
        };
        const NAMES: [[&str; 4]; 3] = [
            [
                "AVX-512 (F, BW, VL) + AVX2 + FMA; hand-written AVX-512 VBMI loops",
                "AVX-512 (F, BW, VL) + AVX2 + FMA; hand-written AVX-512 BW mask unpacking",
                "AVX-512 (F, BW, VL) + AVX2 + FMA; hand-written loops turned off",
                "AVX-512 (F, BW, VL) + AVX2 + FMA; no hand-written loops",
            ],
            [
                "AVX2 + FMA; hand-written AVX-512 VBMI loops",
                "AVX2 + FMA; hand-written AVX-512 BW mask unpacking",
                "AVX2 + FMA; hand-written loops turned off",
                "AVX2 + FMA; no hand-written loops",
            ],
            [
                "x86-64 baseline; hand-written AVX-512 VBMI loops",
                "x86-64 baseline; hand-written AVX-512 BW mask unpacking",
                "x86-64 baseline; hand-written loops turned off",
                "x86-64 baseline; no hand-written loops",
            ],
        ];
        NAMES[clone][loops]
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            "NEON; no hand-written loops"
        } else {
            "portable; no hand-written loops"
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "portable; no hand-written loops"
    }
}

/// For tests of a hand-written loop: whether the CPU has AVX-512 F, BW and VBMI. If
/// not, prints `skipped: <test>: CPU lacks AVX-512 VBMI`, so that the skip shows in
/// `cargo test` output instead of passing silently.
#[cfg(test)]
pub(crate) fn has_vbmi_or_skip(test: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    let has = std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vbmi");
    #[cfg(not(target_arch = "x86_64"))]
    let has = false;
    if !has {
        report_skip(test, "AVX-512 VBMI");
    }
    has
}

/// [`has_vbmi_or_skip`] for loops that need AVX-512 F and BW only.
#[cfg(test)]
pub(crate) fn has_avx512bw_or_skip(test: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    let has = std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw");
    #[cfg(not(target_arch = "x86_64"))]
    let has = false;
    if !has {
        report_skip(test, "AVX-512 BW");
    }
    has
}

/// Writes `skipped: <test>: CPU lacks <features>` straight to the process's stderr:
/// the test harness captures `eprintln!` of passing tests (shown only with
/// `--nocapture`), but not writes to the stderr handle itself. Under Miri, whose
/// feature detection reports no AVX-512 (it interprets the portable code only), the
/// line says so instead.
#[cfg(test)]
fn report_skip(test: &str, features: &str) {
    use std::io::Write;
    let line = if cfg!(miri) {
        format!("skipped: {test}: Miri reports no {features} and runs the portable code\n")
    } else {
        format!("skipped: {test}: CPU lacks {features}\n")
    };
    // Best effort: a test report that cannot be written changes no result.
    let _ = std::io::stderr().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn the_pixels_before_alignment_end_on_a_boundary() {
        let buffer = vec![0u8; 1024];
        for start in 0..64 {
            let out = &buffer[start..];
            let head = pixels_before_alignment(out);
            assert!(head < 64);
            assert_eq!((out.as_ptr() as usize + 3 * head) % 64, 0, "start {start}");
            // Too short to reach the boundary: all of it.
            assert!(pixels_before_alignment(&out[..3 * head / 2]) <= head / 2);
        }
    }

    #[test]
    fn dispatch_target_names_a_clone_and_the_hand_written_loops() {
        let target = dispatch_target();
        let (clone, loops) = target.split_once("; ").expect(target);
        let clones = [
            "AVX-512 (F, BW, VL) + AVX2 + FMA",
            "AVX2 + FMA",
            "x86-64 baseline",
            "NEON",
            "portable",
        ];
        assert!(clones.contains(&clone), "{target}");
        #[cfg(target_arch = "x86_64")]
        {
            let vbmi = std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vbmi");
            // Other tests never turn the loops off, so the switch is on here.
            assert_eq!(loops == "hand-written AVX-512 VBMI loops", vbmi, "{target}");
            assert_eq!(
                clone == "AVX-512 (F, BW, VL) + AVX2 + FMA",
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma"),
                "{target}"
            );
        }
        #[cfg(not(target_arch = "x86_64"))]
        assert_eq!(loops, "no hand-written loops", "{target}");
    }

    /// Miri interprets no SIMD feature beyond the target's baseline, so every
    /// `multiversioned!` kernel must dispatch to its baseline clone and no hand-written
    /// loop may run: the Miri tests check the portable code.
    #[cfg(miri)]
    #[test]
    fn miri_runs_the_baseline_clone_and_no_hand_written_loop() {
        let target = dispatch_target();
        #[cfg(target_arch = "x86_64")]
        assert_eq!(target, "x86-64 baseline; no hand-written loops");
        #[cfg(not(target_arch = "x86_64"))]
        assert!(target.ends_with("; no hand-written loops"), "{target}");
    }
}
