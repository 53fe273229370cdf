"""Side-by-side timings: anomaly_postprocess vs OpenCV vs anomalib's reference.

Run with the `bench` extra installed (OpenCV, scikit-image):

    python benches/compare.py [--sizes 256x256 1024x1024 2048x2448] [--rounds 15]
        [--threads single|default|both] [--cold] [--warm-allocator] [--no-reference]
        [--mask-content] [--frame-only] [--output docs/performance.md] [--note TEXT]
    python benches/compare.py --mask-scaling [--rounds 15] [--note TEXT]

Prints the timings as they are taken and writes its sections of docs/performance.md
(see benches/report.py, whose preamble explains the method): the separate functions, and
`postprocess` (one frame's every product in one call) against those four calls and
against OpenCV's four pipelines (`--frame-only`: only that section). `--mask-scaling`
runs only the opening's scaling measures (the disk's cost on smooth content, a huge
disk, one map on 2 threads vs 1) and writes only their own section. In one process, for each
thread mode (both libraries single-threaded, then both at their default thread counts),
each round times every contender once, in an order shuffled every round; the tables
report per-call medians over the rounds and the ratio ours / OpenCV. "floor" is the
time to copy the input map once (`np.copyto`), the memory-bandwidth floor for any
kernel that reads it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from skimage import morphology

import anomaly_postprocess as ap
from machine import cpu_name, load_average
from report import DEFAULT_OUTPUT, WARM_ALLOCATOR, run_header, table, write_section

# --- the OpenCV pipelines of the issue ------------------------------------------------


def cv_color_map(m: np.ndarray) -> np.ndarray:
    levels = cv2.normalize(m, None, 0, 255, cv2.NORM_MINMAX, cv2.CV_8U)
    return cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def cv_superimpose(m: np.ndarray, image: np.ndarray) -> np.ndarray:
    levels = cv2.convertScaleAbs(m, alpha=255)
    color = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(color, 0.4, image, 0.6, 0)


def cv_mask(m: np.ndarray, kernel: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    _, mask = cv2.threshold(m, threshold, 255, cv2.THRESH_BINARY)
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)


def cv_frame(m: np.ndarray, image: np.ndarray, kernel: np.ndarray, threshold: float) -> object:
    """OpenCV's four pipelines for one frame: the colour map, the overlay, the mask, and
    the mask's components with their statistics (its boxes)."""
    heatmap = cv_color_map(m)
    overlay = cv_superimpose(m, image)
    mask = cv_mask(m, kernel, threshold)
    return heatmap, overlay, cv2.connectedComponentsWithStats(mask, connectivity=8)


# --- anomalib's reference (numpy + OpenCV + scikit-image) ------------------------------


