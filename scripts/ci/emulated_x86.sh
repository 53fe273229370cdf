#!/usr/bin/env bash
# The x86-64 code paths this machine's CPU (AVX-512 VBMI) never takes: `cargo test` and
# the parity tests of the three functions under qemu-user CPU models without AVX-512
# (Haswell: the AVX2+FMA multiversion clones) and without AVX (Nehalem: the x86-64
# baseline clones and the FMA formula without FMA hardware, docs/behaviour.md#simd).
# Nehalem is the oldest model numpy 2.x runs on (it needs x86-64-v2: SSE4.2, POPCNT).
#
# Needs what `make test` leaves: the test binaries in target/ and $VENV with the wheel
# and the `test` extra. Installs qemu-user itself. Both models run side by side (each
# run is mostly one thread; the machine has two cores); their logs follow each other.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/ci/parity_files.sh
source scripts/ci/parity_files.sh

# ---- what runs; each can be overridden from the environment ---------------------------
X86_MODELS=${X86_MODELS:-"haswell nehalem"}
LOG_DIR=${LOG_DIR:-target/ci}

# Per model: the -cpu argument, whether it has FMA, and regexes (case-insensitive) that
# `_native.dispatch_target()` must match / must not match once the build has it (its
# names: `anomaly_postprocess::simd::dispatch_target`'s docs).
# Haswell drops CPUID bits that TCG cannot emulate and that user code never reads (PCID,
# x2APIC, TSC deadline, TSX); otherwise qemu warns about each at every process start.
declare -A QEMU_CPU=(
    [haswell]="Haswell,-pcid,-x2apic,-tsc-deadline,-hle,-invpcid,-rtm"
    [nehalem]="Nehalem"
)
declare -A HAS_FMA=([haswell]=1 [nehalem]=0)
declare -A EXPECT=(
    [haswell]="^AVX2 \+ FMA; no hand-written loops$"
    [nehalem]="^x86-64 baseline; no hand-written loops$"
)
declare -A FORBID=([haswell]="AVX-512|VBMI" [nehalem]="AVX|FMA|VBMI")
# ----------------------------------------------------------------------------------------

command -v qemu-x86_64 >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null
}
mkdir -p "$LOG_DIR"
root=$PWD
rustc -O --edition 2021 scripts/ci/cpu_features.rs -o "$LOG_DIR/cpu_features"

# The path the rest of CI took on this machine's own CPU, for the log.
"$LOG_DIR/cpu_features"
"$VENV/bin/python" scripts/ci/report_dispatch.py --label host
# On this (FMA) CPU: the emulation the non-FMA runs compare against equals OpenCV here.
"$VENV/bin/python" scripts/ci/fma_reference.py --self-check

# Runs one model's checks; every step's failure fails the model (`set -e` does not reach
# into a function called from `||`, hence the explicit returns).
run_model() {
    local model=$1 cpu=${QEMU_CPU[$1]} qemu
    qemu="qemu-x86_64 -cpu $cpu"
    echo "=== x86-64 $model (qemu-x86_64 -cpu $cpu)"
    $qemu "$LOG_DIR/cpu_features" || return 1

    local runs="$root/$LOG_DIR/runner-$model.log" log="$LOG_DIR/cargo-test-$model.log"
    : >"$runs"
    if ! QEMU_RUNNER_LOG=$runs \
        CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$root/scripts/ci/qemu_runner.sh $qemu" \
        cargo test --quiet >"$log" 2>&1; then
        cat "$log"
        echo "[$model] cargo test FAILED"
        return 1
    fi
    grep -E '^test result' "$log"
    local count
    count=$(wc -l <"$runs")
    echo "[$model] cargo test: $count test executables (doc tests included) ran under $qemu"
    [ "$count" -gt 0 ] || { echo "[$model] FAIL: nothing ran under qemu"; return 1; }

    $qemu "$VENV/bin/python" scripts/ci/report_dispatch.py --label "$model" \
        --expect "${EXPECT[$model]}" --forbid "${FORBID[$model]}" || return 1

    local plugin=()
    if [ "${HAS_FMA[$model]}" = 0 ]; then
        plugin=(-p fma_reference)
    fi
    # shellcheck disable=SC2086
    PYTHONPATH="$root/scripts/ci" ANOMALY_POSTPROCESS_FMA_REFERENCE=$((1 - HAS_FMA[$model])) \
        ANOMALY_POSTPROCESS_EXPECT_WHEEL=1 \
        $qemu "$VENV/bin/python" -m pytest -q -p no:cacheprovider "${plugin[@]}" \
        $PARITY_FILES $EMULATED_PYTEST_ARGS || return 1
}

pids=()
for model in $X86_MODELS; do
    (
        set -o pipefail
        start=$SECONDS
        status=0
        run_model "$model" >"$LOG_DIR/x86-$model.log" 2>&1 || status=$?
        echo "[$model] finished in $((SECONDS - start)) s, status $status" >>"$LOG_DIR/x86-$model.log"
        exit "$status"
    ) &
    pids+=("$!")
done
failed=0
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed=1
done
for model in $X86_MODELS; do
    cat "$LOG_DIR/x86-$model.log"
done
exit "$failed"
