#!/usr/bin/env bash
# The library's unit tests under Miri, which interprets them and stops at undefined
# behaviour: out-of-bounds or misaligned access, use after free, double free, leaks,
# invalid values (`to_int_unchecked` out of range), aliasing violations, data races.
# It covers the output pool's buffers (src/pool/), the level casts (src/levels.rs,
# src/blend/), the row views (src/rows.rs), the bit matrices, the portable kernels, and
# the PNG encoder with the png crate, fdeflate and zlib-rs under it (src/png.rs).
#
# What Miri cannot run is skipped with its reason in the log: `ignored, <reason>` for
# `#[cfg_attr(miri, ignore = "...")]` tests (fork(), inputs too large for an interpreter)
# and `skipped: <test>: Miri reports no AVX-512 ...` for the hand-written AVX-512 tests:
# Miri's feature detection reports nothing beyond the target's baseline, so every
# `multiversioned!` kernel runs its baseline clone (simd::tests checks this under Miri).
# Tests shrink their inputs under `cfg(miri)`; `cargo test` runs them at full size.
# Doc tests are left out (`--lib`): all 61 under Miri took 4.4 min of CPU, 4 of them in
# the five examples that search FixedPointBlend's integer form (65 536 byte pairs; each
# example is a process of its own, so none reuses another's answer), and
# `set_num_threads`' example builds the thread pool (it needs run 2's flags). The rest
# show the unit-tested paths on smaller inputs.
#
# Two runs, because rayon's crossbeam-epoch is not clean under Miri's default checks
# (crossbeam-rs/crossbeam#996: it is checked with Tree Borrows, and it casts integers
# to pointers):
#   1. every test but those with `parallel` in their path, with Stacked Borrows,
#      -Zmiri-strict-provenance (no integer-to-pointer casts anywhere) and
#      -Zmiri-symbolic-alignment-check (alignment from the types and layouts asked for,
#      never from where the allocator happened to put a block). These never build the
#      thread pool: Miri reports one CPU, so a batch runs on the calling thread.
#   2. the tests that run batches on the thread pool (`parallel` in their path: the
#      `parallel` module and `batch::tests::parallel_*`), with -Zmiri-tree-borrows and
#      -Zmiri-permissive-provenance for crossbeam-epoch, and -Zmiri-ignore-leaks because
#      the process-wide pool's threads live until the process exits, by design.
# A new test that builds the pool must have `parallel` in its path, or run 1 stops in
# crossbeam-epoch.
# Isolation stays on in both (no host clock, files or environment): nothing needs more.
#
# Cost on the 2-core machine, from an empty target/miri: about 6 min of CPU and as
# much wall time, most of it in run 1 (src/png.rs's tests alone: about 1.7 min, most
# of it in zlib-rs). Before that, `cargo miri setup` builds Miri's
# sysroot once (~30 s of CPU, kept in ~/.cache/miri).
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
start=$SECONDS
MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-symbolic-alignment-check" \
    cargo "+$toolchain" miri test --lib -- --skip parallel
MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-permissive-provenance -Zmiri-ignore-leaks" \
    cargo "+$toolchain" miri test --lib -- parallel
echo "miri: both runs passed in $((SECONDS - start)) s"
