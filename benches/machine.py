"""What the benchmarks report about the machine they ran on."""

from __future__ import annotations

import os
import platform


def _cpuinfo_field(name: str) -> str | None:
    """The first value of ``name`` in /proc/cpuinfo, if there is one."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, or what the platform module knows."""
    return _cpuinfo_field("model name") or platform.processor() or "unknown CPU"


def simd_level() -> str:
    """Which of the package's kernels this CPU runs (see docs/behaviour.md#simd)."""
    flags = set((_cpuinfo_field("flags") or _cpuinfo_field("Features") or "").split())
    if {"avx512f", "avx512bw", "avx512vl", "avx512vbmi"} <= flags:
        return "AVX-512 with VBMI (hand-written colour and blend loops)"
    if {"avx512f", "avx512bw", "avx512vl"} <= flags:
        return "AVX-512"
    if {"avx2", "fma"} <= flags:
        return "AVX2 + FMA"
    if "asimd" in flags or platform.machine() in ("aarch64", "arm64"):
        return "NEON"
    return "portable"


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> str:
    """The 1-minute load average, or "?" where the system does not say."""
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"
