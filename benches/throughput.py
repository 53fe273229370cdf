"""Throughput of anomaly_postprocess: the batch thread pool, GIL-free calls from several
Python threads, and ``out=``.

    python benches/throughput.py [--rounds 15] [--batch 64] [--size 256] [--big 1024]
        [--threads 2] [--output docs/performance.md] [--note TEXT]

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

Prints the tables as they are measured and writes its section of docs/performance.md
(see benches/report.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import anomaly_postprocess as ap
from machine import cores, cpu_name, load_average
from report import DEFAULT_OUTPUT, run_header, table, write_section

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


def threads_then(n: int, call: Callable[[], object]) -> None:
    ap.set_num_threads(n)
    call()


def in_threads(fn: Callable[[], object], threads: int, calls_each: int) -> Callable[[], None]:
    """``threads`` Python threads, each calling ``fn`` ``calls_each`` times."""

    def worker() -> None:
        for _ in range(calls_each):
            fn()

    def run() -> None:
        started = [threading.Thread(target=worker) for _ in range(threads)]
        for t in started:
            t.start()
        for t in started:
            t.join()

    return run


def in_one_thread(fn: Callable[[], object], calls: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(calls):
            fn()

    return run


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=256, help="side of the batched maps")
    parser.add_argument("--big", type=int, default=1024, help="side of the single maps")
    parser.add_argument("--calls", type=int, default=8, help="calls per thread in (b)")
    parser.add_argument("--repeat", type=int, default=15, help="batch calls per sample in (a)")
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="threads compared with one: pool threads in (a), Python threads in (b)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="the Markdown document to write this script's section of "
        "(default: docs/performance.md of this checkout)",
    )
    parser.add_argument(
        "--note",
        help="a remark printed at the top of the section, e.g. that the machine was busy",
    )
    args = parser.parse_args()
    for name in ("rounds", "batch", "size", "big", "calls", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if not 2 <= args.threads <= 1024:
        parser.error("--threads must be from 2 to 1024")
    return args


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(title), 44)] + [max(10, len(cell)) for cell in header[1:]]
    line = " ".join(
        f"{cell:<{w}}" if i == 0 else f"{cell:>{w}}"
        for i, (cell, w) in enumerate(zip([title, *header[1:]], widths, strict=True))
    )
    print()
    print(line)
    print("-" * len(line))
    for row in rows:
        print(
            " ".join(
                f"{cell:<{w}}" if i == 0 else f"{cell:>{w}}"
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def main() -> None:
    args = parse_args()
    original_threads = ap.get_num_threads()
    rng = np.random.default_rng(0)
    n, s, big, k, many = args.batch, args.size, args.big, args.calls, args.threads
    batch = rng.random((n, s, s), dtype=np.float32)
    batch_image = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
    single = rng.random((big, big), dtype=np.float32)
    single_image = rng.integers(0, 256, (big, big, 3), dtype=np.uint8)

    functions: dict[str, Callable[..., np.ndarray]] = {
        "`anomaly_map_to_color_map`": lambda m, image, **kw: ap.anomaly_map_to_color_map(m, **kw),
        "`superimpose_anomaly_map`": lambda m, image, **kw: ap.superimpose_anomaly_map(
            m, image, **kw
        ),
        "`compute_mask`, k=4": lambda m, image, **kw: ap.compute_mask(m, 0.5, 4, **kw),
    }

    print(
        f"CPU: {cpu_name()} ({cores()} cores available); numpy {np.__version__}; "
        f"anomaly_postprocess {ap.__version__}; default threads {original_threads}; "
        f"medians of {args.rounds} interleaved rounds; load average {load_average()}"
    )
    print(f"cpu/wall: process CPU time per wall second of the {many}-thread variant")
    print(f"({many}.00 = {many} cores busy with this benchmark; lower = the threads took turns)")

    # (a) batch on 1 vs `many` pool threads --------------------------------------------
    batch_header = ["function", "1 thread ms", f"{many} threads ms", "speed-up", "cpu/wall"]
    batch_rows = []
    try:
        for name, fn in functions.items():
            call = lambda fn=fn: fn(batch, batch_image)  # noqa: E731
            t = interleaved_medians(
                {"1": call, "n": call},
                args.rounds,
                repeat=args.repeat,
                # Untimed: set_num_threads builds a new pool, whose threads one call wakes.
                setup={
                    "1": lambda c=call: threads_then(1, c),
                    "n": lambda c=call: threads_then(many, c),
                },
            )
            batch_rows.append(
                [
                    name,
                    f"{t['1'] * 1e3:.2f}",
                    f"{t['n'] * 1e3:.2f}",
                    f"{t['1'] / t['n']:.2f}×",
                    f"{UTILISATION['n']:.2f}",
                ]
            )
    finally:
        ap.set_num_threads(original_threads)
    batch_title = f"(a) one call on a batch of {n} maps {s}×{s}"
    print_table(batch_title, batch_header, batch_rows)

    # (b) `many` Python threads vs one, single maps --------------------------------------
    python_header = ["function", "1 thread ms", f"{many} threads ms", "throughput", "cpu/wall"]
    python_rows = []
    for name, fn in functions.items():
        call = lambda fn=fn: fn(single, single_image)  # noqa: E731
        t = interleaved_medians(
            {"seq": in_one_thread(call, many * k), "par": in_threads(call, many, k)},
            args.rounds,
        )
        python_rows.append(
            [
                name,
                f"{t['seq'] * 1e3:.2f}",
                f"{t['par'] * 1e3:.2f}",
                f"{t['seq'] / t['par']:.2f}×",
                f"{UTILISATION['par']:.2f}",
            ]
        )
    python_title = f"(b) {many * k} calls on single maps {big}×{big}"
    print_table(python_title, python_header, python_rows)

    # (c) out= vs a fresh result ---------------------------------------------------------
    out_header = ["function", "fresh ms", "out= ms", "fresh / out="]
    out_rows = []
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
        out_rows.append(
            [
                name,
                f"{t['fresh'] * 1e3:.3f}",
                f"{t['out'] * 1e3:.3f}",
                f"{t['fresh'] / t['out']:.2f}×",
            ]
        )
    out_title = f"(c) one map {big}×{big}"
    print_table(out_title, out_header, out_rows)

    body = [
        "## `throughput.py`: batches on threads, Python threads, `out=`",
        "",
        run_header(
            "benches/throughput.py",
            sys.argv[1:],
            args.note,
            [
                f"default threads: {original_threads}",
                f"medians of {args.rounds} rounds, the variants' order alternating",
            ],
        ),
        f"*cpu/wall* is the process's CPU seconds per wall second in the {many}-thread "
        f"variant: {many}.0 when {many} cores really ran, about 1.0 when the threads took "
        "turns (another process holding a core).",
        "",
        f"### {batch_title}: 1 vs {many} threads",
        "",
        f"`set_num_threads(1)` vs `set_num_threads({many})`; each sample averages "
        f"{args.repeat} calls after an untimed one (a loop over batches). A batch runs on "
        f"the calling thread and {many - 1} pool thread(s), which take maps off a shared "
        "counter ([behaviour.md#threads](behaviour.md#threads)).",
        "",
        table(batch_header, batch_rows),
        f"### {python_title}: {many} Python threads vs 1",
        "",
        f"One Python thread making {many * k} calls in a row vs {many} threads making {k} "
        "each. Single maps run on the calling thread with the GIL released, so Python "
        f"threads run in parallel; {float(many):.1f}× throughput is perfect.",
        "",
        table(python_header, python_rows),
        f"### {out_title}: `out=` vs a fresh result",
        "",
        "Fresh results come from the output pool's recycled, already-mapped memory "
        "([behaviour.md#memory](behaviour.md#memory)), so `out=` saves little time; it "
        "saves the allocation.",
        "",
        table(out_header, out_rows),
    ]
    write_section(args.output, "throughput", "\n".join(body))
    print(f"\nwrote the throughput section of {args.output}")


if __name__ == "__main__":
    main()
