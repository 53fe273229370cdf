"""Stress: concurrent callers, long loops (leaks), and a 1 GiB map (peak memory).

- 8 Python threads × 300 mixed calls on shared read-only inputs give exactly the bytes
  (or the exceptions) of the same calls made sequentially.
- 20 000 calls, a fifth of which raise, keep the RSS flat after a warm-up, and
  tracemalloc sees no Python-side growth.
- A 16384 × 16384 float32 map: ``compute_mask`` and ``anomaly_map_to_color_map`` succeed,
  match sampled rows computed on their own, and the peak RSS grows by no more than the
  output plus ~15% (each function measured in its own child process, so peaks do not mix).
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
import threading
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import anomaly_postprocess as ap
from conftest import random_image, read_only

PAGE = os.sysconf("SC_PAGE_SIZE")
MiB = 1 << 20


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def make_inputs(h: int, w: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    smooth = rng.random((h, w))
    smooth = (smooth + np.roll(smooth, 1, 0) + np.roll(smooth, 1, 1) + np.roll(smooth, 2, 1)) / 4
    nan_map = smooth.astype(np.float32)
    nan_map[h // 2, w // 3] = np.nan
    inputs = {
        "f32": smooth.astype(np.float32),
        "f64": smooth,
        "f16": smooth.astype(np.float16),
        "u8": (smooth * 255).astype(np.uint8),
        "f32 batch": np.stack([smooth, 1 - smooth, smooth**2]).astype(np.float32),
        "f64 strided": np.asfortranarray(smooth)[::-1],
        "nan": nan_map,
        "image": random_image(rng, (h, w)),
        "images": random_image(rng, (3, h, w)),
        "wrong image": random_image(rng, (h + 1, w)),
    }
    return {name: read_only(array) for name, array in inputs.items()}


# A call: (function name, map name, positional args, keyword args) over named inputs.
Call = tuple[str, str, tuple[Any, ...], tuple[tuple[str, Any], ...]]

MAP_NAMES = ["f32", "f64", "f16", "u8", "f32 batch", "f64 strided"]


def random_call(rng: np.random.Generator) -> Call:
    """A mixed call; about one in five raises (NaN map, bad options, wrong image)."""
    kind = int(rng.integers(0, 10))
    name = MAP_NAMES[int(rng.integers(0, len(MAP_NAMES)))]
    if kind == 0:
        bad = int(rng.integers(0, 4))
        if bad == 0:
            return ("color", "nan", (True,), ())
        if bad == 1:
            return ("mask", name, ("0.5",), ())
        if bad == 2:
            return ("superimpose", "f32", ("wrong image",), ())
        return ("mask", name, (0.5, -1), ())
    if kind == 1:
        return ("superimpose", "nan", ("image", 0.5), ())
    if kind in (2, 3):
        return ("color", name, (bool(rng.integers(0, 2)),), ())
    if kind in (4, 5):
        image = "images" if name == "f32 batch" and rng.integers(0, 2) else "image"
        alpha = float(rng.choice([0.0, 0.4, 0.75, 1.3]))
        return ("superimpose", name, (image, alpha, int(rng.integers(-5, 6))), ())
    threshold = float(rng.choice([0.3, 0.5, 0.6])) if name != "u8" else 120
    return ("mask", name, (threshold, int(rng.integers(0, 5))), ())


def run_call(call: Call, inputs: dict[str, np.ndarray]) -> tuple[str, Any]:
    """The call's result as ("ok", bytes + shape) or ("raised", type and message)."""
    fn, map_name, args, kwargs = call
    m = inputs[map_name]
    try:
        if fn == "color":
            out = ap.anomaly_map_to_color_map(m, *args, **dict(kwargs))
        elif fn == "superimpose":
            image, *rest = args
            out = ap.superimpose_anomaly_map(m, inputs[image], *rest, **dict(kwargs))
        else:
            out = ap.compute_mask(m, *args, **dict(kwargs))
    except (TypeError, ValueError) as error:
        return ("raised", (type(error).__name__, str(error)))
    return ("ok", (out.shape, out.tobytes()))


def fingerprint(inputs: dict[str, np.ndarray]) -> dict[str, int]:
    return {name: zlib.crc32(np.ascontiguousarray(a).view(np.uint8)) for name, a in inputs.items()}


# ------------------------------------------------------------------------- threads


