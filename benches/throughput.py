"""Throughput of anomaly_postprocess: the batch thread pool, GIL-free calls from several
Python threads, and ``out=``.

    python benches/throughput.py [--rounds 15] [--batch 64] [--size 256] [--big 1024]

Three measurements, each as the median over interleaved rounds (every round times each
variant once, alternating which goes first, so slow drift of the machine hits all
variants alike):

(a) one call on a batch of 64 float32 maps of 256x256 with ``set_num_threads(1)`` vs
    ``set_num_threads(2)``, per function, and the speed-up (steady state: each sample
    is preceded by an untimed call, as in a loop over batches; the pool's threads fall
    asleep when idle and waking them costs a little on the first batch after a pause);
(b) two Python threads, each making K calls on single 1024x1024 maps (which run on
    the calling thread with the GIL released) vs one thread making the same 2K calls
    in a row: the throughput ratio (1.0 = no gain, 2.0 = perfect on 2 cores);
(c) a 1024x1024 map into a preallocated ``out=`` vs a fresh result array.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections.abc import Callable

import numpy as np

import anomaly_postprocess as ap
from machine import cpu_name


def cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# Process CPU seconds per wall second of each variant's median sample (all threads):
# about 2.0 when two threads really ran at once, about 1.0 when they took turns (e.g.
# because another process holds a core).
UTILISATION: dict[str, float] = {}


def interleaved_medians(
    variants: dict[str, Callable[[], object]],
    rounds: int,
    repeat: int = 1,
    setup: dict[str, Callable[[], object]] | None = None,
) -> dict[str, float]:
    """Median seconds per ``fn()`` over ``rounds``; each sample averages ``repeat`` calls.
    The order of the variants alternates from round to round. ``setup[name]()`` runs
    before each of that variant's samples, untimed."""
    setup = setup or {}
    names = list(variants)
    for name in names:  # warm up (pools, page faults, caches)
        setup.get(name, lambda: None)()
        variants[name]()
        variants[name]()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            fn = variants[name]
            setup.get(name, lambda: None)()
            cpu = time.process_time()
            start = time.perf_counter()
            for _ in range(repeat):
                fn()
            wall = time.perf_counter() - start
            samples[name].append((wall / repeat, (time.process_time() - cpu) / wall))
    medians = {}
    for name, s in samples.items():
        s.sort()
        medians[name] = statistics.median(wall for wall, _ in s)
        UTILISATION[name] = s[len(s) // 2][1]
    return medians


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def threads_then(n: int, call: Callable[[], object]) -> None:
    ap.set_num_threads(n)
    call()


def in_two_threads(fn: Callable[[], object], calls_each: int) -> Callable[[], None]:
    """Two Python threads, each calling ``fn`` ``calls_each`` times."""

    def worker() -> None:
        for _ in range(calls_each):
            fn()

    def run() -> None:
        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    return run


def in_one_thread(fn: Callable[[], object], calls: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(calls):
            fn()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=256, help="side of the batched maps")
    parser.add_argument("--big", type=int, default=1024, help="side of the single maps")
    parser.add_argument("--calls", type=int, default=8, help="calls per thread in (b)")
    parser.add_argument("--repeat", type=int, default=15, help="batch calls per sample in (a)")
    args = parser.parse_args()

    original_threads = ap.get_num_threads()
    rng = np.random.default_rng(0)
    n, s, big = args.batch, args.size, args.big
    batch = rng.random((n, s, s), dtype=np.float32)
    batch_image = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
    single = rng.random((big, big), dtype=np.float32)
    single_image = rng.integers(0, 256, (big, big, 3), dtype=np.uint8)

    functions: dict[str, Callable[..., np.ndarray]] = {
        "anomaly_map_to_color_map": lambda m, image, **kw: ap.anomaly_map_to_color_map(m, **kw),
        "superimpose_anomaly_map": lambda m, image, **kw: ap.superimpose_anomaly_map(
            m, image, **kw
        ),
        "compute_mask(k=4)": lambda m, image, **kw: ap.compute_mask(m, 0.5, 4, **kw),
    }

    print(
        f"CPU: {cpu_name()} ({cores()} cores available); numpy {np.__version__}; "
        f"anomaly_postprocess {ap.__version__}; default threads {original_threads}; "
        f"medians of {args.rounds} interleaved rounds; load average {load_average()}"
    )
    print("cpu/wall: process CPU time per wall second of the 2-thread variant (2.00 = both")
    print("cores busy with this benchmark; lower = the threads took turns)")

    # (a) batch on 1 vs 2 pool threads ------------------------------------------------
    header = (
        f"{f'(a) batch {n}x{s}x{s} f32, pool threads':<44} {'1 thr ms':>9} "
        f"{'2 thr ms':>9} {'speed-up':>9} {'cpu/wall':>9}"
    )
    print()
    print(header)
    print("-" * len(header))
    try:
        for name, fn in functions.items():
            call = lambda fn=fn: fn(batch, batch_image)  # noqa: E731
            t = interleaved_medians(
                {"1": call, "2": call},
                args.rounds,
                repeat=args.repeat,
                # Untimed: set_num_threads builds a new pool, whose threads one call wakes.
                setup={
                    "1": lambda c=call: threads_then(1, c),
                    "2": lambda c=call: threads_then(2, c),
                },
            )
            print(
                f"{name:<44} {t['1'] * 1e3:9.2f} {t['2'] * 1e3:9.2f} "
                f"{t['1'] / t['2']:8.2f}x {UTILISATION['2']:9.2f}"
            )
    finally:
        ap.set_num_threads(original_threads)

    # (b) two Python threads vs one, single maps ---------------------------------------
    k = args.calls
    header = (
        f"{f'(b) {big}x{big} maps, {2 * k} calls, Python threads':<44} {'1 thr ms':>9} "
        f"{'2 thr ms':>9} {'thr-put':>9} {'cpu/wall':>9}"
    )
    print()
    print(header)
    print("-" * len(header))
    for name, fn in functions.items():
        call = lambda fn=fn: fn(single, single_image)  # noqa: E731
        t = interleaved_medians(
            {"seq": in_one_thread(call, 2 * k), "par": in_two_threads(call, k)}, args.rounds
        )
        print(
            f"{name:<44} {t['seq'] * 1e3:9.2f} {t['par'] * 1e3:9.2f} "
            f"{t['seq'] / t['par']:8.2f}x {UTILISATION['par']:9.2f}"
        )

    # (c) out= vs a fresh result ---------------------------------------------------------
    header = f"{f'(c) {big}x{big} single map':<44} {'fresh ms':>9} {'out= ms':>9} {'fresh/out':>9}"
    print()
    print(header)
    print("-" * len(header))
    for name, fn in functions.items():
        out = np.empty(fn(single, single_image).shape, np.uint8)
        t = interleaved_medians(
            {
                "fresh": lambda fn=fn: fn(single, single_image),
                "out": lambda fn=fn, out=out: fn(single, single_image, out=out),
            },
            args.rounds,
            repeat=5,
        )
        print(
            f"{name:<44} {t['fresh'] * 1e3:9.3f} {t['out'] * 1e3:9.3f} "
            f"{t['fresh'] / t['out']:8.2f}x"
        )


if __name__ == "__main__":
    main()
