#!/bin/sh
# cargo's target runner for the emulated test runs: `qemu_runner.sh QEMU ARGS... BINARY
# TEST-ARGS...`. Appends the command to $QEMU_RUNNER_LOG, so that CI can show (and
# check) that the test binaries really ran under emulation, then runs it.
if [ -n "${QEMU_RUNNER_LOG:-}" ]; then
    echo "$*" | cut -c1-300 >>"$QEMU_RUNNER_LOG"
fi
exec "$@"
