"""Frames per second of the command-line tool (`anomaly-postprocess`), and where its
time goes.

Run with the `cli` extra installed (Pillow, tqdm):

    python benches/cli.py [--frames 40] [--size 1024] [--rounds 2] [--repeat 3]
        [--output docs/performance.md] [--note TEXT]

Generates --frames frames into a temporary directory: float32 anomaly maps (Gaussian-
smoothed white noise, mostly low scores with a few blobs above the 0.5 threshold) and
RGB PNG "photographs" (smooth gradients plus blurred noise at three scales plus a little
per-pixel sensor noise: noise images compress very differently from photographs). Then:

1. *The command*: `main()` of the tool run in this process on all frames (maps and
   images directories, all five outputs, -q): with Pillow's PNG encoder patched in (the
   tool before it had its own) and with the tool's own, each at --jobs 1 and the
   default jobs, and the tool at level 6. Runs are interleaved over --rounds rounds and
   the fastest round of each is reported: wall-clock frames per second, the process's
   CPU seconds per frame and per wall second. Every run's PNGs are checked to decode to
   the pixels of the first run's, and to equal byte for byte those of the same
   encoder and level at --jobs 1.
2. *Where a frame's time goes*: the tool's steps timed as they run in a --jobs 1 run
   (read the map, decode the image, compute, encode the PNGs, write the files): CPU
   time of the thread and wall time, per frame.
3. *PNG encoders*: the tool's levels against Pillow's and a numpy row filter + Python's
   zlib, on the four PNGs of one frame and on the five of the built-in demo (its
   photograph-like image, heatmap, overlay, mask, outline): CPU time and bytes, every
   file checked with Pillow (verify, and the same pixels).
4. *The GIL*: how much a Python thread still runs while another runs each step.

Prints the results as they come and writes its section of docs/performance.md (see
benches/report.py).
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from anomaly_postprocess import cli
from anomaly_postprocess._native import encode_png
from anomaly_postprocess.demo import make_demo
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


# --- PNG encoders --------------------------------------------------------------------------


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


def pillow(**options: object) -> Callable[[np.ndarray], bytes]:
    return lambda array: png_bytes(array, **options)


def ours(level: int) -> Callable[[np.ndarray], bytes]:
    return lambda array: encode_png(array, level)


def own_png_bytes(array: np.ndarray, level: int, row_filter: str, strategy: int) -> bytes:
    """A PNG written without Pillow: one filter for every row (``"sub"`` or ``"up"``,
    computed by numpy) and Python's zlib. The alternative to an encoder of our own that
    needs nothing but numpy and the standard library."""
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


PILLOW_LEVEL_1 = "Pillow, level 1 (the tool before)"
ENCODINGS: list[tuple[str, Callable[[np.ndarray], bytes]]] = [
    ("the tool, level 0 (stored)", ours(0)),
    ("**the tool, level 1 (the default: fdeflate)**", ours(1)),
    ("the tool, level 2 (zlib-rs, `Z_FILTERED`)", ours(2)),
    ("the tool, level 3", ours(3)),
    ("the tool, level 6", ours(6)),
    ("the tool, level 7", ours(7)),
    ("the tool, level 9", ours(9)),
    (PILLOW_LEVEL_1, pillow(compress_level=1)),
    (
        "Pillow, level 1, `compress_type=Z_RLE` (OpenCV's default strategy)",
        pillow(compress_level=1, compress_type=zlib.Z_RLE),
    ),
    ("Pillow, level 6 (Pillow's default)", pillow()),
    (
        "numpy Up filter + Python's zlib, level 1",
        lambda array: own_png_bytes(array, 1, "up", zlib.Z_DEFAULT_STRATEGY),
    ),
    (
        "numpy Sub filter + Python's zlib, level 1, `Z_RLE` (OpenCV's choice)",
        lambda array: own_png_bytes(array, 1, "sub", zlib.Z_RLE),
    ),
]


def default_args(*options: str) -> argparse.Namespace:
    """The tool's options for a map (its defaults, or with ``options``)."""
    return cli._build_parser().parse_args(["map.npy", *options])


def frame_outputs(map_path: Path, image_path: Path) -> list[np.ndarray]:
    """The four PNG images the tool writes for one frame, as it computes them."""
    outputs = cli._render(cli._load_map(map_path), cli._read_image(image_path), default_args())
    return [array for array in outputs.values() if isinstance(array, np.ndarray)]


