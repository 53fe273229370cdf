#!/usr/bin/env bash
# The library's unit tests under Miri, which interprets them and stops at undefined
# behaviour: out-of-bounds or misaligned access, use after free, double free, leaks,
# invalid values (`to_int_unchecked` out of range), aliasing violations, data races.
#
# Which tests: those of every module with `unsafe` code in it (found here with grep,
# so a module that gains `unsafe` is run without editing this file), plus the bit
# matrices (src/bitmap.rs), the row views (src/rows.rs), which every kernel's strided
# input goes through, src/simd/ (which clone runs) and the PNG encoder (src/png.rs),
# which drives the unsafe code of the png crate, fdeflate and zlib-rs (about 1.7 min). Today: the output pool's
# buffers (src/pool/), the level casts (src/levels.rs, src/blend/), the portable colour,
# blend and threshold kernels and their dispatch, the thread pool (src/parallel.rs).
# Not run under Miri, because they have no `unsafe` of their own and take minutes in an
# interpreter: draw, regions, outline, morphology, resize, batch (but its parallel
# tests), frame. They are safe Rust over ndarray (whose unsafe indexing the tests above
# exercise) and run natively in `cargo test`, the parity suite and the fuzz targets.
# Excluded too: `*/avx512.rs` (Miri runs no AVX-512 intrinsics; its feature detection
# reports only the baseline, so every `multiversioned!` kernel runs its baseline clone,
# which simd::tests checks under Miri) and src/python/ (needs CPython; the pytest suite
# runs it).
#
# What Miri cannot run among those is skipped with its reason in the log: `ignored,
# <reason>` for `#[cfg_attr(miri, ignore = "...")]` tests (fork(), inputs too large for
# an interpreter) and `skipped: <test>: Miri reports no AVX-512 ...` for the hand-written
# AVX-512 tests. Tests shrink their inputs under `cfg(miri)`; `cargo test` runs them at
# full size. Doc tests are left out (`--lib`): they show the unit-tested paths on
# smaller inputs, and each is a process of its own (the five that search
# FixedPointBlend's integer form took 4 of the 4.4 CPU minutes of all 61).
#
# Two runs, because rayon is not clean under Miri's aliasing models: crossbeam-epoch
# casts integers to pointers and breaks Stacked Borrows (crossbeam-rs/crossbeam#996),
# and rayon-core's scopes free a scope while a worker's protected reference to it is
# still live (rayon-rs/rayon#1008, the pattern of rust-lang/rust#55005), which Tree
# Borrows flags in rayon's code as soon as a map is split into bands on the pool:
#   1. the tests above but those with `parallel` in their path, with Stacked Borrows,
#      -Zmiri-strict-provenance (no integer-to-pointer casts anywhere) and
#      -Zmiri-symbolic-alignment-check (alignment from the types and layouts asked for,
#      never from where the allocator happened to put a block). These never build the
#      thread pool: Miri reports one CPU, so a batch runs on the calling thread.
#   2. the tests that run batches and bands on the thread pool (`parallel` in their
#      path: the `parallel` module and `batch::tests::parallel_*`) without an aliasing
#      model (-Zmiri-disable-stacked-borrows; our own code's aliasing is checked in run
#      1) but with Miri's other checks: data races, use after free, out-of-bounds and
#      invalid values. -Zmiri-permissive-provenance for crossbeam-epoch, and
#      -Zmiri-ignore-leaks because the process-wide pool's threads live until the
#      process exits, by design.
# A new test that builds the pool must have `parallel` in its path, or run 1 stops in
# crossbeam-epoch.
# Isolation stays on in both (no host clock, files or environment): nothing needs more.
# Before the runs, `cargo miri setup` builds Miri's sysroot once (kept in ~/.cache/miri).
set -euo pipefail
cd "$(dirname "$0")/../.."

toolchain=${MIRI_TOOLCHAIN:-nightly}
if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    rustup toolchain install "$toolchain" --profile minimal --component miri,rust-src
fi
rustup component add --toolchain "$toolchain" miri rust-src
cargo "+$toolchain" miri setup

# Miri ignores opt-level and warns about the test profile's; say 0 and keep the log clean.
export CARGO_PROFILE_TEST_OPT_LEVEL=0
# The test-name filters: the module path of every file under src/ with `unsafe` in it
# (src/a/b.rs and src/a/b/mod.rs -> "a::b::", src/a/tests.rs -> "a::"), then the extras.
mapfile -t unsafe_files < <(grep -rlE '\bunsafe\b' src --include='*.rs' |
    grep -vE '^src/python/|/avx512\.rs$|^src/lib\.rs$' | sort)
modules=()
for file in "${unsafe_files[@]}"; do
    module=${file#src/}
    module=${module%.rs}
    module=${module%/mod}
    module=${module%/tests}
    modules+=("${module//\//::}::")
done
mapfile -t filters < <(printf '%s\n' "${modules[@]}" bitmap:: rows:: simd:: png:: | sort -u)
echo "miri: tests of ${filters[*]} (from ${#unsafe_files[@]} files with unsafe code)"

start=$SECONDS
MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-symbolic-alignment-check" \
    cargo "+$toolchain" miri test --lib -- --skip parallel "${filters[@]}"
MIRIFLAGS="-Zmiri-disable-stacked-borrows -Zmiri-permissive-provenance -Zmiri-ignore-leaks" \
    cargo "+$toolchain" miri test --lib -- parallel
echo "miri: both runs passed in $((SECONDS - start)) s"