def ref_color_map(m: np.ndarray) -> np.ndarray:
    m = (m - m.min()) / np.ptp(m)
    m = (m * 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(m, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def ref_superimpose(m: np.ndarray, image: np.ndarray) -> np.ndarray:
    color = cv2.cvtColor(
        cv2.applyColorMap((m * 255).astype(np.uint8), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB
    )
    return cv2.addWeighted(color, 0.4, image, 0.6, 0)


def ref_mask(m: np.ndarray, radius: int) -> np.ndarray:
    mask = np.zeros_like(m).astype(np.uint8)
    mask[m > 0.5] = 1
    mask = morphology.opening(mask, morphology.disk(radius))
    return mask * 255


def ours_separately(m: np.ndarray, image: np.ndarray, threshold: float) -> object:
    """What an inspection line calls today for one frame: the four functions in a row."""
    heatmap = ap.anomaly_map_to_color_map(m)
    overlay = ap.superimpose_anomaly_map(m, image)
    mask = ap.compute_mask(m, threshold)
    return heatmap, overlay, mask, ap.mask_to_boxes(mask, anomaly_map=m)


def smooth_field(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """Gaussian-smoothed uniform noise (σ = 12 pixels), normalised to [0, 1]: thresholds
    give blobs, like a model's map (float32)."""
    noise = np.random.default_rng(seed).random(size, dtype=np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 12)
    return ((smooth - smooth.min()) / (smooth.max() - smooth.min())).astype(np.float32)


def cache_flusher(megabytes: int = 512) -> Callable[[], None]:
    """A function that evicts everything else from the caches (it writes one word in
    every 64-byte line of a buffer larger than the L3 cache), untimed before each call
    in `--cold` runs: the map, the image and the code all start cold, on both sides."""
    lines = np.zeros((megabytes << 20) // 8, dtype=np.int64)[::8]

    def flush() -> None:
        lines.__iadd__(1)

    return flush


def median_times(
    contenders: dict[str, Callable[[], object]],
    rounds: int,
    before: Callable[[], None] | None = None,
) -> dict[str, float]:
    """Per-call medians over `rounds` rounds, each timing every contender once, in an
    order shuffled afresh every round (seeded, so runs repeat). A fixed order would
    give each contender the same predecessor every time, and a call right after a long
    one (anomalib's reference, OpenCV's k=16) starts with cold caches: ours always ran
    after the reference, 1.5-2x slower than after OpenCV. `before` runs, untimed, before
    every call."""
    for fn in contenders.values():  # warm up
        fn()
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            if before is not None:
                before()
            start = time.perf_counter()
            contenders[name]()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(s) for name, s in samples.items()}


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:8.3f}"


def ms_cell(seconds: float) -> str:
    """Milliseconds with about three significant digits, for the Markdown tables."""
    value = seconds * 1e3
    for limit, decimals in ((100, 0), (10, 1), (1, 2)):
        if value >= limit:
            return f"{value:.{decimals}f}"
    return f"{value:.3f}"


def ratio_cell(value: float) -> str:
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def size_label(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]}"


def parse_size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 1024x1024, got {text!r}") from None
    if h < 1 or w < 1:
        raise argparse.ArgumentTypeError(f"expected a positive size, got {text!r}")
    return h, w


def operations(
    m: np.ndarray, image: np.ndarray
) -> list[tuple[str, dict[str, Callable[[], object]]]]:
    """The timed operations on one map and image: name -> contenders."""
    rows: list[tuple[str, dict[str, Callable[[], object]]]] = [
        (
            "`anomaly_map_to_color_map`",
            {
                "ours": lambda: ap.anomaly_map_to_color_map(m),
                "cv2": lambda: cv_color_map(m),
                "ref": lambda: ref_color_map(m),
            },
        ),
        (
            "`superimpose_anomaly_map`",
            {
                "ours": lambda: ap.superimpose_anomaly_map(m, image),
                "cv2": lambda: cv_superimpose(m, image),
                "ref": lambda: ref_superimpose(m, image),
            },
        ),
    ]
    for radius in (1, 4, 16):
        kernel = morphology.disk(radius).astype(np.uint8)
        rows.append(
            (
                f"`compute_mask`, k={radius}",
                {
                    "ours": lambda r=radius: ap.compute_mask(m, 0.5, r),
                    "cv2": lambda k=kernel: cv_mask(m, k),
                    "ref": lambda r=radius: ref_mask(m, r),
                },
            )
        )
    return rows


def disk_cost(
    m: np.ndarray, rounds: int, before: Callable[[], None] | None
) -> tuple[dict[str, float], dict[str, float]]:
    """compute_mask at k=1 and k=16 interleaved with each other only, ours and OpenCV's
    each on its own: (ours, OpenCV) medians by "k1"/"k16"."""
    k16 = morphology.disk(16).astype(np.uint8)
    k1 = morphology.disk(1).astype(np.uint8)
    ours = median_times(
        {"k1": lambda: ap.compute_mask(m, 0.5, 1), "k16": lambda: ap.compute_mask(m, 0.5, 16)},
        rounds,
        before,
    )
    theirs = median_times(
        {"k1": lambda: cv_mask(m, k1), "k16": lambda: cv_mask(m, k16)}, rounds, before
    )
    return ours, theirs


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        default=[(256, 256), (1024, 1024), (2048, 2448)],
        metavar="HxW",
    )
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument(
        "--threads",
        choices=("single", "default", "both"),
        default="both",
        help="both libraries single-threaded, both at their default thread counts, or "
        "one table for each (default: both)",
    )
    parser.add_argument(
        "--no-reference", action="store_true", help="skip anomalib's (slow) reference"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="evict the caches before every timed call (maps fresh from elsewhere)",
    )
    parser.add_argument(
        "--warm-allocator",
        action="store_true",
        help=f"run with GLIBC_TUNABLES={WARM_ALLOCATOR} (re-executes this script)",
    )
    parser.add_argument(
        "--mask-content",
        action="store_true",
        help="also time compute_mask on three kinds of content (noise, large and few blobs)",
    )
    parser.add_argument(
        "--frame-only",
        action="store_true",
        help="only the postprocess section (one frame's every product in one call), at "
        "256x256, 1024x1024 and 2048x2448; --sizes, --no-reference and --mask-content do not "
        "apply",
    )
    parser.add_argument(
        "--mask-scaling",
        action="store_true",
        help="only time compute_mask's scaling (k=16 vs k=1 on smooth content, k=2048 on a "
        "full map with holes, 2 threads vs 1 on one 2048x2448 map) and write only that "
        "section",
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
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def main() -> None:
    args = parse_args()
    if args.warm_allocator and os.environ.get("GLIBC_TUNABLES") != WARM_ALLOCATOR:
        # glibc reads its tunables at start-up only.
        env = {**os.environ, "GLIBC_TUNABLES": WARM_ALLOCATOR}
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], env)

    if args.mask_scaling:
        mask_scaling(args)
        return

    defaults = {"cv2": cv2.getNumThreads(), "ours": ap.get_num_threads()}
    modes = {
        "single": {"cv2": 1, "ours": 1},
        "default": dict(defaults),
    }
    if args.threads != "both":
        modes = {args.threads: modes[args.threads]}
    before = cache_flusher() if args.cold else None
    conditions = (
        f"medians of {args.rounds} interleaved rounds"
        + ("; caches evicted before every call" if args.cold else "")
        + ("; without anomalib's reference" if args.no_reference else "")
    )
    print(
        f"CPU: {cpu_name()}; OpenCV {cv2.__version__}; numpy {np.__version__}; "
        f"anomaly_postprocess {ap.__version__}; default threads: OpenCV {defaults['cv2']}, "
        f"ours {defaults['ours']}; {conditions}"
    )

    if args.frame_only:
        try:
            frame_section(args, modes, defaults, before)
        finally:
            cv2.setNumThreads(defaults["cv2"])
            ap.set_num_threads(defaults["ours"])
        return

    tables: dict[str, list[list[str]]] = {}
    disk_rows: list[list[str]] = []
    try:
        for mode, threads in modes.items():
            cv2.setNumThreads(threads["cv2"])
            ap.set_num_threads(threads["ours"])
            print(f"\n{mode} threads: OpenCV {threads['cv2']}, ours {threads['ours']}")
            header = (
                f"{'size':>10} {'operation':<28} {'ours ms':>8} {'cv2 ms':>8} {'ref ms':>8} "
                f"{'ours/cv2':>8} {'x floor':>8}"
            )
            print(header)
            print("-" * len(header))
            rows = tables.setdefault(mode, [])
            for size in args.sizes:
                rng = np.random.default_rng(0)
                m = rng.random(size, dtype=np.float32)
                image = rng.integers(0, 256, size + (3,), dtype=np.uint8)
                scratch = np.empty_like(m)
                copy = {"floor": lambda s=scratch, m=m: np.copyto(s, m)}
                floor = median_times(copy, args.rounds, before)["floor"]
                for name, contenders in operations(m, image):
                    if args.no_reference:
                        contenders.pop("ref")
                    t = median_times(contenders, args.rounds, before)
                    ref = ms(t["ref"]) if "ref" in t else f"{'-':>8}"
                    print(
                        f"{size_label(size):>10} {name.replace('`', ''):<28} {ms(t['ours'])} "
                        f"{ms(t['cv2'])} {ref} {t['ours'] / t['cv2']:8.3f} "
                        f"{t['ours'] / floor:8.2f}"
                    )
                    rows.append(
                        [
                            size_label(size),
                            name,
                            ms_cell(t["ours"]),
                            ms_cell(t["cv2"]),
                            f"**{ratio_cell(t['ours'] / t['cv2'])}**",
                            ms_cell(t["ref"]) if "ref" in t else "—",
                            f"{t['ours'] / floor:.1f}",
                        ]
                    )
                ours, theirs = disk_cost(m, args.rounds, before)
                print(
                    f"{size_label(size):>10} {'mask k=16 / k=1, same gaps':<28} "
                    f"{ours['k16'] / ours['k1']:8.2f}x   (ours {ms(ours['k1'])} / "
                    f"{ms(ours['k16'])} ms; OpenCV {theirs['k16'] / theirs['k1']:.1f}x)"
                )
                disk_rows.append(
                    [
                        f"{mode} (OpenCV {threads['cv2']}, ours {threads['ours']})",
                        size_label(size),
                        ms_cell(ours["k1"]),
                        ms_cell(ours["k16"]),
                        f"{ours['k16'] / ours['k1']:.2f}×",
                        f"{theirs['k16'] / theirs['k1']:.1f}×",
                    ]
                )
        content_rows = mask_cost_by_content(args.rounds) if args.mask_content else None
        frame_section(args, modes, defaults, before)
    finally:
        cv2.setNumThreads(defaults["cv2"])
        ap.set_num_threads(defaults["ours"])

    body = [
        "## `compare.py`: against OpenCV and anomalib",
        "",
        run_header(
            "benches/compare.py",
            sys.argv[1:],
            args.note,
            [
                f"default threads: OpenCV {defaults['cv2']}, ours {defaults['ours']}",
                conditions,
            ],
        ),
    ]
    titles = {
        "single": "Single-threaded on both sides",
        "default": "Both at their default thread counts (OpenCV {cv2}, ours {ours})",
    }
    columns = [
        "size",
        "operation",
        "ours ms",
        "OpenCV ms",
        "ours / OpenCV",
        "anomalib ms",
        "ours / floor",
    ]
    for mode, rows in tables.items():
        body += [f"### {titles[mode].format(**modes[mode])}", "", table(columns, rows, right=2)]
    body += [
        "### `compute_mask`: the disk's cost, k=1 and k=16 interleaved with each other",
        "",
        table(
            [
                "threads",
                "size",
                "ours k=1 ms",
                "ours k=16 ms",
                "ours k=16 / k=1",
                "OpenCV k=16 / k=1",
            ],
            disk_rows,
            right=2,
        ),
    ]
    if content_rows is not None:
        body += [
            "### `compute_mask` by content: 1024×1024, k = 1, 4, 16 interleaved (ours)",
            "",
            table(
                ["content", "foreground", "k=1 ms", "k=4 ms", "k=16 ms", "k=16 / k=1"],
                content_rows,
            ),
        ]
    write_section(args.output, "compare", "\n".join(body))
    print(f"\nwrote the compare section of {args.output}")


