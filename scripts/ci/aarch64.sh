#!/usr/bin/env bash
# The aarch64 build: `cargo test` (unit and doc tests) cross-compiled and run under
# qemu-aarch64, clippy for that target, the aarch64 manylinux wheel (its tags checked by
# auditwheel and twine), and the parity tests of the three functions against that wheel,
# run by Debian's arm64 CPython under qemu-aarch64 with the aarch64 wheels of numpy,
# OpenCV and scikit-image from PyPI (the ones an aarch64 user gets).
#
# Installs what it needs (qemu-user, the Debian cross toolchain for the tests, the Rust
# target, a tools venv with zig for the wheel, an arm64 sysroot under $WORK); needs $VENV
# from `make test` for maturin and pip.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/ci/parity_files.sh
source scripts/ci/parity_files.sh

# ---- what runs; each can be overridden from the environment ---------------------------
# The parity tests' own dependencies (as in pyproject.toml's `test` extra); numpy comes
# with the wheel's requirement.
PARITY_DEPS=${PARITY_DEPS:-"opencv-python-headless>=4.10 scikit-image>=0.22 pytest>=8"}
# Regexes (case-insensitive) `_native.dispatch_target()` must / must not match (its
# names: `anomaly_postprocess::simd::dispatch_target`'s docs).
EXPECT=${EXPECT_AARCH64:-"^NEON; no hand-written loops$"}
FORBID=${FORBID_AARCH64:-"AVX|SSE|x86"}
# Parametrisations to deselect, `;`-separated `test_name[param-id]` entries, each with its
# reason here (scripts/ci/ci_deselect.py lists them in the log). None today.
AARCH64_DESELECT=${AARCH64_DESELECT:-}
# The wheel's manylinux policy (maturin --compatibility) and the tag it must carry.
AARCH64_WHEEL_POLICY=${AARCH64_WHEEL_POLICY:-manylinux2014}
AARCH64_WHEEL_TAG=${AARCH64_WHEEL_TAG:-manylinux_2_17_aarch64}
WORK=${WORK:-target/ci/aarch64}
TARGET=aarch64-unknown-linux-gnu
# ----------------------------------------------------------------------------------------


step() { echo "=== aarch64: $* ($SECONDS s)"; }

step "toolchain"
if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross >/dev/null
fi
rustup target add "$TARGET"
mkdir -p "$WORK"
root=$PWD
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
runs="$root/$WORK/runner.log"
: >"$runs"
export QEMU_RUNNER_LOG=$runs
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$root/scripts/ci/qemu_runner.sh qemu-aarch64 -L /usr/aarch64-linux-gnu"

step "cargo test --target $TARGET under qemu-aarch64"
rustc -O --edition 2021 --target "$TARGET" -C linker=aarch64-linux-gnu-gcc \
    scripts/ci/cpu_features.rs -o "$WORK/cpu_features"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$WORK/cpu_features"
if ! cargo test --quiet --target "$TARGET" >"$WORK/cargo-test.log" 2>&1; then
    cat "$WORK/cargo-test.log"
    echo "aarch64: cargo test FAILED"
    exit 1
fi
grep -E '^test result' "$WORK/cargo-test.log"
count=$(wc -l <"$runs")
echo "aarch64: cargo test: $count test executables (doc tests included) ran under qemu-aarch64"
[ "$count" -gt 1 ] || { echo "aarch64: FAIL: the unit and doc tests did not both run" >&2; exit 1; }

step "clippy --target $TARGET"
cargo clippy --quiet --target "$TARGET" -- -D warnings
cargo clippy --quiet --target "$TARGET" --all-targets --all-features -- -D warnings

step "wheel"
if [ ! -x "$WORK/tools/bin/auditwheel" ] || [ ! -d "$WORK/tools/lib" ]; then
    python3 -m venv "$WORK/tools"
fi
"$WORK/tools/bin/python" -m pip install -q auditwheel twine ziglang
rm -rf "$WORK/wheel"
# Linked by zig against glibc 2.17's symbols (the Debian cross toolchain links against
# bookworm's glibc and gives a manylinux_2_34 wheel); maturin finds zig as the `ziglang`
# module of the first python on PATH. The tests' linker setting would override zig's.
PATH="$root/$WORK/tools/bin:$PATH" env -u CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER \
    "$VENV/bin/maturin" build --release --target "$TARGET" \
    --zig --compatibility "$AARCH64_WHEEL_POLICY" --out "$WORK/wheel"
wheel=$(find "$WORK/wheel" -name '*.whl')
echo "aarch64 wheel: $(basename "$wheel")"
case $(basename "$wheel") in
    *-cp310-abi3-*"$AARCH64_WHEEL_TAG"*.whl) ;;
    *) echo "aarch64: FAIL: not an abi3 $AARCH64_WHEEL_TAG wheel" >&2; exit 1 ;;
