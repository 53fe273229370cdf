"""Frames per second of the command-line tool (`anomaly-postprocess`), and where its
time goes.

Run with the `cli` extra installed (Pillow, tqdm):

    python benches/cli.py [--frames 40] [--size 1024] [--output docs/performance.md]
        [--note TEXT]

Generates --frames frames into a temporary directory: float32 anomaly maps (Gaussian-
smoothed white noise, mostly low scores with a few blobs above the 0.5 threshold) and
RGB PNG "photographs" (smooth gradients plus blurred noise at three scales plus a little
per-pixel sensor noise: noise images compress very differently from photographs). Then:

1. *Where a frame's time goes*: each step of one frame (read the map, read the image,
   the five library calls, encode each PNG) timed alone on one thread, in CPU time of
   that thread (so that other processes on a busy machine count less).
2. *PNG encoding options*: the four PNGs of one frame encoded with Pillow at several
   zlib levels and strategies; CPU time and bytes.
3. *The command*: `main()` of the tool run in this process on all frames (maps and
   images directory, all five outputs, -q), with the old defaults (--png-compression 6
   --jobs 1), with --png-compression 1 --jobs 1, --png-compression 6 with the default
   jobs, and the new defaults; wall-clock frames per second, and the process's CPU
   seconds per frame and per wall second. The outputs of runs at the same level are
   compared byte for byte.

Prints the results as they come and writes its section of docs/performance.md (see
benches/report.py).
"""

from __future__ import annotations

import argparse
import filecmp
import io
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

import anomaly_postprocess as ap
from anomaly_postprocess import cli
from report import DEFAULT_OUTPUT, run_header, table, write_section

# --- synthetic frames ----------------------------------------------------------------------


def smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """White noise low-passed by a Gaussian of standard deviation ``sigma`` pixels (in
    the Fourier domain, so periodic), scaled to standard deviation 1."""
    noise = rng.standard_normal((size, size), dtype=np.float32)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    gain = np.exp(-2 * (np.pi * sigma) ** 2 * (fy**2 + fx**2))
    field = np.fft.irfft2(np.fft.rfft2(noise) * gain, s=(size, size)).astype(np.float32)
    return field / field.std()


def make_map(rng: np.random.Generator, size: int) -> np.ndarray:
    """A model-like float32 map in [0, 1]: mostly around 0.25, ~3% above 0.5 in blobs."""
    return np.clip(0.25 + 0.12 * smooth_noise(rng, size, size / 32), 0, 1).astype(np.float32)


def make_photo(rng: np.random.Generator, size: int) -> np.ndarray:
    """A photograph-like uint8 RGB image: colour gradients, blurred noise at three scales
    (size/16, size/64 and 3 pixels) and Gaussian sensor noise of 1.5 levels."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([0.55 + 0.25 * x - 0.1 * y, 0.5 + 0.15 * y, 0.45 + 0.2 * (1 - x) * y], -1)
    for weight, sigma in ((0.06, size / 16), (0.04, size / 64), (0.02, 3.0)):
        base += weight * np.stack([smooth_noise(rng, size, sigma) for _ in range(3)], -1)
    sensor = rng.normal(0, 1.5, base.shape)
    return np.clip(base * 255 + sensor, 0, 255).round().astype(np.uint8)


def write_frames(directory: Path, frames: int, size: int) -> tuple[Path, Path]:
    maps, images = directory / "maps", directory / "images"
    maps.mkdir()
    images.mkdir()
    rng = np.random.default_rng(0)
    for index in range(frames):
        np.save(maps / f"frame{index:04d}.npy", make_map(rng, size))
        # Pillow's default level for the inputs: how they usually come.
        Image.fromarray(make_photo(rng, size)).save(images / f"frame{index:04d}.png")
    return maps, images


# --- one frame, step by step ---------------------------------------------------------------


def cpu_ms(function: Callable[[], object], repeat: int) -> float:
    """The median CPU time of this thread for one call, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.thread_time()
        function()
        times.append(time.thread_time() - start)
    return statistics.median(times) * 1e3