def test_threads_give_the_bytes_of_sequential_calls() -> None:
    inputs = make_inputs(96, 130, seed=1)
    large = make_inputs(384, 512, seed=2)
    before = fingerprint(inputs) | {f"large {k}": v for k, v in fingerprint(large).items()}
    threads, calls_per_thread = 8, 300
    plans: list[list[tuple[Call, bool]]] = []
    for t in range(threads):
        rng = np.random.default_rng(100 + t)
        # Mostly small maps; every 25th call is a larger one, so calls overlap in time.
        plans.append([(random_call(rng), i % 25 == 0) for i in range(calls_per_thread)])

    expected: dict[tuple[Call, bool], tuple[str, Any]] = {}
    for plan in plans:
        for call, big in plan:
            if (call, big) not in expected:
                expected[(call, big)] = run_call(call, large if big else inputs)
    raised = sum(expected[entry][0] == "raised" for plan in plans for entry in plan) / (
        threads * calls_per_thread
    )
    assert 0.1 < raised < 0.35, raised

    barrier = threading.Barrier(threads)
    results: list[list[tuple[str, Any]]] = [[] for _ in range(threads)]
    failures: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait()
            for call, big in plans[index]:
                results[index].append(run_call(call, large if big else inputs))
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not any(w.is_alive() for w in workers)
    assert not failures, failures
    for index, plan in enumerate(plans):
        assert len(results[index]) == calls_per_thread
        for (call, big), got in zip(plan, results[index], strict=True):
            assert got == expected[(call, big)], (index, call, big)
    after = fingerprint(inputs) | {f"large {k}": v for k, v in fingerprint(large).items()}
    assert after == before  # shared inputs untouched


def test_threads_with_their_own_out_arrays_and_batches() -> None:
    """Batches (which use the thread pool) from several Python threads at once, each
    writing into its own ``out=``."""
    inputs = make_inputs(64, 96, seed=3)
    maps, images = inputs["f32 batch"], inputs["images"]
    want_color = ap.anomaly_map_to_color_map(maps)
    want_overlay = ap.superimpose_anomaly_map(maps, images, 0.6)
    want_mask = ap.compute_mask(maps, 0.5, 2)
    errors: list[str] = []

    def worker(seed: int) -> None:
        color = np.empty_like(want_color)
        overlay = np.empty_like(want_overlay)
        mask = np.empty_like(want_mask)
        for i in range(120):
            step = (seed + i) % 3
            if step == 0:
                ap.anomaly_map_to_color_map(maps, out=color)
                ok = np.array_equal(color, want_color)
            elif step == 1:
                ap.superimpose_anomaly_map(maps, images, 0.6, out=overlay)
                ok = np.array_equal(overlay, want_overlay)
            else:
                ap.compute_mask(maps, 0.5, 2, out=mask)
                ok = np.array_equal(mask, want_mask)
            if not ok:
                errors.append(f"thread {seed} call {i}")

    workers = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors, errors[:5]


# -------------------------------------------------------------------------- memory


def call_loop(calls: list[Call], inputs: dict[str, np.ndarray], count: int) -> int:
    raised = 0
    for i in range(count):
        status, _ = run_call(calls[i % len(calls)], inputs)
        raised += status == "raised"
    return raised


def test_long_loop_keeps_rss_flat() -> None:
    """~20 000 calls (a fifth of them raising): the RSS stays within a few MB after a
    warm-up. A leaked 48×64 result or map copy per call would be ~60–250 MB."""
    inputs = make_inputs(48, 64, seed=4)
    rng = np.random.default_rng(5)
    calls = [random_call(rng) for _ in range(500)]
    call_loop(calls, inputs, 2000)  # warm-up: allocator arenas, pool threads, caches
    gc.collect()
    start = rss_bytes()
    samples = []
    raised = 0
    for _ in range(9):
        raised += call_loop(calls, inputs, 2000)
        samples.append(rss_bytes() - start)
    gc.collect()
    growth = rss_bytes() - start
    print(
        f"RSS growth over 18000 calls: {growth / MiB:.2f} MiB; samples (MiB):",
        [round(s / MiB, 2) for s in samples],
    )
    assert 0.1 < raised / 18000 < 0.35
    assert growth < 4 * MiB, [s / MiB for s in samples]
    assert max(samples) < 6 * MiB, [s / MiB for s in samples]


def test_long_loop_has_no_python_side_growth() -> None:
    inputs = make_inputs(48, 64, seed=6)
    rng = np.random.default_rng(7)
    calls = [random_call(rng) for _ in range(250)]
    call_loop(calls, inputs, 500)
    tracemalloc.start()
    try:
        call_loop(calls, inputs, 500)
        gc.collect()
        before = tracemalloc.take_snapshot()
        current_before = tracemalloc.get_traced_memory()[0]
        call_loop(calls, inputs, 4000)
        gc.collect()
        after = tracemalloc.take_snapshot()
        current_after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    diffs = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
    growing = [d for d in diffs if d.count_diff > 50 or d.size_diff > 32 * 1024]
    print(f"tracemalloc: {current_after - current_before} B over 4000 calls")
    assert not growing, [str(d) for d in growing[:5]]
    assert current_after - current_before < 64 * 1024


# ---------------------------------------------------------------------- 1 GiB input


