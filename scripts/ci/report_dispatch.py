"""Prints which CPU this Python sees and which code path anomaly_postprocess picked.

Run with the interpreter under test (under qemu-user for an emulated CPU model: its
/proc/cpuinfo is the host's, so the features come from numpy's own CPUID-based
detection). ``--expect REGEX`` / ``--forbid REGEX`` (case-insensitive) check the
package's ``_native.dispatch_target()`` when the build has it: the run fails when the
path it reports does not match ``--expect`` or matches ``--forbid``. Without that
function only the CPU line is printed (and said so).
"""

from __future__ import annotations

import argparse
import platform
import re
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--label", default="")
    parser.add_argument("--expect", default="")
    parser.add_argument("--forbid", default="")
    args = parser.parse_args()

    import numpy as np

    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__
    interesting = [
        "SSE42", "POPCNT", "AVX", "F16C", "FMA3", "AVX2", "AVX512F", "AVX512BW",
        "AVX512VL", "AVX512_ICL", "AVX512VBMI", "ASIMD", "NEON", "ASIMDHP", "ASIMDDP", "SVE",
    ]  # fmt: skip
    seen = [name for name in interesting if __cpu_features__.get(name)]
    print(f"[{args.label}] {platform.machine()} numpy {np.__version__} sees: {' '.join(seen)}")

    import anomaly_postprocess
    from anomaly_postprocess import _native

    print(f"[{args.label}] anomaly_postprocess from {anomaly_postprocess.__file__}")
    probe = getattr(_native, "dispatch_target", None)
    if probe is None:
        print(f"[{args.label}] anomaly_postprocess: no _native.dispatch_target() in this build")
        return 0
    target = str(probe())
    print(f"[{args.label}] anomaly_postprocess dispatch_target(): {target}")
    ok = True
    if args.expect and not re.search(args.expect, target, re.IGNORECASE):
        print(f"[{args.label}] FAIL: expected a path matching /{args.expect}/")
        ok = False
    if args.forbid and re.search(args.forbid, target, re.IGNORECASE):
        print(f"[{args.label}] FAIL: a path matching /{args.forbid}/ cannot run on this CPU")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