def png_bytes(array: np.ndarray, **options: object) -> bytes:
    stream = io.BytesIO()
    Image.fromarray(array).save(stream, format="PNG", **options)
    return stream.getvalue()


def frame_steps(map_path: Path, image_path: Path, repeat: int) -> list[list[str]]:
    anomaly_map = np.load(map_path)
    with Image.open(image_path) as opened:
        image = np.asarray(opened.convert("RGB"))
    mask = ap.compute_mask(anomaly_map, 0.5)
    outputs = {
        "heatmap": ap.anomaly_map_to_color_map(anomaly_map, normalize=False),
        "overlay": ap.superimpose_anomaly_map(anomaly_map, image),
        "mask": mask,
        "outline": ap.mark_boundaries(image, mask),
    }

    def read_image() -> object:
        with Image.open(image_path) as opened:
            return np.asarray(opened.convert("RGB"))

    steps: list[tuple[str, Callable[[], object]]] = [
        ("read the map (.npy)", lambda: cli._load_map(map_path)),
        ("read the image (PNG decode, to RGB)", lambda: cli._read_image(image_path)),
        (
            "heatmap + overlay + mask + outline + boxes (the library)",
            lambda: (
                ap.anomaly_map_to_color_map(anomaly_map, normalize=False),
                ap.superimpose_anomaly_map(anomaly_map, image),
                ap.mark_boundaries(image, ap.compute_mask(anomaly_map, 0.5)),
                ap.mask_to_boxes(mask),
            ),
        ),
    ]
    for level in (1, 6):
        for name, array in outputs.items():
            steps.append(
                (
                    f"encode {name}.png, level {level}",
                    lambda a=array, lv=level: png_bytes(a, compress_level=lv),
                )
            )
    rows = []
    totals = {1: 0.0, 6: 0.0}
    for name, step in steps:
        step()  # warm-up
        spent = cpu_ms(step, repeat)
        print(f"  {name:<58} {spent:8.1f} ms")
        rows.append([name, f"{spent:.1f}"])
        for level in totals:
            if "encode" not in name or f"level {level}" in name:
                totals[level] += spent
    for level, total in totals.items():
        rows.append([f"**one frame, PNGs at level {level}**", f"**{total:.1f}**"])
        print(f"  {'one frame, PNGs at level ' + str(level):<58} {total:8.1f} ms")
    return rows


def pillow(**options: object) -> Callable[[np.ndarray], bytes]:
    return lambda array: png_bytes(array, **options)


def own_png_bytes(array: np.ndarray, level: int, row_filter: str, strategy: int) -> bytes:
    """A PNG written without Pillow: one filter for every row (``"sub"`` or ``"up"``,
    computed by numpy) and Python's zlib. Not what the tool does: it shows what Pillow's
    per-row filter choice costs."""
    height, width = array.shape[:2]
    rows = array.reshape(height, -1)
    channels = rows.shape[1] // width
    filtered = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    if row_filter == "sub":
        filtered[:, 0] = 1
        filtered[:, 1 : 1 + channels] = rows[:, :channels]
        np.subtract(rows[:, channels:], rows[:, :-channels], out=filtered[:, 1 + channels :])
    else:
        filtered[:, 0] = 2
        filtered[0, 1:] = rows[0]
        np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    compressor = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
    data = compressor.compress(filtered) + compressor.flush()
    colour_type = 0 if array.ndim == 2 else 2

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
        )

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, colour_type, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


ENCODINGS: list[tuple[str, Callable[[np.ndarray], bytes]]] = [
    ("level 6 (Pillow's default, the old default)", pillow()),
    ("level 9", pillow(compress_level=9)),
    ("`optimize=True` (level 9 + the Average filter)", pillow(optimize=True)),
    ("level 3", pillow(compress_level=3)),
    ("**level 1 (the new default)**", pillow(compress_level=1)),
    (
        "level 1, `compress_type=Z_RLE` (OpenCV's default strategy)",
        pillow(compress_level=1, compress_type=zlib.Z_RLE),
    ),
    (
        "level 1, `compress_type=Z_HUFFMAN_ONLY`",
        pillow(compress_level=1, compress_type=zlib.Z_HUFFMAN_ONLY),
    ),
    (
        "level 1, `compress_type=Z_DEFAULT_STRATEGY`",
        pillow(compress_level=1, compress_type=zlib.Z_DEFAULT_STRATEGY),
    ),
    ("level 0 (stored, no compression)", pillow(compress_level=0)),
    (
        "*without Pillow*: Up filter (numpy) + Python's zlib, level 1",
        lambda array: own_png_bytes(array, 1, "up", zlib.Z_DEFAULT_STRATEGY),
    ),
    (
        "*without Pillow*: Sub filter + Python's zlib, level 1, `Z_RLE` (OpenCV's choice)",
        lambda array: own_png_bytes(array, 1, "sub", zlib.Z_RLE),
    ),
]