_LARGE_CHILD = textwrap.dedent(
    """
    import json, os, resource, sys
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    import anomaly_postprocess as ap
    from reference import jet_rgb_opencv, spec_anomaly_map_to_color_map, spec_compute_mask

    N = 16384
    PAGE = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def reset_peak():
        # Linux >= 4.0: "5" resets the peak RSS (VmHWM, and with it ru_maxrss) to the
        # current RSS, so a second measurement is not masked by the first one's peak.
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def measured(call):
        # Peak growth during the call. Valid only if the peak so far is the current RSS
        # (no earlier, larger transient): "slack" says by how much it is not.
        reset_peak()
        before_peak, before_rss = peak(), rss()
        result = call()
        return result, {"growth": peak() - before_peak, "slack": before_peak - before_rss}

    # The map: 1 GiB, rows all different, filled band by band from a small random tile
    # (no temporary larger than 4 MiB, so the peak before the calls is the map itself).
    m = np.empty((N, N), np.float32)
    tile = np.random.default_rng(0).random((61, N), dtype=np.float32)
    for y in range(0, N, 61):
        band = m[y : y + 61]
        scale = np.float32(0.55 + 0.45 * y / N)
        np.multiply(np.roll(tile[: len(band)], 7 * y, axis=1), scale, out=band)
    rows = [0, 1, 60, 61, 4097, 8191, 12345, N - 2, N - 1]
    report = {"map_bytes": m.nbytes}

    if sys.argv[1] == "mask":
        out, report["fresh"] = measured(lambda: ap.compute_mask(m, 0.5, 0))
        report["out_bytes"] = out.nbytes
        report["rows_k0"] = all(
            np.array_equal(out[y], ap.compute_mask(m[y : y + 1], 0.5, 0)[0])
            and np.array_equal(out[y], spec_compute_mask(m[y : y + 1], 0.5, 0)[0])
            for y in rows
        )
        # The same buffer again, with a disk: row y depends on rows y ± 2r only.
        r = 4
        _, report["reused"] = measured(lambda: ap.compute_mask(m, 0.5, r, out=out))
        ok = True
        for y in rows:
            lo, hi = max(0, y - 2 * r), min(N, y + 2 * r + 1)
            band = m[lo:hi, :4096]  # columns: the disk also reaches 2r sideways
            alone = spec_compute_mask(band, 0.5, r)
            ok &= np.array_equal(out[y, : 4096 - 2 * r], alone[y - lo, : 4096 - 2 * r])
            ok &= np.array_equal(out[y], ap.compute_mask(m[lo:hi], 0.5, r)[y - lo])
        report["rows_k4"] = bool(ok)
    else:
        out, report["fresh"] = measured(lambda: ap.anomaly_map_to_color_map(m, False))
        report["out_bytes"] = out.nbytes
        report["rows_raw"] = all(
            np.array_equal(out[y], ap.anomaly_map_to_color_map(m[y : y + 1], False)[0])
            and np.array_equal(out[y], spec_anomaly_map_to_color_map(m[y : y + 1], False)[0])
            for y in rows
        )
        # Normalised over the whole map, into the same buffer: rows checked with the
        # reference's float32 arithmetic and the global minimum and range.
        _, report["reused"] = measured(lambda: ap.anomaly_map_to_color_map(m, True, out=out))
        low, span = m.min(), np.ptp(m)
        jet = jet_rgb_opencv()
        report["rows_normalized"] = all(
            np.array_equal(
                out[y],
                jet[np.clip((m[y] - low) / span * np.float32(255), 0, 255).astype(np.uint8)],
            )
            for y in rows
        )
    print(json.dumps(report))
    """
)


def run_large(function: str) -> dict[str, Any]:
    tests_dir = str(Path(__file__).parents[1])  # tests/, where reference.py is
    env = {**os.environ, "ANOMALY_POSTPROCESS_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", _LARGE_CHILD, function, tests_dir],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(function, json.dumps(report))
    return report


def check_peaks(report: dict[str, Any]) -> None:
    """A fresh result: the peak RSS grows by at most the output plus ~15%. With ``out=``
    ("no image-sized memory is allocated"): by at most ~15% of the output."""
    out = report["out_bytes"]
    problems = []
    for name, allowed in (("fresh", 1.15 * out), ("reused", 0.15 * out)):
        measurement = report[name]
        assert measurement["slack"] < 16 * MiB, measurement  # the measurement is meaningful
        growth = measurement["growth"]
        if growth > allowed + 8 * MiB:
            problems.append(
                f"{name}: peak RSS grew {growth / MiB:.1f} MiB, allowed {allowed / MiB:.1f} "
                f"MiB (output {out / MiB:.0f} MiB)"
            )
    assert not problems, problems


def enough_memory() -> bool:
    with open("/proc/meminfo") as meminfo:
        fields = dict(line.split(":", 1) for line in meminfo)
    return int(fields["MemAvailable"].split()[0]) * 1024 > 3 * 1024 * MiB


needs_memory = pytest.mark.skipif(not enough_memory(), reason="needs 3 GiB of free memory")


@needs_memory
def test_large_map_mask() -> None:
    report = run_large("mask")
    assert report["map_bytes"] == 1 << 30
    assert report["out_bytes"] == 1 << 28
    assert report["rows_k0"] and report["rows_k4"], report
    check_peaks(report)


@needs_memory
def test_large_map_color() -> None:
    report = run_large("color")
    assert report["out_bytes"] == 3 << 28
    assert report["rows_raw"] and report["rows_normalized"], report
    check_peaks(report)