def demo_outputs() -> list[np.ndarray]:
    """The built-in demo's image and the four PNG images the tool writes for it."""
    image, anomaly_map = make_demo()
    outputs = cli._render(anomaly_map, image, default_args())
    return [image, *(array for array in outputs.values() if isinstance(array, np.ndarray))]


def check_png(data: bytes, array: np.ndarray, name: str) -> None:
    """``data`` is a valid PNG file (Pillow's verify) of exactly ``array``'s pixels."""
    with Image.open(io.BytesIO(data)) as opened:
        opened.verify()
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.mode == ("L" if array.ndim == 2 else "RGB"), name
        assert np.array_equal(np.asarray(opened), array), name


def encoders(frame: list[np.ndarray], demo: list[np.ndarray], repeat: int) -> list[list[str]]:
    results = {}
    for name, encode in ENCODINGS:
        row = []
        for arrays in (frame, demo):
            spent = sum(cpu_ms(lambda a=a, e=encode: e(a), repeat) for a in arrays)
            encoded = [encode(array) for array in arrays]
            for array, data in zip(arrays, encoded, strict=True):
                check_png(data, array, name)
            row += [spent, sum(len(data) for data in encoded)]
        results[name] = row
        print(
            f"  {name.replace('*', '').replace('`', ''):<68} frame {row[0]:7.1f} ms "
            f"{row[1] / 1e6:5.2f} MB, demo {row[2]:6.2f} ms {row[3] / 1e3:6.1f} kB"
        )
    base_time, base_size = results[PILLOW_LEVEL_1][:2]
    return [
        [
            name,
            f"{frame_ms:.1f}",
            f"{frame_bytes / 1e6:.2f}",
            f"{base_time / frame_ms:.1f}×",
            f"{frame_bytes / base_size:.2f}×",
            f"{demo_ms:.2f}",
            f"{demo_bytes / 1e3:.1f}",
        ]
        for name, (frame_ms, frame_bytes, demo_ms, demo_bytes) in results.items()
    ]


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
    args = default_args()
    overlay = cli._render(anomaly_map, image, args)["overlay"]
    assert isinstance(overlay, np.ndarray)
    numbers = list(np.random.default_rng(0).integers(0, 1 << 30, 400_000))
    steps: list[tuple[str, Callable[[], object]]] = [
        ("C code that holds the GIL (`sorted` of a list): reference", lambda: sorted(numbers)),
        ("Python code (a loop): reference", lambda: sum(range(100_000))),
        ("decode the image (Pillow's PNG decoder)", lambda: cli._read_image(image_path)),
        ("compute: the library's calls", lambda: cli._render(anomaly_map, image, args)),
        ("encode the overlay, level 1 (the tool's encoder)", lambda: encode_png(overlay, 1)),
        (
            "encode the overlay, Pillow level 1 (before)",
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


@contextmanager
def pillow_encoder() -> Iterator[None]:
    """The tool with Pillow's PNG encoder, as it was before it had its own."""
    original = cli._write_png

    def write(array: np.ndarray, file: Any, compression: int) -> None:
        Image.fromarray(array).save(file, format="PNG", compress_level=compression)

    cli._write_png = write
    try:
        yield
    finally:
        cli._write_png = original


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


def files_of(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def same_pixels(first: dict[str, bytes], second: dict[str, bytes]) -> bool:
    """Every PNG of ``first`` decodes (Pillow) to the pixels of the same file of
    ``second``, and the other files are equal."""
    if sorted(first) != sorted(second):
        return False
    for name, data in first.items():
        if not name.endswith(".png"):
            if data != second[name]:
                return False
            continue
        with Image.open(io.BytesIO(data)) as a, Image.open(io.BytesIO(second[name])) as b:
            if a.mode != b.mode or not np.array_equal(np.asarray(a), np.asarray(b)):
                return False
    return True


STEPS = {
    "_load_map": "read the map (.npy)",
    "_read_image": "decode the image (Pillow's PNG decoder, to RGB)",
    "_render": "compute: heatmap, overlay, mask, outline, boxes (the library)",
    "encode_png": "encode the four PNGs (level 1)",
    "_write_outputs": "write the five files (temporary names, then renamed)",
}


@contextmanager
def timed_steps(totals: dict[str, list[float]]) -> Iterator[None]:
    """Adds each step's thread CPU and wall seconds to ``totals[step]`` while the tool
    runs (one thread: --jobs 1). ``_write_outputs`` includes the encoding; its share is
    subtracted afterwards. ``_process``: the whole frame."""
    originals = {name: getattr(cli, name) for name in [*STEPS, "_process"]}

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent = totals.setdefault(name, [0.0, 0.0])
                spent[0] += time.thread_time() - cpu
                spent[1] += time.perf_counter() - wall

        return run

    for name, function in originals.items():
        setattr(cli, name, timed(name, function))
    try:
        yield
    finally:
        for name, function in originals.items():
            setattr(cli, name, function)


def frame_split(maps: Path, images: Path, out: Path, frames: int) -> list[list[str]]:
    totals: dict[str, list[float]] = {}
    with timed_steps(totals):
        run_command(maps, images, out, 1, 1)
    for index in range(2):
        totals["_write_outputs"][index] -= totals["encode_png"][index]
    frame = totals.pop("_process")
    rows = []
    for name, label in STEPS.items():
        cpu, wall = (value / frames * 1e3 for value in totals[name])
        rows.append([label, f"{cpu:.1f}", f"{wall:.1f}", f"{cpu / (frame[0] / frames * 1e3):.0%}"])
        print(f"  {label:<62} {cpu:6.1f} CPU ms {wall:6.1f} wall ms")
    rest = [(frame[i] - sum(v[i] for v in totals.values())) / frames * 1e3 for i in range(2)]
    rows.append(
        [
            "the rest (Python: paths, arguments, JSON, outcomes)",
            f"{rest[0]:.1f}",
            f"{rest[1]:.1f}",
            f"{rest[0] / (frame[0] / frames * 1e3):.0%}",
        ]
    )
    cpu, wall = (value / frames * 1e3 for value in frame)
    rows.append(["**one frame**", f"**{cpu:.1f}**", f"**{wall:.1f}**", "100%"])
    print(f"  {'one frame':<62} {cpu:6.1f} CPU ms {wall:6.1f} wall ms")
    return rows


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
        "--rounds",
        type=int,
        default=2,
        help="runs of each configuration of the command, interleaved; the fastest is "
        "reported (default 2)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="timings per encoding (median; default 3)"
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
    if args.frames < 1 or args.size < 8 or args.repeat < 1 or args.rounds < 1:
        parser.error("--frames, --rounds and --repeat must be at least 1, --size at least 8")
    return args


def command_runs(
    directory: Path, maps: Path, images: Path, frames: int, rounds: int, cores: int
) -> list[list[str]]:
    runs = [
        ("Pillow's encoder (the tool before), level 1, `--jobs 1`", True, 1, 1),
        (f"Pillow's encoder (the tool before), level 1, default jobs ({cores})", True, 1, None),
        ("the tool, level 1, `--jobs 1`", False, 1, 1),
        (f"**the tool, defaults**: level 1, default jobs ({cores})", False, 1, None),
        (f"the tool, `--png-compression 6`, default jobs ({cores})", False, 6, None),
    ]
    best: dict[int, tuple[float, float, int]] = {}
    for round_index in range(rounds):
        for index, (_, pillow_png, level, jobs) in enumerate(runs):
            out = directory / f"out{index}-{round_index}"
            with pillow_encoder() if pillow_png else nullcontext():
                result = run_command(maps, images, out, level, jobs)
            if index not in best or result[0] < best[index][0]:
                best[index] = result
    first = files_of(directory / "out0-0")
    at_one_job: dict[tuple[bool, int], dict[str, bytes]] = {}
    rows = []
    base_rate = frames / best[0][0]
    for index, (name, pillow_png, level, jobs) in enumerate(runs):
        wall, cpu, written = best[index]
        files = files_of(directory / f"out{index}-0")
        pixels = "yes" if same_pixels(files, first) else "**NO**"
        identical = "—"
        if (pillow_png, level) in at_one_job:
            same = all(
                files_of(directory / f"out{index}-{r}") == at_one_job[pillow_png, level]
                for r in range(rounds)
            )
            identical = "yes" if same else "**NO**"
        else:
            at_one_job[pillow_png, level] = files
        rate = frames / wall
        threads = min(jobs or cores, cores)
        print(
            f"  {name.replace('`', '').replace('*', ''):<64} {rate:6.2f} frames/s "
            f"(x{rate / base_rate:.1f}), {cpu / frames * 1e3:5.0f} CPU ms/frame, "
            f"cpu/wall {cpu / wall:.2f}, {written / frames / 1e6:.2f} MB/frame, "
            f"pixels {pixels}, identical to -j 1: {identical}"
        )
        rows.append(
            [
                name,
                f"**{rate:.2f}**",
                f"{rate / base_rate:.1f}×",
                f"{cpu / frames * 1e3:.0f}",
                f"{threads * frames / cpu:.1f}",
                f"{cpu / wall:.2f}",
                f"{written / frames / 1e6:.2f}",
                pixels,
                identical,
            ]
        )
    return rows


def main() -> None:
    args = parse_args()
    cores = cli.available_cores()
    with tempfile.TemporaryDirectory(prefix="anomaly-postprocess-bench-") as temporary:
        directory = Path(temporary)
        print(f"writing {args.frames} frames of {args.size}x{args.size} to {directory} ...")
        maps, images = write_frames(directory, args.frames, args.size)
        first_map, first_image = maps / "frame0000.npy", images / "frame0000.png"
        input_mb = sum(path.stat().st_size for path in images.iterdir()) / args.frames / 1e6
        # Before the runs, so that its load average is the one they started under.
        header = run_header(
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
        )

        print(f"\nthe command on {args.frames} frames ({cores} cores available):")
        command_rows = command_runs(directory, maps, images, args.frames, args.rounds, cores)
        print("\nwhere a frame's time goes (--jobs 1, level 1, per frame):")
        split_rows = frame_split(maps, images, directory / "split", args.frames)
        print("\nPNG encoders: one frame's four PNGs, the demo's five (CPU ms, bytes):")
        encoder_rows = encoders(frame_outputs(first_map, first_image), demo_outputs(), args.repeat)
        print("\na Python loop's speed while another thread runs each step (1 = alone):")
        gil_rows = gil_check(first_map, first_image, seconds=2.0)
        startup = startup_seconds()
        print(f"\nstart-up of `python -m anomaly_postprocess --version`: {startup:.2f} s")

    body = [
        "## `cli.py`: the command-line tool, frames per second",
        "",
        header,
        "### The command, all five outputs of every frame",
        "",
        "`main()` run in-process on the maps and images directories with `-q`; a shell "
        f"run adds the interpreter's start-up ({startup:.2f} s here). The runs are "
        f"interleaved over {args.rounds} rounds; the fastest round of each is shown. "
        "*Pillow's encoder*: the tool with its PNG writing patched back to Pillow's "
        "(`Image.save(compress_level=1)`), as it was before it had its own encoder. *CPU "
        "ms/frame*: the process's CPU time (all threads) per frame; *cpu/wall*: CPU "
        "seconds per wall second, about the number of cores kept busy. *CPU-bound "
        "frames/s*: the frames per second if the run's threads each had a core of their "
        "own at this CPU time per frame (jobs / CPU seconds per frame; what a quiet "
        "machine would approach). *same pixels*: every PNG decodes (Pillow) to the "
        "pixels of the first run's, and the JSON files are equal. *identical*: every "
        "output file of every round equals, byte for byte, that of the same encoder and "
        "level at `--jobs 1`.",
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
                "same pixels",
                "identical",
            ],
            command_rows,
        ),
        "### Where one frame's time goes",
        "",
        "The tool's own steps, timed as they run in a `--jobs 1` run at the default "
        "level over all frames (per frame: CPU time of the thread, and wall time, which "
        "also counts waiting for the disk and for a core on a busy machine).",
        "",
        table(["step", "CPU ms", "wall ms", "share of CPU"], split_rows),
        "### PNG encoders",
        "",
        "CPU time of one thread (median of "
        f"{args.repeat}) and bytes: for the four PNGs of one frame (heatmap, overlay, "
        "mask, outline of the first frame), and for the five of the built-in demo "
        "(256×256: its photograph-like image, heatmap, overlay, mask, outline). Every "
        "file passes Pillow's `verify()` and decodes to exactly the image's pixels. *The "
        "tool*: its own encoder, in the extension and without the GIL (level 1: the "
        "`png` crate's fdeflate mode; 2–9: zlib-rs with `Z_FILTERED`; see "
        "[behaviour.md#cli](behaviour.md#cli)). *Pillow*: `Image.save` "
        "(row filters chosen per row; `compress_type` is zlib's strategy, Pillow's "
        "default `Z_FILTERED`). *numpy … + Python's zlib*: one filter for every row, "
        f"numpy, and Python's zlib {zlib.ZLIB_RUNTIME_VERSION} — the encoder needing "
        "nothing but numpy and the standard library.",
        "",
        table(
            [
                "encoding",
                "frame: CPU ms",
                "frame: MB",
                "speed vs Pillow 1",
                "size vs Pillow 1",
                "demo: CPU ms",
                "demo: kB",
            ],
            encoder_rows,
        ),
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