def encoding_options(map_path: Path, image_path: Path, repeat: int) -> list[list[str]]:
    anomaly_map = np.load(map_path)
    with Image.open(image_path) as opened:
        image = np.asarray(opened.convert("RGB"))
    mask = ap.compute_mask(anomaly_map, 0.5)
    outputs = [
        ap.anomaly_map_to_color_map(anomaly_map, normalize=False),
        ap.superimpose_anomaly_map(anomaly_map, image),
        mask,
        ap.mark_boundaries(image, mask),
    ]
    results = {}
    for name, encode in ENCODINGS:
        spent = sum(cpu_ms(lambda a=a, e=encode: e(a), repeat) for a in outputs)
        encoded = [encode(a) for a in outputs]
        for array, data in zip(outputs, encoded, strict=True):
            with Image.open(io.BytesIO(data)) as decoded:  # every option: the same pixels
                assert np.array_equal(np.asarray(decoded), array), name
        results[name] = (spent, sum(len(data) for data in encoded))
    base_time, base_size = results[ENCODINGS[0][0]]
    rows = []
    for name, (spent, size) in results.items():
        print(f"  {name.replace('*', ''):<62} {spent:8.1f} ms {size / 1e6:6.2f} MB")
        rows.append(
            [
                name,
                f"{spent:.1f}",
                f"{base_time / spent:.1f}×",
                f"{size / 1e6:.2f}",
                f"{size / base_size:.2f}×",
            ]
        )
    return rows


# --- the GIL -------------------------------------------------------------------------------


def python_rate_beside(work: Callable[[], object], seconds: float) -> float:
    """Iterations per second of a pure-Python loop on this thread while another thread
    runs ``work`` over and over."""
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            work()

    thread = threading.Thread(target=worker)
    thread.start()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        count += 1
    elapsed = time.perf_counter() - start
    stop.set()
    thread.join()
    return count / elapsed


def gil_check(map_path: Path, image_path: Path, seconds: float, rounds: int = 3) -> list[list[str]]:
    """How much a Python thread still gets done while another runs each step, relative
    to while the other sleeps: about 1 when the step releases the GIL, about 0 when C
    code holds it throughout, about 1/2 for Python code (the two threads take turns
    every 5 ms). Each round times the loop beside the step and beside a sleep, one after
    the other, so that a busy machine's changing load touches both alike."""
    anomaly_map = cli._load_map(map_path)
    image = cli._read_image(image_path)
    mask = ap.compute_mask(anomaly_map, 0.5)
    overlay = ap.superimpose_anomaly_map(anomaly_map, image)
    numbers = list(np.random.default_rng(0).integers(0, 1 << 30, 400_000))
    steps: list[tuple[str, Callable[[], object]]] = [
        ("C code that holds the GIL (`sorted` of a list): reference", lambda: sorted(numbers)),
        ("Python code (a loop): reference", lambda: sum(range(100_000))),
        ("read the image (Pillow's PNG decoder)", lambda: cli._read_image(image_path)),
        (
            "the library's five calls",
            lambda: (
                ap.anomaly_map_to_color_map(anomaly_map, normalize=False),
                ap.superimpose_anomaly_map(anomaly_map, image),
                ap.mark_boundaries(image, ap.compute_mask(anomaly_map, 0.5)),
                ap.mask_to_boxes(mask),
            ),
        ),
        (
            "encode the overlay, level 1 (Pillow + zlib)",
            lambda: png_bytes(overlay, compress_level=1),
        ),
    ]
    rows = []
    for name, step in steps:
        beside = alone = 0.0
        for _ in range(rounds):
            beside += python_rate_beside(step, seconds / rounds)
            alone += python_rate_beside(lambda: time.sleep(0.01), seconds / rounds)
        print(f"  {name.replace('`', ''):<60} {beside / alone:5.2f}")
        rows.append([name, f"{beside / alone:.2f}"])
    return rows