# The frame comparison: anomalib's default input size and sizes of the usual inspection
# cameras' maps, and a threshold that leaves a few blobs of the smooth field (the usual
# defect mask).
FRAME_SIZES = [(256, 256), (1024, 1024), (2048, 2448)]
FRAME_THRESHOLD = 0.7


def frame_section(
    args: argparse.Namespace,
    modes: dict[str, dict[str, int]],
    defaults: dict[str, int],
    before: Callable[[], None] | None,
) -> None:
    """Times postprocess against our four separate calls and OpenCV's four pipelines, in
    each thread mode, and writes the postprocess section of the document."""
    kernel = morphology.disk(4).astype(np.uint8)
    rows = []
    print(
        f"\npostprocess (heatmap, overlay, mask, boxes with scores) vs the four separate "
        f"calls vs OpenCV's four pipelines; smooth field, threshold {FRAME_THRESHOLD}, k=4"
    )
    header = (
        f"{'threads':>8} {'size':>10} {'fused ms':>9} {'separate':>9} {'OpenCV':>9} "
        f"{'/separate':>9} {'/OpenCV':>8}"
    )
    print(header)
    print("-" * len(header))
    for mode, threads in modes.items():
        cv2.setNumThreads(threads["cv2"])
        ap.set_num_threads(threads["ours"])
        for size in FRAME_SIZES:
            m = smooth_field(size)
            image = np.random.default_rng(1).integers(0, 256, size + (3,), dtype=np.uint8)
            t = median_times(
                {
                    "fused": lambda m=m, i=image: ap.postprocess(m, i, FRAME_THRESHOLD),
                    "separate": lambda m=m, i=image: ours_separately(m, i, FRAME_THRESHOLD),
                    "cv2": lambda m=m, i=image: cv_frame(m, i, kernel, FRAME_THRESHOLD),
                },
                args.rounds,
                before,
            )
            fused_separate = t["fused"] / t["separate"]
            fused_cv = t["fused"] / t["cv2"]
            print(
                f"{mode:>8} {size_label(size):>10} {ms(t['fused'])} {ms(t['separate'])} "
                f"{ms(t['cv2'])} {fused_separate:9.3f} {fused_cv:8.3f}"
            )
            rows.append(
                [
                    f"{mode} (OpenCV {threads['cv2']}, ours {threads['ours']})",
                    size_label(size),
                    ms_cell(t["fused"]),
                    ms_cell(t["separate"]),
                    ms_cell(t["cv2"]),
                    f"**{ratio_cell(fused_separate)}**",
                    f"**{ratio_cell(fused_cv)}**",
                ]
            )
    conditions = f"medians of {args.rounds} interleaved rounds" + (
        "; caches evicted before every call" if args.cold else ""
    )
    argv = sys.argv[1:] if args.frame_only else [*sys.argv[1:], "(its postprocess part)"]
    body = [
        "## `compare.py`: one frame, every product — `postprocess`",
        "",
        run_header(
            "benches/compare.py",
            argv,
            args.note,
            [
                f"default threads: OpenCV {defaults['cv2']}, ours {defaults['ours']}",
                conditions,
                f"map: Gaussian-smoothed noise (σ = 12), float32; threshold "
                f"{FRAME_THRESHOLD}, kernel_size 4; a random uint8 image of the map's size",
            ],
        ),
        table(
            [
                "threads",
                "size",
                "postprocess ms",
                "four separate calls ms",
                "OpenCV's four pipelines ms",
                "postprocess / separate",
                "postprocess / OpenCV",
            ],
            rows,
            right=2,
        ),
    ]
    write_section(args.output, "frame", "\n".join(body))
    print(f"\nwrote the frame section of {args.output}")