esac
"$WORK/tools/bin/auditwheel" show "$wheel" | tee "$WORK/auditwheel.txt"
# auditwheel must find the wheel consistent with the tag its name claims.
tr -s ' \n' ' ' <"$WORK/auditwheel.txt" |
    grep -q "consistent with the following platform tag: \"$AARCH64_WHEEL_TAG\"" ||
    { echo "aarch64: FAIL: auditwheel does not accept $AARCH64_WHEEL_TAG" >&2; exit 1; }
"$WORK/tools/bin/twine" check --strict "$wheel"

step "arm64 CPython sysroot"
sysroot=$WORK/sysroot
if [ ! -e "$sysroot/.ready" ]; then
    # A private apt configuration for arm64 only (no dpkg --add-architecture on this
    # machine): the same Debian sources, an empty package database, download only.
    apt_root=$WORK/apt
    rm -rf "$apt_root" "$sysroot"
    mkdir -p "$apt_root/etc/sources.list.d" "$apt_root/etc/preferences.d" \
        "$apt_root/state/lists/partial" "$apt_root/cache/archives/partial" "$sysroot"
    touch "$apt_root/status"
    cp /etc/apt/sources.list.d/*.sources "$apt_root/etc/sources.list.d/" 2>/dev/null || true
    cp /etc/apt/sources.list "$apt_root/etc/" 2>/dev/null || true
    apt_opts=(-q -o "Dir::Etc=$root/$apt_root/etc" -o "Dir::State=$root/$apt_root/state"
        -o "Dir::State::status=$root/$apt_root/status" -o "Dir::Cache=$root/$apt_root/cache"
        -o APT::Architecture=arm64 -o APT::Architectures=arm64 -o Debug::NoLocking=1)
    apt-get "${apt_opts[@]}" update >/dev/null
    # Debian's default python3 (python3.11 in bookworm) and the C++ runtime the OpenCV
    # wheel links against.
    python_pkg=$(apt-cache "${apt_opts[@]}" depends python3 | grep -oE 'python3\.[0-9]+' | head -n 1)
    apt-get "${apt_opts[@]}" install -y --download-only --no-install-recommends \
        "$python_pkg" libstdc++6 >/dev/null
    for deb in "$apt_root"/cache/archives/*.deb; do dpkg -x "$deb" "$sysroot"; done
    echo "$python_pkg" >"$sysroot/.ready"
fi
python_pkg=$(cat "$sysroot/.ready")
pyver=${python_pkg#python}
qpython=(qemu-aarch64 -L "$sysroot" "$sysroot/usr/bin/$python_pkg")
"${qpython[@]}" -c 'import platform, sys; print("arm64 python", sys.version.split()[0], platform.machine())'

step "wheel and parity dependencies for aarch64 CPython $pyver"
site=$WORK/site-packages
# Every manylinux tag the sysroot's glibc can load (pip takes the platforms literally).
libc=$(find "$sysroot" -name libc.so.6 | head -n 1)
glibc_minor=$(grep -aoE 'GLIBC_2\.[0-9]+' "$libc" | cut -d. -f2 | sort -n | tail -n 1)
platforms=(--platform manylinux2014_aarch64)
for minor in $(seq 17 "$glibc_minor"); do platforms+=(--platform "manylinux_2_${minor}_aarch64"); done
rm -rf "$site"
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install -q --target "$site" --only-binary=:all: \
    --implementation cp --python-version "$pyver" --abi "cp${pyver/./}" --abi abi3 --abi none \
    "${platforms[@]}" "$wheel" $PARITY_DEPS

step "parity tests under qemu-aarch64"
export PYTHONPATH=$root/$site
"${qpython[@]}" scripts/ci/report_dispatch.py --label aarch64 --expect "$EXPECT" --forbid "$FORBID"
"${qpython[@]}" -c 'import cv2, skimage; print("OpenCV", cv2.__version__, "scikit-image", skimage.__version__)'
# OpenCV's aarch64 addWeighted fuses in the other order, and its uint8 resizes round
# differently in places: both give other bytes than the x86-64 ones the package gives
# everywhere (docs/behaviour.md#simd, #resizing), so the references use those bytes
# (scripts/ci/fma_reference.py, scripts/ci/resize_reference.py).
# shellcheck disable=SC2086
PYTHONPATH=$PYTHONPATH:$root/scripts/ci:$root/tests ANOMALY_POSTPROCESS_FMA_REFERENCE=1 \
    ANOMALY_POSTPROCESS_RESIZE_REFERENCE=1 \
    ANOMALY_POSTPROCESS_CI_DESELECT=$AARCH64_DESELECT ANOMALY_POSTPROCESS_EXPECT_WHEEL=1 \
    "${qpython[@]}" -m pytest -q -p no:cacheprovider -p fma_reference -p resize_reference \
    -p ci_deselect \
    $PARITY_FILES $EMULATED_PYTEST_ARGS
step "done"