# --- the command ---------------------------------------------------------------------------


def run_command(
    maps: Path, images: Path, out: Path, level: int, jobs: int | None
) -> tuple[float, float, int]:
    """Runs the tool on every frame; returns wall seconds, process CPU seconds (all
    threads) and the bytes written."""
    argv = [str(maps), "-i", str(images), "-o", str(out), "-q", "--png-compression", str(level)]
    if jobs is not None:
        argv += ["--jobs", str(jobs)]
    wall, cpu = time.perf_counter(), time.process_time()
    status = cli.main(argv)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if status != 0:
        raise SystemExit(f"the command failed with status {status}")
    return wall, cpu, sum(path.stat().st_size for path in out.iterdir())


def same_files(first: Path, second: Path) -> bool:
    names = sorted(path.name for path in first.iterdir())
    if names != sorted(path.name for path in second.iterdir()):
        return False
    _, mismatch, errors = filecmp.cmpfiles(first, second, names, shallow=False)
    return not mismatch and not errors


def startup_seconds() -> float:
    """Wall time of `python -m anomaly_postprocess --version`: what a shell run adds."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "anomaly_postprocess", "--version"], check=True, capture_output=True
    )
    return time.perf_counter() - start


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=40, help="frames to process (default 40)")
    parser.add_argument("--size", type=int, default=1024, help="frame side (default 1024)")
    parser.add_argument(
        "--repeat", type=int, default=3, help="timings per step of one frame (median; default 3)"
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
    if args.frames < 1 or args.size < 8 or args.repeat < 1:
        parser.error("--frames and --repeat must be at least 1, --size at least 8")
    return args


def main() -> None:
    args = parse_args()
    cores = cli.available_cores()
    with tempfile.TemporaryDirectory(prefix="anomaly-postprocess-bench-") as temporary:
        directory = Path(temporary)
        print(f"writing {args.frames} frames of {args.size}x{args.size} to {directory} ...")
        maps, images = write_frames(directory, args.frames, args.size)
        first_map, first_image = maps / "frame0000.npy", images / "frame0000.png"
        input_mb = sum(path.stat().st_size for path in images.iterdir()) / args.frames / 1e6

        print("\none frame, step by step (CPU ms of one thread, median):")
        step_rows = frame_steps(first_map, first_image, args.repeat)
        print("\nPNG encoding options, the four PNGs of one frame (CPU ms, bytes):")
        encoding_rows = encoding_options(first_map, first_image, args.repeat)
        print("\na Python loop's speed while another thread runs each step (1 = alone):")
        gil_rows = gil_check(first_map, first_image, seconds=2.0)

        print(f"\nthe command on {args.frames} frames ({cores} cores available):")
        runs = [
            ("old defaults: `--png-compression 6 --jobs 1`", 6, 1),
            ("`--png-compression 1 --jobs 1`", 1, 1),
            (f"`--png-compression 6`, default jobs ({cores})", 6, None),
            (f"**new defaults**: level 1, default jobs ({cores})", 1, None),
        ]
        command_rows = []
        outputs: dict[int, Path] = {}
        base_rate = 0.0
        for index, (name, level, jobs) in enumerate(runs):
            out = directory / f"out{index}"
            wall, cpu, written = run_command(maps, images, out, level, jobs)
            rate = args.frames / wall
            base_rate = base_rate or rate
            identical = ""
            if level in outputs:
                identical = "yes" if same_files(outputs[level], out) else "**NO**"
            else:
                outputs[level] = out
            print(
                f"  {name.replace('`', '').replace('*', ''):<48} {rate:6.2f} frames/s "
                f"(x{rate / base_rate:.1f}), {cpu / args.frames * 1e3:6.0f} CPU ms/frame, "
                f"cpu/wall {cpu / wall:.2f}, {written / args.frames / 1e6:.2f} MB/frame "
                f"{'identical: ' + identical if identical else ''}"
            )
            threads = min(jobs or cores, cores)
            command_rows.append(
                [
                    name,
                    f"**{rate:.2f}**",
                    f"{rate / base_rate:.1f}×",
                    f"{cpu / args.frames * 1e3:.0f}",
                    f"{threads * args.frames / cpu:.1f}",
                    f"{cpu / wall:.2f}",
                    f"{written / args.frames / 1e6:.2f}",
                    identical or "—",
                ]
            )
        startup = startup_seconds()
        print(f"  start-up of `python -m anomaly_postprocess --version`: {startup:.2f} s")

    body = [
        "## `cli.py`: the command-line tool, frames per second",
        "",
        run_header(
            "benches/cli.py",
            sys.argv[1:],
            args.note,
            [
                f"{args.frames} frames of {args.size}×{args.size}: float32 maps of "
                "Gaussian-smoothed noise (~3% above 0.5, in blobs) and RGB PNG "
                "photograph-like images (gradients, blurred noise at three scales, "
                f"sensor noise of 1.5 levels; {input_mb:.2f} MB a file at level 6)",
                f"Pillow {Image.__version__}; the tool's default jobs here: {cores}",
            ],
        ),
        "### The command, all five outputs of every frame",
        "",
        "`main()` run in-process on the maps and images directories with `-q`; a shell "
        f"run adds the interpreter's start-up ({startup:.2f} s here). *CPU ms/frame*: the "
        "process's CPU time (all threads) per frame; *cpu/wall*: CPU seconds per wall "
        "second, about the number of cores kept busy. *CPU-bound frames/s*: the frames "
        "per second if the run's threads each had a core of their own at this CPU time "
        "per frame (jobs / CPU seconds per frame; what a quiet machine would approach, "
        "see the GIL check below). *identical*: every output file equals, byte for byte, "
        "that of the first run at the same level.",
        "",
        table(
            [
                "run",
                "frames/s",
                "speed-up",
                "CPU ms/frame",
                "CPU-bound frames/s",
                "cpu/wall",
                "MB written/frame",
                "identical",
            ],
            command_rows,
        ),
        "### Where one frame's time goes",
        "",
        "Each step alone on one thread, CPU time of that thread (median of "
        f"{args.repeat}); the encodings into memory (writing the files adds little).",
        "",
        table(["step", "CPU ms"], step_rows),
        "### Pillow's PNG encoding options",
        "",
        "The four PNGs of one frame (heatmap, overlay, mask, outline), CPU time of one "
        "thread and total bytes; every option decodes to the same pixels. Pillow picks "
        "each row's filter itself (None, Sub, Up or Paeth, whichever sums smallest; "
        "Average too with `optimize`) at every level, including 0: that choice cannot be "
        "set and is a good part of the time at level 1. `compress_type` is zlib's "
        "strategy (Pillow's default for PNG: `Z_FILTERED`). The last two rows write the "
        f"PNG without Pillow (one filter for all rows, numpy, and Python's zlib "
        f"{zlib.ZLIB_RUNTIME_VERSION}; Pillow's wheels bring their own zlib-ng): what the "
        "per-row filter choice costs. The tool does not do that; it uses Pillow.",
        "",
        table(["encoding", "CPU ms", "speed vs level 6", "MB", "size vs level 6"], encoding_rows),
        "### The GIL: do the steps run in parallel on threads?",
        "",
        "Iterations per second of a pure-Python loop while another thread runs the step "
        "over and over, relative to while that thread sleeps (interleaved rounds): near 1 "
        "when the step releases the GIL and a core is free for it, near 0 when C code "
        "holds the GIL throughout (first row), about 1/2 for Python code (second row: the "
        "threads take turns). When other processes hold the cores, steps that release the "
        "GIL also come out lower.",
        "",
        table(["step on the other thread", "Python loop's speed"], gil_rows),
    ]
    write_section(args.output, "cli", "\n".join(body))
    print(f"\nwrote the cli section of {args.output}")


if __name__ == "__main__":
    main()