def mask_cost_by_content(rounds: int) -> list[list[str]]:
    """compute_mask at k = 1, 4, 16 on 1024x1024 maps of three kinds of content, the
    three k interleaved with each other: the issue's uniform noise (where erosion
    empties every strip within a few steps), a smooth field thresholded at its median
    (large blobs, about half foreground: the opening's worst case here) and the same
    field thresholded high (a few blobs, the usual defect mask). Returns table rows."""
    rng = np.random.default_rng(0)
    noise = rng.random((1024, 1024), dtype=np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 12)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    print()
    print("compute_mask by content, 1024x1024, k=1/4/16 interleaved with each other:")
    rows = []
    for name, m, threshold in [
        ("uniform noise, threshold 0.5", noise, 0.5),
        ("smooth field (Gaussian σ=12), threshold 0.5: large blobs", smooth, 0.5),
        ("the same field, threshold 0.7: a few blobs", smooth, 0.7),
    ]:
        t = median_times(
            {
                k: (lambda k=k, m=m, th=threshold: ap.compute_mask(m, th, int(k)))
                for k in ("1", "4", "16")
            },
            rounds,
        )
        foreground = float((m > threshold).mean())
        print(
            f"  {name:<58} foreground {foreground:4.2f}:"
            f" {ms(t['1'])} {ms(t['4'])} {ms(t['16'])} ms, k16/k1 {t['16'] / t['1']:.2f}x"
        )
        rows.append(
            [
                name,
                f"{foreground:.0%}",
                ms_cell(t["1"]),
                ms_cell(t["4"]),
                ms_cell(t["16"]),
                f"{t['16'] / t['1']:.2f}×",
            ]
        )
    return rows


def smooth_field_and_median(
    shape: tuple[int, int], sigma: float, seed: int
) -> tuple[np.ndarray, float]:
    """Gaussian-smoothed uniform noise (float32) and its median: thresholded there, about
    half of it is a defect, in blobs about 2σ across (the opening's hard case: long runs
    everywhere, nothing empties early)."""
    noise = np.random.default_rng(seed).random(shape, dtype=np.float32)
    field = cv2.GaussianBlur(noise, (0, 0), sigma)
    return field, float(np.median(field))


def holes(size: int) -> np.ndarray:
    """All above 0.5 but eight 6x6 holes: with a huge disk, the erosion is the one case
    whose cost grows with the radius for the run method (benches/kernels.rs, the same
    map)."""
    m = np.ones((size, size), dtype=np.float32)
    state = 12345
    mask64 = (1 << 64) - 1
    for _ in range(8):
        state ^= (state << 13) & mask64
        state ^= state >> 7
        state ^= (state << 17) & mask64
        cy, cx = state % size, (state >> 32) % size
        m[max(cy - 3, 0) : min(cy + 3, size), max(cx - 3, 0) : min(cx + 3, size)] = 0.0
    return m


def mask_scaling(args: argparse.Namespace) -> None:
    """compute_mask's cost against the disk and the threads, ours only, each comparison
    timed interleaved with itself only (median_times); writes the "mask-scaling" section.

    1. k = 1, 4, 16 on 1024x1024 smooth fields (σ = 4 and 12) thresholded at their
       median, single-threaded and at the default thread count: k=16 / k=1.
    2. k = 2048 on a 4096x4096 full map with holes vs k = 16 on a 4096x4096 smooth field
       (σ = 4): the huge disk's cost relative to a dense mask's usual one, one thread.
    3. One 2048x2448 map, 2 threads vs 1 (set_num_threads): the colour map and the
       overlay of a smooth field (σ = 4), and compute_mask at k = 1, 4 (the default), 16
       on uniform noise and on that field: the speed-up, back to back and with the
       process idle for 2 ms before every call (as between a line's frames).
    """
    rounds = args.rounds
    default_threads = ap.get_num_threads()
    load_start = load_average()
    print(
        f"CPU: {cpu_name()}; anomaly_postprocess {ap.__version__}; default threads: "
        f"{default_threads}; medians of {rounds} interleaved rounds; load {load_start}"
    )

    def threads_then(n: int, call: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            ap.set_num_threads(n)
            return call()

        return run

    radius_rows: list[list[str]] = []
    try:
        print("\n1. compute_mask k=1/4/16 on 1024x1024 smooth fields at the median:")
        for sigma in (4, 12):
            m, th = smooth_field_and_median((1024, 1024), sigma, seed=sigma)
            for threads in dict.fromkeys((1, default_threads)):
                t = median_times(
                    {
                        k: threads_then(threads, lambda k=k, m=m, th=th: ap.compute_mask(m, th, k))
                        for k in (1, 4, 16)
                    },
                    rounds,
                )
                ratio = t[16] / t[1]
                print(
                    f"  σ={sigma:<3} {threads} thread(s): k=1 {ms(t[1])} k=4 {ms(t[4])} "
                    f"k=16 {ms(t[16])} ms; k=16 / k=1 {ratio:.2f}x"
                )
                radius_rows.append(
                    [
                        f"σ = {sigma}",
                        str(threads),
                        ms_cell(t[1]),
                        ms_cell(t[4]),
                        ms_cell(t[16]),
                        f"**{ratio:.2f}×**",
                    ]
                )

        print("\n2. 4096x4096, one thread: holes k=2048 vs smooth σ=4 k=16:")
        full = holes(4096)
        dense, dense_th = smooth_field_and_median((4096, 4096), 4, seed=1)
        t = median_times(
            {
                "holes": threads_then(1, lambda: ap.compute_mask(full, 0.5, 2048)),
                "dense": threads_then(1, lambda: ap.compute_mask(dense, dense_th, 16)),
            },
            max(3, rounds // 3),
        )
        huge_ratio = t["holes"] / t["dense"]
        print(
            f"  holes k=2048 {ms(t['holes'])} ms, smooth k=16 {ms(t['dense'])} ms: "
            f"{huge_ratio:.2f}x"
        )
        huge_rows = [[ms_cell(t["holes"]), ms_cell(t["dense"]), f"**{huge_ratio:.2f}×**"]]

        print("\n3. one 2048x2448 map on 2 threads vs 1 (back to back; after 2 ms idle):")
        noise = np.random.default_rng(0).random((2048, 2448), dtype=np.float32)
        smooth, smooth_th = smooth_field_and_median((2048, 2448), 4, seed=2)
        image = np.random.default_rng(3).integers(0, 256, (2048, 2448, 3), dtype=np.uint8)
        smooth_name = "smooth field (σ = 4)"
        calls: list[tuple[str, str, Callable[[], object]]] = [
            (
                f"`anomaly_map_to_color_map`, {smooth_name}",
                "",
                lambda: ap.anomaly_map_to_color_map(smooth),
            ),
            (
                f"`superimpose_anomaly_map`, {smooth_name}",
                "",
                lambda: ap.superimpose_anomaly_map(smooth, image),
            ),
        ]
        for name, m, th in [
            ("`compute_mask`, uniform noise, threshold 0.5", noise, 0.5),
            (f"`compute_mask`, {smooth_name}, threshold at the median", smooth, smooth_th),
        ]:
            for k in (1, 4, 16):
                calls.append((name, str(k), lambda m=m, th=th, k=k: ap.compute_mask(m, th, k)))

        def idle() -> None:
            time.sleep(0.002)

        thread_rows = []
        for name, k_cell, call in calls:
            t = median_times({n: threads_then(n, call) for n in (1, 2)}, rounds)
            t_idle = median_times({n: threads_then(n, call) for n in (1, 2)}, rounds, idle)
            speedup, idle_speedup = t[1] / t[2], t_idle[1] / t_idle[2]
            print(
                f"  {name:<62} {k_cell:<3} 1 thread {ms(t[1])} 2 threads {ms(t[2])} ms: "
                f"{speedup:.2f}x; after idle {ms(t_idle[1])} / {ms(t_idle[2])} ms: "
                f"{idle_speedup:.2f}x"
            )
            thread_rows.append(
                [
                    name,
                    k_cell or "—",
                    ms_cell(t[1]),
                    ms_cell(t[2]),
                    f"**{speedup:.2f}×**",
                    ms_cell(t_idle[1]),
                    ms_cell(t_idle[2]),
                    f"**{idle_speedup:.2f}×**",
                ]
            )
    finally:
        ap.set_num_threads(default_threads)
    load_end = load_average()

    body = [
        "## `compare.py --mask-scaling`: the opening's cost against the disk and the threads",
        "",
        run_header(
            "benches/compare.py",
            sys.argv[1:],
            args.note,
            [
                f"default threads: {default_threads}; load average at the end: {load_end}",
                f"medians of {rounds} rounds, each comparison interleaved with itself only "
                "(the huge disk: a third as many)",
            ],
        ),
        "### `compute_mask` by radius on smooth content: 1024×1024, k = 1, 4, 16",
        "",
        "Uniform noise filtered with `cv2.GaussianBlur` (σ below), thresholded at its median: "
        "about half of the map is a defect, in blobs about 2σ across — long runs everywhere, "
        "so nothing lets the opening stop early.",
        "",
        table(["content", "threads", "k=1 ms", "k=4 ms", "k=16 ms", "k=16 / k=1"], radius_rows),
        "### A huge disk: 4096×4096, one thread",
        "",
        "k = 2048 on a map above the threshold everywhere but eight 6×6 holes, against k = 16 "
        "on a smooth field (σ = 4) at its median.",
        "",
        table(["holes, k=2048 ms", "smooth, k=16 ms", "holes / smooth"], huge_rows, right=0),
        "### One 2048×2448 map: 2 threads vs 1",
        "",
        "`set_num_threads(2)` vs `set_num_threads(1)`, timed back to back and, in the last "
        "three columns, with the process idle for 2 ms before every call, as between the "
        "frames of an inspection line. The threads take bands of rows off a shared counter "
        "(8 a thread for the colour passes; 2 a thread for the opening, each band "
        "thresholding, opening and writing its own rows from a block of them and the `2k` "
        "rows around them), so a pool thread that wakes late only joins later "
        "([behaviour.md#threads](behaviour.md#threads)). On this VM a pool thread woken "
        "after an idle millisecond or more starts about 0.3 ms late (a plain rayon pool "
        "shows the same), which a call of a millisecond or two cannot hide.",
        "",
        table(
            [
                "call",
                "k",
                "1 thread ms",
                "2 threads ms",
                "speed-up",
                "idle: 1 thread ms",
                "idle: 2 threads ms",
                "idle: speed-up",
            ],
            thread_rows,
        ),
    ]
    write_section(args.output, "mask-scaling", "\n".join(body))
    print(f"\nwrote the mask-scaling section of {args.output}")


if __name__ == "__main__":
    main()
